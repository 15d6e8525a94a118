package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/upstream"
	"github.com/openwua/waptwua/internal/wu"
)

// DownloadSummary counts what a pass of the missing-files job did.
type DownloadSummary struct {
	Requeued int   `json:"requeued"` // downloads of dead workers put back in the queue
	Needed   int   `json:"needed"`   // files hosts need that are not cached
	Deferred int   `json:"deferred"` // of which left for later: their last attempt failed recently
	Queued   int   `json:"queued"`   // tasks created
	Done     int   `json:"done"`     // tasks finished well
	Failed   int   `json:"failed"`   // tasks failed
	Bytes    int64 `json:"bytes"`    // bytes received from Microsoft
}

func (s *DownloadSummary) add(o DownloadSummary) {
	s.Done += o.Done
	s.Failed += o.Failed
	s.Bytes += o.Bytes
}

// DownloadMissing runs the missing-files job now and waits for it: it queues a download
// of every file that at least one host needs and is allowed to install and that is not
// cached, then downloads the queue. A run already going in this process is joined.
// ErrBusy when another replica runs the job.
func (r *Runner) DownloadMissing(ctx context.Context) (DownloadSummary, error) {
	return r.missing.do(ctx, runArg{forced: true, triggered: "manual"})
}

// ForceDownload queues the files of the chosen updates ("Download" in the console),
// even when no host needs them, and starts downloading the queue; it returns without
// waiting for the downloads (the task list shows them). Files already cached are left
// alone. Nothing is queued when one of the keys is unknown (the error wraps
// store.ErrNotFound and names it). With no key it starts the missing-files job now
// ("Download index and missing cabs"); the job running already, here or on another
// replica, is not an error. ErrClosed when the server is stopping.
func (r *Runner) ForceDownload(ctx context.Context, keys []wu.UpdateKey) error {
	if len(keys) == 0 {
		_, err := r.missing.start(ctx, runArg{forced: true, triggered: "forced"})
		if isBusy(err) {
			r.log.Info("forced missing-files run: the job is running on another replica", "job", JobMissingFiles)
			return nil
		}
		return err
	}
	var files []store.UpdateFile
	for _, k := range keys {
		info, err := r.st.GetUpdate(ctx, k)
		if err != nil {
			return fmt.Errorf("download of update %s: %w", k, err)
		}
		states := info.FileStates
		if len(states) == 0 {
			for _, f := range info.Files {
				states = append(states, store.UpdateFile{File: f})
			}
		}
		files = append(files, states...)
	}
	queued := 0
	for _, f := range files {
		if !f.DownloadedOn.IsZero() {
			continue
		}
		_, created, err := r.st.EnqueueDownload(ctx, f.SHA1, r.clock.Now())
		if err != nil {
			return fmt.Errorf("download of %s: queueing: %w", f.Name, err)
		}
		if created {
			queued++
		}
	}
	r.log.Info("forced download queued", "job", JobMissingFiles, "updates", len(keys), "files", len(files), "queued", queued)
	_, err := r.drain.start(ctx, runArg{forced: true, triggered: "forced"})
	return err
}

