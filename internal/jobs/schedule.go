package jobs

import (
	"context"
	"time"
)

// maxNap bounds one wait of a schedule loop, so that a wall-clock change (NTP step, a
// suspended virtual machine) delays a run by at most that much.
const maxNap = 10 * time.Minute

// sleepUntil waits until the clock reaches t. It returns false when ctx ended first.
func (r *Runner) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(r.clock.Now())
		if d <= 0 {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-r.clock.After(min(d, maxNap)):
		}
	}
}

// midnight returns the start of t's day in t's location.
func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// fire runs a scheduled job and waits for it, so that a schedule never overlaps itself.
func fire[T any](ctx context.Context, r *Runner, j *job[T], arg runArg) {
	_, err := j.do(ctx, arg)
	switch {
	case err == nil, ctx.Err() != nil:
	case isBusy(err):
		r.log.Debug("scheduled job skipped: another replica runs it", "job", j.name)
	default:
		r.log.Error("scheduled job failed", "job", j.name, "err", err)
	}
}

// cabLoop syncs the catalog once a day at cab_sync_time plus a random delay of up to
// cab_sync_jitter (drawn each day, so that replicas and servers worldwide do not all
// ask Microsoft at the same second).
func (r *Runner) cabLoop(ctx context.Context) {
	day := midnight(r.clock.Now())
	for ctx.Err() == nil {
		base := r.set.CabSyncTime.On(day)
		at := base.Add(time.Duration(r.rand() * float64(r.set.CabSyncJitter)))
		day = day.AddDate(0, 0, 1)
		if !at.After(r.clock.Now()) {
			continue // today's time has passed: tomorrow
		}
		r.log.Debug("next cab sync", "at", at)
		if !r.sleepUntil(ctx, at) {
			return
		}
		fire(ctx, r, r.cab, runArg{slot: base, triggered: "schedule"})
	}
}

// missingLoop runs the missing-files job at start, then every missing_files_interval.
// Ticks missed while a long run was going are skipped, not caught up.
func (r *Runner) missingLoop(ctx context.Context) {
	next := r.clock.Now()
	for ctx.Err() == nil {
		if !r.sleepUntil(ctx, next) {
			return
		}
		fire(ctx, r, r.missing, runArg{slot: next, triggered: "schedule"})
		now := r.clock.Now()
		for !next.After(now) {
			next = next.Add(r.set.MissingFilesInterval)
		}
	}
}

// cleanupLoop runs the nightly cleanup once per cleanup_window: at its start, or at once
// when the server starts inside it. The run stops deleting when the window ends.
func (r *Runner) cleanupLoop(ctx context.Context) {
	w := r.set.CleanupWindow
	// Start from yesterday: a window wrapping midnight may still be open today.
	day := midnight(r.clock.Now()).AddDate(0, 0, -1)
	for ctx.Err() == nil {
		start, end := w.Start.On(day), w.End.On(day)
		if !end.After(start) {
			end = w.End.On(day.AddDate(0, 0, 1))
		}
		day = day.AddDate(0, 0, 1)
		now := r.clock.Now()
		if !end.After(now) {
			continue
		}
		at := start
		if now.After(at) {
			at = now
		}
		r.log.Debug("next nightly cleanup", "at", at)
		if !r.sleepUntil(ctx, at) {
			return
		}
		fire(ctx, r, r.clean, runArg{slot: start, deadline: end, actor: "system", triggered: "schedule"})
	}
}
