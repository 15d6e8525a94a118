package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/schedule"
)

// Defaults of ServeOptions.
const (
	DefaultCommandWait  = 25 * time.Second
	DefaultBusyRetry    = 15 * time.Minute
	DefaultPollBackoff  = 5 * time.Second
	DefaultMaxBackoff   = 5 * time.Minute
	DefaultErrorRetry   = time.Hour
	commandResultTimout = 30 * time.Second
)

// Schedule says when the scheduled jobs are due (REFERENCE §3): download_scheduling
// (scan and download) and install_scheduling, never before postboot_delay after boot.
type Schedule struct {
	Download      time.Duration
	Install       time.Duration
	PostbootDelay time.Duration
	// Boot is when the host started; zero when unknown (no post-boot wait).
	Boot time.Time
}

// Next returns when a job of the given period, last run at last, is due: last+period,
// at once when it never ran, never before Boot+PostbootDelay. The zero time means never
// (period 0: not scheduled).
func (s Schedule) Next(period time.Duration, last, now time.Time) time.Time {
	if period <= 0 {
		return time.Time{}
	}
	due := now
	if !last.IsZero() {
		if last.After(now) { // the clock went back: count from now
			last = now
		}
		due = last.Add(period)
	}
	if !s.Boot.IsZero() {
		if earliest := s.Boot.Add(s.PostbootDelay); due.Before(earliest) {
			due = earliest
		}
	}
	return due
}

// ServeOptions tune Serve.
type ServeOptions struct {
	// Boot is the host's boot time, for postboot_delay (zero: unknown, no wait).
	Boot time.Time
	// CommandWait is the long-poll wait asked of the server (default 25s).
	CommandWait time.Duration
	// BusyRetry is the wait before retrying a job WUA was too busy for (default 15m).
	BusyRetry time.Duration
	// ErrorRetry is the wait before retrying a scheduled job that failed otherwise
	// (default 1h, at most its period).
	ErrorRetry time.Duration
	// PollBackoff is the first wait after a failed long-poll, doubled up to MaxBackoff.
	PollBackoff time.Duration
	MaxBackoff  time.Duration
	// OnCycle, when set, is called after every job with its kind and outcome (tests).
	OnCycle func(kind api.CommandKind, sum *Summary, err error)
}

// defaults replaces zero or negative durations by the defaults.
func (o *ServeOptions) defaults() {
	o.CommandWait = cmp.Or(max(o.CommandWait, 0), DefaultCommandWait)
	o.BusyRetry = cmp.Or(max(o.BusyRetry, 0), DefaultBusyRetry)
	o.ErrorRetry = cmp.Or(max(o.ErrorRetry, 0), DefaultErrorRetry)
	o.PollBackoff = cmp.Or(max(o.PollBackoff, 0), DefaultPollBackoff)
	o.MaxBackoff = cmp.Or(max(o.MaxBackoff, 0), DefaultMaxBackoff)
}

// Schedule returns the agent's schedule for a host booted at boot.
func (a *Agent) Schedule(boot time.Time) Schedule {
	return Schedule{
		Download:      a.cfg.WUA.DownloadScheduling,
		Install:       a.cfg.WUA.InstallScheduling,
		PostbootDelay: a.cfg.WUA.PostbootDelay,
		Boot:          boot,
	}
}

// managed reports whether WAPTWUA manages updates ([waptwua] enabled = True). Without
// it the scheduled jobs only scan and report ("absent: change nothing, scan only").
func (a *Agent) managed() bool { return a.cfg.WUA.Enabled != nil && *a.cfg.WUA.Enabled }