// Recover undoes what a killed server left behind, before any download starts: files
// being written (repo.CleanTemp: no partial file stays visible) and the download tasks
// this instance had running, which are queued again. Run calls it.
func (r *Runner) Recover(ctx context.Context) error {
	var errs []error
	if err := r.repo.CleanTemp(); err != nil {
		errs = append(errs, fmt.Errorf("cleaning the repository's temporary files: %w", err))
	}
	n, err := r.requeueOwn(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	if n > 0 {
		r.log.Info("downloads interrupted by the last stop queued again", "job", JobMissingFiles, "tasks", n)
	}
	return errors.Join(errs...)
}

// requeueOwn puts back in the queue the tasks this instance was downloading when it
// stopped: the store has no "requeue this worker's tasks", so each one is ended as
// failed with the reason and a fresh task is queued for its file.
func (r *Runner) requeueOwn(ctx context.Context) (int, error) {
	tasks, err := r.st.ListTasks(ctx, 1000, store.TaskDownloading)
	if err != nil {
		return 0, fmt.Errorf("listing interrupted downloads: %w", err)
	}
	n := 0
	for _, t := range tasks {
		if t.Worker != r.set.Instance {
			continue
		}
		if err := r.requeueTask(ctx, t, "interrupted: the server stopped during the download (queued again)"); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (r *Runner) requeueTask(ctx context.Context, t store.DownloadTask, why string) error {
	now := r.clock.Now()
	if err := r.st.FinishTask(ctx, t.ID, now, why); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("download of %s: ending interrupted task %d: %w", t.FileName, t.ID, err)
	}
	if _, _, err := r.st.EnqueueDownload(ctx, t.FileSHA1, now); err != nil {
		return fmt.Errorf("download of %s: queueing it again: %w", t.FileName, err)
	}
	return nil
}

// retryWait is how long the scheduled job leaves a file alone after attempts failed
// downloads: RetryAfter, doubling with each attempt, at most a day.
func (r *Runner) retryWait(attempts int) time.Duration {
	d := r.set.RetryAfter
	for i := 1; i < attempts && d < 24*time.Hour; i++ {
		d *= 2
	}
	return min(d, 24*time.Hour)
}

// missingFiles is one run of the missing-files job: requeue the tasks of dead replicas,
// queue the needed files, download the queue.
func (r *Runner) missingFiles(ctx context.Context, arg runArg) (DownloadSummary, error) {
	var sum DownloadSummary
	now := r.clock.Now()
	n, err := r.st.RequeueStale(ctx, now.Add(-r.set.StaleTaskAge), now)
	if err != nil {
		return sum, fmt.Errorf("missing files: requeueing stale downloads: %w", err)
	}
	sum.Requeued = n
	needed, err := r.st.NeededFiles(ctx)
	if err != nil {
		return sum, fmt.Errorf("missing files: listing the files hosts need: %w", err)
	}
	sum.Needed = len(needed)
	for _, f := range needed {
		if f.Attempts > 0 && !f.LastAttempt.IsZero() && now.Before(f.LastAttempt.Add(r.retryWait(f.Attempts))) {
			sum.Deferred++
			continue
		}
		_, created, err := r.st.EnqueueDownload(ctx, f.SHA1, now)
		if err != nil {
			return sum, fmt.Errorf("missing files: queueing %s: %w", f.Name, err)
		}
		if created {
			sum.Queued++
		}
	}
	d, err := r.drain.do(ctx, runArg{triggered: arg.triggered})
	sum.add(d)
	if err != nil {
		return sum, err
	}
	if sum.Needed > 0 || sum.Done > 0 || sum.Failed > 0 || sum.Requeued > 0 {
		r.log.Info("missing files: pass finished", "job", JobMissingFiles, "trigger", arg.triggered, "needed", sum.Needed,
			"deferred", sum.Deferred, "queued", sum.Queued, "requeued", sum.Requeued, "done", sum.Done, "failed", sum.Failed, "bytes", sum.Bytes)
	}
	return sum, nil
}

// drainQueue downloads queued tasks with download_concurrency workers until the queue
// is empty. The store hands each task to one worker (across replicas too) and upstream
// shares concurrent downloads of one file, so each file is fetched once.
func (r *Runner) drainQueue(ctx context.Context) (DownloadSummary, error) {
	var (
		mu   sync.Mutex
		sum  DownloadSummary
		errs []error
		wg   sync.WaitGroup
	)
	for w := 0; w < r.set.DownloadConcurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t, err := r.st.ClaimTask(ctx, r.set.Instance, r.clock.Now())
				if errors.Is(err, store.ErrNotFound) {
					return
				}
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("missing files: taking a task from the queue: %w", err))
						mu.Unlock()
					}
					return
				}
				res := r.download(ctx, t)
				mu.Lock()
				sum.add(res)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.publishTaskCounts()
	return sum, errors.Join(errs...)
}

// publishTaskCounts gives the metrics the number of queued and running tasks.
func (r *Runner) publishTaskCounts() {
	ctx, cancel := r.releaseCtx()
	defer cancel()
	counts := map[store.TaskStatus]int{}
	for _, s := range []store.TaskStatus{store.TaskQueued, store.TaskDownloading} {
		ts, err := r.st.ListTasks(ctx, 1000, s)
		if err != nil {
			return
		}
		counts[s] = len(ts)
	}
	r.metrics.SetTaskCounts(counts)
}

// taskProgress carries the bytes of a running download from upstream's progress
// callback to the task's heartbeat.
type taskProgress struct {
	done atomic.Int64
}

// Progress receives upstream's download progress: pass it to upstream.WithProgress
// when building the client, so that running tasks show their bytes.
func (r *Runner) Progress(name string, done, _ int64) {
	r.progMu.Lock()
	p := r.progress[name]
	r.progMu.Unlock()
	if p != nil {
		p.done.Store(done)
	}
}

