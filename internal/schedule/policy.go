// Package schedule decides when updates install and hosts reboot: from the merged rules
// policy (maintenance windows, pauses, delay, deadline and grace, reboot policy, active
// hours), the host's clock and time zone, the periods it was off and what is pending, it
// gives the action to take now, the next time to look again, and a human explanation.
// It is pure: no I/O, no clock of its own. The agent's service loop and
// `wapt-get waptwua-status` share it.
package schedule

import (
	"fmt"
	"sort"
	"time"

	"github.com/openwua/waptwua/internal/rules"
)

// Window is a compiled maintenance window.
type Window struct {
	rules.When
	Reboot bool // the window also allows reboots
}

func (w Window) String() string {
	if w.Reboot {
		return w.When.String() + " (install and reboot)"
	}
	return w.When.String() + " (install only)"
}

// Policy is the schedule part of merged rules, ready for Plan.
type Policy struct {
	Windows      []Window
	InstallDelay time.Duration
	// PauseUntil and PauseDays are keyed by classification (name or GUID, compared
	// ignoring case) or rules.PauseAll; PauseUntil values are local dates as in
	// rules.ParsePauseUntil.
	PauseUntil  map[string]string
	PauseDays   map[string]int
	Deadline    time.Duration // after approval; 0 with HasDeadline false: none
	HasDeadline bool
	Grace       time.Duration
	Reboot      string // rules.Reboot*; "" is rules.RebootNever (nothing restarts by itself)
	MaxPostpone int
	ActiveHours *rules.When
	CatchUp     bool
	// InstallAtShutdown and NoSkip: install pending updates at shutdown; the user may
	// skip that unless NoSkip (waptexit_disable_skip_windows_updates).
	InstallAtShutdown bool
	NoSkip            bool
	// Countdown is the notice before an automatic reboot; PostponeFor how long a
	// postponement lasts.
	Countdown   time.Duration
	PostponeFor time.Duration
}

// Defaults of Policy fields that have no rules key.
const (
	DefaultCountdown   = 15 * time.Minute
	DefaultPostponeFor = time.Hour
)

const day = 24 * time.Hour

// Compile checks merged rules (rules.Rules.CheckPolicy, with the ini's install_delay)
// and returns their Policy. The install delay is the larger of installDelay and
// install_delay_days. On error the caller keeps its previous Policy.
func Compile(r rules.Rules, installDelay time.Duration) (Policy, error) {
	if err := r.CheckPolicy(installDelay); err != nil {
		return Policy{}, fmt.Errorf("schedule policy: %w", err)
	}
	n, _ := r.Normalize() // CheckPolicy normalized it without error
	p := Policy{InstallDelay: installDelay, Reboot: n.Reboot, Countdown: DefaultCountdown, PostponeFor: DefaultPostponeFor}
	if p.Reboot == "" {
		p.Reboot = rules.RebootNever
	}
	for _, w := range n.MaintenanceWindows {
		when, err := rules.ParseWhen(w.When)
		if err != nil {
			return Policy{}, fmt.Errorf("schedule policy: maintenance_windows %q: %w", w.When, err)
		}
		p.Windows = append(p.Windows, Window{When: when, Reboot: w.Reboot})
	}
	if n.InstallDelayDays != nil {
		p.InstallDelay = max(p.InstallDelay, time.Duration(*n.InstallDelayDays)*day)
	}
	p.PauseUntil = n.PauseUntil
	p.PauseDays = n.PauseDays
	if n.DeadlineDays != nil {
		p.Deadline, p.HasDeadline = time.Duration(*n.DeadlineDays)*day, true
	}
	if n.GraceDays != nil {
		p.Grace = time.Duration(*n.GraceDays) * day
	}
	if n.MaxPostpone != nil {
		p.MaxPostpone = *n.MaxPostpone
	}
	if n.ActiveHours != "" {
		ah, err := rules.ParseWhen(n.ActiveHours)
		if err != nil {
			return Policy{}, fmt.Errorf("schedule policy: active_hours: %w", err)
		}
		p.ActiveHours = &ah
	}
	p.CatchUp = n.CatchUpMissedWindows != nil && *n.CatchUpMissedWindows
	p.InstallAtShutdown = n.InstallAtShutdown != nil && *n.InstallAtShutdown
	p.NoSkip = n.WaptexitDisableSkipWindowsUpdates != nil && *n.WaptexitDisableSkipWindowsUpdates
	return p, nil
}

