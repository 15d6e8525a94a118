package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
)

// EnqueueDownload queues the file unless a task for it is queued or running. The partial
// unique index settles races between replicas.
func (s *Store) EnqueueDownload(ctx context.Context, sha1 string, at time.Time) (store.DownloadTask, bool, error) {
	for range 3 {
		var id int64
		err := s.pool.QueryRow(ctx, `SELECT id FROM download_tasks WHERE file_sha1 = $1 AND status IN ('queued', 'downloading')`, sha1).Scan(&id)
		if err == nil {
			t, err := s.GetTask(ctx, pgConn{s.pool}, id)
			if err != nil {
				return t, false, fmt.Errorf("postgres: enqueue download of %s: %w", sha1, err)
			}
			return t, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.DownloadTask{}, false, fmt.Errorf("postgres: enqueue download of %s: %w", sha1, err)
		}
		err = s.pool.QueryRow(ctx, `INSERT INTO download_tasks (file_sha1, status, created_at, updated_at)
			VALUES ($1, 'queued', $2, $2) ON CONFLICT (file_sha1) WHERE status IN ('queued', 'downloading') DO NOTHING
			RETURNING id`, sha1, tz(at)).Scan(&id)
		switch {
		case pgCode(err) == foreignKeyViolation:
			return store.DownloadTask{}, false, notFound("postgres: enqueue download: file " + sha1)
		case errors.Is(err, pgx.ErrNoRows):
			continue // queued by someone else meanwhile: return theirs
		case err != nil:
			return store.DownloadTask{}, false, fmt.Errorf("postgres: enqueue download of %s: %w", sha1, err)
		}
		t, err := s.GetTask(ctx, pgConn{s.pool}, id)
		if err != nil {
			return t, false, fmt.Errorf("postgres: enqueue download of %s: %w", sha1, err)
		}
		return t, true, nil
	}
	return store.DownloadTask{}, false, fmt.Errorf("postgres: enqueue download of %s: the task keeps changing state", sha1)
}

// ClaimTask gives the oldest queued task to worker; SKIP LOCKED lets concurrent workers
// take different rows without waiting for each other.
func (s *Store) ClaimTask(ctx context.Context, worker string, at time.Time) (store.DownloadTask, error) {
	t, err := s.ScanTask(pgConn{s.pool}.QueryRow(ctx, `WITH c AS (
		UPDATE download_tasks SET status = 'downloading', worker = $1, attempts = attempts + 1,
			started_at = $2, updated_at = $2, bytes = 0, error = ''
		WHERE id = (SELECT id FROM download_tasks WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING *)
		SELECT `+sqlq.TaskCols+` FROM c t JOIN update_files f ON f.sha1 = t.file_sha1`, worker, tz(at)))
	if errors.Is(err, sqlq.ErrNoRows) {
		return t, notFound("postgres: claim task: queued download task")
	}
	if err != nil {
		return t, fmt.Errorf("postgres: claim task: %w", err)
	}
	return t, nil
}
