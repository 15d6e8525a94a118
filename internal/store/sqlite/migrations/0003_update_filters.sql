-- Indexes for the filtered update list (severity, classification, product, KB search).

-- The KB numbers of each update, normalized as in search_text (no "KB" prefix, lower
-- case), so that a KB search is an index range ("500012" finds KB5000120 to KB5000129,
-- KB50001200...) instead of a LIKE over every row. Triggers keep it in step with
-- updates.kb_ids, whoever writes it.
CREATE TABLE update_kbs (
	kb        TEXT NOT NULL,
	update_pk INTEGER NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
	PRIMARY KEY (kb, update_pk)
) STRICT, WITHOUT ROWID;
CREATE INDEX update_kbs_update ON update_kbs (update_pk);

INSERT OR IGNORE INTO update_kbs (kb, update_pk)
	SELECT k.kb, k.id FROM (
		SELECT u.id, lower(CASE WHEN upper(substr(j.value, 1, 2)) = 'KB' THEN substr(j.value, 3) ELSE j.value END) AS kb
		FROM updates u, json_each(u.kb_ids) j) k
	WHERE k.kb <> '';

CREATE TRIGGER updates_kbs_insert AFTER INSERT ON updates
BEGIN
	INSERT OR IGNORE INTO update_kbs (kb, update_pk)
		SELECT k.kb, NEW.id FROM (
			SELECT lower(CASE WHEN upper(substr(j.value, 1, 2)) = 'KB' THEN substr(j.value, 3) ELSE j.value END) AS kb
			FROM json_each(NEW.kb_ids) j) k
		WHERE k.kb <> '';
END;

CREATE TRIGGER updates_kbs_update AFTER UPDATE OF kb_ids ON updates
WHEN OLD.kb_ids IS NOT NEW.kb_ids
BEGIN
	DELETE FROM update_kbs WHERE update_pk = NEW.id;
	INSERT OR IGNORE INTO update_kbs (kb, update_pk)
		SELECT k.kb, NEW.id FROM (
			SELECT lower(CASE WHEN upper(substr(j.value, 1, 2)) = 'KB' THEN substr(j.value, 3) ELSE j.value END) AS kb
			FROM json_each(NEW.kb_ids) j) k
		WHERE k.kb <> '';
END;

-- Filter then sort: equality on the filter column, the list's default order after it, so
-- a filtered page walks the index in order and stops after its rows.
CREATE INDEX updates_severity_created ON updates (severity, created, id);
CREATE INDEX updates_classification_created ON updates (classification, created, id);
