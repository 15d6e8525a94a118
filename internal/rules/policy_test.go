package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func intp(n int) *int { return &n }

func TestParseWhen(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
		length            time.Duration
	}{
		{in: "Tue,Thu 22:00-04:00", want: "Tue,Thu 22:00-04:00", length: 6 * time.Hour},
		{in: "thursday,TUE 22:00-04:00", want: "Tue,Thu 22:00-04:00"},
		{in: "Mon-Fri 08:00-18:00", want: "Mon,Tue,Wed,Thu,Fri 08:00-18:00", length: 10 * time.Hour},
		{in: "Fri-Mon 20:00-23:00", want: "Mon,Fri,Sat,Sun 20:00-23:00"},
		{in: "Mon,Tue,Wed,Thu,Fri,Sat,Sun 01:00-02:00", want: "daily 01:00-02:00"},
		{in: "03:00-05:00", want: "daily 03:00-05:00"},
		{in: "daily 00:00-24:00", want: "daily 00:00-24:00", length: 24 * time.Hour},
		{in: "patch_tuesday+3d 20:00-23:59", want: "patch_tuesday+3d 20:00-23:59", length: 3*time.Hour + 59*time.Minute},
		{in: "Patch_Tuesday 20:00-23:00", want: "patch_tuesday 20:00-23:00"},
		{in: "patch_tuesday-1d 20:00-23:00", want: "patch_tuesday-1d 20:00-23:00"},
		{in: "2nd Sat 09:00-12:00", want: "2nd Sat 09:00-12:00"},
		{in: "second saturday 09:00-12:00", want: "2nd Sat 09:00-12:00"},
		{in: "last Fri+1d 9:00-12:00", want: "last Fri+1d 09:00-12:00"},
		{in: "2026-12-24 08:00-12:00", want: "2026-12-24 08:00-12:00"},
		{in: "  Tue   22:00-04:00 ", want: "Tue 22:00-04:00"},
		{in: "Tus 22:00-04:00", wantErr: `unknown day "tus"`},
		{in: "Tue,Fun 22:00-04:00", wantErr: `unknown day "fun"`},
		{in: "Mon-Fry 22:00-04:00", wantErr: `unknown day "fry"`},
		{in: "2nd Tuz 22:00-04:00", wantErr: `unknown day "tuz"`},
		{in: "5th Tue 22:00-04:00", wantErr: "want 1st, 2nd, 3rd, 4th or last"},
		{in: "Tue 22:00-22:00", wantErr: "window of zero length"},
		{in: "Tue 00:00-00:00", wantErr: "window of zero length"},
		{in: "Tue 22:00", wantErr: "want HH:MM-HH:MM"},
		{in: "Tue 25:00-26:00", wantErr: "want HH:MM from 00:00 to 23:59"},
		{in: "Tue 24:00-02:00", wantErr: "want HH:MM from 00:00 to 23:59"},
		{in: "Tue 10:5-11:00", wantErr: "want HH:MM"},
		{in: "2026-02-30 08:00-09:00", wantErr: "want YYYY-MM-DD"},
		{in: "patch_tuesday+30d 08:00-09:00", wantErr: "N from 0 to 27"},
		{in: "Tue+1d 08:00-09:00", wantErr: "offset in days applies to a monthly day"},
		{in: "", wantErr: "empty"},
	}
	for _, tt := range tests {
		w, err := ParseWhen(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseWhen(%q) = %v, %v; want error with %q", tt.in, w, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseWhen(%q): %v", tt.in, err)
			continue
		}
		if got := w.String(); got != tt.want {
			t.Errorf("ParseWhen(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := ParseWhen(w.String()); err != nil || back != w {
			t.Errorf("ParseWhen(%q) does not read its String back: %v %v", tt.in, back, err)
		}
		if tt.length != 0 && w.Length() != tt.length {
			t.Errorf("ParseWhen(%q).Length() = %v, want %v", tt.in, w.Length(), tt.length)
		}
	}
}

