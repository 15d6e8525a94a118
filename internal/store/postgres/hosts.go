package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
	"github.com/openwua/waptwua/internal/wu"
)

// ApplyReport records one report in one transaction: it reads the host's statuses,
// compares, and writes only the differences with one statement over arrays.
func (s *Store) ApplyReport(ctx context.Context, hostUUID string, r store.Report) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		hostPK, plan, err := s.PlanHostReport(ctx, pgConn{tx}, hostUUID, r)
		if err != nil {
			return err
		}
		if len(plan.Writes) > 0 {
			if err := resolveUpdates(ctx, tx, plan.Writes, r.At); err != nil {
				return err
			}
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
		return s.FinishReport(ctx, pgConn{tx}, hostPK, r, plan.Counts)
	})
	if err != nil {
		return fmt.Errorf("postgres: apply report of host %s: %w", hostUUID, err)
	}
	return nil
}

// resolveUpdates fills the UpdatePK of writes for updates the host had no status for,
// creating SourceReport updates for those the catalog lacks.
func resolveUpdates(ctx context.Context, tx pgx.Tx, writes []sqlq.Write, at time.Time) error {
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
		if writes[i].UpdatePK == 0 {
			unknown = append(unknown, sqlq.ReportedUpdateInfo(writes[i].Update))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	// Another report may create the same update at the same time: insert what is still
	// missing (the writes are sorted, so concurrent reports insert in one order), then
	// look up again.
	if _, err := writeUpdates(ctx, tx, unknown, make([]string, len(unknown)), store.SourceReport, at, true); err != nil {
		return err
	}
	if err := lookup(); err != nil {
		return err
	}
	for _, i := range idx {
		if writes[i].UpdatePK == 0 {
			return fmt.Errorf("update %s: not found after inserting it", writes[i].Update.Key)
		}
	}
	return nil
}
