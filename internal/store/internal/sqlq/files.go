package sqlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// FileCols are the columns of an update file over alias f.
const FileCols = `f.sha1, f.sha256, f.name, f.size, f.url, f.downloaded_on, f.downloaded_size,
	f.last_error, f.attempts, f.last_attempt, f.deleted_on`

// ScanFile scans FileCols.
func (c *Common) ScanFile(r Row) (store.UpdateFile, error) {
	var f store.UpdateFile
	sc := c.D.ScanTime
	err := r.Scan(&f.SHA1, &f.SHA256, &f.Name, &f.Size, &f.URL, sc(&f.DownloadedOn), &f.DownloadedSize,
		&f.LastError, &f.Attempts, sc(&f.LastAttempt), sc(&f.DeletedOn))
	return f, err
}

// wantedFile is true when a host needs (and may install) an update holding file f.
func (c *Common) wantedFile() string {
	if c.D.SemiJoinIn { // read the wanted files once rather than probe for every file
		return `f.sha1 IN (SELECT l.file_sha1 FROM host_updates h JOIN update_file_links l ON l.update_pk = h.update_pk
			WHERE h.status IN (` + WantedStatusSQL + `))`
	}
	return `EXISTS (SELECT 1 FROM update_file_links l JOIN host_updates h ON h.update_pk = l.update_pk
		WHERE l.file_sha1 = f.sha1 AND h.status IN (` + WantedStatusSQL + `))`
}

func (c *Common) files(ctx context.Context, what, where string) ([]store.UpdateFile, error) {
	out, err := QueryAll(ctx, c.DB.Reader(), c.ScanFile, `SELECT `+FileCols+` FROM update_files f WHERE `+where+` ORDER BY f.sha1`)
	return out, c.errf(err, "%s", what)
}

// NeededFiles lists the files hosts need that are not downloaded.
func (c *Common) NeededFiles(ctx context.Context) ([]store.UpdateFile, error) {
	return c.files(ctx, "needed files", `f.downloaded_on IS NULL AND `+c.wantedFile())
}

// UnusedFiles lists the downloaded files no host needs.
func (c *Common) UnusedFiles(ctx context.Context) ([]store.UpdateFile, error) {
	return c.files(ctx, "unused files", `f.downloaded_on IS NOT NULL AND NOT `+c.wantedFile())
}

// GetFile returns one file.
func (c *Common) GetFile(ctx context.Context, sha1 string) (store.UpdateFile, error) {
	f, err := c.ScanFile(c.DB.Reader().QueryRow(ctx, `SELECT `+FileCols+` FROM update_files f WHERE f.sha1 = ?`, sha1))
	if errors.Is(err, ErrNoRows) {
		err = NotFound("file " + sha1)
	}
	return f, c.errf(err, "get file %s", sha1)
}

