package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
)

const fileCols = `f.sha1, f.sha256, f.name, f.size, f.url, f.downloaded_on, f.downloaded_size,
	f.last_error, f.attempts, f.last_attempt, f.deleted_on`

func scanFile(sc scanner) (store.UpdateFile, error) {
	var f store.UpdateFile
	err := sc.Scan(&f.SHA1, &f.SHA256, &f.Name, &f.Size, &f.URL, nt{&f.DownloadedOn}, &f.DownloadedSize,
		&f.LastError, &f.Attempts, nt{&f.LastAttempt}, nt{&f.DeletedOn})
	return f, err
}

// wantedFile is true when a host needs (and may install) an update holding file f.
// SQLite reads the wanted files once (IN) rather than probing for every file (EXISTS).
const wantedFile = `f.sha1 IN (SELECT l.file_sha1 FROM host_updates h JOIN update_file_links l ON l.update_pk = h.update_pk
	WHERE h.status IN (` + sqlq.WantedStatusSQL + `))`

func (s *Store) files(ctx context.Context, what, where string) ([]store.UpdateFile, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+fileCols+` FROM update_files f WHERE `+where+` ORDER BY f.sha1`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	var out []store.UpdateFile
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
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
	f, err := scanFile(s.r.QueryRowContext(ctx, `SELECT `+fileCols+` FROM update_files f WHERE f.sha1 = ?`, sha1))
	if errors.Is(err, sql.ErrNoRows) {
		return f, notFound("sqlite: file " + sha1)
	}
	if err != nil {
		return f, fmt.Errorf("sqlite: get file %s: %w", sha1, err)
	}
	return f, nil
}

// setFile runs one UPDATE of a file then refreshes the download date of its updates.
func (s *Store) setFile(ctx context.Context, what, sha1, set string, args ...any) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE update_files SET `+set+` WHERE sha1 = ?`, append(args, sha1)...)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return notFound("file " + sha1)
		}
		_, err = tx.ExecContext(ctx, `UPDATE updates SET downloaded_on = (
			SELECT CASE WHEN count(*) > 0 AND count(f.downloaded_on) = count(*) THEN max(f.downloaded_on) END
			FROM update_file_links l JOIN update_files f ON f.sha1 = l.file_sha1 WHERE l.update_pk = updates.id)
			WHERE id IN (SELECT update_pk FROM update_file_links WHERE file_sha1 = ?)`, sha1)
		if err != nil {
			return fmt.Errorf("refresh update download dates: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: %s %s: %w", what, sha1, err)
	}
	return nil
}

// MarkDownloaded records the file in the cache.
func (s *Store) MarkDownloaded(ctx context.Context, sha1 string, d store.Downloaded) error {
	if d.At.IsZero() {
		return fmt.Errorf("sqlite: mark downloaded %s: no download time: %w", sha1, store.ErrInvalid)
	}
	return s.setFile(ctx, "mark downloaded", sha1, `downloaded_on = ?, downloaded_size = ?,
		sha256 = CASE WHEN ? = '' THEN sha256 ELSE ? END, last_error = '', attempts = 0, deleted_on = NULL`,
		tv(d.At), d.Size, strings.ToLower(d.SHA256), strings.ToLower(d.SHA256))
}

// MarkFailed records a failed download attempt.
func (s *Store) MarkFailed(ctx context.Context, sha1 string, at time.Time, errText string) error {
	return s.setFile(ctx, "mark failed", sha1, `last_error = ?, attempts = attempts + 1, last_attempt = ?`, errText, tv(at))
}

// MarkDeleted records that the file left the cache.
func (s *Store) MarkDeleted(ctx context.Context, sha1 string, at time.Time) error {
	return s.setFile(ctx, "mark deleted", sha1, `downloaded_on = NULL, downloaded_size = 0, deleted_on = ?`, tv(at))
}

const taskCols = `t.id, t.file_sha1, f.name, f.url, f.size, t.bytes, t.status, t.attempts, t.error, t.worker,
	t.created_at, t.started_at, t.finished_at, t.updated_at`

func scanTask(sc scanner) (store.DownloadTask, error) {
	var t store.DownloadTask
	err := sc.Scan(&t.ID, &t.FileSHA1, &t.FileName, &t.URL, &t.Size, &t.Bytes, &t.Status, &t.Attempts,
		&t.Error, &t.Worker, nt{&t.CreatedAt}, nt{&t.StartedAt}, nt{&t.FinishedAt}, nt{&t.UpdatedAt})
	return t, err
}

func getTask(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id int64) (store.DownloadTask, error) {
	return scanTask(q.QueryRowContext(ctx, `SELECT `+taskCols+` FROM download_tasks t
		JOIN update_files f ON f.sha1 = t.file_sha1 WHERE t.id = ?`, id))
}

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
		t, err = getTask(ctx, tx, id)
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
		t, err = getTask(ctx, tx, id)
		return err
	})
	if err != nil {
		return t, fmt.Errorf("sqlite: claim task: %w", err)
	}
	return t, nil
}

func (s *Store) setTask(ctx context.Context, what string, id int64, q string, args ...any) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, q, append(args, id)...)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return notFound(fmt.Sprintf("running download task %d", id))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return nil
}

// TaskProgress records the bytes downloaded so far.
func (s *Store) TaskProgress(ctx context.Context, id int64, bytes int64, at time.Time) error {
	return s.setTask(ctx, "task progress", id, `UPDATE download_tasks SET bytes = ?, updated_at = ?
		WHERE status = 'downloading' AND id = ?`, bytes, tz(at))
}

// FinishTask ends a running task.
func (s *Store) FinishTask(ctx context.Context, id int64, at time.Time, errText string) error {
	status := store.TaskDone
	if errText != "" {
		status = store.TaskFailed
	}
	return s.setTask(ctx, "finish task", id, `UPDATE download_tasks SET status = ?, error = ?, finished_at = ?, updated_at = ?
		WHERE status IN ('queued', 'downloading') AND id = ?`, string(status), errText, tv(at), tz(at))
}

// RequeueStale requeues the running tasks without progress since before.
func (s *Store) RequeueStale(ctx context.Context, before, at time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE download_tasks SET status = 'queued', worker = '', updated_at = ?
			WHERE status = 'downloading' AND updated_at < ?`, tz(at), tz(before))
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: requeue stale tasks: %w", err)
	}
	return int(n), nil
}

// ListTasks returns the most recent tasks.
func (s *Store) ListTasks(ctx context.Context, limit int, statuses ...store.TaskStatus) ([]store.DownloadTask, error) {
	q := `SELECT ` + taskCols + ` FROM download_tasks t JOIN update_files f ON f.sha1 = t.file_sha1`
	var args []any
	if len(statuses) > 0 {
		q += ` WHERE t.status IN (?` + strings.Repeat(", ?", len(statuses)-1) + `)`
		for _, st := range statuses {
			args = append(args, string(st))
		}
	}
	q += fmt.Sprintf(` ORDER BY t.id DESC LIMIT %d`, store.PageLimit(limit, 100, 1000))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tasks: %w", err)
	}
	defer rows.Close()
	var out []store.DownloadTask
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list tasks: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list tasks: %w", err)
	}
	return out, nil
}
