package schedule

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/rules"
)

// Update is one update the rules allow and that is not installed yet.
type Update struct {
	ID              string    // what messages call it: a KB ("KB5034441") or the update key
	Classifications []string  // names and/or GUIDs, as pause keys name them
	Approved        time.Time // approval (LastDeploymentChangeTime); zero: unknown, no delay nor deadline
}

// Interval is a period, [Start, End).
type Interval struct{ Start, End time.Time }

// State is what the host knows now.
type State struct {
	Now      time.Time
	Location *time.Location // the host's time zone; nil: Now's
	Pending  []Update
	// Off lists periods the host (or the agent) was not running, oldest first (NoteRun
	// keeps it).
	Off         []Interval
	LastInstall time.Time // last install run
	// RebootRequired since RebootSince; AwaitingReboot are the installed updates that asked
	// for it (their deadlines set a reboot = deadline policy's deadline).
	RebootRequired bool
	RebootSince    time.Time
	AwaitingReboot []Update
	UserLoggedOn   bool
	Postponed      int       // reboots the user postponed since RebootSince
	LastPostpone   time.Time // when the user last postponed
}

// RebootKind is what to do about a required reboot.
type RebootKind string

const (
	RebootNone   RebootKind = ""       // nothing (none required, or the policy says never: report it)
	RebootWait   RebootKind = "wait"   // later: at Reboot.At (a window, the end of active hours, a deadline)
	RebootAsk    RebootKind = "ask"    // ask the logged-on user now; they may postpone
	RebootForced RebootKind = "forced" // show a countdown now and restart at Reboot.At
)

// RebootPlan is the reboot part of a Decision.
type RebootPlan struct {
	Kind      RebootKind
	At        time.Time     // RebootWait: when to look again; RebootForced: the restart
	Countdown time.Duration // RebootForced: the notice shown before At
	MayPost   bool          // RebootAsk: the user may still postpone
	Why       string
}

// Deadline is the next deadline of a pending update.
type Deadline struct {
	Update Update
	At     time.Time
	Grace  bool // moved by grace_days because the host was off at the deadline
}

// Decision is what Plan decides.
type Decision struct {
	Now        time.Time
	Install    []Update // install these now (empty: nothing)
	InstallWhy string
	Held       []Held // pending updates that may not install yet
	Reboot     RebootPlan
	// Next is when to call Plan again at the latest (zero: nothing is scheduled; call it
	// when something changes).
	Next         time.Time
	Window       *Occurrence // the window open now
	NextWindow   *Occurrence
	NextDeadline *Deadline
	Missed       *Occurrence // the last window, missed while the host was off
	// PastDeadline counts the pending updates whose deadline has passed (installable
	// now, window or not).
	PastDeadline int
	Lines        []string // the explanation, one fact a line
}

// Held is a pending update that may not install before Until.
type Held struct {
	Update Update
	Until  time.Time
	Why    string // "pause_until Feature Packs", "install_delay", "pause_days *"
}

// String is the explanation.
func (d Decision) String() string { return strings.Join(d.Lines, "\n") }

// missedLookback bounds the search for a missed window (a monthly window is at most 5
// weeks back).
const missedLookback = 40

