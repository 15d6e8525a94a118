-- Host identity (approval, credential reset), enrollment tokens, server-side sessions,
-- commands delivered at least once. Tokens and sessions keep only the SHA-256 of their
-- secret. A host without a credential (after a reset) has an empty credential_hash and
-- credential_id 'reset:<uuid>'.

ALTER TABLE hosts ADD COLUMN approval text NOT NULL DEFAULT 'accepted' CHECK (approval IN ('accepted', 'pending'));
ALTER TABLE hosts ADD COLUMN accepted_at timestamptz;
ALTER TABLE hosts ADD COLUMN accepted_by text NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN reset_at timestamptz;
ALTER TABLE hosts ADD COLUMN reset_by text NOT NULL DEFAULT '';
CREATE INDEX hosts_pending ON hosts (registered_at, id) WHERE approval = 'pending';

CREATE TABLE enrollment_tokens (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	token_hash   bytea NOT NULL UNIQUE,
	label        text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	created_by   text NOT NULL DEFAULT '',
	expires_at   timestamptz,
	max_uses     integer NOT NULL DEFAULT 0 CHECK (max_uses >= 0),
	uses         integer NOT NULL DEFAULT 0,
	last_used_at timestamptz,
	revoked_at   timestamptz,
	revoked_by   text NOT NULL DEFAULT ''
);

CREATE TABLE sessions (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	token_hash   bytea NOT NULL UNIQUE,
	username     text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
	kind         text NOT NULL CHECK (kind IN ('console', 'api')),
	created_at   timestamptz NOT NULL,
	last_seen    timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	idle_seconds integer NOT NULL,
	remote       text NOT NULL DEFAULT '',
	user_agent   text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (username, id);

ALTER TABLE commands ADD COLUMN acked_at timestamptz;
ALTER TABLE commands ADD COLUMN deliveries integer NOT NULL DEFAULT 0;