func TestNthWeekday(t *testing.T) {
	tests := []struct {
		y       int
		m       time.Month
		nth     int
		wd      time.Weekday
		wantDay int
		wantM   time.Month
	}{
		{2026, time.September, 2, time.Tuesday, 8, time.September}, // the month starts on a Tuesday: Patch Tuesday the 8th
		{2026, time.December, 2, time.Tuesday, 8, time.December},   // starts on a Tuesday
		{2025, time.October, 2, time.Tuesday, 14, time.October},    // starts on a Wednesday: the latest Patch Tuesday
		{2026, time.April, 2, time.Tuesday, 14, time.April},        // starts on a Wednesday
		{2026, time.July, 2, time.Tuesday, 14, time.July},          // starts on a Wednesday
		{2026, time.January, 2, time.Tuesday, 13, time.January},
		{2026, time.February, -1, time.Saturday, 28, time.February},
		{2024, time.February, -1, time.Thursday, 29, time.February}, // leap year
		{2026, time.May, 1, time.Friday, 1, time.May},
	}
	for _, tt := range tests {
		_, m, d := NthWeekday(tt.y, tt.m, tt.nth, tt.wd)
		if d != tt.wantDay || m != tt.wantM {
			t.Errorf("NthWeekday(%d, %v, %d, %v) = %v %d, want %v %d", tt.y, tt.m, tt.nth, tt.wd, m, d, tt.wantM, tt.wantDay)
		}
	}
	// patch_tuesday+20d runs into the next month.
	w, _ := ParseWhen("patch_tuesday+20d 10:00-11:00")
	if !w.OnDate(2025, time.November, 3) || w.OnDate(2025, time.October, 3) {
		t.Error("patch_tuesday+20d of October 2025 (14th) is November 3rd")
	}
	w, _ = ParseWhen("patch_tuesday-1d 10:00-11:00")
	if !w.OnDate(2026, time.September, 7) {
		t.Error("patch_tuesday-1d of September 2026 is Monday the 7th")
	}
}

