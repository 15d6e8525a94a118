package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

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
	if c.scheduled {
		targets = a.planInstall(c, targets)
	}
	if len(targets) == 0 {
		return
	}
	if st.RebootRequired {
		c.errs = append(c.errs, fmt.Errorf("install of %d updates postponed: %w (restart the host; nothing is restarted automatically)", len(targets), wua.ErrRebootPending))
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
//
// Not wired yet: the periods the host was off (grace, catch-up of missed windows), the
// wake-up at Decision.Next (the job runs at install_scheduling), and reboots (reported
// only, nothing restarts by itself).
func (a *Agent) planInstall(c *cycle, targets []UpdateState) []UpdateState {
	if len(targets) == 0 {
		return nil
	}
	d, err := a.plan(c, targets)
	if err != nil {
		c.failWith(StatusError, fmt.Errorf("install schedule refused, nothing installed until it is fixed: %w", err))
		return nil
	}
	allowed := make(map[string]bool, len(d.Install))
	for _, u := range d.Install {
		allowed[u.ID] = true
	}
	var out []UpdateState
	for _, t := range targets {
		if allowed[t.key()] {
			out = append(out, t)
		}
	}
	if len(out) < len(targets) {
		a.log.Info("scheduled install: held by the maintenance schedule", slog.Int("installing", len(out)),
			slog.Int("held", len(targets)-len(out)), slog.String("why", d.String()))
	}
	return out
}

// plan asks the scheduler what to do now with updates.
func (a *Agent) plan(c *cycle, updates []UpdateState) (schedule.Decision, error) {
	pol, err := schedule.Compile(c.rules, a.cfg.WUA.InstallDelay)
	if err != nil {
		return schedule.Decision{}, err
	}
	scanned := scanIndex(c.st.Scan)
	pending := make([]schedule.Update, 0, len(updates))
	for _, t := range updates {
		u := schedule.Update{ID: t.key()}
		if s := scanned[t.key()]; s != nil {
			u.Classifications = s.Classifications()
			u.Approved = s.LastDeploymentChange
		}
		pending = append(pending, u)
	}
	now := a.clock.Now()
	return schedule.Plan(pol, schedule.State{Now: now, Location: now.Location(), Pending: pending, Off: c.st.Off,
		LastInstall: c.st.LastInstall, RebootRequired: c.st.RebootRequired}), nil
}

// noteSchedule keeps in the state what the maintenance schedule says about the
// updates waiting for install, for wapt-get waptwua-status.
func (a *Agent) noteSchedule(c *cycle) {
	c.st.Schedule, c.st.ScheduleNext = nil, time.Time{}
	if !a.managed() {
		return
	}
	var waiting []UpdateState
	for _, u := range c.st.Updates {
		if needsInstall(u.Status) {
			waiting = append(waiting, u)
		}
	}
	if len(waiting) == 0 {
		return
	}
	d, err := a.plan(c, waiting)
	if err != nil {
		c.st.Schedule = []string{"schedule refused: " + err.Error()}
		return
	}
	c.st.Schedule, c.st.ScheduleNext = d.Lines, d.Next
}
