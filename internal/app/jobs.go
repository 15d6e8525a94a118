package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// Jobs is what the operations ask of the background jobs (internal/jobs through
// cmd/waptserver's adapter). The Force methods schedule the work and return once it is
// scheduled. A method may return ErrJobRunning (or an error with Busy() true) when the
// job runs already and takes no more work.
type Jobs interface {
	// ForceCabSync runs the wsusscn2.cab synchronisation now, downloading the cab even
	// when it did not change.
	ForceCabSync(ctx context.Context) error
	// ForceDownload queues the files of the given updates for download now; an empty
	// list runs the missing-files job now.
	ForceDownload(ctx context.Context, updateKeys []wu.UpdateKey) error
	// DeleteUnused removes the update files no host needs, synchronously.
	DeleteUnused(ctx context.Context) (n int, bytes int64, err error)
}

// Promotions runs the rollout check on demand; a Jobs that also implements it enables
// CheckPromotions.
type Promotions interface {
	CheckPromotions(ctx context.Context) (promoted []string, err error)
}

// MaxForcedUpdates bounds the updates of one ForceDownload.
const MaxForcedUpdates = 1000

// adminJobs returns the admin of the context and the jobs, or why not.
func (a *App) adminJobs(ctx context.Context) (User, Jobs, error) {
	who, err := admin(ctx)
	if err != nil {
		return who, nil, err
	}
	if a.d.Jobs == nil {
		return who, nil, errorf(Unavailable, "", "jobs not running: this server was started without the background jobs (--no-jobs?)")
	}
	return who, a.d.Jobs, nil
}

// jobError keeps the kinds the caller must see (busy, not found, invalid) and wraps
// the rest.
func jobError(what string, err error) error {
	switch KindOf(err) {
	case Busy, NotFound, Invalid:
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// SyncCab starts the wsusscn2.cab synchronisation now (cab.sync).
func (a *App) SyncCab(ctx context.Context) error {
	who, j, err := a.adminJobs(ctx)
	if err != nil {
		return err
	}
	if err := j.ForceCabSync(ctx); err != nil {
		return jobError("wsusscn2.cab sync", err)
	}
	a.audit(ctx, who.Name, "cab.sync", "wsusscn2.cab", nil)
	return nil
}

// DownloadMissing starts the missing-files job now (files.download_missing).
func (a *App) DownloadMissing(ctx context.Context) error {
	who, j, err := a.adminJobs(ctx)
	if err != nil {
		return err
	}
	if err := j.ForceDownload(ctx, nil); err != nil {
		return jobError("download missing files", err)
	}
	a.audit(ctx, who.Name, "files.download_missing", "files", nil)
	return nil
}

// ForceDownload queues the files of updates for download now, whether or not a host
// needs them (update.download). Every update must be in the catalog (NotFound with
// the field updates[i] otherwise); duplicates are ignored. It returns the keys queued.
func (a *App) ForceDownload(ctx context.Context, keys []wu.UpdateKey) ([]wu.UpdateKey, error) {
	who, j, err := a.adminJobs(ctx)
	if err != nil {
		return nil, err
	}
	if a.d.Updates == nil {
		return nil, errorf(Unavailable, "", "this server has no catalog")
	}
	if len(keys) == 0 {
		return nil, errorf(Invalid, "updates", "name at least one update (\"<guid>_<revision>\")")
	}
	if len(keys) > MaxForcedUpdates {
		return nil, errorf(Invalid, "updates", "%d updates, at most %d per request", len(keys), MaxForcedUpdates)
	}
	out := make([]wu.UpdateKey, 0, len(keys))
	seen := map[wu.UpdateKey]bool{}
	for i, k := range keys {
		info, err := a.d.Updates.GetUpdate(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{Kind: NotFound, Field: fmt.Sprintf("updates[%d]", i), Msg: fmt.Sprintf("update %s is not in the catalog", k), Err: err}
		}
		if err != nil {
			return nil, err
		}
		if k = info.Key(); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	if err := j.ForceDownload(ctx, out); err != nil {
		return nil, jobError("download now", err)
	}
	names := make([]string, len(out))
	for i, k := range out {
		names[i] = k.String()
	}
	a.audit(ctx, who.Name, "update.download", "updates", map[string]any{"updates": names})
	return out, nil
}

// DeleteUnused removes the update files no host needs (files.delete_unused).
func (a *App) DeleteUnused(ctx context.Context) (n int, bytes int64, err error) {
	who, j, err := a.adminJobs(ctx)
	if err != nil {
		return 0, 0, err
	}
	n, bytes, err = j.DeleteUnused(ctx)
	if err != nil {
		return 0, 0, jobError("delete unused KBs", err)
	}
	a.audit(ctx, who.Name, "files.delete_unused", "files", map[string]int64{"files": int64(n), "bytes": bytes})
	return n, bytes, nil
}

// CheckPromotions runs the rollout check now and returns the packages it promoted
// ("name version"); each promotion is audited by Promote.
func (a *App) CheckPromotions(ctx context.Context) ([]string, error) {
	if _, err := admin(ctx); err != nil {
		return nil, err
	}
	pr, ok := a.d.Jobs.(Promotions)
	if !ok {
		return nil, errorf(Unavailable, "", "jobs not running: this server was started without the background jobs (--no-jobs?)")
	}
	promoted, err := pr.CheckPromotions(ctx)
	if err != nil {
		return nil, jobError("promotion check", err)
	}
	if promoted == nil {
		promoted = []string{}
	}
	return promoted, nil
}
