-- Host identity (approval, credential reset), enrollment tokens, server-side sessions,
-- commands delivered at least once. Tokens and sessions keep only the SHA-256 of their
-- secret. A host without a credential (after a reset) has an empty credential_hash and
-- credential_id 'reset:<uuid>'.

ALTER TABLE hosts ADD COLUMN approval TEXT NOT NULL DEFAULT 'accepted' CHECK (approval IN ('accepted', 'pending'));
ALTER TABLE hosts ADD COLUMN accepted_at INTEGER;
ALTER TABLE hosts ADD COLUMN accepted_by TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN reset_at INTEGER;
ALTER TABLE hosts ADD COLUMN reset_by TEXT NOT NULL DEFAULT '';
CREATE INDEX hosts_pending ON hosts (registered_at, id) WHERE approval = 'pending';

CREATE TABLE enrollment_tokens (
	id           INTEGER PRIMARY KEY,
	token_hash   BLOB NOT NULL UNIQUE,
	label        TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	created_by   TEXT NOT NULL DEFAULT '',
	expires_at   INTEGER,
	max_uses     INTEGER NOT NULL DEFAULT 0 CHECK (max_uses >= 0),
	uses         INTEGER NOT NULL DEFAULT 0,
	last_used_at INTEGER,
	revoked_at   INTEGER,
	revoked_by   TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE sessions (
	id           INTEGER PRIMARY KEY,
	token_hash   BLOB NOT NULL UNIQUE,
	username     TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
	kind         TEXT NOT NULL CHECK (kind IN ('console', 'api')),
	created_at   INTEGER NOT NULL,
	last_seen    INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	idle_seconds INTEGER NOT NULL,
	remote       TEXT NOT NULL DEFAULT '',
	user_agent   TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sessions_user ON sessions (username, id);

ALTER TABLE commands ADD COLUMN acked_at INTEGER;
ALTER TABLE commands ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0;
