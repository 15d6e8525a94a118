package schedule

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// simHost is a host driven by Plan on an injected clock, as the agent's service loop
// would drive it: a tick every 30 minutes while it is on.
type simHost struct {
	t       *testing.T
	p       Policy
	loc     *time.Location
	offline []Interval // when the machine is off
	// the user's answer to a reboot question: postpone while they may.
	alwaysPostpone bool

	updates   []Update
	installed map[string]time.Time
	why       map[string]string
	reboots   []time.Time
	rebootAt  time.Time // a forced reboot planned for then

	off            []Interval
	lastTick       time.Time
	lastInstall    time.Time
	rebootRequired bool
	rebootSince    time.Time
	awaiting       []Update
	postponed      int
	lastPostpone   time.Time
	log            []string
}

const tick = 30 * time.Minute

func (h *simHost) run(from, to time.Time) {
	h.installed, h.why = map[string]time.Time{}, map[string]string{}
	for now := from; now.Before(to); now = now.Add(tick) {
		if h.isOff(now) {
			continue
		}
		h.off = NoteRun(h.off, h.lastTick, now, 2*tick, 60*day)
		h.lastTick = now
		if !h.rebootAt.IsZero() && !now.Before(h.rebootAt) {
			h.reboot(h.rebootAt)
		}
		var pending []Update
		for _, u := range h.updates {
			if _, done := h.installed[u.ID]; !done && !u.Approved.After(now) {
				pending = append(pending, u)
			}
		}
		d := Plan(h.p, State{Now: now, Location: h.loc, Pending: pending, Off: h.off, LastInstall: h.lastInstall,
			RebootRequired: h.rebootRequired, RebootSince: h.rebootSince, AwaitingReboot: h.awaiting,
			UserLoggedOn: h.alwaysPostpone, Postponed: h.postponed, LastPostpone: h.lastPostpone})
		for _, u := range d.Install {
			h.installed[u.ID], h.why[u.ID] = now, d.InstallWhy
			h.log = append(h.log, fmt.Sprintf("%s install %s: %s", stamp(now), u.ID, d.InstallWhy))
			if !h.rebootRequired {
				h.rebootRequired, h.rebootSince = true, now
			}
			h.awaiting = append(h.awaiting, u)
		}
		if len(d.Install) > 0 {
			h.lastInstall = now
		}
		switch d.Reboot.Kind {
		case RebootForced:
			if h.rebootAt.IsZero() {
				h.rebootAt = d.Reboot.At
				h.log = append(h.log, fmt.Sprintf("%s countdown to %s: %s", stamp(now), stamp(d.Reboot.At), d.Reboot.Why))
			}
		case RebootAsk:
			if h.alwaysPostpone && d.Reboot.MayPost {
				h.postponed++
				h.lastPostpone = now
				h.log = append(h.log, fmt.Sprintf("%s user postpones (%d)", stamp(now), h.postponed))
			}
		}
	}
}

func (h *simHost) reboot(at time.Time) {
	h.reboots = append(h.reboots, at)
	h.log = append(h.log, fmt.Sprintf("%s reboot", stamp(at)))
	h.rebootRequired, h.rebootSince, h.awaiting, h.rebootAt, h.postponed, h.lastPostpone = false, time.Time{}, nil, time.Time{}, 0, time.Time{}
}

func (h *simHost) isOff(t time.Time) bool {
	for _, o := range h.offline {
		if !t.Before(o.Start) && t.Before(o.End) {
			return true
		}
	}
	return false
}

func (h *simHost) inWindow(t time.Time, reboot bool) bool {
	for _, o := range Calendar(h.p, t.AddDate(0, 0, -2), 4, h.loc) {
		if o.contains(t) && (!reboot || o.Window.Reboot) {
			return true
		}
	}
	return false
}

func (h *simHost) inActiveHours(t time.Time) bool {
	_, busy := activeUntil(h.p, t, h.loc)
	return busy
}

func (h *simHost) dump() string { return strings.Join(h.log, "\n") }

