-- Site repositories (issue 14): each mirror enrolls with an enrollment token and holds a
-- repository credential of its own (only its SHA-256 is kept), then reports its state.
-- Durations are in milliseconds.

CREATE TABLE mirrors (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name            text NOT NULL UNIQUE,
	site            text NOT NULL DEFAULT '',
	url             text NOT NULL DEFAULT '',
	credential_id   text NOT NULL UNIQUE,
	credential_hash bytea NOT NULL,
	registered_at   timestamptz NOT NULL,
	status          text NOT NULL DEFAULT '',
	version         text NOT NULL DEFAULT '',
	last_sync       timestamptz,
	files_held      bigint NOT NULL DEFAULT 0,
	bytes_held      bigint NOT NULL DEFAULT 0,
	files_missing   bigint NOT NULL DEFAULT 0,
	bytes_missing   bigint NOT NULL DEFAULT 0,
	lag_ms          bigint NOT NULL DEFAULT 0,
	last_error      text NOT NULL DEFAULT '',
	requests_served bigint NOT NULL DEFAULT 0,
	bytes_served    bigint NOT NULL DEFAULT 0,
	bytes_synced    bigint NOT NULL DEFAULT 0,
	sync_ms         bigint NOT NULL DEFAULT 0,
	updated_at      timestamptz
);
