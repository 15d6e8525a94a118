package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/wu"
)

// TestReportSchedule: the report carries the schedule's state (next window, reboot
// state) and each decision once: events the server acknowledged are not sent again; a
// refused policy is reported naming the key.
func TestReportSchedule(t *testing.T) {
	h, d := rebootHarness(t, `{"maintenance_windows": ["Thu 08:00-10:00", {"when": "Sat 22:00-23:30", "reboot": true}], "reboot": "in_window"}`, "")
	d.SetLoggedOn(true)
	sum := h.job(t) // Thursday 09:00: installs in the window; the reboot waits for Saturday's
	if byKB(sum.Updates)["KB5000004"].Status != wu.StatusOK {
		t.Fatalf("Thursday: %s", sum.Line())
	}
	rep := h.srv.lastReport(t)
	s := rep.Schedule
	if s == nil {
		t.Fatal("the report has no schedule")
	}
	sat := time.Date(2024, 2, 3, 22, 0, 0, 0, time.UTC)
	if s.Reboot != api.RebootStateWait || !s.RebootAt.Equal(sat) || s.RebootSince.IsZero() {
		t.Errorf("reboot state %q at %s since %s, want wait until %s", s.Reboot, s.RebootAt, s.RebootSince, sat)
	}
	if !s.NextWindowStart.Equal(sat) || !s.NextWindowEnd.Equal(sat.Add(90*time.Minute)) {
		t.Errorf("next window %s - %s, want Saturday's", s.NextWindowStart, s.NextWindowEnd)
	}
	var kinds []string // the install event went with the report before the install
	for _, r := range h.srv.allReports() {
		if r.Schedule != nil {
			for _, e := range r.Schedule.Events {
				kinds = append(kinds, e.Kind)
			}
		}
	}
	if strings.Join(kinds, ",") != "install,reboot-needed" {
		t.Errorf("events sent %v, want install,reboot-needed, each once", kinds)
	}
	if len(s.Lines) == 0 || len(s.Lines) > api.MaxScheduleLines {
		t.Errorf("lines %q", s.Lines)
	}

	// Nothing new an hour later: no report at all, or one without the old events.
	n := h.srv.reportCount()
	h.clock.Advance(time.Hour)
	h.job(t)
	if h.srv.reportCount() > n {
		if ev := h.srv.lastReport(t).Schedule.Events; len(ev) != 0 {
			t.Errorf("acknowledged events sent again: %+v", ev)
		}
	}

	// Saturday 22:00: the countdown is reported with only the new event.
	h.at(sat)
	h.job(t)
	s = h.srv.lastReport(t).Schedule
	if s == nil || s.Reboot != api.RebootStateCountdown || !s.RebootAt.Equal(sat.Add(15*time.Minute)) {
		t.Fatalf("countdown not reported: %+v", s)
	}
	if len(s.Events) != 1 || s.Events[0].Kind != EventCountdown {
		t.Errorf("events %+v, want the countdown only", s.Events)
	}

	// An invalid policy is reported naming the key, the previous one stays in force.
	h.srv.setRules(`{"maintenance_windows": ["Thu 08:00-10:00"], "reboot": "in_window"}`)
	h.at(sat.Add(15 * time.Minute))
	if _, err := h.agent.runCycle(ctx, opInstall, false, true); err == nil {
		t.Fatal("an invalid policy is no cycle error")
	}
	s = h.srv.lastReport(t).Schedule
	if s == nil || !strings.Contains(s.PolicyError, "reboot") || !strings.Contains(s.PolicyError, "previous valid one stays in force") {
		t.Fatalf("policy error not reported: %+v", s)
	}
	if !s.NextWindowStart.Equal(time.Date(2024, 2, 8, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("next window %s, want the previous policy's Thursday window", s.NextWindowStart)
	}
}
