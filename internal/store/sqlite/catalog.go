package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
	"github.com/openwua/waptwua/internal/wu"
)

type storedUpdate struct {
	id     int64
	hash   string
	source store.Source
	seen   bool
}

// ImportCatalog writes the generation in one write transaction (readers keep the previous
// one until it commits). The transaction stays open while imp.Updates is consumed.
func (s *Store) ImportCatalog(ctx context.Context, imp store.CatalogImport) (store.ImportResult, error) {
	var res store.ImportResult
	if imp.Updates == nil {
		return res, fmt.Errorf("import catalog: no update stream: %w", store.ErrInvalid)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res = store.ImportResult{}
		n, err := importCategories(ctx, tx, imp.Categories)
		if err != nil {
			return err
		}
		res.Categories = n

		have := map[wu.UpdateKey]*storedUpdate{}
		rows, err := tx.QueryContext(ctx, `SELECT id, update_id, revision_number, content_hash, source FROM updates`)
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
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read stored updates: %w", err)
		}
		rows.Close()

		w, err := prepareUpdateWriter(ctx, tx)
		if err != nil {
			return err
		}
		defer w.close()
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
			id, err := w.write(ctx, &u, store.SourceCatalog, hash, imp.At)
			if err != nil {
				return err
			}
			if su == nil {
				res.Inserted++
			} else {
				res.Changed++
			}
			have[u.Key()] = &storedUpdate{id: id, hash: hash, source: store.SourceCatalog, seen: true}
		}
		if imp.Partial {
			return nil
		}
		removed, demoted, err := pruneCatalog(ctx, tx, have, imp)
		res.Removed, res.Demoted = removed, demoted
		return err
	})
	if err != nil {
		return store.ImportResult{}, fmt.Errorf("sqlite: import catalog: %w", err)
	}
	return res, nil
}

func importCategories(ctx context.Context, tx *sql.Tx, cats []wu.Category) (int, error) {
	if len(cats) == 0 {
		return 0, nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO categories (id, type, name, parent_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET type = excluded.type, name = excluded.name, parent_id = excluded.parent_id
		WHERE (type, name, parent_id) IS NOT (excluded.type, excluded.name, excluded.parent_id)`)
	if err != nil {
		return 0, fmt.Errorf("prepare category upsert: %w", err)
	}
	defer st.Close()
	n := 0
	for _, c := range cats {
		r, err := st.ExecContext(ctx, c.ID, string(c.Type), c.Name, c.ParentID)
		if err != nil {
			return 0, fmt.Errorf("category %s: %w", c.ID, err)
		}
		k, _ := r.RowsAffected()
		n += int(k)
	}
	return n, nil
}

// pruneCatalog deletes the catalog updates a complete generation no longer has, or turns
// them into report rows when hosts still have a status for them.
func pruneCatalog(ctx context.Context, tx *sql.Tx, have map[wu.UpdateKey]*storedUpdate, imp store.CatalogImport) (removed, demoted int, err error) {
	var gone []int64
	for _, su := range have {
		if !su.seen && su.source == store.SourceCatalog {
			gone = append(gone, su.id)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i] < gone[j] })
	for _, id := range gone {
		var used int
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM host_updates WHERE update_pk = ?)`, id).Scan(&used); err != nil {
			return 0, 0, fmt.Errorf("prune update %d: %w", id, err)
		}
		if used == 1 {
			if _, err := tx.ExecContext(ctx, `UPDATE updates SET source = 'report', content_hash = '', changed_at = ? WHERE id = ?`, tz(imp.At), id); err != nil {
				return 0, 0, fmt.Errorf("demote update %d: %w", id, err)
			}
			demoted++
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM updates WHERE id = ?`, id); err != nil {
			return 0, 0, fmt.Errorf("delete update %d: %w", id, err)
		}
		removed++
	}
	if removed > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM update_files WHERE downloaded_on IS NULL
			AND NOT EXISTS (SELECT 1 FROM update_file_links l WHERE l.file_sha1 = update_files.sha1)
			AND NOT EXISTS (SELECT 1 FROM download_tasks t WHERE t.file_sha1 = update_files.sha1)`); err != nil {
			return 0, 0, fmt.Errorf("delete orphan files: %w", err)
		}
	}
	return removed, demoted, nil
}

