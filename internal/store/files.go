package store

import (
	"context"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// FileStore is the server's view of the update-file cache (the waptwua/ folder): which
// files hosts need, which are downloaded, which can be cleaned up. A file (keyed by its
// SHA-1) may belong to several updates.
type FileStore interface {
	// NeededFiles lists every file of an update that at least one host needs and is
	// allowed to install (WantedStatuses), and that is not downloaded, ordered by SHA-1.
	NeededFiles(ctx context.Context) ([]UpdateFile, error)
	// UnusedFiles lists downloaded files of which no host needs any update
	// (WantedStatuses): candidates for the nightly cleanup.
	UnusedFiles(ctx context.Context) ([]UpdateFile, error)
	// GetFile returns one file by SHA-1, or ErrNotFound.
	GetFile(ctx context.Context, sha1 string) (UpdateFile, error)
	// MarkDownloaded records the file in the cache and clears its last error.
	MarkDownloaded(ctx context.Context, sha1 string, d Downloaded) error
	// MarkFailed records a failed download attempt: the error and one more attempt.
	MarkFailed(ctx context.Context, sha1 string, at time.Time, errText string) error
	// MarkDeleted records that the file left the cache; it is needed again when a host
	// asks for it.
	MarkDeleted(ctx context.Context, sha1 string, at time.Time) error
}

// Downloaded describes a file that reached the cache.
type Downloaded struct {
	At     time.Time
	Size   int64
	SHA256 string // lower-case hex of the bytes stored
}

// UpdateFile is one update file and its cache state.
type UpdateFile struct {
	wu.File
	DownloadedOn   time.Time `json:"downloaded_on,omitzero"` // zero: not in the cache
	DownloadedSize int64     `json:"downloaded_size,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	Attempts       int       `json:"attempts"` // failed attempts since the last success
	LastAttempt    time.Time `json:"last_attempt,omitzero"`
	DeletedOn      time.Time `json:"deleted_on,omitzero"`
}

// TaskStatus is the state of a download task.
type TaskStatus string

// Download task states.
const (
	TaskQueued      TaskStatus = "queued"
	TaskDownloading TaskStatus = "downloading"
	TaskDone        TaskStatus = "done"
	TaskFailed      TaskStatus = "failed"
)

// TaskStore queues file downloads and hands them to workers, one row to one worker, even
// across server replicas.
type TaskStore interface {
	// EnqueueDownload queues the file unless a queued or running task for it exists, in
	// which case that task is returned with created false. ErrNotFound for an unknown file.
	EnqueueDownload(ctx context.Context, sha1 string, at time.Time) (task DownloadTask, created bool, err error)
	// ClaimTask gives the oldest queued task to worker and marks it downloading.
	// ErrNotFound when the queue is empty.
	ClaimTask(ctx context.Context, worker string, at time.Time) (DownloadTask, error)
	// TaskProgress records the bytes downloaded so far.
	TaskProgress(ctx context.Context, id int64, bytes int64, at time.Time) error
	// FinishTask ends a task: done when errText is empty, failed otherwise.
	FinishTask(ctx context.Context, id int64, at time.Time, errText string) error
	// RequeueStale puts back in the queue the downloading tasks with no progress since
	// before (their worker died).
	RequeueStale(ctx context.Context, before time.Time, at time.Time) (int, error)
	// ListTasks returns the most recent tasks, newest first (all when statuses is empty).
	ListTasks(ctx context.Context, limit int, statuses ...TaskStatus) ([]DownloadTask, error)
}

// DownloadTask is one download of one file.
type DownloadTask struct {
	ID         int64      `json:"id"`
	FileSHA1   string     `json:"file_sha1"`
	FileName   string     `json:"file_name"`
	URL        string     `json:"url"`
	Size       int64      `json:"size"`  // expected bytes, from the catalog
	Bytes      int64      `json:"bytes"` // downloaded so far
	Status     TaskStatus `json:"status"`
	Attempts   int        `json:"attempts"` // times claimed
	Error      string     `json:"error,omitempty"`
	Worker     string     `json:"worker,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  time.Time  `json:"started_at,omitzero"`
	FinishedAt time.Time  `json:"finished_at,omitzero"`
	UpdatedAt  time.Time  `json:"updated_at"`
}
