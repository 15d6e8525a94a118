-- Initial schema. Times are INTEGER unix microseconds (UTC); NULL means unknown/never,
-- except updates.created where 0 means unknown. Lists are JSON arrays of strings.

CREATE TABLE categories (
	id        TEXT PRIMARY KEY,
	type      TEXT NOT NULL,
	name      TEXT NOT NULL,
	parent_id TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE updates (
	id                 INTEGER PRIMARY KEY,
	update_id          TEXT NOT NULL,
	revision_number    INTEGER NOT NULL,
	revision_id        INTEGER NOT NULL DEFAULT 0,
	source             TEXT NOT NULL CHECK (source IN ('catalog', 'report')),
	content_hash       TEXT NOT NULL DEFAULT '',
	created            INTEGER NOT NULL DEFAULT 0,
	title              TEXT NOT NULL DEFAULT '',
	description        TEXT NOT NULL DEFAULT '',
	kb_ids             TEXT NOT NULL DEFAULT '[]',
	kb_num             INTEGER NOT NULL DEFAULT 0,
	search_text        TEXT NOT NULL DEFAULT '',
	severity           TEXT NOT NULL DEFAULT '',
	severity_rank      INTEGER NOT NULL DEFAULT 0,
	classification     TEXT NOT NULL DEFAULT '',
	classification_id  TEXT NOT NULL DEFAULT '',
	products           TEXT NOT NULL DEFAULT '[]',
	product_ids        TEXT NOT NULL DEFAULT '[]',
	company            TEXT NOT NULL DEFAULT '',
	product_family     TEXT NOT NULL DEFAULT '',
	superseded_by      TEXT NOT NULL DEFAULT '[]',
	supersedes         TEXT NOT NULL DEFAULT '[]',
	prerequisites      TEXT NOT NULL DEFAULT '[]',
	support_url        TEXT NOT NULL DEFAULT '',
	security_bulletins TEXT NOT NULL DEFAULT '[]',
	superseded         INTEGER NOT NULL DEFAULT 0,
	downloaded_on      INTEGER,
	imported_at        INTEGER NOT NULL,
	changed_at         INTEGER NOT NULL,
	UNIQUE (update_id, revision_number)
) STRICT;

-- One index per sort order of the update list (keyset pagination).
CREATE INDEX updates_created ON updates (created, id);
CREATE INDEX updates_title ON updates (title, id);
CREATE INDEX updates_severity ON updates (severity_rank, id);
CREATE INDEX updates_kb ON updates (kb_num, id);
CREATE INDEX updates_classification ON updates (classification, id);

CREATE TABLE update_products (
	update_pk INTEGER NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
	product   TEXT NOT NULL,
	PRIMARY KEY (update_pk, product)
) STRICT, WITHOUT ROWID;
CREATE INDEX update_products_product ON update_products (product, update_pk);

-- Update files, keyed by SHA-1, with their state in the server cache.
CREATE TABLE update_files (
	sha1            TEXT PRIMARY KEY,
	sha256          TEXT NOT NULL DEFAULT '',
	name            TEXT NOT NULL DEFAULT '',
	size            INTEGER NOT NULL DEFAULT 0,
	url             TEXT NOT NULL DEFAULT '',
	downloaded_on   INTEGER,
	downloaded_size INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_attempt    INTEGER,
	deleted_on      INTEGER
) STRICT;
CREATE INDEX update_files_downloaded ON update_files (downloaded_on) WHERE downloaded_on IS NOT NULL;

CREATE TABLE update_file_links (
	update_pk INTEGER NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
	file_sha1 TEXT NOT NULL REFERENCES update_files (sha1),
	PRIMARY KEY (update_pk, file_sha1)
) STRICT, WITHOUT ROWID;
CREATE INDEX update_file_links_file ON update_file_links (file_sha1, update_pk);

CREATE TABLE hosts (
	id              INTEGER PRIMARY KEY,
	uuid            TEXT NOT NULL UNIQUE,
	name            TEXT NOT NULL DEFAULT '',
	os              TEXT NOT NULL DEFAULT '',
	groups          TEXT NOT NULL DEFAULT '[]',
	maturity        TEXT NOT NULL DEFAULT 'PROD',
	agent_version   TEXT NOT NULL DEFAULT '',
	credential_id   TEXT NOT NULL UNIQUE,
	credential_hash BLOB NOT NULL,
	registered_at   INTEGER NOT NULL,
	wua_status      TEXT NOT NULL DEFAULT '',
	last_seen       INTEGER,
	last_scan       INTEGER,
	reboot_pending  INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	n_ok            INTEGER NOT NULL DEFAULT 0,
	n_pending       INTEGER NOT NULL DEFAULT 0,
	n_missing       INTEGER NOT NULL DEFAULT 0,
	n_discarded     INTEGER NOT NULL DEFAULT 0,
	n_error         INTEGER NOT NULL DEFAULT 0,
	n_superseded    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX hosts_name ON hosts (name, id);

CREATE TABLE host_updates (
	host_pk      INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	update_pk    INTEGER NOT NULL REFERENCES updates (id),
	status       TEXT NOT NULL CHECK (status IN ('OK', 'PENDING', 'MISSING', 'DISCARDED', 'ERROR', 'SUPERSEDED')),
	reason       TEXT NOT NULL DEFAULT '',
	installed_at INTEGER,
	last_error   TEXT NOT NULL DEFAULT '',
	changed_at   INTEGER NOT NULL,
	PRIMARY KEY (host_pk, update_pk)
) STRICT, WITHOUT ROWID;
-- Hosts per update and status: "needed" filters, counts, needed and unused files.
CREATE INDEX host_updates_update ON host_updates (update_pk, status);

CREATE TABLE download_tasks (
	id          INTEGER PRIMARY KEY,
	file_sha1   TEXT NOT NULL REFERENCES update_files (sha1),
	status      TEXT NOT NULL CHECK (status IN ('queued', 'downloading', 'done', 'failed')),
	bytes       INTEGER NOT NULL DEFAULT 0,
	attempts    INTEGER NOT NULL DEFAULT 0,
	error       TEXT NOT NULL DEFAULT '',
	worker      TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	started_at  INTEGER,
	finished_at INTEGER,
	updated_at  INTEGER NOT NULL
) STRICT;
-- At most one queued or running task per file.
CREATE UNIQUE INDEX download_tasks_active ON download_tasks (file_sha1) WHERE status IN ('queued', 'downloading');
CREATE INDEX download_tasks_queued ON download_tasks (id) WHERE status = 'queued';

CREATE TABLE cab_history (
	id         INTEGER PRIMARY KEY,
	started_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	cab_date   INTEGER,
	size       INTEGER NOT NULL DEFAULT 0,
	sha1       TEXT NOT NULL DEFAULT '',
	status     TEXT NOT NULL CHECK (status IN ('downloading', 'checking', 'importing', 'finished', 'skipped', 'error')),
	reason     TEXT NOT NULL DEFAULT '' CHECK (reason IN ('', 'file missing', 'newer available', 'forced')),
	error      TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE commands (
	id          INTEGER PRIMARY KEY,
	host_pk     INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	kind        TEXT NOT NULL CHECK (kind IN ('scan', 'download', 'install')),
	args        TEXT NOT NULL DEFAULT '',
	actor       TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'done', 'failed')),
	created_at  INTEGER NOT NULL,
	sent_at     INTEGER,
	finished_at INTEGER,
	result      TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX commands_host ON commands (host_pk, status, id);

CREATE TABLE users (
	username      TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	role          TEXT NOT NULL CHECK (role IN ('admin', 'read-only')),
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_log (
	id      INTEGER PRIMARY KEY,
	at      INTEGER NOT NULL,
	actor   TEXT NOT NULL DEFAULT '',
	action  TEXT NOT NULL DEFAULT '',
	target  TEXT NOT NULL DEFAULT '',
	details TEXT NOT NULL DEFAULT ''
) STRICT;
