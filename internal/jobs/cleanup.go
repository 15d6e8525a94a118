package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
)

// CleanupSummary counts what a cleanup did.
type CleanupSummary struct {
	Files    int   `json:"files"`    // files deleted
	Bytes    int64 `json:"bytes"`    // their size
	Failed   int   `json:"failed"`   // files that could not be deleted (kept, still marked cached)
	Deferred int   `json:"deferred"` // nightly run: files left for the next night because the window ended
}

// AuditDeleteUnused is the audit action of each file the cleanup deletes.
const AuditDeleteUnused = "delete_unused_file"

type actorKey struct{}

// WithActor returns a context naming who asks for an on-demand job (the console user),
// for the audit log. Without it the actor is "console".
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func actorFrom(ctx context.Context, def string) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return def
}

// fileBytes is the size a cached file takes on disk.
func fileBytes(f store.UpdateFile) int64 {
	if f.DownloadedSize > 0 {
		return f.DownloadedSize
	}
	return f.Size
}

// UnusedSummary counts the cached files no host needs any more and their bytes: what
// DeleteUnused would delete now (the console shows it to confirm "Delete unused KBs").
func (r *Runner) UnusedSummary(ctx context.Context) (n int, bytes int64, err error) {
	files, err := r.st.UnusedFiles(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("unused update files: %w", err)
	}
	for _, f := range files {
		bytes += fileBytes(f)
	}
	return len(files), bytes, nil
}

// DeleteUnused deletes now the cached files no host needs any more ("Delete unused
// KBs") and returns how many and their bytes. It works whatever cleanup_kbs says: that
// option only disables the automatic nightly deletion. A cleanup already running in
// this process is joined. The actor of the audit entries comes from WithActor.
func (r *Runner) DeleteUnused(ctx context.Context) (n int, bytes int64, err error) {
	s, err := r.clean.do(ctx, runArg{forced: true, manual: true, actor: actorFrom(ctx, "console"), triggered: "manual"})
	return s.Files, s.Bytes, err
}

// cleanup is one run of the cleanup job: for each unused file, mark it deleted in the
// store, remove it from the repository, log it and write an audit entry. A file is
// marked deleted before it is removed so that the server never tells agents a file is
// there when it is not; when the removal fails, the mark is undone. A deleted file is
// fetched again by the missing-files job when a host needs it again.
func (r *Runner) cleanup(ctx context.Context, arg runArg) (CleanupSummary, error) {
	var sum CleanupSummary
	trigger := "nightly"
	if arg.manual {
		trigger = "manual"
	}
	log := r.log.With("job", JobCleanup, "trigger", trigger)
	files, err := r.st.UnusedFiles(ctx)
	if err != nil {
		return sum, fmt.Errorf("cleanup: listing unused update files: %w", err)
	}
	actor := arg.actor
	if actor == "" {
		actor = "system"
	}
	var errs []error
	for i, f := range files {
		if ctx.Err() != nil {
			r.metrics.UnusedDeleted(sum.Files, sum.Bytes)
			return sum, fmt.Errorf("cleanup: %w (%d files left for the next run)", ctx.Err(), len(files)-i)
		}
		now := r.clock.Now()
		if !arg.manual && !arg.deadline.IsZero() && !now.Before(arg.deadline) {
			sum.Deferred = len(files) - i
			log.Info("cleanup window ended: remaining unused files left for the next night", "files", sum.Deferred)
			break
		}
		name, err := repo.NameFromURL(f.URL)
		if err != nil {
			sum.Failed++
			errs = append(errs, err)
			continue
		}
		size := fileBytes(f)
		if err := r.st.MarkDeleted(ctx, f.SHA1, now); err != nil {
			sum.Failed++
			errs = append(errs, fmt.Errorf("cleanup: %s: recording the deletion: %w", name, err))
			continue
		}
		if err := r.repo.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			// Put the cache state back: the file is still there.
			wctx, cancel := r.releaseCtx()
			if uerr := r.st.MarkDownloaded(wctx, f.SHA1, store.Downloaded{At: f.DownloadedOn, Size: f.DownloadedSize, SHA256: f.SHA256}); uerr != nil {
				log.Error("restoring the cache state of a file that could not be deleted failed", "file", name, "err", uerr)
			}
			cancel()
			sum.Failed++
			errs = append(errs, fmt.Errorf("cleanup: deleting %s: %w (check the permissions of %s)", name, err, r.repo.Dir()))
			continue
		}
		sum.Files++
		sum.Bytes += size
		log.Info("deleted unused update file", "file", name, "sha1", f.SHA1, "bytes", size, "downloaded_on", f.DownloadedOn)
		details := fmt.Sprintf("sha1=%s bytes=%d trigger=%s: no host needs it any more", f.SHA1, size, trigger)
		if _, err := r.st.AppendAudit(ctx, store.AuditEntry{At: now, Actor: actor, Action: AuditDeleteUnused, Target: name, Details: details}); err != nil {
			log.Error("writing the audit entry of a deletion failed", "file", name, "err", err)
		}
	}
	r.metrics.UnusedDeleted(sum.Files, sum.Bytes)
	log.Info("cleanup finished", "deleted", sum.Files, "bytes", sum.Bytes, "failed", sum.Failed, "deferred", sum.Deferred)
	if len(errs) > 0 {
		return sum, fmt.Errorf("cleanup: %d of %d unused files not deleted: %w", sum.Failed, len(files), errors.Join(errs...))
	}
	return sum, nil
}
