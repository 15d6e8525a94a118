package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/schedule"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// install installs every allowed, needed update whose files are local, in one WUA
// batch: CopyToCache for each bundled update, then Install. Per-update failures become
// ERROR with the WUA error in words (retried by the next install); successes OK. WUA
// busy and a pending restart postpone the install without marking the updates.
func (a *Agent) install(ctx context.Context, c *cycle) {
	st := c.st
	targets := installTargets(st)
	switch {
	case c.shutdown:
		targets = a.planShutdown(ctx, c, targets)
	case c.scheduled:
		targets = a.planInstall(c, targets)
	}
	if len(targets) == 0 {
		return
	}
	if st.RebootRequired {
		c.errs = append(c.errs, fmt.Errorf("install of %d updates postponed: %w (the reboot policy restarts the host, or restart it yourself)", len(targets), wua.ErrRebootPending))
		return
	}
	if err := a.checkSpace(a.systemDrive, "install"); err != nil {
		a.log.Warn("install refused", slog.Any("err", err))
		c.failWith(StatusDiskSpaceError, err)
		return
	}
	if a.liveScanKey != st.ScanKey {
		// The WUA backend acts only on updates of its own last scan.
		if c.scanFailed || !a.scan(ctx, c, c.rules, st.ScanKey) {
			return
		}
		a.decide(ctx, c, c.rules)
		if targets = installTargets(st); len(targets) == 0 {
			return
		}
	}
	if err := a.prepare(ctx, c); err != nil {
		c.failWith(StatusError, fmt.Errorf("install: %w", err))
		return
	}

	// Tell the server an install is running (best effort).
	st.Status = StatusInstall
	if err := a.report(ctx, c); err != nil {
		a.log.Warn("report before install", slog.Any("err", err))
	}

	scanned := scanIndex(st.Scan)
	now := a.clock.Now()
	if st.InstallErrors == nil {
		st.InstallErrors = map[string]string{}
	}
	if st.InstalledAt == nil {
		st.InstalledAt = map[string]time.Time{}
	}
	var keys []wu.UpdateKey
	for _, s := range targets {
		u := scanned[s.key()]
		if u == nil {
			continue
		}
		if err := a.copyToCache(ctx, u, s.Files); err != nil {
			if errors.Is(err, wua.ErrBusy) {
				c.failWith("", fmt.Errorf("install: %w (%w); retried later", wua.ErrBusy, err))
				return
			}
			st.InstallErrors[s.key()] = err.Error()
			continue
		}
		keys = append(keys, u.Key)
	}
	changed := false
	if len(keys) > 0 {
		a.log.Info("installing", slog.Int("updates", len(keys)))
		res, err := a.wua.Install(ctx, keys)
		switch {
		case errors.Is(err, wua.ErrBusy):
			c.failWith("", fmt.Errorf("install: %w (%w); retried later", wua.ErrBusy, err))
		case errors.Is(err, wua.ErrRebootPending):
			st.RebootRequired = true
			c.errs = append(c.errs, fmt.Errorf("install: %w (restart the host; nothing is restarted automatically)", err))
		case err != nil:
			for _, k := range keys {
				st.InstallErrors[k.String()] = err.Error()
			}
			changed = true
		default:
			changed = true
			results := map[wu.UpdateKey]wua.UpdateResult{}
			for _, r := range res.Updates {
				results[r.Key] = r
			}
			for _, k := range keys {
				r, ok := results[k]
				if !ok {
					st.InstallErrors[k.String()] = fmt.Sprintf("install %s: no result from Windows Update (%s, %s)", k, res.ResultCode, res.HResult)
					continue
				}
				if rerr := r.Err(); rerr != nil {
					st.InstallErrors[k.String()] = rerr.Error()
					continue
				}
				delete(st.InstallErrors, k.String())
				st.InstalledAt[k.String()] = now
				scanned[k.String()].Installed = true
				if r.RebootRequired {
					st.RebootRequired = true
					st.Reboot.Awaiting = append(st.Reboot.Awaiting, scheduleUpdate(k.String(), scanned[k.String()]))
				}
			}
			if res.RebootRequired {
				st.RebootRequired = true
			}
		}
	}
	if changed || len(keys) < len(targets) {
		// The install history changed: the next cycle scans again.
		st.LastInstall = a.clock.Now()
		a.decide(ctx, c, c.rules)
		var failed int
		for _, s := range st.Updates {
			if s.Status == wu.StatusError {
				failed++
			}
		}
		if failed > 0 {
			c.failWith(StatusError, fmt.Errorf("%d updates failed to install (see each update's error)", failed))
		}
	}
}

