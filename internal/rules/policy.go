package rules

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The keys that say when updates install and hosts reboot (ours; issue 16). All times
// are the host's local time. internal/schedule turns them into decisions.
//
//   - maintenance_windows: [{"when": "Tue,Thu 22:00-04:00", "reboot": true}, ...] (or a
//     bare string, install only). See ParseWhen for the forms. Without windows, updates
//     install whenever the agent's install_scheduling runs. Merged: union.
//   - pause_until: "2027-01-15" (every update) or {"Feature Packs": "2027-01-15T08:00",
//     "*": ...}: nothing of that classification installs until the end of that day (or
//     that minute). pause_days: 7 or {"Upgrades": 30}: each update is held that many days
//     after its approval. Merged per classification, the last source wins.
//   - install_delay_days: each update is held that many days after its approval (the
//     agent takes the larger of this and the ini's install_delay).
//   - deadline_days: days after approval after which an update installs at the next
//     opportunity, window or not; at least install_delay_days. grace_days: a host that
//     was off at the deadline gets that many days after it is back before the deadline
//     applies. catch_up_missed_windows: a window the host missed while off is caught up
//     as soon as it is back (default: wait for the next window).
//   - reboot: never (report "reboot needed"), in_window (in a window with "reboot": true),
//     ask (the logged-on user may postpone up to max_postpone times), deadline (forced
//     after a visible countdown once the deadline has passed). active_hours
//     ("Mon-Fri 08:00-18:00" or "08:00-18:00"): no forced reboot then.
//   - install_at_shutdown, waptexit_disable_skip_windows_updates: as the ini keys of the
//     same names (the user may skip the install at shutdown unless the second is true).
//
// Scalars merge as include_potentially_superseded_updates: the last source that sets the
// key wins.

// Window is one entry of maintenance_windows.
type Window struct {
	When   string `json:"when"`
	Reboot bool   `json:"reboot,omitempty"` // the window also allows reboots
}

// Reboot policies.
const (
	RebootNever    = "never"
	RebootInWindow = "in_window"
	RebootAsk      = "ask"
	RebootDeadline = "deadline"
)

// PauseAll is the classification key of a pause of every update.
const PauseAll = "*"

// Limits of the day counts.
const (
	maxDays     = 3650
	maxPostpone = 100
)

// Pause date layouts.
const (
	pauseDay    = "2006-01-02"
	pauseMinute = "2006-01-02T15:04"
)

// ParsePauseUntil reads a pause_until value: a local date (paused through that day) or a
// local date and time. It returns the date and time the pause ends, in loc.
func ParsePauseUntil(s string, loc *time.Location) (time.Time, error) {
	t := strings.TrimSpace(s)
	if d, err := time.ParseInLocation(pauseDay, t, loc); err == nil {
		return time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc), nil
	}
	if d, err := time.ParseInLocation(pauseMinute, t, loc); err == nil {
		return d, nil
	}
	return time.Time{}, errors.New("want a date YYYY-MM-DD (paused through that day) or YYYY-MM-DDTHH:MM, host local time")
}

func normalizePolicy(r Rules, out *Rules) error {
	seen := map[string]bool{}
	for i, w := range r.MaintenanceWindows {
		key := fmt.Sprintf("maintenance_windows[%d].when", i)
		p, err := ParseWhen(w.When)
		if err != nil {
			return &FieldError{Key: key, Value: w.When, Err: err}
		}
		n := Window{When: p.String(), Reboot: w.Reboot}
		if id := fmt.Sprint(n); !seen[id] {
			seen[id] = true
			out.MaintenanceWindows = append(out.MaintenanceWindows, n)
		}
	}
	var err error
	if out.PauseUntil, err = normMap("pause_until", r.PauseUntil, func(v string) (string, error) {
		t, err := ParsePauseUntil(v, time.UTC)
		if err != nil {
			return "", err
		}
		if strings.Contains(strings.TrimSpace(v), "T") {
			return t.Format(pauseMinute), nil
		}
		return t.AddDate(0, 0, -1).Format(pauseDay), nil
	}); err != nil {
		return err
	}
	if out.PauseDays, err = normMap("pause_days", r.PauseDays, func(v int) (int, error) { return v, checkDays(v) }); err != nil {
		return err
	}
	days := []struct {
		key string
		in  *int
		out **int
		max int
	}{
		{"install_delay_days", r.InstallDelayDays, &out.InstallDelayDays, maxDays},
		{"deadline_days", r.DeadlineDays, &out.DeadlineDays, maxDays},
		{"grace_days", r.GraceDays, &out.GraceDays, maxDays},
		{"max_postpone", r.MaxPostpone, &out.MaxPostpone, maxPostpone},
	}
	for _, d := range days {
		if d.in == nil {
			continue
		}
		if *d.in < 0 || *d.in > d.max {
			return &FieldError{Key: d.key, Value: fmt.Sprint(*d.in), Err: fmt.Errorf("want a whole number from 0 to %d", d.max)}
		}
		v := *d.in
		*d.out = &v
	}
	if out.DeadlineDays != nil && out.InstallDelayDays != nil && *out.DeadlineDays < *out.InstallDelayDays {
		return &FieldError{Key: "deadline_days", Value: fmt.Sprint(*out.DeadlineDays),
			Err: fmt.Errorf("the deadline comes before the end of install_delay_days (%d): set deadline_days to at least %d", *out.InstallDelayDays, *out.InstallDelayDays)}
	}
	if r.Reboot != "" {
		switch v := strings.ToLower(strings.TrimSpace(r.Reboot)); v {
		case RebootNever, RebootInWindow, RebootAsk, RebootDeadline:
			out.Reboot = v
		default:
			return &FieldError{Key: "reboot", Value: r.Reboot, Err: errors.New("want never, in_window, ask or deadline")}
		}
	}
	if r.ActiveHours != "" {
		w, err := ParseWhen(r.ActiveHours)
		if err == nil && w.Kind != Weekly {
			err = errors.New(`want days of the week and hours, e.g. "Mon-Fri 08:00-18:00" or "08:00-18:00"`)
		}
		if err != nil {
			return &FieldError{Key: "active_hours", Value: r.ActiveHours, Err: err}
		}
		out.ActiveHours = w.String()
	}
	out.CatchUpMissedWindows = cloneBool(r.CatchUpMissedWindows)
	out.InstallAtShutdown = cloneBool(r.InstallAtShutdown)
	out.WaptexitDisableSkipWindowsUpdates = cloneBool(r.WaptexitDisableSkipWindowsUpdates)
	return nil
}

