package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua/sim"
)

// Reboot implements sim.Restartable: the fake host's pending restart is done.
func (f *fakeWUA) Reboot(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reboot = false
	return nil
}

// rebootHarness: KB5000004 is approved and downloaded and asks for a restart when
// installed; the server's rules are rulesJSON; the desktop is the Notifier and Rebooter.
// The clock starts on Thursday 2024-02-01 09:00 UTC.
func rebootHarness(t *testing.T, rulesJSON string, iniExtra string) (*harness, *sim.Desktop) {
	t.Helper()
	h := newHarness(t, "enabled = True\nallowed_kbs = KB5000004"+iniExtra, fleetUpdates(time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC))...)
	h.wua.rebootAfter[wu.UpdateKey{UpdateID: guid(4), RevisionNumber: 204}] = true
	h.srv.publish("5000004")
	h.srv.setRules(rulesJSON)
	d := sim.NewDesktop(h.wua)
	h.rebuild(WithNotifier(d), WithRebooter(d))
	if _, err := h.agent.Download(ctx, false); err != nil {
		t.Fatal(err)
	}
	return h, d
}

// job runs the service's install job at the clock's time and returns the summary.
func (h *harness) job(t *testing.T) *Summary {
	t.Helper()
	sum, err := h.agent.runCycle(ctx, opInstall, false, true)
	if err != nil {
		t.Fatalf("install job at %s: %v", h.clock.Now(), err)
	}
	return sum
}

// at moves the clock to t.
func (h *harness) at(t time.Time) { h.clock.Advance(t.Sub(h.clock.Now())) }

