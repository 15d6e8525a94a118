package schedule

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has

	"github.com/openwua/waptwua/internal/rules"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s: %v", name, err)
	}
	return loc
}

// policy compiles a waptwua_rules.json text.
func policy(t *testing.T, js string, installDelay time.Duration) Policy {
	t.Helper()
	r, err := rules.Parse([]byte(js))
	if err != nil {
		t.Fatalf("rules %s: %v", js, err)
	}
	p, err := Compile(rules.Merge(rules.Rules{}, r), installDelay)
	if err != nil {
		t.Fatalf("Compile(%s): %v", js, err)
	}
	return p
}

func at(loc *time.Location, s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

var longAgo = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func upd(id string, approved time.Time, classes ...string) Update {
	return Update{ID: id, Approved: approved, Classifications: classes}
}

func ids(us []Update) string {
	var s []string
	for _, u := range us {
		s = append(s, u.ID)
	}
	return strings.Join(s, ",")
}

func TestPatchTuesday(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	tests := []struct {
		desc, window, now, wantStart, wantEnd string
	}{
		// September and December 2026 start on a Tuesday: Patch Tuesday is the 8th, not the 1st.
		{"month starting on Tuesday", "patch_tuesday 20:00-23:00", "2026-09-01 10:00", "2026-09-08 20:00", "2026-09-08 23:00"},
		{"month starting on Tuesday, +3d", "patch_tuesday+3d 20:00-23:59", "2026-12-01 00:00", "2026-12-11 20:00", "2026-12-11 23:59"},
		// April and July 2026 start on a Wednesday: Patch Tuesday is the 14th.
		{"month starting on Wednesday", "patch_tuesday 20:00-23:00", "2026-04-01 10:00", "2026-04-14 20:00", "2026-04-14 23:00"},
		{"month starting on Wednesday, +3d", "patch_tuesday+3d 20:00-23:59", "2026-07-08 00:00", "2026-07-17 20:00", "2026-07-17 23:59"},
		{"just after this month's: next month's", "patch_tuesday 20:00-23:00", "2026-04-14 23:00", "2026-05-12 20:00", "2026-05-12 23:00"},
		{"offset into the next month", "patch_tuesday+20d 01:00-02:00", "2025-10-20 00:00", "2025-11-03 01:00", "2025-11-03 02:00"},
		{"negative offset", "patch_tuesday-1d 20:00-22:00", "2026-09-01 00:00", "2026-09-07 20:00", "2026-09-07 22:00"},
		{"2nd Saturday", "2nd Sat 09:00-12:00", "2026-09-01 00:00", "2026-09-12 09:00", "2026-09-12 12:00"},
		{"last Friday", "last Fri 18:00-20:00", "2026-07-01 00:00", "2026-07-31 18:00", "2026-07-31 20:00"},
		{"one-off date", "2026-12-24 08:00-12:00", "2026-12-01 00:00", "2026-12-24 08:00", "2026-12-24 12:00"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := policy(t, `{"maintenance_windows": ["`+tt.window+`"]}`, 0)
			d := Plan(p, State{Now: at(paris, tt.now), Location: paris, Pending: []Update{upd("KB1", longAgo)}})
			if d.NextWindow == nil {
				t.Fatalf("no next window: %s", d)
			}
			if got, want := d.NextWindow.Start, at(paris, tt.wantStart); !got.Equal(want) {
				t.Errorf("next window starts %v, want %v", got, want)
			}
			if got, want := d.NextWindow.End, at(paris, tt.wantEnd); !got.Equal(want) {
				t.Errorf("next window ends %v, want %v", got, want)
			}
			if len(d.Install) != 0 || !d.Next.Equal(d.NextWindow.Start) {
				t.Errorf("outside the window: install %v, next %v\n%s", ids(d.Install), d.Next, d)
			}
		})
	}
	// A past one-off date has no next window, and says so.
	p := policy(t, `{"maintenance_windows": ["2025-12-24 08:00-12:00"]}`, 0)
	d := Plan(p, State{Now: at(paris, "2026-01-01 00:00"), Location: paris, Pending: []Update{upd("KB1", longAgo)}})
	if d.NextWindow != nil || !strings.Contains(d.String(), "no window comes within") {
		t.Errorf("past one-off: %v\n%s", d.NextWindow, d)
	}
}

