package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
)

const fileCols = `f.sha1, f.sha256, f.name, f.size, f.url, f.downloaded_on, f.downloaded_size,
	f.last_error, f.attempts, f.last_attempt, f.deleted_on`

func scanFile(row pgx.Row) (store.UpdateFile, error) {
	var f store.UpdateFile
	err := row.Scan(&f.SHA1, &f.SHA256, &f.Name, &f.Size, &f.URL, nt{&f.DownloadedOn}, &f.DownloadedSize,
		&f.LastError, &f.Attempts, nt{&f.LastAttempt}, nt{&f.DeletedOn})
	return f, err
}

// wantedFile is true when a host needs (and may install) an update holding file f.
const wantedFile = `EXISTS (SELECT 1 FROM update_file_links l JOIN host_updates h ON h.update_pk = l.update_pk
	WHERE l.file_sha1 = f.sha1 AND h.status IN (` + sqlq.WantedStatusSQL + `))`

func (s *Store) files(ctx context.Context, what, where string) ([]store.UpdateFile, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+fileCols+` FROM update_files f WHERE `+where+` ORDER BY f.sha1`)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.UpdateFile, error) { return scanFile(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return out, nil
}

// NeededFiles lists the files hosts need that are not downloaded.
func (s *Store) NeededFiles(ctx context.Context) ([]store.UpdateFile, error) {
	return s.files(ctx, "needed files", `f.downloaded_on IS NULL AND `+wantedFile)
}

// UnusedFiles lists the downloaded files no host needs.
func (s *Store) UnusedFiles(ctx context.Context) ([]store.UpdateFile, error) {
	return s.files(ctx, "unused files", `f.downloaded_on IS NOT NULL AND NOT `+wantedFile)
}

// GetFile returns one file.
func (s *Store) GetFile(ctx context.Context, sha1 string) (store.UpdateFile, error) {
	f, err := scanFile(s.pool.QueryRow(ctx, `SELECT `+fileCols+` FROM update_files f WHERE f.sha1 = $1`, sha1))
	if errors.Is(err, pgx.ErrNoRows) {
		return f, notFound("postgres: file " + sha1)
	}
	if err != nil {
		return f, fmt.Errorf("postgres: get file %s: %w", sha1, err)
	}
	return f, nil
}

// setFile runs one UPDATE of a file (its last argument is the SHA-1) then refreshes the
// download date of its updates.
func (s *Store) setFile(ctx context.Context, what, sha1, sql string, args ...any) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := exec1(ctx, tx, "file "+sha1, sql, append(args, sha1)...); err != nil {
			return err
		}
		return refreshDownloaded(ctx, tx, `u.id IN (SELECT update_pk FROM update_file_links WHERE file_sha1 = $1)`, sha1)
	})
	if err != nil {
		return fmt.Errorf("postgres: %s %s: %w", what, sha1, err)
	}
	return nil
}

// MarkDownloaded records the file in the cache.
func (s *Store) MarkDownloaded(ctx context.Context, sha1 string, d store.Downloaded) error {
	if d.At.IsZero() {
		return fmt.Errorf("postgres: mark downloaded %s: no download time: %w", sha1, store.ErrInvalid)
	}
	return s.setFile(ctx, "mark downloaded", sha1, `UPDATE update_files SET downloaded_on = $1, downloaded_size = $2,
		sha256 = CASE WHEN $3::text = '' THEN sha256 ELSE $3::text END, last_error = '', attempts = 0, deleted_on = NULL
		WHERE sha1 = $4`, d.At, d.Size, strings.ToLower(d.SHA256))
}

// MarkFailed records a failed download attempt.
func (s *Store) MarkFailed(ctx context.Context, sha1 string, at time.Time, errText string) error {
	return s.setFile(ctx, "mark failed", sha1, `UPDATE update_files SET last_error = $1, attempts = attempts + 1,
		last_attempt = $2 WHERE sha1 = $3`, errText, tv(at))
}

// MarkDeleted records that the file left the cache.
func (s *Store) MarkDeleted(ctx context.Context, sha1 string, at time.Time) error {
	return s.setFile(ctx, "mark deleted", sha1, `UPDATE update_files SET downloaded_on = NULL, downloaded_size = 0,
		deleted_on = $1 WHERE sha1 = $2`, tv(at))
}