// Serve runs the agent as a service until ctx ends: it applies [waptwua] enabled to
// Windows' policies, runs the scheduled jobs, and runs the commands the server pushes
// (long-poll), posting their results. Jobs run one at a time. It returns nil when ctx
// ends.
func (a *Agent) Serve(ctx context.Context, o ServeOptions) error {
	o.defaults()
	if err := a.policy.Apply(a.cfg.WUA.Enabled); err != nil {
		a.log.Error("Windows Update policies", slog.Any("err", err))
	}
	sched := a.Schedule(o.Boot)
	cmds := make(chan api.Command, 16)
	if a.client.Registered() {
		go a.pollCommands(ctx, cmds, o)
	} else {
		a.log.Warn("not registered: no commands from the server (run wapt-get register)")
	}
	a.log.Info("service started", slog.Duration("download_scheduling", sched.Download),
		slog.Duration("install_scheduling", sched.Install), slog.Duration("postboot_delay", sched.PostbootDelay),
		slog.Bool("managed", a.managed()))

	// retry holds the earlier-than-scheduled retries of jobs that failed, by kind.
	retry := retries{}
	a.noteAlive() // a gap since the last heartbeat was a period off
	for {
		st, err := LoadState(a.dataDir)
		if err != nil {
			return err
		}
		now := a.clock.Now()
		if !st.LastAlive.IsZero() && !now.Before(st.LastAlive.Add(Heartbeat)) {
			a.noteAlive()
			continue
		}
		dueDownload, dueInstall := a.due(sched, st, now)
		var timer <-chan time.Time
		if next := earliest(dueDownload, dueInstall, retry.next(), st.LastAlive.Add(Heartbeat)); !next.IsZero() {
			timer = a.clock.After(next.Sub(now))
		}
		select {
		case <-ctx.Done():
			a.log.Info("service stopped")
			return nil
		case cmd := <-cmds:
			a.runCommand(ctx, cmd, retry, o)
		case <-timer:
			now = a.clock.Now()
			for _, kind := range []api.CommandKind{api.CommandScan, api.CommandDownload, api.CommandInstall} {
				if r, ok := retry[kind]; ok && !now.Before(r.at) && ctx.Err() == nil {
					delete(retry, kind)
					r.run()
				}
			}
			if !dueDownload.IsZero() && !now.Before(dueDownload) && ctx.Err() == nil {
				a.scheduledDownload(ctx, retry, o)
			}
			if !dueInstall.IsZero() && !now.Before(dueInstall) && ctx.Err() == nil {
				a.scheduledInstall(ctx, retry, o)
			}
		}
	}
}

// due returns when the download and install jobs are due (zero: never). A maintenance
// window opening (or another change of the schedule's decision: end of a pause, a
// reboot countdown) before the next install job wakes the job up then.
func (a *Agent) due(sched Schedule, st *State, now time.Time) (download, install time.Time) {
	download = sched.Next(sched.Download, st.LastDownloadRun, now)
	install = sched.Next(sched.Install, st.LastInstallRun, now)
	if !install.IsZero() && a.managed() && st.ScheduleNext.After(st.LastInstallRun) {
		install = earliest(install, st.ScheduleNext)
	}
	return download, install
}

// Heartbeat is how often the service notes that it runs: a longer gap (twice this) is
// a period off for the schedule (grace after a deadline, catch-up of missed windows).
const Heartbeat = 15 * time.Minute

// offKeep is how long off periods are remembered.
const offKeep = 60 * 24 * time.Hour

// noteAlive records the heartbeat, and the period off when the last one is too old.
func (a *Agent) noteAlive() {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := LoadState(a.dataDir)
	if err != nil {
		a.log.Warn("record the heartbeat", slog.Any("err", err))
		return
	}
	now := a.clock.Now()
	st.Off = schedule.NoteRun(st.Off, st.LastAlive, now, 2*Heartbeat, offKeep)
	st.LastAlive = now
	if err := saveState(a.dataDir, st); err != nil {
		a.log.Warn("record the heartbeat", slog.Any("err", err))
	}
}

// retries are the planned early runs of jobs that failed.
type retries map[api.CommandKind]retryJob

type retryJob struct {
	at  time.Time
	run func()
}

func (r retries) next() time.Time {
	var out time.Time
	for _, j := range r {
		out = earliest(out, j.at)
	}
	return out
}

func earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}

// scheduledDownload is the download_scheduling job: scan (when something changed) and,
// when WAPTWUA manages updates, download.
func (a *Agent) scheduledDownload(ctx context.Context, retry retries, o ServeOptions) {
	var sum *Summary
	var err error
	if a.managed() {
		sum, err = a.Download(ctx, false)
	} else {
		sum, err = a.Scan(ctx, false)
	}
	a.markRun(func(st *State) { st.LastDownloadRun = a.clock.Now() })
	a.afterJob(api.CommandDownload, sum, err, retry, o, a.cfg.WUA.DownloadScheduling,
		func() { a.scheduledDownload(ctx, retry, o) })
}