func TestWindowsAcrossMidnightAndMonthEnds(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	tests := []struct {
		desc, window, now string
		inside            bool
		start, end        string // the window open now (inside) or the next one
	}{
		{"Thursday night into New Year's Day", "Tue,Thu 22:00-04:00", "2027-01-01 02:00", true, "2026-12-31 22:00", "2027-01-01 04:00"},
		{"ended at 04:00 sharp", "Tue,Thu 22:00-04:00", "2027-01-01 04:00", false, "2027-01-05 22:00", "2027-01-06 04:00"},
		{"started at 22:00 sharp", "Tue,Thu 22:00-04:00", "2026-12-31 22:00", true, "2026-12-31 22:00", "2027-01-01 04:00"},
		{"before it on the same day", "Tue,Thu 22:00-04:00", "2026-12-31 21:59", false, "2026-12-31 22:00", "2027-01-01 04:00"},
		{"last Friday of January into the 31st", "last Fri 22:00-02:00", "2026-01-31 01:30", true, "2026-01-30 22:00", "2026-01-31 02:00"},
		{"February 28 into March 1", "Sat 23:00-01:00", "2026-03-01 00:30", true, "2026-02-28 23:00", "2026-03-01 01:00"},
		{"daily 24 hours", "00:00-24:00", "2026-06-30 23:59", true, "2026-06-30 00:00", "2026-07-01 00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := policy(t, `{"maintenance_windows": ["`+tt.window+`"]}`, 0)
			d := Plan(p, State{Now: at(paris, tt.now), Location: paris, Pending: []Update{upd("KB1", longAgo)}})
			o := d.NextWindow
			if tt.inside {
				o = d.Window
			}
			if (d.Window != nil) != tt.inside || o == nil {
				t.Fatalf("inside = %v, want %v\n%s", d.Window != nil, tt.inside, d)
			}
			if !o.Start.Equal(at(paris, tt.start)) || !o.End.Equal(at(paris, tt.end)) {
				t.Errorf("window %v to %v, want %s to %s", o.Start, o.End, tt.start, tt.end)
			}
			if got := len(d.Install) == 1; got != tt.inside {
				t.Errorf("installs %v, want %v\n%s", ids(d.Install), tt.inside, d)
			}
		})
	}
}

