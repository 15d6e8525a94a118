package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
)

// ApplyReport records one report, writing only what changed. Reports arriving while
// the writer is busy are written together in one transaction (group commit, sqlq.Group:
// the pages they share, the status index above all, reach the WAL once), each in its own
// savepoint so that a refused report leaves the others; every caller returns after the
// commit that made its report durable.
func (s *Store) ApplyReport(ctx context.Context, hostUUID string, r store.Report) error {
	_, err := s.RecordReport(ctx, hostUUID, r)
	return err
}

// RecordReport is ApplyReport, saying what the report left out.
func (s *Store) RecordReport(ctx context.Context, hostUUID string, r store.Report) (store.ReportResult, error) {
	var res store.ReportResult
	if err := s.reports.Do(ctx, sqlq.HostReport{Host: hostUUID, Report: r, Result: &res}); err != nil {
		return store.ReportResult{}, fmt.Errorf("sqlite: apply report of host %s: %w", hostUUID, err)
	}
	return res, nil
}

// maxGroup is the most reports one transaction writes.
const maxGroup = 64

// writeReports writes a group of reports in one transaction, each in a savepoint.
func (s *Store) writeReports(ctx context.Context, group []sqlq.GroupItem[sqlq.HostReport], results []error) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		counts := sqlq.CountDeltas{}
		for i, it := range group {
			var d sqlq.CountDeltas
			if results[i] = s.applyInSavepoint(ctx, tx, it, &d); results[i] == nil {
				counts.Merge(d)
			}
		}
		return s.ApplyCountDeltas(ctx, conn{tx}, counts)
	})
}

// applyInSavepoint applies one report of a group; an error rolls back this report only.
func (s *Store) applyInSavepoint(ctx context.Context, tx *sql.Tx, it sqlq.GroupItem[sqlq.HostReport], counts *sqlq.CountDeltas) error {
	if err := it.Ctx.Err(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT report`); err != nil {
		return err
	}
	err := s.applyReport(ctx, tx, it.V, counts)
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO report`); rerr != nil {
			return errors.Join(err, fmt.Errorf("roll back the report: %w", rerr))
		}
	}
	if _, rerr := tx.ExecContext(ctx, `RELEASE report`); rerr != nil {
		return errors.Join(err, fmt.Errorf("release the report savepoint: %w", rerr))
	}
	return err
}

// applyReport writes one report in tx and sets *counts to its changes of the update
// counts, for the group to write.
func (s *Store) applyReport(ctx context.Context, tx *sql.Tx, hr sqlq.HostReport, counts *sqlq.CountDeltas) error {
	r := hr.Report
	hostPK, plan, err := s.PlanHostReport(ctx, conn{tx}, hr.Host, r)
	if err != nil {
		return err
	}
	unknown, err := plan.Resolve(r.Lean, func(w []sqlq.Write) error { return resolveUpdates(ctx, tx, w, r.At, r.Lean) })
	if err != nil {
		return err
	}
	if len(plan.Writes) > 0 {
		if err := writeStatuses(ctx, tx, hostPK, plan.Writes, r.At); err != nil {
			return err
		}
	}
	if len(plan.Deletes) > 0 {
		if err := deleteStatuses(ctx, tx, hostPK, plan.Deletes); err != nil {
			return err
		}
	}
	if err := s.FinishReport(ctx, conn{tx}, hostPK, r, plan, unknown); err != nil {
		return err
	}
	if hr.Result != nil {
		*hr.Result = store.ReportResult{Unknown: unknown, Unchanged: plan.Unchanged}
	}
	*counts = plan.Deltas
	return nil
}

// statusRow is one status as writeStatuses passes it in a JSON array (json_each).
type statusRow struct {
	P int64  `json:"p"`           // update row id
	S string `json:"s"`           // status
	R string `json:"r"`           // reason
	I *int64 `json:"i,omitempty"` // installed at (unix microseconds), null when unknown
	E string `json:"e"`           // last error
}

