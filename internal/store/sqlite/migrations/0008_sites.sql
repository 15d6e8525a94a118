-- Sites (issue 14): groups of hosts that download update files from their own ordered
-- repositories (site mirrors) before the main server. Rules assign hosts to a site by
-- host UUID, then group, then network (CIDR), then site order. Lists are JSON arrays.
-- Hosts keep the networks and the repository of their last report.

CREATE TABLE sites (
	id           INTEGER PRIMARY KEY,
	name         TEXT NOT NULL UNIQUE,
	sort_order   INTEGER NOT NULL DEFAULT 0,
	repositories TEXT NOT NULL DEFAULT '[]',
	networks     TEXT NOT NULL DEFAULT '[]',
	groups       TEXT NOT NULL DEFAULT '[]',
	hosts        TEXT NOT NULL DEFAULT '[]',
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	updated_by   TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sites_position ON sites (sort_order, id);

ALTER TABLE hosts ADD COLUMN networks TEXT NOT NULL DEFAULT '[]';
ALTER TABLE hosts ADD COLUMN repository TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN repository_at INTEGER;
