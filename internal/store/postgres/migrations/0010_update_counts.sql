-- Issue 13 (scale): per-update host counts maintained as reports arrive, so that the
-- console and the update lists read one row per update instead of counting statuses.
-- needing: statuses MISSING, PENDING, DISCARDED, ERROR (store.NeededStatuses);
-- installed: OK; failed: ERROR. A missing row counts zero.
CREATE TABLE update_counts (
	update_pk bigint PRIMARY KEY REFERENCES updates (id) ON DELETE CASCADE,
	needing   integer NOT NULL DEFAULT 0,
	installed integer NOT NULL DEFAULT 0,
	failed    integer NOT NULL DEFAULT 0
);
INSERT INTO update_counts (update_pk, needing, installed, failed)
	SELECT update_pk,
		count(*) FILTER (WHERE status IN ('MISSING', 'PENDING', 'DISCARDED', 'ERROR')),
		count(*) FILTER (WHERE status = 'OK'),
		count(*) FILTER (WHERE status = 'ERROR')
	FROM host_updates GROUP BY update_pk;
