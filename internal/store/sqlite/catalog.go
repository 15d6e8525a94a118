package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
	"github.com/openwua/waptwua/internal/wu"
)

// ImportCatalog writes the generation in one write transaction (readers keep the previous
// one until it commits). The transaction stays open while imp.Updates is consumed.
func (s *Store) ImportCatalog(ctx context.Context, imp store.CatalogImport) (store.ImportResult, error) {
	var res store.ImportResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		n, err := importCategories(ctx, tx, imp.Categories)
		if err != nil {
			return err
		}
		have, err := sqlq.ReadStoredUpdates(ctx, conn{tx})
		if err != nil {
			return err
		}
		w, err := prepareUpdateWriter(ctx, tx)
		if err != nil {
			return err
		}
		defer w.close()
		var gone []int64
		res, gone, err = sqlq.PlanImport(ctx, imp, have, 1, func(us []wu.Update, hashes []string) ([]int64, error) {
			id, err := w.write(ctx, &us[0], store.SourceCatalog, hashes[0], imp.At)
			return []int64{id}, err
		})
		res.Categories = n
		if err != nil {
			return err
		}
		res.Removed, res.Demoted, err = pruneCatalog(ctx, tx, gone, imp.At)
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
func pruneCatalog(ctx context.Context, tx *sql.Tx, gone []int64, at time.Time) (removed, demoted int, err error) {
	for _, id := range gone {
		var used int
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM host_updates WHERE update_pk = ?)`, id).Scan(&used); err != nil {
			return 0, 0, fmt.Errorf("prune update %d: %w", id, err)
		}
		if used == 1 {
			if _, err := tx.ExecContext(ctx, `UPDATE updates SET source = 'report', content_hash = '', changed_at = ? WHERE id = ?`, tz(at), id); err != nil {
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
			` + sqlq.UpdateUpsertSet + `
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