// Plan decides what to do at s.Now.
func Plan(p Policy, s State) Decision {
	loc := s.Location
	if loc == nil {
		loc = s.Now.Location()
	}
	now := s.Now.In(loc)
	d := Decision{Now: now}
	say := func(format string, args ...any) { d.Lines = append(d.Lines, fmt.Sprintf(format, args...)) }
	soon := func(t time.Time) {
		if t.After(now) && (d.Next.IsZero() || t.Before(d.Next)) {
			d.Next = t
		}
	}

	// Windows now and next.
	if cur, ok := current(p.Windows, now, loc, anyWindow); ok {
		d.Window = &cur
		soon(cur.End)
	}
	if nx, ok := next(p.Windows, now, loc, anyWindow); ok {
		d.NextWindow = &nx
	}
	switch {
	case len(p.Windows) == 0:
		say("maintenance windows: none (updates install at every scheduled install run)")
	case d.Window != nil:
		say("now: inside the window %s, until %s", d.Window.Window, stamp(d.Window.End))
	default:
		say("now: outside the maintenance windows")
	}
	if d.NextWindow != nil && len(s.Pending) > 0 {
		say("next window: %s to %s, %s", stamp(d.NextWindow.Start), stamp(d.NextWindow.End), d.NextWindow.Window)
	}

	// The last window, if the host was off during all of it.
	if len(p.Windows) > 0 {
		if prev, ok := previous(p.Windows, now, loc, missedLookback); ok && offDuring(s.Off, prev.Start, prev.End) && s.LastInstall.Before(prev.Start) {
			d.Missed = &prev
		}
	}

	// Each pending update: held, or installable now, or waiting for a window.
	var installable, dueNow, missedDue []Update
	for _, u := range s.Pending {
		until, why := heldUntil(p, u, loc)
		if until.After(now) {
			d.Held = append(d.Held, Held{Update: u, Until: until, Why: why})
			soon(until)
		} else {
			installable = append(installable, u)
			if d.Missed != nil && !until.After(d.Missed.Start) && !u.Approved.After(d.Missed.Start) {
				missedDue = append(missedDue, u)
			}
		}
		if dl, ok := deadline(p, u, until, s.Off); ok {
			if !dl.At.After(now) && !until.After(now) {
				dueNow = append(dueNow, u)
			}
			if dl.At.After(now) {
				soon(dl.At)
				if d.NextDeadline == nil || dl.At.Before(d.NextDeadline.At) {
					d.NextDeadline = &dl
				}
			}
		}
	}
	d.PastDeadline = len(dueNow)
	if d.NextDeadline != nil {
		g := ""
		if d.NextDeadline.Grace {
			g = fmt.Sprintf(" (grace_days %d: the host was off at the deadline)", int(p.Grace/day))
		}
		say("next deadline: %s on %s%s", d.NextDeadline.Update.ID, stamp(d.NextDeadline.At), g)
	}
	for i, h := range d.Held {
		if i == 5 {
			say("… and %d more updates held", len(d.Held)-5)
			break
		}
		say("%s: held until %s (%s)", h.Update.ID, stamp(h.Until), h.Why)
	}

	// What installs now.
	switch {
	case len(s.Pending) == 0:
		say("nothing to install")
	case len(installable) == 0:
		say("nothing installs now: every pending update is held")
	case len(p.Windows) == 0:
		d.Install, d.InstallWhy = installable, "no maintenance window restricts installs"
	case d.Window != nil:
		d.Install, d.InstallWhy = installable, "inside the window "+d.Window.Window.When.String()
	case len(missedDue) > 0 && p.CatchUp:
		d.Install = mergeUpdates(missedDue, dueNow)
		d.InstallWhy = fmt.Sprintf("catching up the window of %s, missed while the host was off (catch_up_missed_windows)", stamp(d.Missed.Start))
	case len(dueNow) > 0:
		d.Install, d.InstallWhy = dueNow, "past the deadline: installing at the first opportunity, window or not"
	default:
		why := "outside the maintenance windows and no deadline has passed"
		if d.NextWindow != nil {
			why += "; waiting for the window of " + stamp(d.NextWindow.Start)
			soon(d.NextWindow.Start)
		} else {
			why += "; no window comes within " + fmt.Sprint(horizon) + " days (check maintenance_windows)"
		}
		say("nothing installs now: %s", why)
	}
	if d.Missed != nil && len(missedDue) > 0 && !(p.CatchUp && d.Window == nil) {
		say("missed window: %s to %s while the host was off; caught up %s", stamp(d.Missed.Start), stamp(d.Missed.End), catchUpWord(p, d))
	}
	if len(d.Install) > 0 {
		say("installing now: %d updates (%s)", len(d.Install), d.InstallWhy)
	}

	d.Reboot = planReboot(p, s, now, loc)
	if d.Reboot.Why != "" {
		say("%s", d.Reboot.Why)
	}
	switch d.Reboot.Kind {
	case RebootWait, RebootForced:
		soon(d.Reboot.At)
	case RebootAsk:
		soon(now.Add(p.PostponeFor))
	}
	return d
}

func catchUpWord(p Policy, d Decision) string {
	if d.Window != nil {
		return "in the current window"
	}
	if p.CatchUp {
		return "now"
	}
	if d.NextWindow != nil {
		return "at the next window, " + stamp(d.NextWindow.Start) + " (set catch_up_missed_windows to install as soon as the host is back)"
	}
	return "when a deadline passes"
}

func mergeUpdates(a, b []Update) []Update {
	out := append([]Update(nil), a...)
	for _, u := range b {
		dup := false
		for _, v := range out {
			dup = dup || v.ID == u.ID
		}
		if !dup {
			out = append(out, u)
		}
	}
	return out
}

