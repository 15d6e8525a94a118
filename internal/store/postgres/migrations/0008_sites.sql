-- Sites (issue 14): groups of hosts that download update files from their own ordered
-- repositories (site mirrors) before the main server. Rules assign hosts to a site by
-- host UUID, then group, then network (CIDR), then site order. Hosts keep the networks
-- and the repository of their last report.

CREATE TABLE sites (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name         text NOT NULL UNIQUE,
	sort_order   integer NOT NULL DEFAULT 0,
	repositories text[] NOT NULL DEFAULT '{}',
	networks     text[] NOT NULL DEFAULT '{}',
	groups       text[] NOT NULL DEFAULT '{}',
	hosts        text[] NOT NULL DEFAULT '{}',
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	updated_by   text NOT NULL DEFAULT ''
);
CREATE INDEX sites_position ON sites (sort_order, id);

ALTER TABLE hosts ADD COLUMN networks text[] NOT NULL DEFAULT '{}';
ALTER TABLE hosts ADD COLUMN repository text NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN repository_at timestamptz;