const taskCols = `t.id, t.file_sha1, f.name, f.url, f.size, t.bytes, t.status, t.attempts, t.error, t.worker,
	t.created_at, t.started_at, t.finished_at, t.updated_at`

func scanTask(row pgx.Row) (store.DownloadTask, error) {
	var t store.DownloadTask
	err := row.Scan(&t.ID, &t.FileSHA1, &t.FileName, &t.URL, &t.Size, &t.Bytes, &t.Status, &t.Attempts,
		&t.Error, &t.Worker, nt{&t.CreatedAt}, nt{&t.StartedAt}, nt{&t.FinishedAt}, nt{&t.UpdatedAt})
	return t, err
}

func getTask(ctx context.Context, q querier, id int64) (store.DownloadTask, error) {
	return scanTask(q.QueryRow(ctx, `SELECT `+taskCols+` FROM download_tasks t
		JOIN update_files f ON f.sha1 = t.file_sha1 WHERE t.id = $1`, id))
}

// EnqueueDownload queues the file unless a task for it is queued or running. The partial
// unique index settles races between replicas.
func (s *Store) EnqueueDownload(ctx context.Context, sha1 string, at time.Time) (store.DownloadTask, bool, error) {
	for range 3 {
		var id int64
		err := s.pool.QueryRow(ctx, `SELECT id FROM download_tasks WHERE file_sha1 = $1 AND status IN ('queued', 'downloading')`, sha1).Scan(&id)
		if err == nil {
			t, err := getTask(ctx, s.pool, id)
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
		t, err := getTask(ctx, s.pool, id)
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
	t, err := scanTask(s.pool.QueryRow(ctx, `WITH c AS (
		UPDATE download_tasks SET status = 'downloading', worker = $1, attempts = attempts + 1,
			started_at = $2, updated_at = $2, bytes = 0, error = ''
		WHERE id = (SELECT id FROM download_tasks WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING *)
		SELECT `+taskCols+` FROM c t JOIN update_files f ON f.sha1 = t.file_sha1`, worker, tz(at)))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, notFound("postgres: claim task: queued download task")
	}
	if err != nil {
		return t, fmt.Errorf("postgres: claim task: %w", err)
	}
	return t, nil
}

// TaskProgress records the bytes downloaded so far.
func (s *Store) TaskProgress(ctx context.Context, id int64, bytes int64, at time.Time) error {
	err := exec1(ctx, s.pool, fmt.Sprintf("running download task %d", id),
		`UPDATE download_tasks SET bytes = $1, updated_at = $2 WHERE status = 'downloading' AND id = $3`, bytes, tz(at), id)
	if err != nil {
		return fmt.Errorf("postgres: task progress: %w", err)
	}
	return nil
}

// FinishTask ends a running task.
func (s *Store) FinishTask(ctx context.Context, id int64, at time.Time, errText string) error {
	status := store.TaskDone
	if errText != "" {
		status = store.TaskFailed
	}
	err := exec1(ctx, s.pool, fmt.Sprintf("running download task %d", id),
		`UPDATE download_tasks SET status = $1, error = $2, finished_at = $3, updated_at = $4
		WHERE status IN ('queued', 'downloading') AND id = $5`, string(status), errText, tv(at), tz(at), id)
	if err != nil {
		return fmt.Errorf("postgres: finish task: %w", err)
	}
	return nil
}

// RequeueStale requeues the running tasks without progress since before.
func (s *Store) RequeueStale(ctx context.Context, before, at time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE download_tasks SET status = 'queued', worker = '', updated_at = $1
		WHERE status = 'downloading' AND updated_at < $2`, tz(at), tz(before))
	if err != nil {
		return 0, fmt.Errorf("postgres: requeue stale tasks: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ListTasks returns the most recent tasks.
func (s *Store) ListTasks(ctx context.Context, limit int, statuses ...store.TaskStatus) ([]store.DownloadTask, error) {
	q := `SELECT ` + taskCols + ` FROM download_tasks t JOIN update_files f ON f.sha1 = t.file_sha1`
	args := []any{store.PageLimit(limit, 100, 1000)}
	if len(statuses) > 0 {
		st := make([]string, len(statuses))
		for i, x := range statuses {
			st[i] = string(x)
		}
		q += ` WHERE t.status = ANY($2)`
		args = append(args, st)
	}
	q += ` ORDER BY t.id DESC LIMIT $1`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tasks: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.DownloadTask, error) { return scanTask(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list tasks: %w", err)
	}
	return out, nil
}