func checkDays(v int) error {
	if v < 0 || v > maxDays {
		return fmt.Errorf("want a whole number of days from 0 to %d", maxDays)
	}
	return nil
}

// normMap normalizes a classification map: keys "*" or a category (name or GUID), no two
// keys equal ignoring case.
func normMap[V any](key string, in map[string]V, norm func(V) (V, error)) (map[string]V, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]V, len(in))
	folded := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(in)) {
		nk := strings.TrimSpace(k)
		if nk != PauseAll {
			var err error
			if nk, err = normCategory(k); err != nil {
				return nil, &FieldError{Key: key, Value: k, Err: fmt.Errorf("classification: %w", err)}
			}
		}
		if prev, dup := folded[strings.ToLower(nk)]; dup {
			return nil, &FieldError{Key: key + "." + nk, Value: k, Err: fmt.Errorf("same classification as %q (keep one)", prev)}
		}
		folded[strings.ToLower(nk)] = k
		v, err := norm(in[k])
		if err != nil {
			return nil, &FieldError{Key: key + "." + nk, Value: fmt.Sprint(in[k]), Err: err}
		}
		out[nk] = v
	}
	return out, nil
}

// mergePolicy applies the schedule keys of r over out (Merge's precedence).
func mergePolicy(out *Rules, r Rules) {
	for _, w := range r.MaintenanceWindows {
		dup := false
		for _, o := range out.MaintenanceWindows {
			if strings.EqualFold(o.When, w.When) && o.Reboot == w.Reboot {
				dup = true
			}
		}
		if !dup {
			out.MaintenanceWindows = append(out.MaintenanceWindows, w)
		}
	}
	out.PauseUntil = overlay(out.PauseUntil, r.PauseUntil)
	out.PauseDays = overlay(out.PauseDays, r.PauseDays)
	for _, p := range []struct{ dst, src **int }{
		{&out.InstallDelayDays, &r.InstallDelayDays}, {&out.DeadlineDays, &r.DeadlineDays},
		{&out.GraceDays, &r.GraceDays}, {&out.MaxPostpone, &r.MaxPostpone},
	} {
		if *p.src != nil {
			v := **p.src
			*p.dst = &v
		}
	}
	for _, p := range []struct{ dst, src **bool }{
		{&out.CatchUpMissedWindows, &r.CatchUpMissedWindows}, {&out.InstallAtShutdown, &r.InstallAtShutdown},
		{&out.WaptexitDisableSkipWindowsUpdates, &r.WaptexitDisableSkipWindowsUpdates},
	} {
		if *p.src != nil {
			*p.dst = cloneBool(*p.src)
		}
	}
	if r.Reboot != "" {
		out.Reboot = r.Reboot
	}
	if r.ActiveHours != "" {
		out.ActiveHours = r.ActiveHours
	}
}

// overlay copies add over m, replacing keys equal ignoring case.
func overlay[V any](m, add map[string]V) map[string]V {
	if len(add) == 0 {
		return m
	}
	out := make(map[string]V, len(m)+len(add))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(add)) {
		for old := range out {
			if strings.EqualFold(old, k) {
				delete(out, old)
			}
		}
		out[k] = add[k]
	}
	return out
}

// CheckPolicy checks the schedule keys of merged rules as a whole, with the ini's
// install_delay: what no single package can be refused for but the merge can get wrong.
// The agent keeps its previous policy when this fails. The error names the key.
func (r Rules) CheckPolicy(installDelay time.Duration) error {
	delay := installDelay
	if r.InstallDelayDays != nil {
		delay = max(delay, time.Duration(*r.InstallDelayDays)*24*time.Hour)
	}
	if r.DeadlineDays != nil && time.Duration(*r.DeadlineDays)*24*time.Hour < delay {
		return &FieldError{Key: "deadline_days", Value: fmt.Sprint(*r.DeadlineDays),
			Err: fmt.Errorf("the deadline comes before the end of the install delay (%s): raise deadline_days or lower install_delay", delay)}
	}
	switch r.Reboot {
	case RebootInWindow:
		ok := false
		for _, w := range r.MaintenanceWindows {
			ok = ok || w.Reboot
		}
		if !ok {
			return &FieldError{Key: "reboot", Value: r.Reboot, Err: errors.New(`no maintenance window allows reboots: set "reboot": true on one, or choose another reboot policy`)}
		}
	case RebootDeadline:
		if r.DeadlineDays == nil {
			return &FieldError{Key: "reboot", Value: r.Reboot, Err: errors.New("needs deadline_days")}
		}
	}
	_, err := r.Normalize()
	return err
}