func TestDST(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	ny := mustLoad(t, "America/New_York")
	tests := []struct {
		desc       string
		loc        *time.Location
		window     string
		from       string        // look for the next window from here
		wantStart  string        // wall clock (a time in a DST gap is its end)
		wantLength time.Duration // real length
	}{
		// Paris 2026-03-29: 02:00 CET becomes 03:00 CEST.
		{"Paris spring: window across the gap", paris, "Sun 01:00-04:00", "2026-03-28 12:00", "2026-03-29 01:00", 2 * time.Hour},
		{"Paris spring: overnight window", paris, "Sat 22:00-06:00", "2026-03-28 12:00", "2026-03-28 22:00", 7 * time.Hour},
		{"Paris spring: start in the gap", paris, "Sun 02:30-04:00", "2026-03-28 12:00", "2026-03-29 03:00", time.Hour},
		// Paris 2026-10-25: 03:00 CEST becomes 02:00 CET.
		{"Paris autumn: window across the repeat", paris, "Sun 01:00-04:00", "2026-10-24 12:00", "2026-10-25 01:00", 4 * time.Hour},
		{"Paris autumn: overnight window", paris, "Sat 22:00-06:00", "2026-10-24 12:00", "2026-10-24 22:00", 9 * time.Hour},
		// New York 2026-03-08: 02:00 EST becomes 03:00 EDT.
		{"New York spring: window across the gap", ny, "Sun 01:00-04:00", "2026-03-07 12:00", "2026-03-08 01:00", 2 * time.Hour},
		{"New York spring: window inside the gap and after", ny, "Sun 02:30-03:30", "2026-03-07 12:00", "2026-03-08 03:00", 30 * time.Minute},
		// New York 2026-11-01: 02:00 EDT becomes 01:00 EST.
		{"New York autumn: window across the repeat", ny, "Sun 00:00-03:00", "2026-10-31 12:00", "2026-11-01 00:00", 4 * time.Hour},
		{"New York autumn: daily window the day after", ny, "daily 00:00-03:00", "2026-11-01 12:00", "2026-11-02 00:00", 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := policy(t, `{"maintenance_windows": ["`+tt.window+`"]}`, 0)
			d := Plan(p, State{Now: at(tt.loc, tt.from), Location: tt.loc, Pending: []Update{upd("KB1", longAgo)}})
			if d.NextWindow == nil {
				t.Fatalf("no next window\n%s", d)
			}
			o := d.NextWindow
			if got := o.Start.Format("2006-01-02 15:04"); got != tt.wantStart {
				t.Errorf("starts at %s (%v), want %s", got, o.Start, tt.wantStart)
			}
			if got := o.End.Sub(o.Start); got != tt.wantLength {
				t.Errorf("lasts %v (%v to %v), want %v", got, o.Start, o.End, tt.wantLength)
			}
			// In the middle of it, updates install.
			mid := o.Start.Add(o.End.Sub(o.Start) / 2)
			if d := Plan(p, State{Now: mid, Location: tt.loc, Pending: []Update{upd("KB1", longAgo)}}); len(d.Install) != 1 {
				t.Errorf("at %v (mid-window): nothing installs\n%s", mid, d)
			}
		})
	}
}

func TestHostOffDuringWindow(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	// Tuesday 2026-12-08 22:00 to Wednesday 04:00; the host is off from Tuesday 18:00 to
	// Wednesday 08:30.
	off := []Interval{{Start: at(paris, "2026-12-08 18:00"), End: at(paris, "2026-12-09 08:30")}}
	now := at(paris, "2026-12-09 09:00")
	pending := []Update{upd("KB1", longAgo), upd("KB2", at(paris, "2026-12-09 08:45"))} // KB2 approved after the window
	tests := []struct {
		desc        string
		js          string
		lastInstall time.Time
		wantInstall string
		wantLine    string
	}{
		{"wait for the next window by default", `{"maintenance_windows": ["Tue 22:00-04:00"]}`, time.Time{}, "",
			"missed window: Tue 2026-12-08 22:00 CET to Wed 2026-12-09 04:00 CET while the host was off; caught up at the next window, Tue 2026-12-15 22:00 CET"},
		{"catch up at once", `{"maintenance_windows": ["Tue 22:00-04:00"], "catch_up_missed_windows": true}`, time.Time{}, "KB1",
			"installing now: 1 updates (catching up the window of Tue 2026-12-08 22:00 CET, missed while the host was off (catch_up_missed_windows))"},
		{"installed since: nothing missed", `{"maintenance_windows": ["Tue 22:00-04:00"], "catch_up_missed_windows": true}`, at(paris, "2026-12-08 22:30"), "",
			"nothing installs now: outside the maintenance windows and no deadline has passed; waiting for the window of Tue 2026-12-15 22:00 CET"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := policy(t, tt.js, 0)
			s := State{Now: now, Location: paris, Pending: pending, Off: off, LastInstall: tt.lastInstall}
			if !tt.lastInstall.IsZero() {
				s.Off = nil // it ran during the window
			}
			d := Plan(p, s)
			if got := ids(d.Install); got != tt.wantInstall {
				t.Errorf("install %q, want %q\n%s", got, tt.wantInstall, d)
			}
			if !strings.Contains(d.String(), tt.wantLine) {
				t.Errorf("explanation lacks %q:\n%s", tt.wantLine, d)
			}
		})
	}
	// On for part of the window: not missed.
	p := policy(t, `{"maintenance_windows": ["Tue 22:00-04:00"]}`, 0)
	partial := []Interval{{Start: at(paris, "2026-12-08 23:00"), End: at(paris, "2026-12-09 08:30")}}
	if d := Plan(p, State{Now: now, Location: paris, Pending: pending, Off: partial}); d.Missed != nil {
		t.Errorf("a window the host was on for counted as missed\n%s", d)
	}
}

