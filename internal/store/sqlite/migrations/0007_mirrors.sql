-- Site repositories (issue 14): each mirror enrolls with an enrollment token and holds a
-- repository credential of its own (only its SHA-256 is kept), then reports its state.
-- Durations are in milliseconds.

CREATE TABLE mirrors (
	id              INTEGER PRIMARY KEY,
	name            TEXT NOT NULL UNIQUE,
	site            TEXT NOT NULL DEFAULT '',
	url             TEXT NOT NULL DEFAULT '',
	credential_id   TEXT NOT NULL UNIQUE,
	credential_hash BLOB NOT NULL,
	registered_at   INTEGER NOT NULL,
	status          TEXT NOT NULL DEFAULT '',
	version         TEXT NOT NULL DEFAULT '',
	last_sync       INTEGER,
	files_held      INTEGER NOT NULL DEFAULT 0,
	bytes_held      INTEGER NOT NULL DEFAULT 0,
	files_missing   INTEGER NOT NULL DEFAULT 0,
	bytes_missing   INTEGER NOT NULL DEFAULT 0,
	lag_ms          INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	requests_served INTEGER NOT NULL DEFAULT 0,
	bytes_served    INTEGER NOT NULL DEFAULT 0,
	bytes_synced    INTEGER NOT NULL DEFAULT 0,
	sync_ms         INTEGER NOT NULL DEFAULT 0,
	updated_at      INTEGER
) STRICT;