// heldUntil is when u may install (zero or past: now) and what holds it longest.
func heldUntil(p Policy, u Update, loc *time.Location) (time.Time, string) {
	var until time.Time
	why := ""
	later := func(t time.Time, w string) {
		if t.After(until) {
			until, why = t, w
		}
	}
	if !u.Approved.IsZero() && p.InstallDelay > 0 {
		later(u.Approved.Add(p.InstallDelay), fmt.Sprintf("install delay of %s after approval", days(p.InstallDelay)))
	}
	applies := func(k string) bool {
		if k == rules.PauseAll {
			return true
		}
		for _, c := range u.Classifications {
			if strings.EqualFold(strings.TrimSpace(c), k) {
				return true
			}
		}
		return false
	}
	for _, k := range slices.Sorted(maps.Keys(p.PauseUntil)) {
		if applies(k) {
			if t, err := rules.ParsePauseUntil(p.PauseUntil[k], loc); err == nil {
				later(t, "pause_until "+pauseName(k)+" = "+p.PauseUntil[k])
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.PauseDays)) {
		if applies(k) && !u.Approved.IsZero() {
			later(u.Approved.AddDate(0, 0, p.PauseDays[k]), fmt.Sprintf("pause_days %s = %d after approval", pauseName(k), p.PauseDays[k]))
		}
	}
	return until, why
}

func pauseName(k string) string {
	if k == rules.PauseAll {
		return "(every update)"
	}
	return k
}

// deadline of u: approval + deadline_days, not before the end of what holds it (a pause
// wins over a deadline), moved to grace_days after the host came back when it was off
// at that moment.
func deadline(p Policy, u Update, held time.Time, off []Interval) (Deadline, bool) {
	if !p.HasDeadline || u.Approved.IsZero() {
		return Deadline{}, false
	}
	at := u.Approved.Add(p.Deadline)
	if held.After(at) {
		at = held
	}
	dl := Deadline{Update: u, At: at}
	for _, o := range off {
		if !at.Before(o.Start) && at.Before(o.End) {
			dl.At, dl.Grace = o.End.Add(p.Grace), true
		}
	}
	return dl, true
}

// offDuring reports whether one off period covers [start, end).
func offDuring(off []Interval, start, end time.Time) bool {
	for _, o := range off {
		if !o.Start.After(start) && !o.End.Before(end) {
			return true
		}
	}
	return false
}

// activeUntil returns the end of the active hours containing t, if any.
func activeUntil(p Policy, t time.Time, loc *time.Location) (time.Time, bool) {
	if p.ActiveHours == nil {
		return time.Time{}, false
	}
	o, ok := current([]Window{{When: *p.ActiveHours}}, t, loc, anyWindow)
	return o.End, ok
}

func planReboot(p Policy, s State, now time.Time, loc *time.Location) RebootPlan {
	if !s.RebootRequired {
		return RebootPlan{}
	}
	since := ""
	if !s.RebootSince.IsZero() {
		since = " since " + stamp(s.RebootSince.In(loc))
	}
	// forced restarts after the countdown, or when the active hours end: the active
	// hours now, or those the countdown would end in.
	forced := func(why string) RebootPlan {
		end, busy := activeUntil(p, now, loc)
		if !busy {
			end, busy = activeUntil(p, now.Add(p.Countdown), loc)
		}
		if busy {
			return RebootPlan{Kind: RebootWait, At: end, Why: fmt.Sprintf("reboot needed%s: %s, after the active hours (%s), at %s", since, why, p.ActiveHours, stamp(end))}
		}
		return RebootPlan{Kind: RebootForced, At: now.Add(p.Countdown), Countdown: p.Countdown,
			Why: fmt.Sprintf("reboot needed%s: %s: restarting at %s after a %s countdown", since, why, stamp(now.Add(p.Countdown)), p.Countdown)}
	}
	inWindow := func() RebootPlan {
		if o, ok := current(p.Windows, now, loc, rebootWindow); ok {
			return forced("inside the reboot window " + o.Window.When.String())
		}
		if o, ok := next(p.Windows, now, loc, rebootWindow); ok {
			return RebootPlan{Kind: RebootWait, At: o.Start, Why: fmt.Sprintf("reboot needed%s: waiting for the reboot window of %s", since, stamp(o.Start))}
		}
		return RebootPlan{Why: "reboot needed" + since + ": no window allows reboots (restart the host yourself)"}
	}
	switch p.Reboot {
	case rules.RebootInWindow:
		return inWindow()
	case rules.RebootAsk:
		if !s.UserLoggedOn {
			return forced("nobody is logged on")
		}
		if s.Postponed >= p.MaxPostpone {
			return forced(fmt.Sprintf("postponed %d times (max_postpone %d)", s.Postponed, p.MaxPostpone))
		}
		if !s.LastPostpone.IsZero() && now.Before(s.LastPostpone.Add(p.PostponeFor)) {
			at := s.LastPostpone.Add(p.PostponeFor)
			return RebootPlan{Kind: RebootWait, At: at, Why: fmt.Sprintf("reboot needed%s: postponed by the user (%d of %d), asking again at %s", since, s.Postponed, p.MaxPostpone, stamp(at))}
		}
		return RebootPlan{Kind: RebootAsk, MayPost: true, Why: fmt.Sprintf("reboot needed%s: asking the logged-on user (may postpone %d more times)", since, p.MaxPostpone-s.Postponed)}
	case rules.RebootDeadline:
		// The earliest deadline of the updates awaiting the reboot; without one, the
		// reboot has been due since it became required.
		due, found := s.RebootSince, false
		for _, u := range s.AwaitingReboot {
			until, _ := heldUntil(p, u, loc)
			if dl, ok := deadline(p, u, until, s.Off); ok && (!found || dl.At.Before(due)) {
				due, found = dl.At, true
			}
		}
		if !now.Before(due) {
			return forced("past the deadline of " + stamp(due.In(loc)))
		}
		if o, ok := current(p.Windows, now, loc, rebootWindow); ok {
			return forced("inside the reboot window " + o.Window.When.String())
		}
		at := due
		if o, ok := next(p.Windows, now, loc, rebootWindow); ok && o.Start.Before(due) {
			at = o.Start
		}
		return RebootPlan{Kind: RebootWait, At: at, Why: fmt.Sprintf("reboot needed%s: forced at the deadline, %s, or in a reboot window before it (next look at %s)", since, stamp(due.In(loc)), stamp(at.In(loc)))}
	}
	return RebootPlan{Why: "reboot needed" + since + " (reboot = never: restart the host yourself)"}
}

// ShutdownDecision is what happens when the host shuts down: with install_at_shutdown,
// the updates not held install (windows do not apply: the user is leaving), and the
// user may skip it unless waptexit_disable_skip_windows_updates.
type ShutdownDecision struct {
	Install     []Update
	UserMaySkip bool
	Why         string
}

// AtShutdown decides the install at shutdown.
func AtShutdown(p Policy, s State) ShutdownDecision {
	if !p.InstallAtShutdown {
		return ShutdownDecision{Why: "install_at_shutdown is off"}
	}
	loc := s.Location
	if loc == nil {
		loc = s.Now.Location()
	}
	var out ShutdownDecision
	for _, u := range s.Pending {
		if until, _ := heldUntil(p, u, loc); !until.After(s.Now) {
			out.Install = append(out.Install, u)
		}
	}
	out.UserMaySkip = !p.NoSkip && len(out.Install) > 0
	switch {
	case len(out.Install) == 0:
		out.Why = "nothing to install at shutdown (no pending update, or all held)"
	case out.UserMaySkip:
		out.Why = fmt.Sprintf("installing %d updates at shutdown; the user may skip this time", len(out.Install))
	default:
		out.Why = fmt.Sprintf("installing %d updates at shutdown (waptexit_disable_skip_windows_updates: no skipping)", len(out.Install))
	}
	return out
}

// NoteRun records a run of the agent at now after one at last: a gap longer than
// tolerance was a period off. Periods that ended more than keep ago are dropped, and at
// most maxOff are kept. The result is the new off list (oldest first).
func NoteRun(off []Interval, last, now time.Time, tolerance, keep time.Duration) []Interval {
	out := make([]Interval, 0, len(off)+1)
	for _, o := range off {
		if now.Sub(o.End) <= keep {
			out = append(out, o)
		}
	}
	if !last.IsZero() && now.Sub(last) > tolerance {
		out = append(out, Interval{Start: last, End: now})
	}
	if len(out) > maxOff {
		out = out[len(out)-maxOff:]
	}
	return out
}

const maxOff = 64

// stamp writes a local time for explanations: "Tue 2026-12-08 22:00 CET".
func stamp(t time.Time) string { return t.Format("Mon 2006-01-02 15:04 MST") }

func days(d time.Duration) string {
	if d%day == 0 {
		return fmt.Sprintf("%d days", int(d/day))
	}
	return d.String()
}
