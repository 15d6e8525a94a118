-- Initial schema. Times are timestamptz: NULL means unknown/never; NOT NULL columns hold
-- the epoch for a time the caller left zero (read back as the zero time).

CREATE TABLE categories (
	id        text PRIMARY KEY,
	type      text NOT NULL,
	name      text NOT NULL,
	parent_id text NOT NULL DEFAULT ''
);

CREATE TABLE updates (
	id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	update_id          text NOT NULL,
	revision_number    integer NOT NULL,
	revision_id        bigint NOT NULL DEFAULT 0,
	source             text NOT NULL CHECK (source IN ('catalog', 'report')),
	content_hash       text NOT NULL DEFAULT '',
	created            timestamptz NOT NULL DEFAULT 'epoch',
	title              text NOT NULL DEFAULT '',
	description        text NOT NULL DEFAULT '',
	kb_ids             text[] NOT NULL DEFAULT '{}',
	kb_num             bigint NOT NULL DEFAULT 0,
	search_text        text NOT NULL DEFAULT '',
	severity           text NOT NULL DEFAULT '',
	severity_rank      smallint NOT NULL DEFAULT 0,
	classification     text NOT NULL DEFAULT '',
	classification_id  text NOT NULL DEFAULT '',
	products           text[] NOT NULL DEFAULT '{}',
	product_ids        text[] NOT NULL DEFAULT '{}',
	company            text NOT NULL DEFAULT '',
	product_family     text NOT NULL DEFAULT '',
	superseded_by      text[] NOT NULL DEFAULT '{}',
	supersedes         text[] NOT NULL DEFAULT '{}',
	prerequisites      text[] NOT NULL DEFAULT '{}',
	support_url        text NOT NULL DEFAULT '',
	security_bulletins text[] NOT NULL DEFAULT '{}',
	superseded         boolean NOT NULL DEFAULT false,
	downloaded_on      timestamptz,
	imported_at        timestamptz NOT NULL,
	changed_at         timestamptz NOT NULL,
	UNIQUE (update_id, revision_number)
);

-- One index per sort order of the update list (keyset pagination).
CREATE INDEX updates_created ON updates (created, id);
CREATE INDEX updates_title ON updates (title, id);
CREATE INDEX updates_severity ON updates (severity_rank, id);
CREATE INDEX updates_kb ON updates (kb_num, id);
CREATE INDEX updates_classification ON updates (classification, id);

CREATE TABLE update_products (
	update_pk bigint NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
	product   text NOT NULL,
	PRIMARY KEY (update_pk, product)
);
CREATE INDEX update_products_product ON update_products (product, update_pk);

-- Update files, keyed by SHA-1, with their state in the server cache.
CREATE TABLE update_files (
	sha1            text PRIMARY KEY,
	sha256          text NOT NULL DEFAULT '',
	name            text NOT NULL DEFAULT '',
	size            bigint NOT NULL DEFAULT 0,
	url             text NOT NULL DEFAULT '',
	downloaded_on   timestamptz,
	downloaded_size bigint NOT NULL DEFAULT 0,
	last_error      text NOT NULL DEFAULT '',
	attempts        integer NOT NULL DEFAULT 0,
	last_attempt    timestamptz,
	deleted_on      timestamptz
);
CREATE INDEX update_files_downloaded ON update_files (downloaded_on) WHERE downloaded_on IS NOT NULL;

CREATE TABLE update_file_links (
	update_pk bigint NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
	file_sha1 text NOT NULL REFERENCES update_files (sha1),
	PRIMARY KEY (update_pk, file_sha1)
);
CREATE INDEX update_file_links_file ON update_file_links (file_sha1, update_pk);