// Occurrence is one occurrence of a window (or of the active hours), in local time.
type Occurrence struct {
	Start, End time.Time
	Window     Window
}

func (o Occurrence) contains(t time.Time) bool { return !t.Before(o.Start) && t.Before(o.End) }

// occurrence of w on a date, in loc. ok is false when the window does not happen that
// day, or vanishes in a DST gap (a window lying wholly in the skipped hour).
func occurrence(w Window, y int, m time.Month, d int, loc *time.Location) (Occurrence, bool) {
	if !w.OnDate(y, m, d) {
		return Occurrence{}, false
	}
	start := wall(y, m, d, w.Start, loc)
	endDay := d
	if w.End <= w.Start {
		endDay++
	}
	end := wall(y, m, endDay, w.End, loc)
	if !end.After(start) {
		return Occurrence{}, false
	}
	return Occurrence{Start: start, End: end, Window: w}, true
}

// horizon bounds the search for the next occurrence (a one-off date or a monthly window
// is at most a few weeks away; a past one-off has none).
const horizon = 400

// between returns the occurrences of ws that overlap [from, to), by start.
func between(ws []Window, from, to time.Time, loc *time.Location) []Occurrence {
	var out []Occurrence
	f := from.In(loc)
	// Every date from two days before from (a window started then may still be open) to
	// the date of to.
	for d := time.Date(f.Year(), f.Month(), f.Day()-2, 12, 0, 0, 0, loc); time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc).Before(to); d = d.AddDate(0, 0, 1) {
		for _, w := range ws {
			if o, ok := occurrence(w, d.Year(), d.Month(), d.Day(), loc); ok && o.End.After(from) && o.Start.Before(to) {
				out = append(out, o)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// current returns the occurrence containing t (the one ending last when several do).
func current(ws []Window, t time.Time, loc *time.Location, match func(Window) bool) (Occurrence, bool) {
	var best Occurrence
	found := false
	for _, o := range between(ws, t, t.Add(time.Nanosecond), loc) {
		if o.contains(t) && match(o.Window) && (!found || o.End.After(best.End)) {
			best, found = o, true
		}
	}
	return best, found
}

// next returns the first occurrence starting after t.
func next(ws []Window, t time.Time, loc *time.Location, match func(Window) bool) (Occurrence, bool) {
	l := t.In(loc)
	for i := -1; i <= horizon; i++ {
		d := time.Date(l.Year(), l.Month(), l.Day()+i, 12, 0, 0, 0, loc)
		var best Occurrence
		found := false
		for _, w := range ws {
			if o, ok := occurrence(w, d.Year(), d.Month(), d.Day(), loc); ok && o.Start.After(t) && match(w) &&
				(!found || o.Start.Before(best.Start)) {
				best, found = o, true
			}
		}
		if found {
			return best, true
		}
	}
	return Occurrence{}, false
}

// previous returns the last occurrence that ended at or before t, within lookback days.
func previous(ws []Window, t time.Time, loc *time.Location, lookback int) (Occurrence, bool) {
	occ := between(ws, t.AddDate(0, 0, -lookback), t, loc)
	for i := len(occ) - 1; i >= 0; i-- {
		if !occ[i].End.After(t) {
			return occ[i], true
		}
	}
	return Occurrence{}, false
}

func anyWindow(Window) bool      { return true }
func rebootWindow(w Window) bool { return w.Reboot }

// Calendar lists the occurrences of the policy's windows that overlap the days days
// from from, in loc (the console's 30-day view).
func Calendar(p Policy, from time.Time, days int, loc *time.Location) []Occurrence {
	return between(p.Windows, from, from.AddDate(0, 0, days), loc)
}

// wall returns the instant of a wall-clock time (minutes after midnight) on a date. A
// time in a DST gap (02:30 when clocks jump from 02:00 to 03:00) is the end of the gap.
func wall(y int, m time.Month, d, minutes int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, minutes/60, minutes%60, 0, 0, loc)
	want := time.Date(y, m, d, minutes/60, minutes%60, 0, 0, time.UTC) // the wall clock asked for, normalized
	if t.Hour() != want.Hour() || t.Minute() != want.Minute() {
		// time.Date put it on one side of the gap or the other: the transition is the
		// start or the end of t's zone period, whichever is near.
		start, end := t.ZoneBounds()
		if !start.IsZero() && t.Sub(start) <= 3*time.Hour {
			return start
		}
		if !end.IsZero() && end.Sub(t) <= 3*time.Hour {
			return end
		}
	}
	return t
}
