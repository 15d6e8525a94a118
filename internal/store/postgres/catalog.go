package postgres

import (
	"context"
	"encoding/json"
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

// ImportCatalog writes the generation in one transaction: readers see the previous one
// until it commits. Changed updates are written in chunks with set-based statements.
func (s *Store) ImportCatalog(ctx context.Context, imp store.CatalogImport) (store.ImportResult, error) {
	var res store.ImportResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n, err := importCategories(ctx, tx, imp.Categories)
		if err != nil {
			return err
		}
		have, err := sqlq.ReadStoredUpdates(ctx, pgConn{tx})
		if err != nil {
			return err
		}
		var gone []int64
		res, gone, err = sqlq.PlanImport(ctx, imp, have, chunk, func(us []wu.Update, hashes []string) ([]int64, error) {
			return writeUpdates(ctx, tx, us, hashes, store.SourceCatalog, imp.At, false)
		})
		res.Categories = n
		if err != nil {
			return err
		}
		if res.Written() > analyzeAfter {
			// Fresh statistics, so the first list queries after a big import already
			// get index plans (autovacuum would come later).
			if _, err := tx.Exec(ctx, `ANALYZE updates, update_products, update_files, update_file_links`); err != nil {
				return fmt.Errorf("analyze: %w", err)
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
	q := updateInsert + ` ` + sqlq.UpdateUpsertSet
	if onlyNew {
		q = updateInsert + ` ON CONFLICT (update_id, revision_number) DO NOTHING`
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