CREATE TABLE hosts (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	uuid            text NOT NULL UNIQUE,
	name            text NOT NULL DEFAULT '',
	os              text NOT NULL DEFAULT '',
	groups          text[] NOT NULL DEFAULT '{}',
	maturity        text NOT NULL DEFAULT 'PROD',
	agent_version   text NOT NULL DEFAULT '',
	credential_id   text NOT NULL UNIQUE,
	credential_hash bytea NOT NULL,
	registered_at   timestamptz NOT NULL,
	wua_status      text NOT NULL DEFAULT '',
	last_seen       timestamptz,
	last_scan       timestamptz,
	reboot_pending  boolean NOT NULL DEFAULT false,
	last_error      text NOT NULL DEFAULT '',
	n_ok            integer NOT NULL DEFAULT 0,
	n_pending       integer NOT NULL DEFAULT 0,
	n_missing       integer NOT NULL DEFAULT 0,
	n_discarded     integer NOT NULL DEFAULT 0,
	n_error         integer NOT NULL DEFAULT 0,
	n_superseded    integer NOT NULL DEFAULT 0
);
CREATE INDEX hosts_name ON hosts (name, id);

CREATE TABLE host_updates (
	host_pk      bigint NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	update_pk    bigint NOT NULL REFERENCES updates (id),
	status       text NOT NULL CHECK (status IN ('OK', 'PENDING', 'MISSING', 'DISCARDED', 'ERROR', 'SUPERSEDED')),
	reason       text NOT NULL DEFAULT '',
	installed_at timestamptz,
	last_error   text NOT NULL DEFAULT '',
	changed_at   timestamptz NOT NULL,
	PRIMARY KEY (host_pk, update_pk)
);
-- Hosts per update and status: "needed" filters, counts, needed and unused files.
CREATE INDEX host_updates_update ON host_updates (update_pk, status);

CREATE TABLE download_tasks (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	file_sha1   text NOT NULL REFERENCES update_files (sha1),
	status      text NOT NULL CHECK (status IN ('queued', 'downloading', 'done', 'failed')),
	bytes       bigint NOT NULL DEFAULT 0,
	attempts    integer NOT NULL DEFAULT 0,
	error       text NOT NULL DEFAULT '',
	worker      text NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL,
	started_at  timestamptz,
	finished_at timestamptz,
	updated_at  timestamptz NOT NULL
);
-- At most one queued or running task per file.
CREATE UNIQUE INDEX download_tasks_active ON download_tasks (file_sha1) WHERE status IN ('queued', 'downloading');
CREATE INDEX download_tasks_queued ON download_tasks (id) WHERE status = 'queued';

CREATE TABLE cab_history (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	started_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	cab_date   timestamptz,
	size       bigint NOT NULL DEFAULT 0,
	sha1       text NOT NULL DEFAULT '',
	status     text NOT NULL CHECK (status IN ('downloading', 'checking', 'importing', 'finished', 'skipped', 'error')),
	reason     text NOT NULL DEFAULT '' CHECK (reason IN ('', 'file missing', 'newer available', 'forced')),
	error      text NOT NULL DEFAULT ''
);

CREATE TABLE commands (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	host_pk     bigint NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	kind        text NOT NULL CHECK (kind IN ('scan', 'download', 'install')),
	args        text NOT NULL DEFAULT '',
	actor       text NOT NULL DEFAULT '',
	status      text NOT NULL CHECK (status IN ('pending', 'sent', 'done', 'failed')),
	created_at  timestamptz NOT NULL,
	sent_at     timestamptz,
	finished_at timestamptz,
	result      text NOT NULL DEFAULT '',
	error       text NOT NULL DEFAULT ''
);
CREATE INDEX commands_host ON commands (host_pk, status, id);

CREATE TABLE users (
	username      text PRIMARY KEY,
	password_hash text NOT NULL,
	role          text NOT NULL CHECK (role IN ('admin', 'read-only')),
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);

CREATE TABLE audit_log (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at      timestamptz NOT NULL,
	actor   text NOT NULL DEFAULT '',
	action  text NOT NULL DEFAULT '',
	target  text NOT NULL DEFAULT '',
	details text NOT NULL DEFAULT ''
);
