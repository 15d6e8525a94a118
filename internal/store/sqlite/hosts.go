package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
)

// ApplyReport records one report in one transaction, writing only what changed.
func (s *Store) ApplyReport(ctx context.Context, hostUUID string, r store.Report) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		hostPK, plan, err := s.PlanHostReport(ctx, conn{tx}, hostUUID, r)
		if err != nil {
			return err
		}
		if len(plan.Writes) > 0 {
			if err := writeStatuses(ctx, tx, hostPK, plan.Writes, r.At); err != nil {
				return err
			}
		}
		if len(plan.Deletes) > 0 {
			st, err := tx.PrepareContext(ctx, `DELETE FROM host_updates WHERE host_pk = ? AND update_pk = ?`)
			if err != nil {
				return fmt.Errorf("prepare status delete: %w", err)
			}
			defer st.Close()
			for _, pk := range plan.Deletes {
				if _, err := st.ExecContext(ctx, hostPK, pk); err != nil {
					return fmt.Errorf("delete status: %w", err)
				}
			}
		}
		return s.FinishReport(ctx, conn{tx}, hostPK, r, plan.Counts)
	})
	if err != nil {
		return fmt.Errorf("sqlite: apply report of host %s: %w", hostUUID, err)
	}
	return nil
}

func writeStatuses(ctx context.Context, tx *sql.Tx, hostPK int64, writes []sqlq.Write, at time.Time) error {
	find, err := tx.PrepareContext(ctx, `SELECT id FROM updates WHERE update_id = ? AND revision_number = ?`)
	if err != nil {
		return fmt.Errorf("prepare update lookup: %w", err)
	}
	defer find.Close()
	put, err := tx.PrepareContext(ctx, `INSERT INTO host_updates (host_pk, update_pk, status, reason, installed_at, last_error, changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (host_pk, update_pk) DO UPDATE SET status = excluded.status, reason = excluded.reason,
		installed_at = excluded.installed_at, last_error = excluded.last_error, changed_at = excluded.changed_at`)
	if err != nil {
		return fmt.Errorf("prepare status upsert: %w", err)
	}
	defer put.Close()
	var uw *updateWriter
	defer func() {
		if uw != nil {
			uw.close()
		}
	}()
	for _, w := range writes {
		u := w.Update
		pk := w.UpdatePK
		if pk == 0 {
			err := find.QueryRowContext(ctx, u.Key.UpdateID, u.Key.RevisionNumber).Scan(&pk)
			if errors.Is(err, sql.ErrNoRows) {
				if uw == nil {
					if uw, err = prepareUpdateWriter(ctx, tx); err != nil {
						return err
					}
				}
				info := sqlq.ReportedUpdateInfo(u)
				if pk, err = uw.write(ctx, &info, store.SourceReport, "", at); err != nil {
					return err
				}
			} else if err != nil {
				return fmt.Errorf("look up update %s: %w", u.Key, err)
			}
		}
		if _, err := put.ExecContext(ctx, hostPK, pk, string(u.Status), string(u.Reason), tv(u.InstalledAt), u.LastError, tz(at)); err != nil {
			return fmt.Errorf("write status of %s: %w", u.Key, err)
		}
	}
	return nil
}
