package server

import (
	"context"
	"errors"

	"github.com/openwua/waptwua/internal/wu"
)

// Jobs is what the admin API asks of the background jobs (internal/jobs implements it;
// cmd/waptserver passes it with WithJobs). The Force methods schedule the work and
// return once it is scheduled: the admin API answers 202 and the console follows the
// progress in the cab history and the download tasks. A job already running is not an
// error.
type Jobs interface {
	// ForceCabSync runs the wsusscn2.cab synchronisation now (the console's "Download
	// WSUSScan cab from Microsoft"), downloading the cab even when it did not change.
	ForceCabSync(ctx context.Context) error
	// ForceDownload queues the files of the given updates for download now (the
	// console's "Download" on selected updates), whether or not a host needs them yet.
	// An empty list runs the missing-files job now (the console's "Download index and
	// missing cabs"). An unknown update is an error matching store.ErrNotFound.
	ForceDownload(ctx context.Context, updateKeys []wu.UpdateKey) error
	// DeleteUnused removes from the repository the update files no host needs (the
	// console's "Delete unused KBs"), synchronously, and says how many files and bytes
	// it removed.
	DeleteUnused(ctx context.Context) (n int, bytes int64, err error)
}

// ErrJobRunning may be returned by a Jobs method that refuses to start because the same
// job is running and cannot take more work; the admin API answers 409.
var ErrJobRunning = errors.New("job already running")
