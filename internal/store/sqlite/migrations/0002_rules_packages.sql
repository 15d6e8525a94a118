-- Signed rules packages (the bytes of each .wapt are kept here: a few kB each), their
-- assignments to host groups and hosts, their rollout state, and the packages each host
-- last reported applied or refused.

CREATE TABLE rules_packages (
	id                      INTEGER PRIMARY KEY,
	name                    TEXT NOT NULL,
	version                 TEXT NOT NULL,
	filename                TEXT NOT NULL UNIQUE,
	sha256                  TEXT NOT NULL,
	size                    INTEGER NOT NULL,
	data                    BLOB NOT NULL,
	control                 TEXT NOT NULL DEFAULT '',
	rules_json              TEXT NOT NULL DEFAULT '',
	maturity                TEXT NOT NULL,
	description             TEXT NOT NULL DEFAULT '',
	signer                  TEXT NOT NULL DEFAULT '',
	signer_fingerprint      TEXT NOT NULL DEFAULT '',
	signature_date          INTEGER,
	target_groups           TEXT NOT NULL DEFAULT '[]',
	promote_after_days      INTEGER NOT NULL DEFAULT 0,
	promote_min_success_pct INTEGER NOT NULL DEFAULT 0,
	verified                INTEGER NOT NULL DEFAULT 0,
	verify_error            TEXT NOT NULL DEFAULT '',
	uploaded_at             INTEGER NOT NULL,
	uploaded_by             TEXT NOT NULL DEFAULT '',
	priority                INTEGER NOT NULL DEFAULT 0,
	hold                    INTEGER NOT NULL DEFAULT 0,
	policy_after_days       INTEGER,
	policy_min_success_pct  INTEGER,
	promoted_at             INTEGER,
	promoted_by             TEXT NOT NULL DEFAULT '',
	checked_at              INTEGER,
	ring_hosts              INTEGER NOT NULL DEFAULT 0,
	success_hosts           INTEGER NOT NULL DEFAULT 0,
	check_note              TEXT NOT NULL DEFAULT '',
	UNIQUE (name, version)
) STRICT;

CREATE TABLE package_assignments (
	package    TEXT NOT NULL,
	kind       TEXT NOT NULL CHECK (kind IN ('group', 'host')),
	target     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (package, kind, target)
) STRICT, WITHOUT ROWID;

CREATE TABLE host_packages (
	host_pk    INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	position   INTEGER NOT NULL,
	name       TEXT NOT NULL,
	version    TEXT NOT NULL,
	status     TEXT NOT NULL CHECK (status IN ('applied', 'refused')),
	error      TEXT NOT NULL DEFAULT '',
	changed_at INTEGER NOT NULL,
	PRIMARY KEY (host_pk, position)
) STRICT, WITHOUT ROWID;
-- The ring of a package version: hosts that applied it.
CREATE INDEX host_packages_package ON host_packages (name, version, status);