func TestParsePolicy(t *testing.T) {
	got, err := Parse([]byte(`{
  "maintenance_windows": [{"when": "tue,thu 22:00-04:00", "reboot": true}, "patch_tuesday+3d 20:00-23:59", {"when": "Tue,Thu 22:00-04:00", "reboot": true}],
  "pause_until": {"Feature Packs": "2027-01-15", "*": "2026-12-31T08:00"},
  "pause_days": 7,
  "install_delay_days": 2,
  "deadline_days": 7,
  "grace_days": 3,
  "reboot": "Ask",
  "max_postpone": 3,
  "active_hours": "mon-fri 08:00-18:00",
  "catch_up_missed_windows": true,
  "install_at_shutdown": true,
  "waptexit_disable_skip_windows_updates": false
}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Rules{
		MaintenanceWindows: []Window{{When: "Tue,Thu 22:00-04:00", Reboot: true}, {When: "patch_tuesday+3d 20:00-23:59"}},
		PauseUntil:         map[string]string{"Feature Packs": "2027-01-15", "*": "2026-12-31T08:00"},
		PauseDays:          map[string]int{"*": 7},
		InstallDelayDays:   intp(2), DeadlineDays: intp(7), GraceDays: intp(3), Reboot: "ask", MaxPostpone: intp(3),
		ActiveHours: "Mon,Tue,Wed,Thu,Fri 08:00-18:00", CatchUpMissedWindows: yes(), InstallAtShutdown: yes(),
		WaptexitDisableSkipWindowsUpdates: no(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
	}
	data, err := Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(Marshal()): %v\n%s", err, data)
	}
	if diff := cmp.Diff(got, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct{ json, wantErr string }{
		{`{"maintenance_windows": ["Tus 22:00-04:00"]}`, `waptwua_rules.json: maintenance_windows[0].when = "Tus 22:00-04:00": unknown day "tus"`},
		{`{"maintenance_windows": [{"when": "Tue 22:00-22:00"}]}`, `maintenance_windows[0].when = "Tue 22:00-22:00": window of zero length`},
		{`{"maintenance_windows": [{"when": "Tue 22:00-23:00", "reboot": "yes"}]}`, `maintenance_windows[0].reboot = "yes": want true, false or null`},
		{`{"maintenance_windows": [{"start": "22:00"}]}`, `maintenance_windows[0]: unknown key "start" (known keys: when, reboot)`},
		{`{"maintenance_windows": "Tue 22:00-23:00"}`, `maintenance_windows: want a list of windows`},
		{`{"deadline_days": 2, "install_delay_days": 5}`, `deadline_days = "2": the deadline comes before the end of install_delay_days (5)`},
		{`{"deadline_days": -1}`, `deadline_days = "-1": want a whole number from 0 to 3650`},
		{`{"deadline_days": "7"}`, `deadline_days = "7": want a whole number or null`},
		{`{"max_postpone": 1000}`, `max_postpone = "1000": want a whole number from 0 to 100`},
		{`{"reboot": "sometimes"}`, `reboot = "sometimes": want never, in_window, ask or deadline`},
		{`{"reboot": true}`, `reboot = true: want a string, never, in_window, ask or deadline`},
		{`{"active_hours": "2nd Sat 08:00-18:00"}`, `active_hours = "2nd Sat 08:00-18:00": want days of the week and hours`},
		{`{"active_hours": "Mon-Fry 08:00-18:00"}`, `active_hours = "Mon-Fry 08:00-18:00": unknown day "fry"`},
		{`{"pause_until": "15/01/2027"}`, `pause_until.* = "15/01/2027": want a date YYYY-MM-DD`},
		{`{"pause_until": {"Upgrades": 5}}`, `pause_until.Upgrades = 5: want a date`},
		{`{"pause_until": {"Upgrades": "2027-01-01", "upgrades": "2027-02-01"}}`, `same classification as`},
		{`{"pause_until": [1]}`, `pause_until = [1]: want a date`},
		{`{"pause_days": {"*": -3}}`, `pause_days.* = "-3": want a whole number of days from 0 to 3650`},
		{`{"pause_days": {" ": 3}}`, `pause_days = " ": classification: empty name`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.json))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Parse(%s) = %v, want an error with %q", tt.json, err, tt.wantErr)
		}
	}
}

func TestMergePolicy(t *testing.T) {
	ini := Rules{InstallAtShutdown: no(), ActiveHours: "daily 08:00-18:00"}
	p1 := Rules{
		MaintenanceWindows: []Window{{When: "Tue 22:00-04:00"}},
		PauseUntil:         map[string]string{"Feature Packs": "2027-01-15", "*": "2026-12-01"},
		PauseDays:          map[string]int{"Upgrades": 30},
		DeadlineDays:       intp(7), Reboot: RebootAsk, MaxPostpone: intp(2),
	}
	p2 := Rules{
		MaintenanceWindows: []Window{{When: "Tue 22:00-04:00"}, {When: "2nd Sat 09:00-12:00", Reboot: true}},
		PauseUntil:         map[string]string{"feature packs": "2027-02-01"},
		DeadlineDays:       intp(10), InstallAtShutdown: yes(), Reboot: RebootInWindow,
	}
	got := Merge(ini, p1, p2)
	if diff := cmp.Diff([]Window{{When: "Tue 22:00-04:00"}, {When: "2nd Sat 09:00-12:00", Reboot: true}}, got.MaintenanceWindows); diff != "" {
		t.Errorf("windows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"feature packs": "2027-02-01", "*": "2026-12-01"}, got.PauseUntil); diff != "" {
		t.Errorf("pause_until (-want +got):\n%s", diff)
	}
	if *got.DeadlineDays != 10 || *got.MaxPostpone != 2 || got.Reboot != RebootInWindow || !*got.InstallAtShutdown ||
		got.ActiveHours != "daily 08:00-18:00" || got.PauseDays["Upgrades"] != 30 {
		t.Errorf("scalars: %+v", got)
	}
	// The inputs are not changed.
	if p1.PauseUntil["Feature Packs"] != "2027-01-15" || *p1.DeadlineDays != 7 {
		t.Error("Merge changed its input")
	}
	if err := got.CheckPolicy(0); err != nil {
		t.Errorf("CheckPolicy: %v", err)
	}
}

func TestCheckPolicy(t *testing.T) {
	tests := []struct {
		desc    string
		r       Rules
		delay   time.Duration
		wantErr string
	}{
		{"fine", Rules{DeadlineDays: intp(7)}, 3 * 24 * time.Hour, ""},
		{"deadline before the ini delay", Rules{DeadlineDays: intp(2)}, 3 * 24 * time.Hour, "deadline_days = \"2\": the deadline comes before the end of the install delay (72h0m0s)"},
		{"deadline before install_delay_days", Rules{DeadlineDays: intp(2), InstallDelayDays: intp(3)}, 0, "deadline_days"},
		{"in_window without a reboot window", Rules{Reboot: RebootInWindow, MaintenanceWindows: []Window{{When: "Tue 22:00-23:00"}}}, 0, `reboot = "in_window": no maintenance window allows reboots`},
		{"deadline without deadline_days", Rules{Reboot: RebootDeadline}, 0, `reboot = "deadline": needs deadline_days`},
		{"bad window", Rules{MaintenanceWindows: []Window{{When: "Tue 22:00-22:00"}}}, 0, "window of zero length"},
	}
	for _, tt := range tests {
		err := tt.r.CheckPolicy(tt.delay)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.desc, err)
			}
			continue
		}
		var fe *FieldError
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &fe) {
			t.Errorf("%s: %v, want a *FieldError with %q", tt.desc, err, tt.wantErr)
		}
	}
}
