package sqlq

import (
	"context"
	"errors"
	"fmt"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

const updateCols = `u.update_id, u.revision_number, u.revision_id, u.source, u.created, u.title,
	u.description, u.kb_ids, u.severity, u.classification, u.classification_id, u.products,
	u.product_ids, u.company, u.product_family, u.superseded_by, u.supersedes, u.prerequisites,
	u.support_url, u.security_bulletins, u.superseded, u.downloaded_on, u.imported_at, u.changed_at`

const listCols = updateCols + ", " + HostCountCols

// scanUpdate scans listCols then extra.
func (c *Common) scanUpdate(r Row, extra ...any) (store.UpdateInfo, error) {
	var u store.UpdateInfo
	sc, sl := c.D.ScanTime, c.D.ScanList
	dest := []any{&u.UpdateID, &u.RevisionNumber, &u.RevisionID, &u.Source, sc(&u.Created), &u.Title,
		&u.Description, sl(&u.KBs), &u.Severity, &u.Classification, &u.ClassificationID, sl(&u.Products),
		sl(&u.ProductIDs), &u.Company, &u.ProductFamily, sl(&u.SupersededBy), sl(&u.Supersedes),
		sl(&u.Prerequisites), &u.SupportURL, sl(&u.SecurityBulletin), &u.Superseded,
		sc(&u.DownloadedOn), sc(&u.ImportedAt), sc(&u.ChangedAt), &u.HostsNeeding, &u.HostsInstalled}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return u, err
	}
	nilEmpty(&u.KBs, &u.Products, &u.ProductIDs, &u.SupersededBy, &u.Supersedes, &u.Prerequisites, &u.SecurityBulletin)
	return u, nil
}

// GetUpdate returns one update with its files and host counts.
func (c *Common) GetUpdate(ctx context.Context, key wu.UpdateKey) (store.UpdateInfo, error) {
	var u store.UpdateInfo
	err := c.DB.Read(ctx, func(tx Conn) error {
		var id int64
		var err error
		u, err = c.scanUpdate(tx.QueryRow(ctx, `SELECT `+listCols+`, u.id FROM updates u WHERE u.update_id = ?
			AND (? = 0 OR u.revision_number = ?) ORDER BY u.revision_number DESC LIMIT 1`,
			key.UpdateID, key.RevisionNumber, key.RevisionNumber), &id)
		if errors.Is(err, ErrNoRows) {
			return NotFound(fmt.Sprintf("update %s", key))
		}
		if err != nil {
			return err
		}
		u.FileStates, err = QueryAll(ctx, tx, c.ScanFile, `SELECT `+FileCols+` FROM update_file_links l
			JOIN update_files f ON f.sha1 = l.file_sha1 WHERE l.update_pk = ? ORDER BY f.name, f.sha1`, id)
		for _, f := range u.FileStates {
			u.Files = append(u.Files, f.File)
		}
		return err
	})
	if err != nil {
		return store.UpdateInfo{}, c.errf(err, "get update %s", key)
	}
	return u, nil
}

// ListUpdates returns one page of updates; the page, the total and the facets see one
// snapshot.
func (c *Common) ListUpdates(ctx context.Context, f store.UpdateFilter) (store.UpdatePage, error) {
	var page store.UpdatePage
	l, err := BuildUpdateList(c.D, f, listCols)
	if err != nil {
		return page, c.errf(err, "list updates")
	}
	err = c.DB.Read(ctx, func(tx Conn) error {
		rows, err := tx.Query(ctx, l.Page.SQL, l.Page.Args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var lastID int64
		for rows.Next() {
			var id int64
			u, err := c.scanUpdate(rows, &id)
			if err != nil {
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
			st  Stmt
			out *[]store.FacetCount
		}{{l.Severity, &page.Facets.Severity}, {l.Product, &page.Facets.Product}, {l.Classification, &page.Facets.Classification}} {
			out, err := QueryAll(ctx, tx, func(r Row) (store.FacetCount, error) {
				var x store.FacetCount
				err := r.Scan(&x.Value, &x.Count)
				return x, err
			}, fc.st.SQL, fc.st.Args...)
			if err != nil {
				return fmt.Errorf("facets: %w", err)
			}
			if out == nil {
				out = []store.FacetCount{}
			}
			SortFacet(out)
			*fc.out = out
		}
		return nil
	})
	if err != nil {
		return store.UpdatePage{}, c.errf(err, "list updates")
	}
	return page, nil
}

// Categories returns the catalog's categories.
func (c *Common) Categories(ctx context.Context) ([]wu.Category, error) {
	out, err := QueryAll(ctx, c.DB.Reader(), func(r Row) (wu.Category, error) {
		var x wu.Category
		err := r.Scan(&x.ID, &x.Type, &x.Name, &x.ParentID)
		return x, err
	}, `SELECT id, type, name, parent_id FROM categories ORDER BY type, name, id`)
	return out, c.errf(err, "list categories")
}