// updateWriter writes full update rows (catalog imports, and updates first seen in a
// report) with their products and files.
type updateWriter struct {
	upsert, delProducts, addProduct, delLinks, upsertFile, addLink, downloaded *sql.Stmt
}

func prepareUpdateWriter(ctx context.Context, tx *sql.Tx) (*updateWriter, error) {
	w := &updateWriter{}
	stmts := []struct {
		p *(*sql.Stmt)
		q string
	}{
		{&w.upsert, `INSERT INTO updates (update_id, revision_number, revision_id, source, content_hash, created,
			title, description, kb_ids, kb_num, search_text, severity, severity_rank, classification,
			classification_id, products, product_ids, company, product_family, superseded_by, supersedes,
			prerequisites, support_url, security_bulletins, superseded, imported_at, changed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (update_id, revision_number) DO UPDATE SET revision_id = excluded.revision_id,
			source = excluded.source, content_hash = excluded.content_hash, created = excluded.created,
			title = excluded.title, description = excluded.description, kb_ids = excluded.kb_ids,
			kb_num = excluded.kb_num, search_text = excluded.search_text, severity = excluded.severity,
			severity_rank = excluded.severity_rank, classification = excluded.classification,
			classification_id = excluded.classification_id, products = excluded.products,
			product_ids = excluded.product_ids, company = excluded.company,
			product_family = excluded.product_family, superseded_by = excluded.superseded_by,
			supersedes = excluded.supersedes, prerequisites = excluded.prerequisites,
			support_url = excluded.support_url, security_bulletins = excluded.security_bulletins,
			superseded = excluded.superseded, changed_at = excluded.changed_at
			RETURNING id`},
		{&w.delProducts, `DELETE FROM update_products WHERE update_pk = ?`},
		{&w.addProduct, `INSERT OR IGNORE INTO update_products (update_pk, product) VALUES (?, ?)`},
		{&w.delLinks, `DELETE FROM update_file_links WHERE update_pk = ?`},
		{&w.upsertFile, `INSERT INTO update_files (sha1, sha256, name, size, url) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (sha1) DO UPDATE SET sha256 = CASE WHEN excluded.sha256 = '' THEN sha256 ELSE excluded.sha256 END,
			name = excluded.name, size = excluded.size, url = excluded.url
			WHERE (name, size, url) IS NOT (excluded.name, excluded.size, excluded.url)
			   OR (excluded.sha256 <> '' AND excluded.sha256 <> sha256)`},
		{&w.addLink, `INSERT OR IGNORE INTO update_file_links (update_pk, file_sha1) VALUES (?, ?)`},
		{&w.downloaded, `UPDATE updates SET downloaded_on = (
			SELECT CASE WHEN count(*) > 0 AND count(f.downloaded_on) = count(*) THEN max(f.downloaded_on) END
			FROM update_file_links l JOIN update_files f ON f.sha1 = l.file_sha1 WHERE l.update_pk = updates.id)
			WHERE id = ?`},
	}
	for _, st := range stmts {
		p, err := tx.PrepareContext(ctx, st.q)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("prepare update writer: %w", err)
		}
		*st.p = p
	}
	return w, nil
}

func (w *updateWriter) close() {
	for _, st := range []*sql.Stmt{w.upsert, w.delProducts, w.addProduct, w.delLinks, w.upsertFile, w.addLink, w.downloaded} {
		if st != nil {
			st.Close()
		}
	}
}

