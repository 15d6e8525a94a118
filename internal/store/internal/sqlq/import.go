package sqlq

import (
	"context"
	"fmt"
	"sort"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// StoredUpdate is what a catalog import needs of a stored update row.
type StoredUpdate struct {
	ID     int64
	Hash   string
	Source store.Source
	seen   bool // in the generation being imported
}

// ReadStoredUpdates reads every stored update for PlanImport.
func ReadStoredUpdates(ctx context.Context, tx Conn) (map[wu.UpdateKey]*StoredUpdate, error) {
	rows, err := tx.Query(ctx, `SELECT id, update_id, revision_number, content_hash, source FROM updates`)
	if err != nil {
		return nil, fmt.Errorf("read stored updates: %w", err)
	}
	defer rows.Close()
	have := map[wu.UpdateKey]*StoredUpdate{}
	for rows.Next() {
		var k wu.UpdateKey
		su := &StoredUpdate{}
		if err := rows.Scan(&su.ID, &k.UpdateID, &k.RevisionNumber, &su.Hash, &su.Source); err != nil {
			return nil, fmt.Errorf("read stored updates: %w", err)
		}
		have[k] = su
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stored updates: %w", err)
	}
	return have, nil
}

// PlanImport walks one catalog generation against the stored rows (have, from
// ReadStoredUpdates): it counts what the import does and hands the updates to write
// (new, or whose content hash changed, or stored as SourceReport) to write, in batches of
// at most batch, in stream order; write returns their row ids in order. The first of
// duplicates in the stream counts. For a complete generation (not imp.Partial) gone
// lists, sorted, the catalog rows the generation no longer has: the backend deletes them,
// or demotes those hosts still report, and sets Removed and Demoted.
func PlanImport(ctx context.Context, imp store.CatalogImport, have map[wu.UpdateKey]*StoredUpdate, batch int,
	write func(us []wu.Update, hashes []string) ([]int64, error)) (res store.ImportResult, gone []int64, err error) {
	if imp.Updates == nil {
		return res, nil, fmt.Errorf("import catalog: no update stream: %w", store.ErrInvalid)
	}
	var pending []wu.Update
	var hashes []string
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		ids, err := write(pending, hashes)
		if err != nil {
			return err
		}
		for i, u := range pending {
			have[u.Key()].ID = ids[i]
		}
		pending, hashes = pending[:0], hashes[:0]
		return nil
	}
	for u, err := range imp.Updates {
		if err != nil {
			return res, nil, fmt.Errorf("read catalog: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return res, nil, err
		}
		res.Seen++
		if !wu.IsGUID(u.UpdateID) {
			return res, nil, fmt.Errorf("catalog update %q: not a GUID: %w", u.UpdateID, store.ErrInvalid)
		}
		hash, err := ContentHash(&u)
		if err != nil {
			return res, nil, err
		}
		su := have[u.Key()]
		switch {
		case su != nil && su.seen:
			continue // a duplicate in the stream: the first one counts
		case su != nil && su.Hash == hash && su.Source == store.SourceCatalog:
			su.seen = true
			res.Unchanged++
			continue
		case su == nil:
			res.Inserted++
			have[u.Key()] = &StoredUpdate{Hash: hash, Source: store.SourceCatalog, seen: true}
		default:
			res.Changed++
			su.Hash, su.Source, su.seen = hash, store.SourceCatalog, true
		}
		pending = append(pending, u)
		hashes = append(hashes, hash)
		if len(pending) >= batch {
			if err := flush(); err != nil {
				return res, nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return res, nil, err
	}
	if imp.Partial {
		return res, nil, nil
	}
	for _, su := range have {
		if !su.seen && su.Source == store.SourceCatalog {
			gone = append(gone, su.ID)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i] < gone[j] })
	return res, gone, nil
}
