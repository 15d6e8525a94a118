-- Update packages (issue 15): signed packages whose WAPT/actions.json installs an .msu,
-- a .cab, a driver, a KB uninstall or a feature upgrade. They share the rules packages'
-- table (upload, versions, assignments, rings and promotion are the same) with kind
-- 'update'; their payload files live in the repository folder, never here, and
-- payload_complete says every one of them was received and checked (only then is the
-- package offered to agents). Each host's last reported outcome per update package is
-- kept apart from the rules packages' statuses.

ALTER TABLE rules_packages ADD COLUMN kind text NOT NULL DEFAULT 'rules' CHECK (kind IN ('rules', 'update'));
ALTER TABLE rules_packages ADD COLUMN actions_json text NOT NULL DEFAULT '';
ALTER TABLE rules_packages ADD COLUMN payload_complete boolean NOT NULL DEFAULT false;

CREATE TABLE host_update_packages (
	host_pk    bigint NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	position   integer NOT NULL,
	name       text NOT NULL,
	version    text NOT NULL,
	status     text NOT NULL CHECK (status IN ('installed', 'reboot_needed', 'not_applicable', 'error', 'refused')),
	error      text NOT NULL DEFAULT '',
	changed_at timestamptz NOT NULL,
	PRIMARY KEY (host_pk, position)
);
-- The ring of an update package version: hosts that installed it.
CREATE INDEX host_update_packages_package ON host_update_packages (name, version, status);