// scheduledInstall is the install_scheduling job: nothing unless WAPTWUA manages
// updates and some update waits for install.
func (a *Agent) scheduledInstall(ctx context.Context, retry retries, o ServeOptions) {
	a.markRun(func(st *State) { st.LastInstallRun = a.clock.Now() })
	if !a.managed() {
		return
	}
	if !a.hasPending() && !a.rebootRequired() {
		a.log.Info("scheduled install: nothing pending")
		return
	}
	sum, err := a.runCycle(ctx, opInstall, false, true)
	a.afterJob(api.CommandInstall, sum, err, retry, o, a.cfg.WUA.InstallScheduling,
		func() { a.scheduledInstall(ctx, retry, o) })
}

// hasPending reports whether the last cycle left updates to install.
func (a *Agent) hasPending() bool {
	st, err := LoadState(a.dataDir)
	if err != nil {
		return false
	}
	for _, u := range st.Updates {
		if needsInstall(u.Status) {
			return true
		}
	}
	return false
}

// rebootRequired reports whether the last cycle left a reboot to do (the install job
// applies the reboot policy).
func (a *Agent) rebootRequired() bool {
	st, err := LoadState(a.dataDir)
	return err == nil && st.RebootRequired
}

func (a *Agent) markRun(f func(*State)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := LoadState(a.dataDir)
	if err != nil {
		a.log.Warn("record the job run", slog.Any("err", err))
		return
	}
	f(st)
	if err := saveState(a.dataDir, st); err != nil {
		a.log.Warn("record the job run", slog.Any("err", err))
	}
}

// afterJob logs the outcome and plans an early retry when WUA was busy or the job
// failed.
func (a *Agent) afterJob(kind api.CommandKind, sum *Summary, err error, retry retries, o ServeOptions, period time.Duration, again func()) {
	if o.OnCycle != nil {
		defer o.OnCycle(kind, sum, err) // once the retry is planned
	}
	line := ""
	if sum != nil {
		line = sum.Line()
	}
	if err == nil {
		a.log.Info("job done", slog.String("job", string(kind)), slog.String("summary", line))
		return
	}
	wait := o.ErrorRetry
	if sum != nil && sum.Busy {
		wait = o.BusyRetry
	}
	if period > 0 && wait > period {
		return // the next scheduled run comes first
	}
	retry[kind] = retryJob{at: a.clock.Now().Add(wait), run: again}
	a.log.Warn("job failed", slog.String("job", string(kind)), slog.String("summary", line),
		slog.Any("err", err), slog.Time("retry_at", retry[kind].at))
}

// runCommand runs one command pushed by the server and posts its result. When WUA was
// busy, the command's work is retried after BusyRetry.
func (a *Agent) runCommand(ctx context.Context, cmd api.Command, retry retries, o ServeOptions) {
	if done, ok := a.commandRun(cmd.ID); ok {
		// Delivered again (our result was lost, or not acknowledged yet): not run twice,
		// the result is posted again.
		a.log.Info("command already run: result posted again", slog.String("id", cmd.ID), slog.String("kind", string(cmd.Kind)))
		a.postResult(ctx, cmd.ID, done.Result)
		return
	}
	a.log.Info("command received", slog.String("id", cmd.ID), slog.String("kind", string(cmd.Kind)))
	sum, err := a.runOp(ctx, cmd.Kind)
	if o.OnCycle != nil {
		defer o.OnCycle(cmd.Kind, sum, err)
	}
	res := api.CommandResult{OK: err == nil}
	switch {
	case err != nil && sum != nil:
		res.Message = sum.Line() + ": " + err.Error()
		if sum.Busy {
			a.retryWhenBusy(ctx, cmd.Kind, retry, o)
			res.Message += fmt.Sprintf(" (retried at %s)", retry[cmd.Kind].at.Format(time.RFC3339))
		}
	case err != nil:
		res.Message = err.Error()
	default:
		res.Message = sum.Line()
	}
	if ctx.Err() != nil {
		return
	}
	// Recorded before posting: a crash after the post cannot run it twice.
	if rerr := a.recordCommand(cmd, res); rerr != nil {
		a.log.Warn("command not recorded: it may run again if delivered again", slog.String("id", cmd.ID), slog.Any("err", rerr))
	}
	a.postResult(ctx, cmd.ID, res)
}