// writeStatuses writes a report's changed statuses (their update rows resolved) with
// one set-based upsert over a JSON array (not two statements per status).
func writeStatuses(ctx context.Context, tx *sql.Tx, hostPK int64, writes []sqlq.Write, at time.Time) error {
	rows := make([]statusRow, len(writes))
	for i, w := range writes {
		u := &w.Update
		rows[i] = statusRow{P: w.UpdatePK, S: string(u.Status), R: string(u.Reason), E: u.LastError}
		if !u.InstalledAt.IsZero() {
			us := u.InstalledAt.UnixMicro()
			rows[i].I = &us
		}
	}
	doc, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("encode statuses: %w", err)
	}
	// "WHERE true": an INSERT ... SELECT with an upsert clause needs a WHERE (SQLite's
	// parsing ambiguity).
	if _, err := tx.ExecContext(ctx, `INSERT INTO host_updates (host_pk, update_pk, status, reason, installed_at, last_error, changed_at)
		SELECT ?, j.value ->> 'p', j.value ->> 's', j.value ->> 'r', j.value ->> 'i', j.value ->> 'e', ? FROM json_each(?) j WHERE true
		ON CONFLICT (host_pk, update_pk) DO UPDATE SET status = excluded.status, reason = excluded.reason,
		installed_at = excluded.installed_at, last_error = excluded.last_error, changed_at = excluded.changed_at`,
		hostPK, tz(at), string(doc)); err != nil {
		return fmt.Errorf("write statuses: %w", err)
	}
	return nil
}

// deleteStatuses deletes the host's statuses of the given update rows.
func deleteStatuses(ctx context.Context, tx *sql.Tx, hostPK int64, pks []int64) error {
	doc, err := json.Marshal(pks)
	if err != nil {
		return fmt.Errorf("encode deleted statuses: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM host_updates WHERE host_pk = ? AND update_pk IN (SELECT value FROM json_each(?))`,
		hostPK, string(doc)); err != nil {
		return fmt.Errorf("delete statuses: %w", err)
	}
	return nil
}

// resolveUpdates fills the UpdatePK of writes for updates the host had no status for,
// in one lookup, creating SourceReport updates for those the catalog lacks
// (sqlq.Creates: in a lean report, only the described ones; the others keep UpdatePK 0).
func resolveUpdates(ctx context.Context, tx *sql.Tx, writes []sqlq.Write, at time.Time, lean bool) error {
	type key struct {
		U string `json:"u"`
		N int    `json:"n"`
	}
	var keys []key
	var idx []int
	for i, w := range writes {
		if w.UpdatePK == 0 {
			keys = append(keys, key{w.Update.Key.UpdateID, w.Update.Key.RevisionNumber})
			idx = append(idx, i)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	doc, err := json.Marshal(keys)
	if err != nil {
		return fmt.Errorf("encode update keys: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT j.key, u.id FROM json_each(?) j
		JOIN updates u ON u.update_id = j.value ->> 'u' AND u.revision_number = j.value ->> 'n'`, string(doc))
	if err != nil {
		return fmt.Errorf("look up updates: %w", err)
	}
	for rows.Next() {
		var k, id int64
		if err := rows.Scan(&k, &id); err != nil {
			rows.Close()
			return fmt.Errorf("look up updates: %w", err)
		}
		writes[idx[k]].UpdatePK = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up updates: %w", err)
	}
	var uw *updateWriter
	defer func() {
		if uw != nil {
			uw.close()
		}
	}()
	for _, i := range idx {
		if writes[i].UpdatePK != 0 || !sqlq.Creates(writes[i].Update, lean) {
			continue
		}
		if uw == nil {
			if uw, err = prepareUpdateWriter(ctx, tx); err != nil {
				return err
			}
		}
		info := sqlq.ReportedUpdateInfo(writes[i].Update)
		if writes[i].UpdatePK, err = uw.write(ctx, &info, store.SourceReport, "", at); err != nil {
			return err
		}
	}
	return nil
}