// installTargets are the updates the install acts on: allowed, needed, files local.
func installTargets(st *State) []UpdateState {
	var out []UpdateState
	for _, s := range st.Updates {
		if (s.Status == wu.StatusPending || s.Status == wu.StatusError) && s.Local {
			out = append(out, s)
		}
	}
	return out
}

// copyToCache hands the local files of u to WUA, bundled update by bundled update.
func (a *Agent) copyToCache(ctx context.Context, u *wua.Update, names []string) error {
	if len(names) == 0 {
		return nil
	}
	paths := make([]string, 0, len(names))
	for _, n := range names {
		paths = append(paths, filepath.Join(a.cacheDir(), n))
	}
	assigned, err := wua.AssignFiles(u, u.Key, paths)
	if err != nil {
		return err
	}
	for _, as := range assigned {
		if len(as.Files) == 0 {
			continue
		}
		if err := a.wua.CopyToCache(ctx, as.Key, as.Files); err != nil {
			return fmt.Errorf("copy to the Windows Update cache: %w", err)
		}
	}
	return nil
}

// planInstall keeps the targets the maintenance schedule of the merged rules lets the
// service's install job install now (internal/schedule: windows, pauses, delay,
// deadlines). Without windows everything installs, as before. A schedule the rules
// make invalid installs nothing and is reported, naming the key. Commands and
// wapt-get waptwua-install are not gated: an administrator asked for them.
// Each decision is an event of the state (EventInstall, EventHeld).
func (a *Agent) planInstall(c *cycle, targets []UpdateState) []UpdateState {
	if len(targets) == 0 {
		return nil
	}
	d, ok := a.plan(c, targets)
	if !ok {
		return nil
	}
	if len(d.Install) > 0 {
		a.event(c.st, EventInstall, fmt.Sprintf("%d updates: %s", len(d.Install), d.InstallWhy))
	} else if line := holdLine(d); line != "" {
		if last := lastEvent(c.st); last == nil || last.Kind != EventHeld || last.Text != line {
			a.event(c.st, EventHeld, line)
		}
	}
	out := keepScheduled(targets, d.Install)
	if len(out) < len(targets) {
		a.log.Info("scheduled install: held by the maintenance schedule", slog.Int("installing", len(out)),
			slog.Int("held", len(targets)-len(out)), slog.String("why", d.String()))
	}
	return out
}

// keepScheduled keeps the targets the scheduler lets install.
func keepScheduled(targets []UpdateState, install []schedule.Update) []UpdateState {
	allowed := make(map[string]bool, len(install))
	for _, u := range install {
		allowed[u.ID] = true
	}
	var out []UpdateState
	for _, t := range targets {
		if allowed[t.key()] {
			out = append(out, t)
		}
	}
	return out
}

// plan asks the scheduler what to do now with updates.
// ok is false when no valid policy is in force (the refusal is a problem of the cycle).
func (a *Agent) plan(c *cycle, updates []UpdateState) (d schedule.Decision, ok bool) {
	pol, ok := a.schedulePolicy(c)
	if !ok {
		return schedule.Decision{}, false
	}
	return schedule.Plan(pol, a.scheduleState(c, a.scheduleUpdates(c, updates))), true
}

// scheduleUpdates are updates as the scheduler sees them.
func (a *Agent) scheduleUpdates(c *cycle, updates []UpdateState) []schedule.Update {
	scanned := scanIndex(c.st.Scan)
	out := make([]schedule.Update, 0, len(updates))
	for _, t := range updates {
		out = append(out, scheduleUpdate(t.key(), scanned[t.key()]))
	}
	return out
}

func scheduleUpdate(key string, s *wua.Update) schedule.Update {
	u := schedule.Update{ID: key}
	if s != nil {
		u.Classifications = s.Classifications()
		u.Approved = s.LastDeploymentChange
	}
	return u
}

