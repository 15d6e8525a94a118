-- Indexes for the filtered update list (severity, classification, product, KB search).

-- The KB numbers of each update, normalized as in search_text (no "KB" prefix, lower
-- case), so that a KB search is an index range ("500012" finds KB5000120 to KB5000129,
-- KB50001200...) instead of a LIKE over every row. COLLATE "C": the range bounds are
-- byte order. A trigger keeps it in step with updates.kb_ids, whoever writes it.
CREATE TABLE update_kbs (
	kb        text COLLATE "C" NOT NULL,
	update_pk bigint NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
	PRIMARY KEY (kb, update_pk)
);
CREATE INDEX update_kbs_update ON update_kbs (update_pk);

CREATE FUNCTION update_kbs_of(kbs text[]) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
	SELECT DISTINCT k FROM (
		SELECT lower(CASE WHEN upper(left(v, 2)) = 'KB' THEN substr(v, 3) ELSE v END) AS k
		FROM unnest(kbs) AS v) s
	WHERE k <> ''
$$;

INSERT INTO update_kbs (kb, update_pk)
	SELECT k, u.id FROM updates u, update_kbs_of(u.kb_ids) AS k
	ON CONFLICT DO NOTHING;

CREATE FUNCTION updates_kbs_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' THEN
		DELETE FROM update_kbs WHERE update_pk = NEW.id;
	END IF;
	INSERT INTO update_kbs (kb, update_pk)
		SELECT k, NEW.id FROM update_kbs_of(NEW.kb_ids) AS k
		ON CONFLICT DO NOTHING;
	RETURN NULL;
END
$$;

CREATE TRIGGER updates_kbs_insert AFTER INSERT ON updates
	FOR EACH ROW EXECUTE FUNCTION updates_kbs_sync();
CREATE TRIGGER updates_kbs_update AFTER UPDATE OF kb_ids ON updates
	FOR EACH ROW WHEN (OLD.kb_ids IS DISTINCT FROM NEW.kb_ids) EXECUTE FUNCTION updates_kbs_sync();

-- Filter then sort: equality on the filter column, the list's default order after it, so
-- a filtered page walks the index in order and stops after its rows.
CREATE INDEX updates_severity_created ON updates (severity, created, id);
CREATE INDEX updates_classification_created ON updates (classification, created, id);

-- Title search (search_text LIKE '%...%') by trigram index where the pg_trgm extension
-- can be installed; without it the search stays a scan, with the same results.
DO $$
BEGIN
	CREATE EXTENSION IF NOT EXISTS pg_trgm;
	CREATE INDEX updates_search_trgm ON updates USING gin (search_text gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'pg_trgm not available (%), title search without an index', SQLERRM;
END
$$;