func TestDeadlines(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	approved := at(paris, "2026-12-01 10:00") // Tuesday
	js := `{"maintenance_windows": ["Sat 09:00-12:00"], "deadline_days": 7, "grace_days": 3}`
	p := policy(t, js, 2*day)
	tests := []struct {
		desc        string
		now         string
		off         []Interval
		wantInstall bool
		wantWhy     string
		wantLine    string
	}{
		{"held by the delay", "2026-12-02 10:00", nil, false, "", "KB1: held until Thu 2026-12-03 10:00 CET (install delay of 2 days after approval)"},
		{"before the deadline, outside windows", "2026-12-07 10:00", nil, false, "", "next deadline: KB1 on Tue 2026-12-08 10:00 CET"},
		{"inside a window before the deadline", "2026-12-05 10:00", nil, true, "inside the window", ""},
		{"deadline outside a window", "2026-12-08 10:00", nil, true, "past the deadline", ""},
		{"long past the deadline", "2026-12-10 03:00", nil, true, "past the deadline", ""},
		{"off at the deadline: grace", "2026-12-10 10:00",
			[]Interval{{Start: at(paris, "2026-12-07 18:00"), End: at(paris, "2026-12-10 09:00")}}, false, "",
			"next deadline: KB1 on Sun 2026-12-13 09:00 CET (grace_days 3: the host was off at the deadline)"},
		{"grace used in a window", "2026-12-12 10:00",
			[]Interval{{Start: at(paris, "2026-12-07 18:00"), End: at(paris, "2026-12-10 09:00")}}, true, "inside the window", ""},
		{"grace over", "2026-12-13 09:00",
			[]Interval{{Start: at(paris, "2026-12-07 18:00"), End: at(paris, "2026-12-10 09:00")}}, true, "past the deadline", ""},
		{"off before the deadline only: no grace", "2026-12-08 11:00",
			[]Interval{{Start: at(paris, "2026-12-06 18:00"), End: at(paris, "2026-12-07 09:00")}}, true, "past the deadline", ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			d := Plan(p, State{Now: at(paris, tt.now), Location: paris, Pending: []Update{upd("KB1", approved)}, Off: tt.off})
			if got := len(d.Install) == 1; got != tt.wantInstall {
				t.Errorf("install %v, want %v\n%s", got, tt.wantInstall, d)
			}
			if !strings.Contains(d.InstallWhy, tt.wantWhy) {
				t.Errorf("why %q, want %q", d.InstallWhy, tt.wantWhy)
			}
			if !strings.Contains(d.String(), tt.wantLine) {
				t.Errorf("explanation lacks %q:\n%s", tt.wantLine, d)
			}
			if !tt.wantInstall && d.Next.IsZero() {
				t.Errorf("nothing installs and no next time\n%s", d)
			}
			if past := d.PastDeadline == 1; past != (tt.wantWhy == "past the deadline") {
				t.Errorf("past deadline count %d\n%s", d.PastDeadline, d)
			}
		})
	}
	// Next is the earlier of the next window and the deadline.
	d := Plan(p, State{Now: at(paris, "2026-12-07 10:00"), Location: paris, Pending: []Update{upd("KB1", approved)}})
	if !d.Next.Equal(at(paris, "2026-12-08 10:00")) {
		t.Errorf("next %v, want the deadline", d.Next)
	}
}