// holdLine is the decision's line saying why nothing installs now ("" when none),
// with the first hold's reason.
func holdLine(d schedule.Decision) string {
	out := ""
	for _, l := range d.Lines {
		if strings.HasPrefix(l, "nothing installs now") {
			out = l
			if len(d.Held) > 0 {
				h := d.Held[0]
				out += fmt.Sprintf(" (%s until %s: %s)", h.Update.ID, h.Until.Format("2006-01-02 15:04 MST"), h.Why)
			}
		}
	}
	for _, l := range d.Lines {
		if out != "" && (strings.HasPrefix(l, "missed window") || strings.HasPrefix(l, "next deadline")) {
			out += "; " + l
		}
	}
	return out
}

// planShutdown keeps the targets schedule.AtShutdown installs when the host shuts
// down; when the policy lets the user skip (unless
// waptexit_disable_skip_windows_updates), the logged-on user is asked.
func (a *Agent) planShutdown(ctx context.Context, c *cycle, targets []UpdateState) []UpdateState {
	if len(targets) == 0 {
		return nil
	}
	pol, ok := a.schedulePolicy(c)
	if !ok {
		return nil
	}
	pol.InstallAtShutdown = a.atShutdown(c)
	d := schedule.AtShutdown(pol, a.scheduleState(c, a.scheduleUpdates(c, targets)))
	if len(d.Install) == 0 {
		a.log.Info("shutdown: nothing installs", slog.String("why", d.Why))
		return nil
	}
	if d.UserMaySkip && a.loggedOn(ctx) {
		text := fmt.Sprintf("%d Windows updates will be installed before this computer shuts down.\n\nInstall them now? Answer No to skip this time.", len(d.Install))
		if answered, declined := a.notify(ctx, "Windows updates", text, ShutdownAskTimeout, true); answered && declined {
			a.event(c.st, EventShutdownSkip, fmt.Sprintf("the user skipped the install of %d updates at shutdown", len(d.Install)))
			return nil
		}
	}
	a.event(c.st, EventShutdown, d.Why)
	out := keepScheduled(targets, d.Install)
	return out
}

// atShutdown says whether updates install at shutdown: the merged rules'
// install_at_shutdown when a package sets it, else the ini's.
func (a *Agent) atShutdown(c *cycle) bool {
	if c.rules.InstallAtShutdown != nil {
		return *c.rules.InstallAtShutdown
	}
	return a.cfg.WUA.InstallAtShutdown
}

// noteSchedule keeps in the state what the maintenance schedule says about the
// updates waiting for install, for wapt-get waptwua-status.
func (a *Agent) noteSchedule(c *cycle) {
	c.st.Schedule, c.st.ScheduleNext, c.st.Sched = nil, time.Time{}, api.ScheduleReport{}
	if !a.managed() {
		return
	}
	c.st.AtShutdown = a.atShutdown(c)
	var waiting []UpdateState
	for _, u := range c.st.Updates {
		if needsInstall(u.Status) {
			waiting = append(waiting, u)
		}
	}
	if len(waiting) == 0 && !c.st.RebootRequired {
		// Nothing waits: the report still tells the next window and a refused policy.
		if d, ok := a.plan(c, nil); ok {
			c.st.Sched = scheduleInfo(c.st, &d, c.polErr)
		} else {
			c.st.Sched = scheduleInfo(c.st, nil, c.polErr)
		}
		return
	}
	d, ok := a.plan(c, waiting)
	if !ok {
		c.st.Schedule = []string{c.polErr.Error()}
		c.st.Sched = scheduleInfo(c.st, nil, c.polErr)
		return
	}
	c.st.Sched = scheduleInfo(c.st, &d, c.polErr)
	c.st.Schedule, c.st.ScheduleNext = d.Lines, earliest(d.Next, c.st.Reboot.At)
	if c.polErr != nil {
		c.st.Schedule = append([]string{c.polErr.Error()}, c.st.Schedule...)
	}
	if !c.st.Reboot.At.IsZero() {
		c.st.Schedule = append(c.st.Schedule, "restart announced for "+c.st.Reboot.At.Format("Mon 2006-01-02 15:04 MST"))
	}
}
