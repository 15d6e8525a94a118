-- Update packages (issue 15): signed packages whose WAPT/actions.json installs an .msu,
-- a .cab, a driver, a KB uninstall or a feature upgrade. They share the rules packages'
-- table (upload, versions, assignments, rings and promotion are the same) with kind
-- 'update'; their payload files live in the repository folder, never here, and
-- payload_complete says every one of them was received and checked (only then is the
-- package offered to agents). Each host's last reported outcome per update package is
-- kept apart from the rules packages' statuses.

ALTER TABLE rules_packages ADD COLUMN kind TEXT NOT NULL DEFAULT 'rules' CHECK (kind IN ('rules', 'update'));
ALTER TABLE rules_packages ADD COLUMN actions_json TEXT NOT NULL DEFAULT '';
ALTER TABLE rules_packages ADD COLUMN payload_complete INTEGER NOT NULL DEFAULT 0;

CREATE TABLE host_update_packages (
	host_pk    INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	position   INTEGER NOT NULL,
	name       TEXT NOT NULL,
	version    TEXT NOT NULL,
	status     TEXT NOT NULL CHECK (status IN ('installed', 'reboot_needed', 'not_applicable', 'error', 'refused')),
	error      TEXT NOT NULL DEFAULT '',
	changed_at INTEGER NOT NULL,
	PRIMARY KEY (host_pk, position)
) STRICT, WITHOUT ROWID;
-- The ring of an update package version: hosts that installed it.
CREATE INDEX host_update_packages_package ON host_update_packages (name, version, status);