func TestPausesAndDeadlines(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	approved := at(paris, "2026-12-10 10:00")
	js := `{"maintenance_windows": ["Sat 09:00-12:00"], "deadline_days": 3,
		"pause_until": {"*": "2026-12-20", "Feature Packs": "2027-01-15"}, "pause_days": {"Drivers": 30}}`
	p := policy(t, js, 0)
	sec := upd("KB-SEC", approved, "Security Updates")
	fp := upd("KB-FP", approved, "feature packs")
	drv := upd("KB-DRV", approved, "Drivers")
	tests := []struct {
		desc, now   string
		wantInstall string
		wantLine    string
	}{
		{"paused through the deadline", "2026-12-15 10:00", "", "KB-SEC: held until Mon 2026-12-21 00:00 CET (pause_until (every update) = 2026-12-20)"},
		{"inside a window, still paused", "2026-12-19 10:00", "", "nothing installs now: every pending update is held"},
		{"pause over, deadline passed: installs outside windows", "2026-12-21 00:00", "KB-SEC", "past the deadline"},
		{"classification paused longer", "2026-12-21 00:00", "KB-SEC", "KB-FP: held until Sat 2027-01-16 00:00 CET (pause_until Feature Packs = 2027-01-15)"},
		{"pause_days after approval", "2026-12-21 00:00", "KB-SEC", "KB-DRV: held until Sat 2027-01-09 10:00 CET (pause_days Drivers = 30 after approval)"},
		{"every pause over", "2027-01-16 00:00", "KB-SEC,KB-FP,KB-DRV", "installing now: 3 updates (past the deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			d := Plan(p, State{Now: at(paris, tt.now), Location: paris, Pending: []Update{sec, fp, drv}})
			if got := ids(d.Install); got != tt.wantInstall {
				t.Errorf("install %q, want %q\n%s", got, tt.wantInstall, d)
			}
			if !strings.Contains(d.String(), tt.wantLine) {
				t.Errorf("explanation lacks %q:\n%s", tt.wantLine, d)
			}
		})
	}
	// While paused, the next look is the end of the pause.
	d := Plan(p, State{Now: at(paris, "2026-12-15 10:00"), Location: paris, Pending: []Update{sec}})
	if !d.Next.Equal(at(paris, "2026-12-21 00:00")) {
		t.Errorf("next %v, want the end of the pause", d.Next)
	}
}

func TestNoWindows(t *testing.T) {
	p := policy(t, `{}`, 0)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	d := Plan(p, State{Now: now, Pending: []Update{upd("KB1", longAgo)}})
	if len(d.Install) != 1 || !strings.Contains(d.String(), "maintenance windows: none") {
		t.Errorf("without windows updates install at once\n%s", d)
	}
	if d := Plan(p, State{Now: now}); len(d.Install) != 0 || !strings.Contains(d.String(), "nothing to install") {
		t.Errorf("nothing pending\n%s", d)
	}
}