// Forty-five simulated days (March 1 to April 15 2026, across the Paris spring DST change).
func TestSimulated45Days(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	from, to := at(paris, "2026-03-01 00:00"), at(paris, "2026-04-15 00:00")
	kbA := upd("KB-A", at(paris, "2026-03-10 19:00"), "Security Updates") // Patch Tuesday evening
	kbB := upd("KB-B", at(paris, "2026-03-18 09:00"), "Security Updates") // approved while the host is off
	kbC := upd("KB-C", at(paris, "2026-03-27 12:00"), "Feature Packs")
	kbD := upd("KB-D", at(paris, "2026-04-14 19:00"), "Security Updates")
	all := []Update{kbA, kbB, kbC, kbD}

	t.Run("windows, a week off, grace, reboots in reboot windows", func(t *testing.T) {
		p := policy(t, `{"maintenance_windows": [{"when": "Tue,Thu 22:00-04:00", "reboot": true}, "Sun 01:00-04:00"],
			"deadline_days": 7, "grace_days": 3, "reboot": "in_window"}`, 0)
		h := &simHost{t: t, p: p, loc: paris, updates: all,
			offline: []Interval{{Start: at(paris, "2026-03-18 08:00"), End: at(paris, "2026-03-26 08:00")}}}
		h.run(from, to)
		for _, u := range all {
			when, ok := h.installed[u.ID]
			if !ok {
				t.Errorf("%s never installed\n%s", u.ID, h.dump())
				continue
			}
			if !h.inWindow(when, false) {
				t.Errorf("%s installed at %s, outside the windows (%s)", u.ID, stamp(when), h.why[u.ID])
			}
		}
		// KB-B's deadline (March 25 09:00) fell while the host was off; it is back on the
		// 26th at 08:00, so grace runs to the 29th 08:00: it installed in the Thursday
		// window of the 26th, within grace.
		if got := h.installed["KB-B"]; !got.Equal(at(paris, "2026-03-26 22:00")) {
			t.Errorf("KB-B installed at %s, want Thu 2026-03-26 22:00\n%s", stamp(got), h.dump())
		}
		// Sunday March 29, 01:00-04:00 lasts two hours (DST): KB-C, approved Friday, installs then.
		if got := h.installed["KB-C"]; !got.Equal(at(paris, "2026-03-29 01:00")) {
			t.Errorf("KB-C installed at %s, want Sun 2026-03-29 01:00 (the short DST window)\n%s", stamp(got), h.dump())
		}
		for _, r := range h.reboots {
			if !h.inWindow(r, true) {
				t.Errorf("reboot at %s outside a reboot window\n%s", stamp(r), h.dump())
			}
		}
		if len(h.reboots) == 0 {
			t.Errorf("never rebooted\n%s", h.dump())
		}
	})

	t.Run("a paused group installs nothing until the pause ends", func(t *testing.T) {
		p := policy(t, `{"maintenance_windows": ["Tue,Thu 22:00-04:00"], "deadline_days": 3,
			"pause_until": {"*": "2026-04-01"}, "reboot": "never"}`, 0)
		h := &simHost{t: t, p: p, loc: paris, updates: all}
		h.run(from, to)
		end := at(paris, "2026-04-02 00:00") // a Thursday, outside the windows
		for id, when := range h.installed {
			if when.Before(end) {
				t.Errorf("%s installed at %s, during the pause", id, stamp(when))
			}
		}
		// KB-A, B and C are past their deadline when the pause ends: they install at once,
		// outside any window; KB-D waits for a window.
		for _, id := range []string{"KB-A", "KB-B", "KB-C"} {
			if got := h.installed[id]; !got.Equal(end) || !strings.Contains(h.why[id], "past the deadline") {
				t.Errorf("%s installed at %s (%s), want at the end of the pause, past its deadline", id, stamp(got), h.why[id])
			}
		}
		if got := h.installed["KB-D"]; !h.inWindow(got, false) {
			t.Errorf("KB-D installed at %s outside windows", stamp(got))
		}
		if len(h.reboots) != 0 {
			t.Errorf("reboot = never rebooted: %v", h.reboots)
		}
	})

	t.Run("ask: postponed twice, then forced outside active hours", func(t *testing.T) {
		p := policy(t, `{"maintenance_windows": ["Tue 12:00-14:00"], "reboot": "ask", "max_postpone": 2,
			"active_hours": "Mon-Fri 08:00-18:00"}`, 0)
		h := &simHost{t: t, p: p, loc: paris, updates: []Update{kbA}, alwaysPostpone: true}
		h.run(from, to)
		if len(h.reboots) != 1 {
			t.Fatalf("reboots %v\n%s", h.reboots, h.dump())
		}
		r := h.reboots[0]
		if h.inActiveHours(r) {
			t.Errorf("forced reboot at %s during active hours\n%s", stamp(r), h.dump())
		}
		// Installed Tuesday March 17 12:00; asked, postponed at 12:00 and 13:00, then the
		// forced reboot waits for 18:00 and restarts after the countdown.
		if want := at(paris, "2026-03-17 18:15"); !r.Equal(want) {
			t.Errorf("reboot at %s, want %s\n%s", stamp(r), stamp(want), h.dump())
		}
	})

	t.Run("deadline reboot: never in active hours, after the deadline", func(t *testing.T) {
		p := policy(t, `{"maintenance_windows": ["Wed 09:00-11:00"], "deadline_days": 9, "reboot": "deadline",
			"active_hours": "Mon-Fri 08:00-18:00"}`, 0)
		h := &simHost{t: t, p: p, loc: paris, updates: []Update{kbA}}
		h.run(from, to)
		if len(h.reboots) != 1 {
			t.Fatalf("reboots %v\n%s", h.reboots, h.dump())
		}
		// Deadline Thursday March 19 19:00 (approval + 9 days), outside active hours.
		r := h.reboots[0]
		if h.inActiveHours(r) || r.Before(at(paris, "2026-03-19 19:00")) {
			t.Errorf("reboot at %s\n%s", stamp(r), h.dump())
		}
		if want := at(paris, "2026-03-19 19:15"); !r.Equal(want) {
			t.Errorf("reboot at %s, want %s\n%s", stamp(r), stamp(want), h.dump())
		}
	})
}
