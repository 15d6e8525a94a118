-- Issue 13 (scale): per-update host counts maintained as reports arrive, so that the
-- console and the update lists read one row per update instead of counting statuses.
-- needing: statuses MISSING, PENDING, DISCARDED, ERROR (store.NeededStatuses);
-- installed: OK; failed: ERROR. A missing row counts zero.
CREATE TABLE update_counts (
	update_pk INTEGER PRIMARY KEY REFERENCES updates (id) ON DELETE CASCADE,
	needing   INTEGER NOT NULL DEFAULT 0,
	installed INTEGER NOT NULL DEFAULT 0,
	failed    INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO update_counts (update_pk, needing, installed, failed)
	SELECT update_pk,
		sum(CASE WHEN status IN ('MISSING', 'PENDING', 'DISCARDED', 'ERROR') THEN 1 ELSE 0 END),
		sum(CASE WHEN status = 'OK' THEN 1 ELSE 0 END),
		sum(CASE WHEN status = 'ERROR' THEN 1 ELSE 0 END)
	FROM host_updates GROUP BY update_pk;