func TestReboot(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	approved := at(paris, "2026-12-01 10:00")
	since := at(paris, "2026-12-07 23:00")
	const windows = `"maintenance_windows": [{"when": "Tue 22:00-04:00", "reboot": true}, "Mon 20:00-23:59"], "active_hours": "Mon-Fri 08:00-18:00"`
	tests := []struct {
		desc     string
		js       string
		now      string
		s        State
		wantKind RebootKind
		wantAt   string // RebootWait / RebootForced
		wantLine string
	}{
		{"never", `{` + windows + `}`, "2026-12-07 23:30", State{}, RebootNone, "", "(reboot = never: restart the host yourself)"},
		{"in_window: install-only window", `{` + windows + `, "reboot": "in_window"}`, "2026-12-07 23:30", State{}, RebootWait, "2026-12-08 22:00", "waiting for the reboot window of Tue 2026-12-08 22:00 CET"},
		{"in_window: reboot window", `{` + windows + `, "reboot": "in_window"}`, "2026-12-08 22:30", State{}, RebootForced, "2026-12-08 22:45", "inside the reboot window Tue 22:00-04:00"},
		{"ask: user asked", `{"reboot": "ask", "max_postpone": 2}`, "2026-12-08 10:00", State{UserLoggedOn: true}, RebootAsk, "", "asking the logged-on user (may postpone 2 more times)"},
		{"ask: postponed recently", `{"reboot": "ask", "max_postpone": 2}`, "2026-12-08 10:30",
			State{UserLoggedOn: true, Postponed: 1, LastPostpone: at(paris, "2026-12-08 10:00")}, RebootWait, "2026-12-08 11:00", "postponed by the user (1 of 2)"},
		{"ask: postponements used up, in active hours", `{"reboot": "ask", "max_postpone": 2, "active_hours": "08:00-18:00"}`, "2026-12-08 12:00",
			State{UserLoggedOn: true, Postponed: 2, LastPostpone: at(paris, "2026-12-08 11:00")}, RebootWait, "2026-12-08 18:00", "postponed 2 times (max_postpone 2), after the active hours"},
		{"ask: postponements used up, evening", `{"reboot": "ask", "max_postpone": 2, "active_hours": "08:00-18:00"}`, "2026-12-08 19:00",
			State{UserLoggedOn: true, Postponed: 2}, RebootForced, "2026-12-08 19:15", "restarting at Tue 2026-12-08 19:15 CET after a 15m0s countdown"},
		{"ask: postponements used up, the countdown would end in active hours", `{"reboot": "ask", "max_postpone": 2, "active_hours": "08:00-18:00"}`, "2026-12-08 07:50",
			State{UserLoggedOn: true, Postponed: 2}, RebootWait, "2026-12-08 18:00", "postponed 2 times (max_postpone 2), after the active hours"},
		{"ask: nobody logged on", `{"reboot": "ask"}`, "2026-12-08 03:00", State{}, RebootForced, "2026-12-08 03:15", "nobody is logged on"},
		{"deadline: before it, waits for a reboot window", `{` + windows + `, "reboot": "deadline", "deadline_days": 10}`, "2026-12-07 23:30",
			State{AwaitingReboot: []Update{upd("KB1", approved)}}, RebootWait, "2026-12-08 22:00", "forced at the deadline, Fri 2026-12-11 10:00 CET"},
		{"deadline: passed during active hours", `{` + windows + `, "reboot": "deadline", "deadline_days": 3}`, "2026-12-09 10:00",
			State{AwaitingReboot: []Update{upd("KB1", approved)}}, RebootWait, "2026-12-09 18:00", "past the deadline of Fri 2026-12-04 10:00 CET, after the active hours"},
		{"deadline: passed, evening", `{` + windows + `, "reboot": "deadline", "deadline_days": 3}`, "2026-12-09 20:00",
			State{AwaitingReboot: []Update{upd("KB1", approved)}}, RebootForced, "2026-12-09 20:15", "past the deadline"},
		{"deadline: weekend, no active hours", `{` + windows + `, "reboot": "deadline", "deadline_days": 3}`, "2026-12-12 10:00",
			State{AwaitingReboot: []Update{upd("KB1", approved)}}, RebootForced, "2026-12-12 10:15", "past the deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := policy(t, tt.js, 0)
			s := tt.s
			s.Now, s.Location, s.RebootRequired, s.RebootSince = at(paris, tt.now), paris, true, since
			d := Plan(p, s)
			if d.Reboot.Kind != tt.wantKind {
				t.Errorf("reboot %q, want %q\n%s", d.Reboot.Kind, tt.wantKind, d)
			}
			if tt.wantAt != "" && !d.Reboot.At.Equal(at(paris, tt.wantAt)) {
				t.Errorf("at %v, want %s", d.Reboot.At, tt.wantAt)
			}
			if !strings.Contains(d.String(), tt.wantLine) {
				t.Errorf("explanation lacks %q:\n%s", tt.wantLine, d)
			}
			if (tt.wantKind == RebootWait || tt.wantKind == RebootForced) && d.Next.After(d.Reboot.At) {
				t.Errorf("next %v after the reboot time %v", d.Next, d.Reboot.At)
			}
		})
	}
	// No reboot required: no reboot line.
	p := policy(t, `{"reboot": "ask"}`, 0)
	if d := Plan(p, State{Now: since}); d.Reboot.Kind != RebootNone || strings.Contains(d.String(), "reboot") {
		t.Errorf("no reboot required\n%s", d)
	}
}