func eventKinds(evs []ScheduleEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

func hasEvent(evs []ScheduleEvent, kind, text string) bool {
	for _, e := range evs {
		if e.Kind == kind && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}

func TestRebootNeverOnlyReports(t *testing.T) {
	h, d := rebootHarness(t, `{}`, "")
	d.SetLoggedOn(true)
	sum := h.job(t)
	if byKB(sum.Updates)["KB5000004"].Status != wu.StatusOK || !sum.RebootRequired {
		t.Fatalf("install: %s", sum.Line())
	}
	h.clock.Advance(48 * time.Hour)
	sum = h.job(t)
	if len(d.Restarts()) != 0 || len(d.Messages()) != 0 {
		t.Fatalf("reboot = never restarted or asked: %v %v", d.Restarts(), d.Messages())
	}
	if !hasEvent(sum.Events, EventRebootNeeded, "reboot = never") || !sum.RebootRequired || !h.srv.lastReport(t).RebootPending {
		t.Errorf("reboot needed not reported: events %v, %s", sum.Events, sum.Line())
	}
	if !strings.Contains(strings.Join(sum.Schedule, "\n"), "reboot = never") {
		t.Errorf("status does not say it: %q", sum.Schedule)
	}
}

func TestRebootInWindow(t *testing.T) {
	h, d := rebootHarness(t, `{"maintenance_windows": ["Thu 08:00-10:00", {"when": "Sat 22:00-23:30", "reboot": true}], "reboot": "in_window"}`, "")
	d.SetLoggedOn(true)
	sum := h.job(t) // Thursday 09:00: installs in the Thursday window, which allows no reboot
	if byKB(sum.Updates)["KB5000004"].Status != wu.StatusOK || len(d.Restarts()) != 0 {
		t.Fatalf("Thursday: %s, restarts %v", sum.Line(), d.Restarts())
	}
	if !hasEvent(sum.Events, EventRebootNeeded, "waiting for the reboot window") {
		t.Errorf("events %v", sum.Events)
	}
	sat := time.Date(2024, 2, 3, 22, 0, 0, 0, time.UTC)
	h.at(sat.Add(-time.Minute))
	h.job(t)
	if len(d.Restarts()) != 0 {
		t.Fatal("restarted before the reboot window")
	}
	h.at(sat)
	sum = h.job(t)
	if !sum.Reboot.At.Equal(sat.Add(15*time.Minute)) || len(d.Restarts()) != 0 {
		t.Fatalf("in the window: restart at %s, restarts %v", sum.Reboot.At, d.Restarts())
	}
	if m := d.Messages(); len(m) != 1 || m[0].Question || !strings.Contains(m[0].Text, "22:15") {
		t.Fatalf("countdown message %+v", m)
	}
	if st, _ := h.agent.Status(); !st.ScheduleNext.Equal(sat.Add(15 * time.Minute)) {
		t.Errorf("the job must wake at the end of the countdown, next %s", st.ScheduleNext)
	}
	h.at(sat.Add(15 * time.Minute))
	sum = h.job(t)
	if len(d.Restarts()) != 1 || sum.RebootRequired || !sum.Reboot.Since.IsZero() {
		t.Fatalf("after the countdown: restarts %v, %s, reboot %+v", d.Restarts(), sum.Line(), sum.Reboot)
	}
	if got := eventKinds(sum.Events); strings.Join(got, ",") != "install,reboot-needed,reboot-countdown,restart" {
		t.Errorf("events %v", got)
	}
}

func TestRebootAskPostponesThenForces(t *testing.T) {
	h, d := rebootHarness(t, `{"reboot": "ask", "max_postpone": 2}`, "")
	d.SetLoggedOn(true)
	d.Script(sim.AnswerNo) // then nobody answers
	start := h.clock.Now()
	h.job(t)
	if m := d.Messages(); len(m) != 1 || !m[0].Question || m[0].Answer != sim.AnswerNo || m[0].Timeout != AskTimeout {
		t.Fatalf("first question %+v", m)
	}
	h.at(start.Add(30 * time.Minute)) // postponed for an hour: not asked again
	h.job(t)
	if len(d.Messages()) != 1 {
		t.Fatalf("asked again during the postponement: %+v", d.Messages())
	}
	h.at(start.Add(time.Hour))
	h.job(t) // asked again, no answer: second postponement
	h.at(start.Add(2 * time.Hour))
	sum := h.job(t) // max_postpone reached: forced, after a countdown
	m := d.Messages()
	if len(m) != 3 || !m[1].Question || m[2].Question || len(d.Restarts()) != 0 {
		t.Fatalf("messages %+v, restarts %v", m, d.Restarts())
	}
	if sum.Reboot.Postponed != 2 || !sum.Reboot.At.Equal(start.Add(2*time.Hour+15*time.Minute)) {
		t.Fatalf("reboot state %+v", sum.Reboot)
	}
	h.at(sum.Reboot.At)
	sum = h.job(t)
	if len(d.Restarts()) != 1 || sum.RebootRequired {
		t.Fatalf("not restarted after the countdown: %v", d.Restarts())
	}
	want := "install,reboot-ask,reboot-postponed,reboot-needed,reboot-ask,reboot-postponed,reboot-countdown,restart"
	if got := strings.Join(eventKinds(sum.Events), ","); got != want {
		t.Errorf("events %s, want %s", got, want)
	}
}

func TestRebootAskAccepted(t *testing.T) {
	h, d := rebootHarness(t, `{"reboot": "ask", "max_postpone": 2}`, "")
	d.SetLoggedOn(true)
	d.Script(sim.AnswerYes)
	sum := h.job(t)
	if len(d.Restarts()) != 1 || sum.RebootRequired || !hasEvent(sum.Events, EventRebootAccepted, "") {
		t.Fatalf("accepted restart: %v, %s, %v", d.Restarts(), sum.Line(), sum.Events)
	}
}

func TestRebootAskNobodyLoggedOnForces(t *testing.T) {
	h, d := rebootHarness(t, `{"reboot": "ask", "max_postpone": 2}`, "")
	sum := h.job(t)
	if !hasEvent(sum.Events, EventCountdown, "nobody is logged on") || len(d.Messages()) != 0 {
		t.Fatalf("events %v, messages %v", sum.Events, d.Messages())
	}
}

// TestRebootDeadlineNotInActiveHours: past the deadline the reboot is forced, but not
// before the active hours end.
func TestRebootDeadlineNotInActiveHours(t *testing.T) {
	h, d := rebootHarness(t, `{"reboot": "deadline", "deadline_days": 1, "active_hours": "Mon-Fri 08:00-18:00"}`, "")
	d.SetLoggedOn(true)
	sum := h.job(t) // Thursday 09:00, deadline (approval 2024-01-09 + 1 day) long past
	if byKB(sum.Updates)["KB5000004"].Status != wu.StatusOK || !hasEvent(sum.Events, EventRebootNeeded, "after the active hours") {
		t.Fatalf("%s, events %v", sum.Line(), sum.Events)
	}
	for _, hh := range []int{12, 17} {
		h.at(time.Date(2024, 2, 1, hh, 59, 0, 0, time.UTC))
		h.job(t)
		if len(d.Restarts()) != 0 || len(d.Messages()) != 0 {
			t.Fatalf("%d:59, in the active hours: restarts %v, messages %v", hh, d.Restarts(), d.Messages())
		}
	}
	end := time.Date(2024, 2, 1, 18, 0, 0, 0, time.UTC)
	h.at(end)
	sum = h.job(t)
	if !sum.Reboot.At.Equal(end.Add(15*time.Minute)) || len(d.Messages()) != 1 {
		t.Fatalf("after the active hours: %+v, %v", sum.Reboot, d.Messages())
	}
	h.at(sum.Reboot.At)
	if h.job(t); len(d.Restarts()) != 1 {
		t.Fatal("not restarted after the countdown")
	}
}

// TestShutdownSkipThisTime: install_at_shutdown from the rules; the logged-on user may
// skip it, unless waptexit_disable_skip_windows_updates.
func TestShutdownSkipThisTime(t *testing.T) {
	h, d := rebootHarness(t, `{"install_at_shutdown": true, "maintenance_windows": ["Sat 22:00-23:30"]}`, "")
	d.SetLoggedOn(true)
	d.Script(sim.AnswerNo)
	sum, err := h.agent.Shutdown(ctx)
	if err != nil || sum == nil {
		t.Fatalf("shutdown: %v %v", sum, err)
	}
	if len(h.wua.installs) != 0 || !hasEvent(sum.Events, EventShutdownSkip, "skipped") {
		t.Fatalf("skipped: installs %v, events %v", h.wua.installs, sum.Events)
	}
	if m := d.Messages(); len(m) != 1 || !m[0].Question || m[0].Timeout != ShutdownAskTimeout {
		t.Fatalf("question %+v", m)
	}
	// Skipping disabled: no question, installed (outside the windows: shutdown is the opportunity).
	h.srv.setRules(`{"install_at_shutdown": true, "waptexit_disable_skip_windows_updates": true, "maintenance_windows": ["Sat 22:00-23:30"]}`)
	d.Script(sim.AnswerNo)
	sum, err = h.agent.Shutdown(ctx)
	if err != nil || len(h.wua.installs) != 1 || len(d.Messages()) != 1 || byKB(sum.Updates)["KB5000004"].Status != wu.StatusOK {
		t.Fatalf("no skip: %v, installs %v, messages %v", err, h.wua.installs, d.Messages())
	}
	if !hasEvent(sum.Events, EventShutdown, "no skipping") {
		t.Errorf("events %v", sum.Events)
	}
}

// TestShutdownOffByDefault: without install_at_shutdown (ini nor rules) nothing runs.
func TestShutdownOffByDefault(t *testing.T) {
	h, _ := rebootHarness(t, `{}`, "")
	if sum, err := h.agent.Shutdown(ctx); sum != nil || err != nil || len(h.wua.installs) != 0 {
		t.Fatalf("shutdown without install_at_shutdown: %v %v %v", sum, err, h.wua.installs)
	}
}

// TestInvalidPolicyKeepsPrevious: rules that make the merged policy invalid are refused
// naming the key; the last valid policy stays in force.
func TestInvalidPolicyKeepsPrevious(t *testing.T) {
	h, _ := rebootHarness(t, `{"maintenance_windows": ["Thu 08:00-10:00"]}`, "") // valid, kept
	h.srv.setRules(`{"maintenance_windows": ["Sat 22:00-23:30"], "reboot": "in_window"}`)
	sum, err := h.agent.runCycle(ctx, opInstall, false, true)
	if err == nil || !strings.Contains(err.Error(), "reboot") || !strings.Contains(err.Error(), "previous valid one stays in force") {
		t.Fatalf("refusal %v", err)
	}
	// Thursday 09:00: the previous policy's window is open, the refused one's is not.
	if byKB(sum.Updates)["KB5000004"].Status != wu.StatusOK {
		t.Fatalf("previous policy not in force: %s", sum.Line())
	}
	if !strings.Contains(sum.LastError, "reboot") || !strings.Contains(h.srv.lastReport(t).LastError, "reboot") {
		t.Errorf("refusal not reported: %q", sum.LastError)
	}
}

// TestInvalidPolicyWithoutPrevious: with no valid policy ever, nothing installs on
// schedule.
func TestInvalidPolicyWithoutPrevious(t *testing.T) {
	h := newHarness(t, "enabled = True\nallowed_kbs = KB5000004", fleetUpdates(time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC))...)
	h.srv.publish("5000004")
	h.srv.setRules(`{"maintenance_windows": ["Thu 08:00-10:00"], "reboot": "deadline"}`)
	if _, err := h.agent.Download(ctx, false); err == nil || !strings.Contains(err.Error(), "deadline_days") {
		t.Fatalf("download: %v", err)
	}
	sum, err := h.agent.runCycle(ctx, opInstall, false, true)
	if err == nil || !strings.Contains(err.Error(), "deadline_days") || len(h.wua.installs) != 0 {
		t.Fatalf("err %v, installs %v, %s", err, h.wua.installs, sum.Line())
	}
}

// TestServeRestartsAtCountdownEnd: the service's install job wakes in the reboot window,
// announces the restart, and wakes again at the end of the countdown to restart, with a
// weekly install_scheduling.
func TestServeRestartsAtCountdownEnd(t *testing.T) {
	h, d := rebootHarness(t, `{"maintenance_windows": [{"when": "Sat 22:00-23:30", "reboot": true}], "reboot": "in_window"}`,
		"\ndownload_scheduling = 7d\ninstall_scheduling = 7d")
	// Installed now by an administrator's command (not gated): a reboot is required.
	if sum, err := h.agent.Install(ctx); err != nil || !sum.RebootRequired {
		t.Fatalf("install: %v", err)
	}
	events, stop := serve(t, h.agent, ServeOptions{})
	defer stop()
	for range 2 { // the first download and install jobs
		nextEvent(t, events)
	}
	if len(d.Restarts()) != 0 {
		t.Fatal("restarted outside the reboot window")
	}
	sat := time.Date(2024, 2, 3, 22, 0, 0, 0, time.UTC)
	h.clock.Advance(sat.Sub(h.clock.Now()))
	e := nextEvent(t, events)
	if e.kind != "install" || !e.sum.Reboot.At.Equal(sat.Add(15*time.Minute)) || len(d.Restarts()) != 0 {
		t.Fatalf("at the window: %s, reboot %+v, restarts %v", e.kind, e.sum.Reboot, d.Restarts())
	}
	h.clock.Advance(15 * time.Minute)
	e = nextEvent(t, events)
	if len(d.Restarts()) != 1 || e.sum.RebootRequired {
		t.Fatalf("at the end of the countdown: restarts %v, %s", d.Restarts(), e.sum.Line())
	}
}
