package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
	"github.com/openwua/waptwua/internal/wu"
)

// ApplyReport records one report, writing only what changed: it reads the host's
// statuses, compares, and writes the differences with one statement over arrays.
// Reports arriving together are written in one transaction (group commit, sqlq.Group:
// one WAL flush for the group instead of one per report), each in its own savepoint so
// that a refused report fails alone; every caller returns after the commit that made
// its report durable.
func (s *Store) ApplyReport(ctx context.Context, hostUUID string, r store.Report) error {
	_, err := s.RecordReport(ctx, hostUUID, r)
	return err
}

// RecordReport is ApplyReport, saying what the report left out.
func (s *Store) RecordReport(ctx context.Context, hostUUID string, r store.Report) (store.ReportResult, error) {
	var res store.ReportResult
	if err := s.reports.Do(ctx, sqlq.HostReport{Host: hostUUID, Report: r, Result: &res}); err != nil {
		return store.ReportResult{}, fmt.Errorf("postgres: apply report of host %s: %w", hostUUID, err)
	}
	return res, nil
}

// Group commit of reports: at most maxGroup reports per transaction (each savepoint
// that writes is a subtransaction, and PostgreSQL tracks up to 64 of them per backend
// before every snapshot elsewhere gets slower), and reportLeaders such transactions at
// once (one writing while the other waits for its commit or for the network). Groups
// lock their hosts in one order, and create update rows in turns (resolveUpdates).
const (
	maxGroup      = 32
	reportLeaders = 2
)

// writeReports writes a group of reports in one transaction, each in a savepoint. The
// reports are applied in host order, so that two groups lock their hosts in one order.
func (s *Store) writeReports(ctx context.Context, group []sqlq.GroupItem[sqlq.HostReport], results []error) error {
	order := make([]int, len(group))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return group[order[a]].V.Host < group[order[b]].V.Host })
	return s.inTx(ctx, func(tx pgx.Tx) error {
		counts := sqlq.CountDeltas{}
		for _, i := range order {
			it := group[i]
			if err := it.Ctx.Err(); err != nil {
				results[i] = err
				continue
			}
			var d sqlq.CountDeltas
			results[i] = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
				return s.applyReport(ctx, sp, it.V, &d)
			})
			if results[i] != nil && tx.Conn().IsClosed() {
				return results[i] // the connection broke: the group is lost
			}
			if results[i] == nil {
				counts.Merge(d)
			}
		}
		return s.ApplyCountDeltas(ctx, pgConn{tx}, counts) // last, in update order
	})
}

// applyReport writes one report in tx and sets *counts to its changes of the update
// counts, for the group to write.
func (s *Store) applyReport(ctx context.Context, tx pgx.Tx, hr sqlq.HostReport, counts *sqlq.CountDeltas) error {
	r := hr.Report
	hostPK, plan, err := s.PlanHostReport(ctx, pgConn{tx}, hr.Host, r)
	if err != nil {
		return err
	}
	unknown, err := plan.Resolve(r.Lean, func(w []sqlq.Write) error { return resolveUpdates(ctx, tx, w, r.At, r.Lean) })
	if err != nil {
		return err
	}
	if len(plan.Writes) > 0 {
		n := len(plan.Writes)
		pks, sts, reasons, errs := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
		inst := make([]pgtype.Timestamptz, n)
		for i, w := range plan.Writes {
			pks[i], sts[i], reasons[i], errs[i] = w.UpdatePK, string(w.Update.Status), string(w.Update.Reason), w.Update.LastError
			inst[i] = tarr(w.Update.InstalledAt)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO host_updates (host_pk, update_pk, status, reason, installed_at, last_error, changed_at)
			SELECT $1, w.pk, w.st, w.re, w.ia, w.le, $7
			FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) AS w(pk, st, re, ia, le)
			ON CONFLICT (host_pk, update_pk) DO UPDATE SET status = excluded.status, reason = excluded.reason,
			installed_at = excluded.installed_at, last_error = excluded.last_error, changed_at = excluded.changed_at`,
			hostPK, pks, sts, reasons, inst, errs, tz(r.At)); err != nil {
			return fmt.Errorf("write statuses: %w", err)
		}
	}
	if len(plan.Deletes) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM host_updates WHERE host_pk = $1 AND update_pk = ANY($2)`, hostPK, plan.Deletes); err != nil {
			return fmt.Errorf("delete statuses: %w", err)
		}
	}
	if err := s.FinishReport(ctx, pgConn{tx}, hostPK, r, plan, unknown); err != nil {
		return err
	}
	if hr.Result != nil {
		*hr.Result = store.ReportResult{Unknown: unknown, Unchanged: plan.Unchanged}
	}
	*counts = plan.Deltas
	return nil
}

// resolveUpdates fills the UpdatePK of writes for updates the host had no status for,
// creating SourceReport updates for those the catalog lacks (sqlq.Creates: in a lean
// report, only the described ones; the others keep UpdatePK 0).
func resolveUpdates(ctx context.Context, tx pgx.Tx, writes []sqlq.Write, at time.Time, lean bool) error {
	var idx []int
	var ids []string
	var revs []int32
	for i, w := range writes {
		if w.UpdatePK == 0 {
			idx = append(idx, i)
			ids, revs = append(ids, w.Update.Key.UpdateID), append(revs, int32(w.Update.Key.RevisionNumber))
		}
	}
	if len(idx) == 0 {
		return nil
	}
	lookup := func() error {
		rows, err := tx.Query(ctx, `SELECT k.ord, u.id FROM unnest($1::text[], $2::integer[]) WITH ORDINALITY AS k(update_id, rev, ord)
			JOIN updates u ON u.update_id = k.update_id AND u.revision_number = k.rev`, ids, revs)
		if err != nil {
			return fmt.Errorf("look up updates: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var ord, id int64
			if err := rows.Scan(&ord, &id); err != nil {
				return fmt.Errorf("look up updates: %w", err)
			}
			writes[idx[ord-1]].UpdatePK = id
		}
		return rows.Err()
	}
	if err := lookup(); err != nil {
		return err
	}
	var unknown []wu.Update
	for _, i := range idx {
		if writes[i].UpdatePK == 0 && sqlq.Creates(writes[i].Update, lean) {
			unknown = append(unknown, sqlq.ReportedUpdateInfo(writes[i].Update))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	// Another report may create the same update at the same time: insert what is still
	// missing, then look up again. A group of reports inserts the update rows of several
	// reports in no common order, so two groups would deadlock on them: the groups take
	// turns (a transaction lock, held until the group commits).
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey+`)`, "report-updates"); err != nil {
		return fmt.Errorf("wait for the updates created by other reports: %w", err)
	}
	if _, err := writeUpdates(ctx, tx, unknown, make([]string, len(unknown)), store.SourceReport, at, true); err != nil {
		return err
	}
	if err := lookup(); err != nil {
		return err
	}
	for _, i := range idx {
		if writes[i].UpdatePK == 0 && sqlq.Creates(writes[i].Update, lean) {
			return fmt.Errorf("update %s: not found after inserting it", writes[i].Update.Key)
		}
	}
	return nil
}