func TestAtShutdown(t *testing.T) {
	now := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	pending := []Update{upd("KB1", longAgo), upd("KB2", now.Add(-time.Hour))}
	tests := []struct {
		js          string
		wantInstall string
		wantSkip    bool
	}{
		{`{}`, "", false},
		{`{"install_at_shutdown": true, "maintenance_windows": ["Sat 09:00-12:00"], "install_delay_days": 1, "deadline_days": 1}`, "KB1", true},
		{`{"install_at_shutdown": true, "waptexit_disable_skip_windows_updates": true}`, "KB1,KB2", false},
	}
	for _, tt := range tests {
		p := policy(t, tt.js, 0)
		d := AtShutdown(p, State{Now: now, Pending: pending})
		if ids(d.Install) != tt.wantInstall || d.UserMaySkip != tt.wantSkip || d.Why == "" {
			t.Errorf("%s: %+v", tt.js, d)
		}
	}
}

func TestCompileRefusesInvalidPolicies(t *testing.T) {
	tests := []struct {
		r       rules.Rules
		delay   time.Duration
		wantErr string
	}{
		{rules.Rules{MaintenanceWindows: []rules.Window{{When: "Tus 22:00-04:00"}}}, 0, `maintenance_windows[0].when = "Tus 22:00-04:00": unknown day "tus"`},
		{rules.Rules{MaintenanceWindows: []rules.Window{{When: "Tue 22:00-22:00"}}}, 0, "window of zero length"},
		{rules.Rules{DeadlineDays: new(2)}, 7 * day, `deadline_days = "2": the deadline comes before the end of the install delay`},
	}
	for _, tt := range tests {
		_, err := Compile(tt.r, tt.delay)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Compile(%+v) = %v, want %q", tt.r, err, tt.wantErr)
		}
	}
}

func TestNoteRun(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var off []Interval
	off = NoteRun(off, time.Time{}, t0, time.Hour, 60*day) // first run: nothing known
	off = NoteRun(off, t0, t0.Add(30*time.Minute), time.Hour, 60*day)
	if len(off) != 0 {
		t.Fatalf("a short gap counted as off: %v", off)
	}
	off = NoteRun(off, t0.Add(30*time.Minute), t0.Add(7*day), time.Hour, 60*day)
	if len(off) != 1 || !off[0].Start.Equal(t0.Add(30*time.Minute)) || !off[0].End.Equal(t0.Add(7*day)) {
		t.Fatalf("off %v", off)
	}
	off = NoteRun(off, t0.Add(7*day), t0.Add(80*day), time.Hour, 60*day)
	if len(off) != 1 || !off[0].End.Equal(t0.Add(80*day)) {
		t.Errorf("old period kept: %v", off)
	}
	for i := range 100 {
		off = NoteRun(off, t0.Add(time.Duration(2*i)*day), t0.Add(time.Duration(2*i+1)*day), time.Hour, 1000*day)
	}
	if len(off) != maxOff {
		t.Errorf("%d periods kept", len(off))
	}
}

func TestCalendar(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	p := policy(t, `{"maintenance_windows": ["Tue,Thu 22:00-04:00", "patch_tuesday+3d 20:00-23:59"]}`, 0)
	occ := Calendar(p, at(paris, "2026-12-01 00:00"), 30, paris)
	// December 1 to 31 (excluded) 2026: Tuesdays 1, 8, 15, 22, 29; Thursdays 3, 10, 17,
	// 24; Patch Tuesday the 8th, +3d the 11th.
	if len(occ) != 10 {
		t.Fatalf("%d occurrences: %v", len(occ), occ)
	}
	for i := 1; i < len(occ); i++ {
		if occ[i].Start.Before(occ[i-1].Start) {
			t.Errorf("not sorted at %d", i)
		}
	}
	if !occ[3].Start.Equal(at(paris, "2026-12-10 22:00")) || !occ[4].Start.Equal(at(paris, "2026-12-11 20:00")) {
		t.Errorf("occurrences 3 and 4: %v %v", occ[3].Start, occ[4].Start)
	}
}
