package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// EnqueueDownload queues the file unless a task for it is queued or running.
func (s *Store) EnqueueDownload(ctx context.Context, sha1 string, at time.Time) (store.DownloadTask, bool, error) {
	var t store.DownloadTask
	created := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM download_tasks WHERE file_sha1 = ? AND status IN ('queued', 'downloading')`, sha1).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM update_files WHERE sha1 = ?`, sha1).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return notFound("file " + sha1)
			}
			err = tx.QueryRowContext(ctx, `INSERT INTO download_tasks (file_sha1, status, created_at, updated_at)
				VALUES (?, 'queued', ?, ?) RETURNING id`, sha1, tz(at), tz(at)).Scan(&id)
			created = true
		}
		if err != nil {
			return err
		}
		t, err = s.GetTask(ctx, conn{tx}, id)
		return err
	})
	if err != nil {
		return t, false, fmt.Errorf("sqlite: enqueue download of %s: %w", sha1, err)
	}
	return t, created, nil
}

// ClaimTask gives the oldest queued task to worker. The single writer connection makes
// the select-then-update atomic.
func (s *Store) ClaimTask(ctx context.Context, worker string, at time.Time) (store.DownloadTask, error) {
	var t store.DownloadTask
	err := s.write(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `UPDATE download_tasks SET status = 'downloading', worker = ?, attempts = attempts + 1,
			started_at = ?, updated_at = ?, bytes = 0, error = ''
			WHERE id = (SELECT id FROM download_tasks WHERE status = 'queued' ORDER BY id LIMIT 1) RETURNING id`,
			worker, tv(at), tz(at)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("queued download task")
		}
		if err != nil {
			return err
		}
		t, err = s.GetTask(ctx, conn{tx}, id)
		return err
	})
	if err != nil {
		return t, fmt.Errorf("sqlite: claim task: %w", err)
	}
	return t, nil
}