// setFile runs one UPDATE of a file then refreshes the download date of its updates.
func (c *Common) setFile(ctx context.Context, what, sha1, set string, args ...any) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		if err := Exec1(ctx, tx, "file "+sha1, `UPDATE update_files SET `+set+` WHERE sha1 = ?`, append(args, sha1)...); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE updates SET downloaded_on = (
			SELECT CASE WHEN count(*) > 0 AND count(f.downloaded_on) = count(*) THEN max(f.downloaded_on) END
			FROM update_file_links l JOIN update_files f ON f.sha1 = l.file_sha1 WHERE l.update_pk = updates.id)
			WHERE id IN (SELECT update_pk FROM update_file_links WHERE file_sha1 = ?)`, sha1)
		if err != nil {
			return fmt.Errorf("refresh update download dates: %w", err)
		}
		return nil
	})
	return c.errf(err, "%s %s", what, sha1)
}

// MarkDownloaded records the file in the cache.
func (c *Common) MarkDownloaded(ctx context.Context, sha1 string, d store.Downloaded) error {
	if d.At.IsZero() {
		return c.errf(fmt.Errorf("no download time: %w", store.ErrInvalid), "mark downloaded %s", sha1)
	}
	var sum any
	if d.SHA256 != "" {
		sum = strings.ToLower(d.SHA256)
	}
	return c.setFile(ctx, "mark downloaded", sha1, `downloaded_on = ?, downloaded_size = ?,
		sha256 = coalesce(?, sha256), last_error = '', attempts = 0, deleted_on = NULL`, c.TimeArg(d.At), d.Size, sum)
}

// MarkFailed records a failed download attempt.
func (c *Common) MarkFailed(ctx context.Context, sha1 string, at time.Time, errText string) error {
	return c.setFile(ctx, "mark failed", sha1, `last_error = ?, attempts = attempts + 1, last_attempt = ?`, errText, c.TimeArg(at))
}

// MarkDeleted records that the file left the cache.
func (c *Common) MarkDeleted(ctx context.Context, sha1 string, at time.Time) error {
	return c.setFile(ctx, "mark deleted", sha1, `downloaded_on = NULL, downloaded_size = 0, deleted_on = ?`, c.TimeArg(at))
}

// TaskCols are the columns of a download task over aliases t (the task) and f (its file).
const TaskCols = `t.id, t.file_sha1, f.name, f.url, f.size, t.bytes, t.status, t.attempts, t.error, t.worker,
	t.created_at, t.started_at, t.finished_at, t.updated_at`

// ScanTask scans TaskCols.
func (c *Common) ScanTask(r Row) (store.DownloadTask, error) {
	var t store.DownloadTask
	sc := c.D.ScanTime
	err := r.Scan(&t.ID, &t.FileSHA1, &t.FileName, &t.URL, &t.Size, &t.Bytes, &t.Status, &t.Attempts,
		&t.Error, &t.Worker, sc(&t.CreatedAt), sc(&t.StartedAt), sc(&t.FinishedAt), sc(&t.UpdatedAt))
	return t, err
}

// GetTask reads one task.
func (c *Common) GetTask(ctx context.Context, q Conn, id int64) (store.DownloadTask, error) {
	return c.ScanTask(q.QueryRow(ctx, `SELECT `+TaskCols+` FROM download_tasks t
		JOIN update_files f ON f.sha1 = t.file_sha1 WHERE t.id = ?`, id))
}

func (c *Common) setTask(ctx context.Context, what string, id int64, q string, args ...any) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("running download task %d", id), q, append(args, id)...)
	})
	return c.errf(err, "%s", what)
}

// TaskProgress records the bytes downloaded so far.
func (c *Common) TaskProgress(ctx context.Context, id int64, bytes int64, at time.Time) error {
	return c.setTask(ctx, "task progress", id, `UPDATE download_tasks SET bytes = ?, updated_at = ?
		WHERE status = 'downloading' AND id = ?`, bytes, c.TimeZArg(at))
}

// FinishTask ends a running task.
func (c *Common) FinishTask(ctx context.Context, id int64, at time.Time, errText string) error {
	status := store.TaskDone
	if errText != "" {
		status = store.TaskFailed
	}
	return c.setTask(ctx, "finish task", id, `UPDATE download_tasks SET status = ?, error = ?, finished_at = ?, updated_at = ?
		WHERE status IN ('queued', 'downloading') AND id = ?`, string(status), errText, c.TimeArg(at), c.TimeZArg(at))
}

// RequeueStale requeues the running tasks without progress since before.
func (c *Common) RequeueStale(ctx context.Context, before, at time.Time) (int, error) {
	var n int64
	err := c.DB.Write(ctx, func(tx Conn) error {
		var err error
		n, err = tx.Exec(ctx, `UPDATE download_tasks SET status = 'queued', worker = '', updated_at = ?
			WHERE status = 'downloading' AND updated_at < ?`, c.TimeZArg(at), c.TimeZArg(before))
		return err
	})
	return int(n), c.errf(err, "requeue stale tasks")
}

// ListTasks returns the most recent tasks.
func (c *Common) ListTasks(ctx context.Context, limit int, statuses ...store.TaskStatus) ([]store.DownloadTask, error) {
	q := `SELECT ` + TaskCols + ` FROM download_tasks t JOIN update_files f ON f.sha1 = t.file_sha1`
	var args []any
	if len(statuses) > 0 {
		var in string
		in, args = In(statuses)
		q += ` WHERE t.status IN ` + in
	}
	q += fmt.Sprintf(` ORDER BY t.id DESC LIMIT %d`, store.PageLimit(limit, 100, 1000))
	out, err := QueryAll(ctx, c.DB.Reader(), c.ScanTask, q, args...)
	return out, c.errf(err, "list tasks")
}
