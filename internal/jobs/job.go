package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// runArg is what a trigger asks of a run.
type runArg struct {
	forced    bool      // on demand, not on schedule
	manual    bool      // cleanup: an administrator asked (cleanup_kbs does not apply)
	slot      time.Time // scheduled runs: the slot that fired (the day's base time)
	deadline  time.Time // cleanup: stop deleting at this time (end of the window)
	actor     string    // for the audit log
	triggered string    // "schedule", "forced", "startup": for the logs
}

// merge combines the arguments of triggers coalesced into one run.
func (a runArg) merge(b runArg) runArg {
	a.forced = a.forced || b.forced
	a.manual = a.manual || b.manual
	if a.actor == "" {
		a.actor = b.actor
	}
	if a.triggered == "" {
		a.triggered = b.triggered
	}
	if b.deadline.IsZero() || (!a.deadline.IsZero() && b.deadline.After(a.deadline)) {
		a.deadline = b.deadline
	}
	return a
}

// run is one execution of a job, shared by every caller that coalesced into it.
type run[T any] struct {
	arg  runArg
	done chan struct{}
	val  T
	err  error
}

// job runs one kind of work at most once at a time in this process, and, when lock is
// set, at most once at a time among the replicas (store lock named after the job).
//
// A trigger arriving while a run is going either joins it (rerun false: the cab sync
// and the cleanup, whose running pass does what was asked) or is coalesced into one
// run that starts when the current one ends (rerun true: the download queue, where the
// running pass may have looked at the queue before the new request was queued).
type job[T any] struct {
	r     *Runner
	name  string
	lock  bool
	rerun bool
	fn    func(ctx context.Context, arg runArg) (T, error)

	mu        sync.Mutex
	cur, next *run[T]
	st        JobStatus
}

func newJob[T any](r *Runner, name string, lock, rerun bool, fn func(context.Context, runArg) (T, error)) *job[T] {
	return &job[T]{r: r, name: name, lock: lock, rerun: rerun, fn: fn, st: JobStatus{Name: name}}
}

// start starts a run, or joins or queues behind the running one, and returns the run
// the caller will get the result of. It fails with ErrBusy when another replica holds
// the job's lock and with ErrClosed when the runner stopped.
func (j *job[T]) start(ctx context.Context, arg runArg) (*run[T], error) {
	if j.r.life.Err() != nil {
		return nil, fmt.Errorf("%s: %w", j.name, ErrClosed)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cur != nil {
		if !j.rerun {
			return j.cur, nil
		}
		if j.next == nil {
			j.next = &run[T]{arg: arg, done: make(chan struct{})}
		} else {
			j.next.arg = j.next.arg.merge(arg)
		}
		return j.next, nil
	}
	ru := &run[T]{arg: arg, done: make(chan struct{})}
	release, err := j.acquire(ctx)
	if err != nil {
		j.st.Skipped++
		return nil, err
	}
	j.launch(ru, release)
	return ru, nil
}

// acquire takes the job's store lock (a no-op release when the job needs none).
func (j *job[T]) acquire(ctx context.Context) (func(context.Context) error, error) {
	if !j.lock {
		return func(context.Context) error { return nil }, nil
	}
	release, ok, err := j.r.st.TryLock(ctx, j.name)
	if err != nil {
		return nil, fmt.Errorf("%s: taking the job lock: %w (check the database connection)", j.name, err)
	}
	if !ok {
		return nil, &BusyError{Job: j.name}
	}
	return release, nil
}

// launch runs ru in its own goroutine under the runner's life. j.mu is held.
func (j *job[T]) launch(ru *run[T], release func(context.Context) error) {
	j.cur = ru
	j.st.Running = true
	j.st.LastStart = j.r.clock.Now()
	j.r.wg.Add(1)
	go func() {
		defer j.r.wg.Done()
		ru.val, ru.err = j.exec(ru.arg)
		rctx, cancel := j.r.releaseCtx()
		if err := release(rctx); err != nil {
			j.r.log.Warn("giving the job lock back failed (the database frees it when the connection ends)", "job", j.name, "err", err)
		}
		cancel()
		j.finish(ru)
	}()
}

// exec runs the job function, turning a panic-free failure into the run's error.
func (j *job[T]) exec(arg runArg) (T, error) {
	ctx, cancel := context.WithCancel(j.r.life)
	defer cancel()
	return j.fn(ctx, arg)
}

// finish records ru's end, wakes its callers and starts the queued run, if any.
func (j *job[T]) finish(ru *run[T]) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.st.Running = false
	j.st.LastEnd = j.r.clock.Now()
	j.st.Runs++
	j.st.LastError = ""
	if ru.err != nil {
		j.st.Errors++
		j.st.ConsecutiveFailures++
		j.st.LastError = ru.err.Error()
	} else {
		j.st.ConsecutiveFailures = 0
		j.st.LastSuccess = j.st.LastEnd
	}
	j.cur = nil
	close(ru.done)

	next := j.next
	j.next = nil
	if next == nil {
		return
	}
	if j.r.life.Err() != nil {
		next.err = fmt.Errorf("%s: %w", j.name, ErrClosed)
		close(next.done)
		return
	}
	release, err := j.acquire(j.r.life)
	if err != nil {
		j.st.Skipped++
		next.err = err
		close(next.done)
		return
	}
	j.launch(next, release)
}

// wait returns ru's result, or gives up waiting when ctx ends (the run goes on).
func (j *job[T]) wait(ctx context.Context, ru *run[T]) (T, error) {
	select {
	case <-ru.done:
		return ru.val, ru.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("%s: stopped waiting: %w (the job goes on in the background)", j.name, context.Cause(ctx))
	}
}

// do starts (or joins) a run and waits for it.
func (j *job[T]) do(ctx context.Context, arg runArg) (T, error) {
	ru, err := j.start(ctx, arg)
	if err != nil {
		var zero T
		return zero, err
	}
	return j.wait(ctx, ru)
}

func (j *job[T]) status() JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st
}

// BusyError says another server replica holds the job's lock: the job is running
// there. It matches ErrBusy with errors.Is; callers that do not import this package
// recognise it by its Busy method: errors.As(err, &b) with b interface{ Busy() bool }.
type BusyError struct{ Job string }

func (e *BusyError) Error() string {
	return e.Job + ": " + ErrBusy.Error() + " (its progress shows in the cab history or the download tasks)"
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// Busy marks the error as "the job is already running" (HTTP 409).
func (e *BusyError) Busy() bool { return true }

// isBusy reports whether err says another replica runs the job.
func isBusy(err error) bool { return errors.Is(err, ErrBusy) }