func (w *updateWriter) write(ctx context.Context, u *wu.Update, src store.Source, hash string, at time.Time) (int64, error) {
	var id int64
	atv := tz(at)
	err := w.upsert.QueryRowContext(ctx, u.UpdateID, u.RevisionNumber, u.RevisionID, string(src), hash,
		sqlq.Micros(u.Created), u.Title, u.Description, jl(u.KBs), sqlq.KBNumber(u.KBs),
		sqlq.SearchText(u.Title, u.KBs), string(u.Severity), store.SeverityRank(u.Severity),
		u.Classification, u.ClassificationID, jl(u.Products), jl(u.ProductIDs), u.Company,
		u.ProductFamily, jl(u.SupersededBy), jl(u.Supersedes), jl(u.Prerequisites), u.SupportURL,
		jl(u.SecurityBulletin), len(u.SupersededBy) > 0, atv, atv).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("write update %s: %w", u.Key(), err)
	}
	if _, err := w.delProducts.ExecContext(ctx, id); err != nil {
		return 0, fmt.Errorf("write update %s products: %w", u.Key(), err)
	}
	for _, p := range sqlq.CleanStrings(u.Products) {
		if _, err := w.addProduct.ExecContext(ctx, id, p); err != nil {
			return 0, fmt.Errorf("write update %s product %q: %w", u.Key(), p, err)
		}
	}
	if _, err := w.delLinks.ExecContext(ctx, id); err != nil {
		return 0, fmt.Errorf("write update %s files: %w", u.Key(), err)
	}
	for _, f := range u.Files {
		if f.SHA1 == "" {
			return 0, fmt.Errorf("update %s file %q: no SHA-1: %w", u.Key(), f.Name, store.ErrInvalid)
		}
		if _, err := w.upsertFile.ExecContext(ctx, f.SHA1, f.SHA256, f.Name, f.Size, f.URL); err != nil {
			return 0, fmt.Errorf("write update %s file %s: %w", u.Key(), f.SHA1, err)
		}
		if _, err := w.addLink.ExecContext(ctx, id, f.SHA1); err != nil {
			return 0, fmt.Errorf("link update %s file %s: %w", u.Key(), f.SHA1, err)
		}
	}
	if _, err := w.downloaded.ExecContext(ctx, id); err != nil {
		return 0, fmt.Errorf("update %s download state: %w", u.Key(), err)
	}
	return id, nil
}

const updateCols = `u.update_id, u.revision_number, u.revision_id, u.source, u.created, u.title,
	u.description, u.kb_ids, u.severity, u.classification, u.classification_id, u.products,
	u.product_ids, u.company, u.product_family, u.superseded_by, u.supersedes, u.prerequisites,
	u.support_url, u.security_bulletins, u.superseded, u.downloaded_on, u.imported_at, u.changed_at`

// scanUpdate scans updateCols, the two host counts, then extra.
func scanUpdate(sc scanner, extra ...any) (store.UpdateInfo, error) {
	var u store.UpdateInfo
	var created int64
	dest := []any{&u.UpdateID, &u.RevisionNumber, &u.RevisionID, &u.Source, &created, &u.Title,
		&u.Description, sl{&u.KBs}, &u.Severity, &u.Classification, &u.ClassificationID, sl{&u.Products},
		sl{&u.ProductIDs}, &u.Company, &u.ProductFamily, sl{&u.SupersededBy}, sl{&u.Supersedes},
		sl{&u.Prerequisites}, &u.SupportURL, sl{&u.SecurityBulletin}, &u.Superseded,
		nt{&u.DownloadedOn}, nt{&u.ImportedAt}, nt{&u.ChangedAt}, &u.HostsNeeding, &u.HostsInstalled}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return u, err
	}
	u.Created = sqlq.FromMicros(created)
	return u, nil
}

const listCols = updateCols + ", " + sqlq.HostCountCols

