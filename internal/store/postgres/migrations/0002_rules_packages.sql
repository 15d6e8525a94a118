-- Signed rules packages (the bytes of each .wapt are kept here: a few kB each), their
-- assignments to host groups and hosts, their rollout state, and the packages each host
-- last reported applied or refused.

CREATE TABLE rules_packages (
	id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name                    text NOT NULL,
	version                 text NOT NULL,
	filename                text NOT NULL UNIQUE,
	sha256                  text NOT NULL,
	size                    bigint NOT NULL,
	data                    bytea NOT NULL,
	control                 text NOT NULL DEFAULT '',
	rules_json              text NOT NULL DEFAULT '',
	maturity                text NOT NULL,
	description             text NOT NULL DEFAULT '',
	signer                  text NOT NULL DEFAULT '',
	signer_fingerprint      text NOT NULL DEFAULT '',
	signature_date          timestamptz,
	target_groups           text[] NOT NULL DEFAULT '{}',
	promote_after_days      integer NOT NULL DEFAULT 0,
	promote_min_success_pct integer NOT NULL DEFAULT 0,
	verified                boolean NOT NULL DEFAULT false,
	verify_error            text NOT NULL DEFAULT '',
	uploaded_at             timestamptz NOT NULL,
	uploaded_by             text NOT NULL DEFAULT '',
	priority                integer NOT NULL DEFAULT 0,
	hold                    boolean NOT NULL DEFAULT false,
	policy_after_days       integer,
	policy_min_success_pct  integer,
	promoted_at             timestamptz,
	promoted_by             text NOT NULL DEFAULT '',
	checked_at              timestamptz,
	ring_hosts              integer NOT NULL DEFAULT 0,
	success_hosts           integer NOT NULL DEFAULT 0,
	check_note              text NOT NULL DEFAULT '',
	UNIQUE (name, version)
);

CREATE TABLE package_assignments (
	package    text NOT NULL,
	kind       text NOT NULL CHECK (kind IN ('group', 'host')),
	target     text NOT NULL,
	created_at timestamptz NOT NULL,
	created_by text NOT NULL DEFAULT '',
	PRIMARY KEY (package, kind, target)
);

CREATE TABLE host_packages (
	host_pk    bigint NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	position   integer NOT NULL,
	name       text NOT NULL,
	version    text NOT NULL,
	status     text NOT NULL CHECK (status IN ('applied', 'refused')),
	error      text NOT NULL DEFAULT '',
	changed_at timestamptz NOT NULL,
	PRIMARY KEY (host_pk, position)
);
-- The ring of a package version: hosts that applied it.
CREATE INDEX host_packages_package ON host_packages (name, version, status);