// postResult posts (acknowledges) a command's result.
func (a *Agent) postResult(ctx context.Context, id string, res api.CommandResult) {
	rctx, cancel := context.WithTimeout(ctx, commandResultTimout)
	defer cancel()
	if perr := a.client.CommandResult(rctx, id, res); perr != nil {
		a.log.Warn("command result not posted", slog.String("id", id), slog.Any("err", perr))
	}
}

// commandRun finds a command already run in the state.
func (a *Agent) commandRun(id string) (CommandRecord, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := LoadState(a.dataDir)
	if err != nil || id == "" {
		return CommandRecord{}, false
	}
	for _, c := range st.Commands {
		if c.ID == id {
			return c, true
		}
	}
	return CommandRecord{}, false
}

// recordCommand keeps a command run and its result, the last MaxCommandRecords only.
func (a *Agent) recordCommand(cmd api.Command, res api.CommandResult) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := LoadState(a.dataDir)
	if err != nil {
		return err
	}
	st.Commands = append(st.Commands, CommandRecord{ID: cmd.ID, Kind: cmd.Kind, At: a.clock.Now().UTC(), Result: res})
	if n := len(st.Commands) - MaxCommandRecords; n > 0 {
		st.Commands = append([]CommandRecord(nil), st.Commands[n:]...)
	}
	return saveState(a.dataDir, st)
}

// runOp runs the work of a command kind.
func (a *Agent) runOp(ctx context.Context, kind api.CommandKind) (*Summary, error) {
	switch kind {
	case api.CommandScan:
		return a.Scan(ctx, true)
	case api.CommandDownload:
		return a.Download(ctx, false)
	case api.CommandInstall:
		return a.Install(ctx)
	}
	return nil, fmt.Errorf("unknown command %q (this agent knows scan, download and install: upgrade it)", kind)
}

// retryWhenBusy plans the work of a command again after BusyRetry, and again while WUA
// stays busy.
func (a *Agent) retryWhenBusy(ctx context.Context, kind api.CommandKind, retry retries, o ServeOptions) {
	retry[kind] = retryJob{at: a.clock.Now().Add(o.BusyRetry), run: func() {
		sum, err := a.runOp(ctx, kind)
		if o.OnCycle != nil {
			defer o.OnCycle(kind, sum, err)
		}
		if err != nil && sum != nil && sum.Busy {
			a.retryWhenBusy(ctx, kind, retry, o)
		}
	}}
	a.log.Warn("Windows Update Agent busy: retried later", slog.String("job", string(kind)), slog.Time("retry_at", retry[kind].at))
}

// pollCommands long-polls the server and hands commands to Serve, backing off after
// failures.
func (a *Agent) pollCommands(ctx context.Context, out chan<- api.Command, o ServeOptions) {
	backoff := o.PollBackoff
	for ctx.Err() == nil {
		cmds, err := a.client.Commands(ctx, o.CommandWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrUnauthorized) {
				backoff = o.MaxBackoff
			}
			a.log.Warn("command poll failed", slog.Any("err", err), slog.Duration("retry_in", backoff))
			select {
			case <-ctx.Done():
				return
			case <-a.clock.After(backoff):
			}
			backoff = min(backoff*2, o.MaxBackoff)
			continue
		}
		backoff = o.PollBackoff
		for _, c := range cmds {
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Shutdown is called when the machine shuts down (the Windows service's pre-shutdown
// notification): with install_at_shutdown (the ini's, or the rules' key), and when
// WAPTWUA manages updates, it installs the pending updates the schedule does not hold
// (schedule.AtShutdown: windows do not apply). The logged-on user may skip it this
// time unless waptexit_disable_skip_windows_updates. It returns nil, nil when there
// was nothing to do.
func (a *Agent) Shutdown(ctx context.Context) (*Summary, error) {
	if !a.managed() {
		return nil, nil
	}
	if st, err := LoadState(a.dataDir); err != nil || (!a.cfg.WUA.InstallAtShutdown && !st.AtShutdown) {
		return nil, nil
	}
	if !a.hasPending() {
		a.log.Info("shutdown: nothing to install")
		return nil, nil
	}
	a.log.Info("shutdown: installing pending updates (install_at_shutdown)")
	return a.runCycleAs(ctx, &cycle{op: opInstall, shutdown: true}, false)
}