// download runs one claimed task to its end and records the outcome on the task and
// on the file.
func (r *Runner) download(ctx context.Context, t store.DownloadTask) DownloadSummary {
	log := r.log.With("job", JobMissingFiles, "task", t.ID, "sha1", t.FileSHA1)
	failed := func(err error) DownloadSummary {
		wctx, cancel := r.releaseCtx()
		defer cancel()
		if ctx.Err() != nil {
			// Stopping: not the file's fault. Queue it again for the next start.
			if rerr := r.requeueTask(wctx, t, "interrupted: the server is stopping (queued again)"); rerr != nil {
				log.Error("queueing an interrupted download again failed", "err", rerr)
			}
			return DownloadSummary{}
		}
		now := r.clock.Now()
		msg := err.Error()
		if merr := r.st.MarkFailed(wctx, t.FileSHA1, now, msg); merr != nil {
			log.Error("recording the failed download on the file failed", "err", merr)
		}
		if ferr := r.st.FinishTask(wctx, t.ID, now, msg); ferr != nil {
			log.Error("recording the failed download on the task failed", "err", ferr)
		}
		log.Warn("download failed", "err", err)
		r.metrics.DownloadFinished(false)
		return DownloadSummary{Failed: 1}
	}

	f, err := r.st.GetFile(ctx, t.FileSHA1)
	if err != nil {
		return failed(fmt.Errorf("reading the file's catalog entry: %w", err))
	}
	if !f.DownloadedOn.IsZero() {
		// Cached since it was queued (a forced download, another replica).
		if err := r.st.FinishTask(ctx, t.ID, r.clock.Now(), ""); err != nil {
			log.Error("closing the task of a cached file failed", "err", err)
		}
		return DownloadSummary{Done: 1}
	}
	// The catalog's FileName lacks the "_<sha1>" that the URL's name carries; the cached
	// file is named after the URL.
	spec := f.File
	spec.Name = ""
	name, want, err := repo.FileOf(spec)
	if err != nil {
		return failed(err)
	}
	spec.Name = name
	log = log.With("file", name, "size", f.Size)

	prog := &taskProgress{}
	r.progMu.Lock()
	r.progress[name] = prog
	r.progMu.Unlock()
	defer func() {
		r.progMu.Lock()
		if r.progress[name] == prog {
			delete(r.progress, name)
		}
		r.progMu.Unlock()
	}()
	hctx, stopBeat := context.WithCancel(ctx)
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		r.heartbeat(hctx, t.ID, prog)
	}()
	log.Info("download started", "url", f.URL, "attempt", t.Attempts)
	var res upstream.Result
	sums, cached, err := r.repo.Write(name, want, func(w *repo.Writer) error {
		var ferr error
		res, ferr = r.up.Fetch(ctx, spec, w)
		return ferr
	})
	stopBeat()
	<-beat
	r.metrics.AddDownloadedBytes(res.Bytes)
	if err != nil {
		// The errors name the file, the cause and what happens next (a
		// *repo.DigestError says the partial file was deleted).
		return failed(err)
	}
	// The file is in place: record it even when the server is stopping meanwhile.
	wctx, cancel := r.releaseCtx()
	defer cancel()
	now := r.clock.Now()
	if err := r.st.TaskProgress(wctx, t.ID, sums.Size, now); err != nil {
		log.Warn("recording the final progress failed", "err", err)
	}
	if err := r.st.MarkDownloaded(wctx, t.FileSHA1, store.Downloaded{At: now, Size: sums.Size, SHA256: f.SHA256}); err != nil {
		return failed(fmt.Errorf("recording the downloaded file: %w", err))
	}
	if err := r.st.FinishTask(wctx, t.ID, now, ""); err != nil {
		log.Error("closing the finished task failed", "err", err)
	}
	r.metrics.DownloadFinished(true)
	log.Info("download finished", "bytes", res.Bytes, "cached", cached,
		"resumed", res.Resumed, "attempts", res.Attempts, "duration", res.Duration)
	return DownloadSummary{Done: 1, Bytes: res.Bytes}
}

// heartbeat records the task's progress every ProgressEvery, which also tells the other
// replicas that its worker is alive.
func (r *Runner) heartbeat(ctx context.Context, id int64, p *taskProgress) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.clock.After(r.set.ProgressEvery):
		}
		if err := r.st.TaskProgress(ctx, id, p.done.Load(), r.clock.Now()); err != nil && ctx.Err() == nil {
			r.log.Warn("recording download progress failed", "job", JobMissingFiles, "task", id, "err", err)
		}
	}
}
