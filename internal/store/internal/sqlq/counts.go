package sqlq

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// Per-update host counts (table update_counts, migration 0010) are maintained by every
// write of host_updates: a report group adds the changes of its reports in one statement
// before it commits (CountDeltas), a host deletion subtracts the host's statuses, and a
// deleted update takes its row with it (ON DELETE CASCADE). Reports and deletions lock
// their hosts first and the count rows last, in update order, so that two writers never
// wait on each other in a cycle.

// UpdateCount is the hosts counted for one update.
type UpdateCount struct {
	Needing   int // statuses in store.NeededStatuses
	Installed int // OK
	Failed    int // ERROR
}

func (n *UpdateCount) add(s wu.Status, sign int) {
	switch s {
	case wu.StatusOK:
		n.Installed += sign
	case wu.StatusError:
		n.Failed += sign
	}
	if slices.Contains(store.NeededStatuses(), s) {
		n.Needing += sign
	}
}

// CountDeltas are changes of update counts, by update row id.
type CountDeltas map[int64]UpdateCount

// Change counts a status of update pk going from old to new ("" for none).
func (d CountDeltas) Change(pk int64, old, new wu.Status) {
	if old == new {
		return
	}
	n := d[pk]
	n.add(old, -1)
	n.add(new, 1)
	d[pk] = n
}

// Merge adds o into d.
func (d CountDeltas) Merge(o CountDeltas) {
	for pk, x := range o {
		n := d[pk]
		n.Needing += x.Needing
		n.Installed += x.Installed
		n.Failed += x.Failed
		d[pk] = n
	}
}

// countChunk is how many update rows one statement changes.
const countChunk = 200

// ApplyCountDeltas adds d to update_counts, in update order, skipping zero changes.
func (c *Common) ApplyCountDeltas(ctx context.Context, tx Conn, d CountDeltas) error {
	pks := make([]int64, 0, len(d))
	for pk, n := range d {
		if n != (UpdateCount{}) {
			pks = append(pks, pk)
		}
	}
	slices.Sort(pks)
	for len(pks) > 0 {
		chunk := pks[:min(len(pks), countChunk)]
		pks = pks[len(chunk):]
		var q strings.Builder
		q.WriteString(`INSERT INTO update_counts (update_pk, needing, installed, failed) VALUES `)
		args := make([]any, 0, 4*len(chunk))
		for i, pk := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?)")
			n := d[pk]
			args = append(args, pk, n.Needing, n.Installed, n.Failed)
		}
		q.WriteString(` ON CONFLICT (update_pk) DO UPDATE SET needing = update_counts.needing + excluded.needing,
			installed = update_counts.installed + excluded.installed, failed = update_counts.failed + excluded.failed`)
		if _, err := tx.Exec(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("update counts: %w", err)
		}
	}
	return nil
}

// uncountHost subtracts the statuses of host hostPK from the update counts (before the
// host is deleted).
func (c *Common) uncountHost(ctx context.Context, tx Conn, hostPK int64) error {
	rows, err := QueryAll(ctx, tx, func(r Row) (HostRow, error) {
		var e HostRow
		return e, r.Scan(&e.UpdatePK, &e.Status)
	}, `SELECT update_pk, status FROM host_updates WHERE host_pk = ?`, hostPK)
	if err != nil {
		return fmt.Errorf("read the host's statuses: %w", err)
	}
	d := CountDeltas{}
	for _, e := range rows {
		d.Change(e.UpdatePK, e.Status, "")
	}
	return c.ApplyCountDeltas(ctx, tx, d)
}

// UpdateCounts reads the maintained counts of every update having some (for tests and
// checks), by update key.
func (c *Common) UpdateCounts(ctx context.Context) (map[wu.UpdateKey]UpdateCount, error) {
	return c.readCounts(ctx, `SELECT u.update_id, u.revision_number, n.needing, n.installed, n.failed
		FROM update_counts n JOIN updates u ON u.id = n.update_pk`)
}

// RecountUpdates counts the same from the statuses themselves.
func (c *Common) RecountUpdates(ctx context.Context) (map[wu.UpdateKey]UpdateCount, error) {
	return c.readCounts(ctx, `SELECT u.update_id, u.revision_number,
		sum(CASE WHEN h.status IN (`+NeededStatusSQL+`) THEN 1 ELSE 0 END),
		sum(CASE WHEN h.status = 'OK' THEN 1 ELSE 0 END),
		sum(CASE WHEN h.status = 'ERROR' THEN 1 ELSE 0 END)
		FROM host_updates h JOIN updates u ON u.id = h.update_pk GROUP BY u.update_id, u.revision_number`)
}

func (c *Common) readCounts(ctx context.Context, q string) (map[wu.UpdateKey]UpdateCount, error) {
	out := map[wu.UpdateKey]UpdateCount{}
	err := c.DB.Read(ctx, func(tx Conn) error {
		_, err := QueryAll(ctx, tx, func(r Row) (struct{}, error) {
			var k wu.UpdateKey
			var n UpdateCount
			if err := r.Scan(&k.UpdateID, &k.RevisionNumber, &n.Needing, &n.Installed, &n.Failed); err != nil {
				return struct{}{}, err
			}
			if n != (UpdateCount{}) {
				out[k] = n
			}
			return struct{}{}, nil
		}, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update counts: %w", err)
	}
	return out, nil
}

// SummarizeHosts counts the accepted hosts by state (store.HostState*) in one aggregate
// over the hosts' stored counts.
func (c *Common) SummarizeHosts(ctx context.Context, staleBefore time.Time) (store.HostSummary, error) {
	out := store.HostSummary{States: map[string]int{}}
	err := c.DB.Read(ctx, func(tx Conn) error {
		_, err := QueryAll(ctx, tx, func(r Row) (struct{}, error) {
			var state string
			var n, missing, missingHosts int64
			if err := r.Scan(&state, &n, &missing, &missingHosts); err != nil {
				return struct{}{}, err
			}
			out.States[state] = int(n)
			out.Hosts += int(n)
			out.MissingStatuses += int(missing)
			out.MissingHosts += int(missingHosts)
			return struct{}{}, nil
		}, `SELECT CASE
				WHEN h.last_seen IS NULL OR h.last_seen < ? THEN '`+store.HostStateStale+`'
				WHEN h.n_error > 0 OR h.wua_status LIKE '%ERROR%' THEN '`+store.HostStateError+`'
				WHEN h.reboot_pending THEN '`+store.HostStateReboot+`'
				WHEN h.n_pending + h.n_missing > 0 THEN '`+store.HostStatePending+`'
				WHEN h.last_scan IS NULL THEN '`+store.HostStateNew+`'
				ELSE '`+store.HostStateOK+`' END,
			count(*), coalesce(sum(h.n_missing), 0), coalesce(sum(CASE WHEN h.n_missing > 0 THEN 1 ELSE 0 END), 0)
			FROM hosts h WHERE h.approval = 'accepted' GROUP BY 1`, c.TimeArg(staleBefore))
		return err
	})
	if err != nil {
		return store.HostSummary{}, fmt.Errorf("summarize hosts: %w", err)
	}
	return out, nil
}
