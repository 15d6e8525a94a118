package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
	"github.com/openwua/waptwua/internal/wu"
)

// chunk is how many changed updates an import writes per set of statements.
const chunk = 2000

// analyzeAfter is the number of written updates past which an import refreshes the
// planner statistics.
const analyzeAfter = 5000

type storedUpdate struct {
	id     int64
	hash   string
	source store.Source
	seen   bool
}

// ImportCatalog writes the generation in one transaction: readers see the previous one
// until it commits. Changed updates are written in chunks with set-based statements.
func (s *Store) ImportCatalog(ctx context.Context, imp store.CatalogImport) (store.ImportResult, error) {
	var res store.ImportResult
	if imp.Updates == nil {
		return res, fmt.Errorf("import catalog: no update stream: %w", store.ErrInvalid)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = store.ImportResult{}
		n, err := importCategories(ctx, tx, imp.Categories)
		if err != nil {
			return err
		}
		res.Categories = n

		have := map[wu.UpdateKey]*storedUpdate{}
		rows, err := tx.Query(ctx, `SELECT id, update_id, revision_number, content_hash, source FROM updates`)
		if err != nil {
			return fmt.Errorf("read stored updates: %w", err)
		}
		for rows.Next() {
			var k wu.UpdateKey
			su := &storedUpdate{}
			if err := rows.Scan(&su.id, &k.UpdateID, &k.RevisionNumber, &su.hash, &su.source); err != nil {
				rows.Close()
				return fmt.Errorf("read stored updates: %w", err)
			}
			have[k] = su
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read stored updates: %w", err)
		}

		var pending []wu.Update
		var hashes []string
		flush := func() error {
			if len(pending) == 0 {
				return nil
			}
			ids, err := writeUpdates(ctx, tx, pending, hashes, store.SourceCatalog, imp.At, false)
			if err != nil {
				return err
			}
			for i, u := range pending {
				have[u.Key()].id = ids[i]
			}
			pending, hashes = pending[:0], hashes[:0]
			return nil
		}
		for u, err := range imp.Updates {
			if err != nil {
				return fmt.Errorf("read catalog: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			res.Seen++
			if !wu.IsGUID(u.UpdateID) {
				return fmt.Errorf("catalog update %q: not a GUID: %w", u.UpdateID, store.ErrInvalid)
			}
			hash, err := sqlq.ContentHash(&u)
			if err != nil {
				return err
			}
			su := have[u.Key()]
			if su != nil && su.seen {
				continue // a duplicate in the stream: the first one counts
			}
			if su != nil && su.hash == hash && su.source == store.SourceCatalog {
				su.seen = true
				res.Unchanged++
				continue
			}
			if su == nil {
				res.Inserted++
				have[u.Key()] = &storedUpdate{hash: hash, source: store.SourceCatalog, seen: true}
			} else {
				res.Changed++
				su.hash, su.source, su.seen = hash, store.SourceCatalog, true
			}
			pending = append(pending, u)
			hashes = append(hashes, hash)
			if len(pending) == chunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if res.Written() > analyzeAfter {
			// Fresh statistics, so the first list queries after a big import already
			// get index plans (autovacuum would come later).
			if _, err := tx.Exec(ctx, `ANALYZE updates, update_products, update_files, update_file_links`); err != nil {
				return fmt.Errorf("analyze: %w", err)
			}
		}
		if imp.Partial {
			return nil
		}
		var gone []int64
		for _, su := range have {
			if !su.seen && su.source == store.SourceCatalog {
				gone = append(gone, su.id)
			}
		}
		if len(gone) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE updates u SET source = 'report', content_hash = '', changed_at = $2
			WHERE u.id = ANY($1) AND EXISTS (SELECT 1 FROM host_updates h WHERE h.update_pk = u.id)`, gone, tz(imp.At))
		if err != nil {
			return fmt.Errorf("demote updates: %w", err)
		}
		res.Demoted = int(tag.RowsAffected())
		tag, err = tx.Exec(ctx, `DELETE FROM updates u WHERE u.id = ANY($1) AND u.source = 'catalog'
			AND NOT EXISTS (SELECT 1 FROM host_updates h WHERE h.update_pk = u.id)`, gone)
		if err != nil {
			return fmt.Errorf("delete updates: %w", err)
		}
		res.Removed = int(tag.RowsAffected())
		if _, err := tx.Exec(ctx, `DELETE FROM update_files f WHERE f.downloaded_on IS NULL
			AND NOT EXISTS (SELECT 1 FROM update_file_links l WHERE l.file_sha1 = f.sha1)
			AND NOT EXISTS (SELECT 1 FROM download_tasks t WHERE t.file_sha1 = f.sha1)`); err != nil {
			return fmt.Errorf("delete orphan files: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.ImportResult{}, fmt.Errorf("postgres: import catalog: %w", err)
	}
	return res, nil
}

func importCategories(ctx context.Context, tx pgx.Tx, cats []wu.Category) (int, error) {
	if len(cats) == 0 {
		return 0, nil
	}
	// Later duplicates win, as they would row by row.
	idx := map[string]int{}
	var ids, types, names, parents []string
	for _, c := range cats {
		if i, ok := idx[c.ID]; ok {
			types[i], names[i], parents[i] = string(c.Type), c.Name, c.ParentID
			continue
		}
		idx[c.ID] = len(ids)
		ids, types, names, parents = append(ids, c.ID), append(types, string(c.Type)), append(names, c.Name), append(parents, c.ParentID)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO categories (id, type, name, parent_id)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
		ON CONFLICT (id) DO UPDATE SET type = excluded.type, name = excluded.name, parent_id = excluded.parent_id
		WHERE (categories.type, categories.name, categories.parent_id) IS DISTINCT FROM (excluded.type, excluded.name, excluded.parent_id)`,
		ids, types, names, parents)
	if err != nil {
		return 0, fmt.Errorf("upsert categories: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// updateRow is one update as jsonb_to_recordset reads it.
type updateRow struct {
	UpdateID          string    `json:"update_id"`
	RevisionNumber    int       `json:"revision_number"`
	RevisionID        int64     `json:"revision_id"`
	ContentHash       string    `json:"content_hash"`
	Created           time.Time `json:"created"`
	Title             string    `json:"title"`
	Description       string    `json:"description"`
	KBIDs             []string  `json:"kb_ids"`
	KBNum             int64     `json:"kb_num"`
	SearchText        string    `json:"search_text"`
	Severity          string    `json:"severity"`
	SeverityRank      int       `json:"severity_rank"`
	Classification    string    `json:"classification"`
	ClassificationID  string    `json:"classification_id"`
	Products          []string  `json:"products"`
	ProductIDs        []string  `json:"product_ids"`
	Company           string    `json:"company"`
	ProductFamily     string    `json:"product_family"`
	SupersededBy      []string  `json:"superseded_by"`
	Supersedes        []string  `json:"supersedes"`
	Prerequisites     []string  `json:"prerequisites"`
	SupportURL        string    `json:"support_url"`
	SecurityBulletins []string  `json:"security_bulletins"`
	Superseded        bool      `json:"superseded"`
}

const updateRecord = `r(update_id text, revision_number integer, revision_id bigint, content_hash text,
	created timestamptz, title text, description text, kb_ids text[], kb_num bigint, search_text text,
	severity text, severity_rank smallint, classification text, classification_id text, products text[],
	product_ids text[], company text, product_family text, superseded_by text[], supersedes text[],
	prerequisites text[], support_url text, security_bulletins text[], superseded boolean)`

const updateInsert = `INSERT INTO updates (update_id, revision_number, revision_id, content_hash, created, title,
	description, kb_ids, kb_num, search_text, severity, severity_rank, classification, classification_id,
	products, product_ids, company, product_family, superseded_by, supersedes, prerequisites, support_url,
	security_bulletins, superseded, source, imported_at, changed_at)
	SELECT r.*, $2, $3, $3 FROM jsonb_to_recordset($1::jsonb) AS ` + updateRecord

// writeUpdates writes full update rows with their products and files, and returns their
// ids in order. With onlyNew, rows that exist are left alone and get id 0.
func writeUpdates(ctx context.Context, tx pgx.Tx, us []wu.Update, hashes []string, src store.Source, at time.Time, onlyNew bool) ([]int64, error) {
	rows := make([]updateRow, len(us))
	pos := make(map[wu.UpdateKey]int, len(us))
	for i := range us {
		u := &us[i]
		created := u.Created
		if created.IsZero() {
			created = time.Unix(0, 0)
		}
		rows[i] = updateRow{
			UpdateID: u.UpdateID, RevisionNumber: u.RevisionNumber, RevisionID: u.RevisionID, ContentHash: hashes[i],
			Created: created.UTC(), Title: u.Title, Description: u.Description, KBIDs: list(u.KBs),
			KBNum: sqlq.KBNumber(u.KBs), SearchText: sqlq.SearchText(u.Title, u.KBs), Severity: string(u.Severity),
			SeverityRank: store.SeverityRank(u.Severity), Classification: u.Classification,
			ClassificationID: u.ClassificationID, Products: list(u.Products), ProductIDs: list(u.ProductIDs),
			Company: u.Company, ProductFamily: u.ProductFamily, SupersededBy: list(u.SupersededBy),
			Supersedes: list(u.Supersedes), Prerequisites: list(u.Prerequisites), SupportURL: u.SupportURL,
			SecurityBulletins: list(u.SecurityBulletin), Superseded: len(u.SupersededBy) > 0,
		}
		pos[u.Key()] = i
	}
	doc, err := json.Marshal(rows)
	if err != nil {
		return nil, fmt.Errorf("encode updates: %w", err)
	}
	q := updateInsert + ` ON CONFLICT (update_id, revision_number) DO `
	if onlyNew {
		q += `NOTHING`
	} else {
		q += `UPDATE SET revision_id = excluded.revision_id, source = excluded.source,
			content_hash = excluded.content_hash, created = excluded.created, title = excluded.title,
			description = excluded.description, kb_ids = excluded.kb_ids, kb_num = excluded.kb_num,
			search_text = excluded.search_text, severity = excluded.severity,
			severity_rank = excluded.severity_rank, classification = excluded.classification,
			classification_id = excluded.classification_id, products = excluded.products,
			product_ids = excluded.product_ids, company = excluded.company,
			product_family = excluded.product_family, superseded_by = excluded.superseded_by,
			supersedes = excluded.supersedes, prerequisites = excluded.prerequisites,
			support_url = excluded.support_url, security_bulletins = excluded.security_bulletins,
			superseded = excluded.superseded, changed_at = excluded.changed_at`
	}
	q += ` RETURNING id, update_id, revision_number`
	r, err := tx.Query(ctx, q, string(doc), string(src), tz(at))
	if err != nil {
		return nil, fmt.Errorf("write updates: %w", err)
	}
	ids := make([]int64, len(us))
	var written []int64
	for r.Next() {
		var id int64
		var k wu.UpdateKey
		if err := r.Scan(&id, &k.UpdateID, &k.RevisionNumber); err != nil {
			r.Close()
			return nil, fmt.Errorf("write updates: %w", err)
		}
		i, ok := pos[k]
		if !ok {
			r.Close()
			return nil, fmt.Errorf("write updates: the database returned %s, which was not written", k)
		}
		ids[i] = id
		written = append(written, id)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("write updates: %w", err)
	}
	if len(written) == 0 {
		return ids, nil
	}

	// Products and files of the written rows.
	var pIDs []int64
	var pNames []string
	var lIDs []int64
	var lSHAs []string
	files := map[string]wu.File{}
	var order []string
	for i, u := range us {
		if ids[i] == 0 {
			continue
		}
		for _, p := range sqlq.CleanStrings(u.Products) {
			pIDs, pNames = append(pIDs, ids[i]), append(pNames, p)
		}
		linked := map[string]bool{}
		for _, f := range u.Files {
			if f.SHA1 == "" {
				return nil, fmt.Errorf("update %s file %q: no SHA-1: %w", u.Key(), f.Name, store.ErrInvalid)
			}
			if _, ok := files[f.SHA1]; !ok {
				order = append(order, f.SHA1)
			}
			files[f.SHA1] = f
			if !linked[f.SHA1] {
				linked[f.SHA1] = true
				lIDs, lSHAs = append(lIDs, ids[i]), append(lSHAs, f.SHA1)
			}
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM update_products WHERE update_pk = ANY($1)`, written); err != nil {
		return nil, fmt.Errorf("write products: %w", err)
	}
	if len(pIDs) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO update_products (update_pk, product)
			SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING`, pIDs, pNames); err != nil {
			return nil, fmt.Errorf("write products: %w", err)
		}
	}
	if len(order) > 0 {
		sha1s, sha256s, names, urls := make([]string, len(order)), make([]string, len(order)), make([]string, len(order)), make([]string, len(order))
		sizes := make([]int64, len(order))
		for i, h := range order {
			f := files[h]
			sha1s[i], sha256s[i], names[i], sizes[i], urls[i] = f.SHA1, f.SHA256, f.Name, f.Size, f.URL
		}
		if _, err := tx.Exec(ctx, `INSERT INTO update_files AS f (sha1, sha256, name, size, url)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
			ON CONFLICT (sha1) DO UPDATE SET sha256 = CASE WHEN excluded.sha256 = '' THEN f.sha256 ELSE excluded.sha256 END,
			name = excluded.name, size = excluded.size, url = excluded.url
			WHERE (f.name, f.size, f.url) IS DISTINCT FROM (excluded.name, excluded.size, excluded.url)
			   OR (excluded.sha256 <> '' AND excluded.sha256 <> f.sha256)`, sha1s, sha256s, names, sizes, urls); err != nil {
			return nil, fmt.Errorf("write files: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM update_file_links WHERE update_pk = ANY($1)`, written); err != nil {
		return nil, fmt.Errorf("write file links: %w", err)
	}
	if len(lIDs) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO update_file_links (update_pk, file_sha1)
			SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING`, lIDs, lSHAs); err != nil {
			return nil, fmt.Errorf("write file links: %w", err)
		}
	}
	if err := refreshDownloaded(ctx, tx, `u.id = ANY($1)`, written); err != nil {
		return nil, err
	}
	return ids, nil
}

// refreshDownloaded recomputes updates.downloaded_on for the updates matching where.
func refreshDownloaded(ctx context.Context, q querier, where string, args ...any) error {
	_, err := q.Exec(ctx, `UPDATE updates u SET downloaded_on = d.d_on FROM (
		SELECT u.id, CASE WHEN count(l.file_sha1) > 0 AND count(f.downloaded_on) = count(l.file_sha1) THEN max(f.downloaded_on) END AS d_on
		FROM updates u LEFT JOIN update_file_links l ON l.update_pk = u.id LEFT JOIN update_files f ON f.sha1 = l.file_sha1
		WHERE `+where+` GROUP BY u.id) d
		WHERE u.id = d.id AND u.downloaded_on IS DISTINCT FROM d.d_on`, args...)
	if err != nil {
		return fmt.Errorf("refresh update download dates: %w", err)
	}
	return nil
}

const updateCols = `u.update_id, u.revision_number, u.revision_id, u.source, u.created, u.title,
	u.description, u.kb_ids, u.severity, u.classification, u.classification_id, u.products,
	u.product_ids, u.company, u.product_family, u.superseded_by, u.supersedes, u.prerequisites,
	u.support_url, u.security_bulletins, u.superseded, u.downloaded_on, u.imported_at, u.changed_at`

const listCols = updateCols + ", " + sqlq.HostCountCols

// scanUpdate scans listCols then extra.
func scanUpdate(row pgx.Row, extra ...any) (store.UpdateInfo, error) {
	var u store.UpdateInfo
	dest := []any{&u.UpdateID, &u.RevisionNumber, &u.RevisionID, &u.Source, nt{&u.Created}, &u.Title,
		&u.Description, &u.KBs, &u.Severity, &u.Classification, &u.ClassificationID, &u.Products,
		&u.ProductIDs, &u.Company, &u.ProductFamily, &u.SupersededBy, &u.Supersedes, &u.Prerequisites,
		&u.SupportURL, &u.SecurityBulletin, &u.Superseded, nt{&u.DownloadedOn}, nt{&u.ImportedAt},
		nt{&u.ChangedAt}, &u.HostsNeeding, &u.HostsInstalled}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return u, err
	}
	nilEmpty(&u.KBs, &u.Products, &u.ProductIDs, &u.SupersededBy, &u.Supersedes, &u.Prerequisites, &u.SecurityBulletin)
	return u, nil
}

// GetUpdate returns one update with its files and host counts.
func (s *Store) GetUpdate(ctx context.Context, key wu.UpdateKey) (store.UpdateInfo, error) {
	q := `SELECT ` + listCols + `, u.id FROM updates u WHERE u.update_id = $1`
	args := []any{key.UpdateID}
	if key.RevisionNumber != 0 {
		q += ` AND u.revision_number = $2`
		args = append(args, key.RevisionNumber)
	}
	q += ` ORDER BY u.revision_number DESC LIMIT 1`
	var id int64
	u, err := scanUpdate(s.pool.QueryRow(ctx, q, args...), &id)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, notFound(fmt.Sprintf("postgres: update %s", key))
	}
	if err != nil {
		return u, fmt.Errorf("postgres: get update %s: %w", key, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+fileCols+` FROM update_file_links l
		JOIN update_files f ON f.sha1 = l.file_sha1 WHERE l.update_pk = $1 ORDER BY f.name, f.sha1`, id)
	if err != nil {
		return u, fmt.Errorf("postgres: get update %s files: %w", key, err)
	}
	u.FileStates, err = collect(rows, func(r pgx.Rows) (store.UpdateFile, error) { return scanFile(r) })
	if err != nil {
		return u, fmt.Errorf("postgres: get update %s files: %w", key, err)
	}
	for _, f := range u.FileStates {
		u.Files = append(u.Files, f.File)
	}
	return u, nil
}

// ListUpdates returns one page of updates.
func (s *Store) ListUpdates(ctx context.Context, f store.UpdateFilter) (store.UpdatePage, error) {
	var page store.UpdatePage
	l, err := sqlq.BuildUpdateList(dialect(), f, listCols)
	if err != nil {
		return page, fmt.Errorf("postgres: list updates: %w", err)
	}
	// One snapshot for the page, the total and the facets.
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, l.Page.SQL, l.Page.Args...)
		if err != nil {
			return err
		}
		var lastID int64
		for rows.Next() {
			var id int64
			u, err := scanUpdate(rows, &id)
			if err != nil {
				rows.Close()
				return err
			}
			if len(page.Updates) == l.Limit {
				page.Next = l.NextCursor(&page.Updates[len(page.Updates)-1], lastID)
				break
			}
			page.Updates = append(page.Updates, u)
			lastID = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, l.Count.SQL, l.Count.Args...).Scan(&page.Total); err != nil {
			return fmt.Errorf("count: %w", err)
		}
		if !f.WithFacets {
			return nil
		}
		page.Facets = &store.Facets{}
		for _, fc := range []struct {
			st  sqlq.Stmt
			out *[]store.FacetCount
		}{{l.Severity, &page.Facets.Severity}, {l.Product, &page.Facets.Product}, {l.Classification, &page.Facets.Classification}} {
			rows, err := tx.Query(ctx, fc.st.SQL, fc.st.Args...)
			if err != nil {
				return fmt.Errorf("facets: %w", err)
			}
			out, err := collect(rows, func(r pgx.Rows) (store.FacetCount, error) {
				var c store.FacetCount
				err := r.Scan(&c.Value, &c.Count)
				return c, err
			})
			if err != nil {
				return fmt.Errorf("facets: %w", err)
			}
			if out == nil {
				out = []store.FacetCount{}
			}
			sqlq.SortFacet(out)
			*fc.out = out
		}
		return nil
	})
	if err != nil {
		return store.UpdatePage{}, fmt.Errorf("postgres: list updates: %w", err)
	}
	return page, nil
}

// Categories returns the catalog's categories.
func (s *Store) Categories(ctx context.Context) ([]wu.Category, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, type, name, parent_id FROM categories ORDER BY type, name, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list categories: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (wu.Category, error) {
		var c wu.Category
		err := r.Scan(&c.ID, &c.Type, &c.Name, &c.ParentID)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list categories: %w", err)
	}
	return out, nil
}