// GetUpdate returns one update with its files and host counts.
func (s *Store) GetUpdate(ctx context.Context, key wu.UpdateKey) (store.UpdateInfo, error) {
	q := `SELECT ` + listCols + `, u.id FROM updates u WHERE u.update_id = ?`
	args := []any{key.UpdateID}
	if key.RevisionNumber != 0 {
		q += ` AND u.revision_number = ?`
		args = append(args, key.RevisionNumber)
	}
	q += ` ORDER BY u.revision_number DESC LIMIT 1`
	var id int64
	u, err := scanUpdate(s.r.QueryRowContext(ctx, q, args...), &id)
	if errors.Is(err, sql.ErrNoRows) {
		return u, notFound(fmt.Sprintf("sqlite: update %s", key))
	}
	if err != nil {
		return u, fmt.Errorf("sqlite: get update %s: %w", key, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+fileCols+` FROM update_file_links l
		JOIN update_files f ON f.sha1 = l.file_sha1 WHERE l.update_pk = ? ORDER BY f.name, f.sha1`, id)
	if err != nil {
		return u, fmt.Errorf("sqlite: get update %s files: %w", key, err)
	}
	defer rows.Close()
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return u, fmt.Errorf("sqlite: get update %s files: %w", key, err)
		}
		u.Files = append(u.Files, f.File)
		u.FileStates = append(u.FileStates, f)
	}
	if err := rows.Err(); err != nil {
		return u, fmt.Errorf("sqlite: get update %s files: %w", key, err)
	}
	return u, nil
}

// ListUpdates returns one page of updates.
func (s *Store) ListUpdates(ctx context.Context, f store.UpdateFilter) (store.UpdatePage, error) {
	var page store.UpdatePage
	l, err := sqlq.BuildUpdateList(dialect(), f, listCols)
	if err != nil {
		return page, fmt.Errorf("sqlite: list updates: %w", err)
	}
	// One read transaction: the page, the total and the facets see the same snapshot.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return page, fmt.Errorf("sqlite: list updates: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, l.Page.SQL, l.Page.Args...)
	if err != nil {
		return page, fmt.Errorf("sqlite: list updates: %w", err)
	}
	var lastID int64
	for rows.Next() {
		var id int64
		u, err := scanUpdate(rows, &id)
		if err != nil {
			rows.Close()
			return page, fmt.Errorf("sqlite: list updates: %w", err)
		}
		if len(page.Updates) == l.Limit {
			last := &page.Updates[len(page.Updates)-1]
			page.Next = l.NextCursor(last, lastID)
			break
		}
		page.Updates = append(page.Updates, u)
		lastID = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("sqlite: list updates: %w", err)
	}
	if err := tx.QueryRowContext(ctx, l.Count.SQL, l.Count.Args...).Scan(&page.Total); err != nil {
		return page, fmt.Errorf("sqlite: count updates: %w", err)
	}
	if f.WithFacets {
		page.Facets = &store.Facets{}
		for _, fc := range []struct {
			st  sqlq.Stmt
			out *[]store.FacetCount
		}{{l.Severity, &page.Facets.Severity}, {l.Product, &page.Facets.Product}, {l.Classification, &page.Facets.Classification}} {
			if *fc.out, err = facet(ctx, tx, fc.st); err != nil {
				return page, fmt.Errorf("sqlite: update facets: %w", err)
			}
		}
	}
	return page, nil
}

func facet(ctx context.Context, tx *sql.Tx, st sqlq.Stmt) ([]store.FacetCount, error) {
	rows, err := tx.QueryContext(ctx, st.SQL, st.Args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.FacetCount{}
	for rows.Next() {
		var c store.FacetCount
		if err := rows.Scan(&c.Value, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sqlq.SortFacet(out)
	return out, rows.Err()
}

// Categories returns the catalog's categories.
func (s *Store) Categories(ctx context.Context) ([]wu.Category, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, type, name, parent_id FROM categories ORDER BY type, name, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list categories: %w", err)
	}
	defer rows.Close()
	var out []wu.Category
	for rows.Next() {
		var c wu.Category
		if err := rows.Scan(&c.ID, &c.Type, &c.Name, &c.ParentID); err != nil {
			return nil, fmt.Errorf("sqlite: list categories: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list categories: %w", err)
	}
	return out, nil
}
