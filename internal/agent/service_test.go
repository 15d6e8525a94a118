package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

func TestScheduleNext(t *testing.T) {
	now := time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)
	boot := now.Add(-time.Minute)
	s := Schedule{PostbootDelay: 10 * time.Minute, Boot: boot}
	tests := []struct {
		desc   string
		period time.Duration
		last   time.Time
		want   time.Time
	}{
		{"not scheduled", 0, time.Time{}, time.Time{}},
		{"never ran: after postboot_delay", 12 * time.Hour, time.Time{}, boot.Add(10 * time.Minute)},
		{"ran before the boot, due: after postboot_delay", 12 * time.Hour, now.Add(-13 * time.Hour), boot.Add(10 * time.Minute)},
		{"ran recently: last + period", 12 * time.Hour, now.Add(-2 * time.Hour), now.Add(10 * time.Hour)},
		{"clock went back: from now", 12 * time.Hour, now.Add(48 * time.Hour), now.Add(12 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := s.Next(tt.period, tt.last, now); !got.Equal(tt.want) {
				t.Errorf("Next() = %v, want %v", got, tt.want)
			}
		})
	}
	// Long after boot, a job that never ran is due now.
	late := Schedule{PostbootDelay: 10 * time.Minute, Boot: now.Add(-24 * time.Hour)}
	if got := late.Next(time.Hour, time.Time{}, now); !got.Equal(now) {
		t.Errorf("Next() = %v, want now", got)
	}
}

type cycleEvent struct {
	kind api.CommandKind
	sum  *Summary
	err  error
}

// serve runs Serve in the background and returns its events; stop ends it.
func serve(t *testing.T, a *Agent, o ServeOptions) (events chan cycleEvent, stop func()) {
	t.Helper()
	events = make(chan cycleEvent, 20)
	o.OnCycle = func(k api.CommandKind, s *Summary, err error) { events <- cycleEvent{k, s, err} }
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(c, o) }()
	return events, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve() = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not stop")
		}
	}
}

func nextEvent(t *testing.T, events chan cycleEvent) cycleEvent {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no cycle ran")
	}
	return cycleEvent{}
}

func noEvent(t *testing.T, events chan cycleEvent, why string) {
	t.Helper()
	select {
	case e := <-events:
		t.Fatalf("%s: a %s cycle ran", why, e.kind)
	case <-time.After(50 * time.Millisecond):
	}
}

// unregistered gives the harness an agent without credential: no long-poll, ini rules.
func (h *harness) unregistered() {
	h.t.Helper()
	repo, _ := h.cfg.WUARepoURL()
	a, err := New(h.cfg, h.wua, NewClient(h.srv.srv.Client(), "", repo, nil, ""), filepath.Join(h.dir, "data"),
		WithClock(h.clock), WithDiskSpace(h.disk), WithLogger(discard))
	if err != nil {
		h.t.Fatal(err)
	}
	h.agent = a
}

func TestServeSchedules(t *testing.T) {
	now := time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)
	h := newHarness(t, "enabled = True\ndownload_scheduling = 12h\ninstall_scheduling = 1d\npostboot_delay = 10m\nallowed_kbs = KB5000004",
		fleetUpdates(now)...)
	h.srv.publish("5000004")
	h.unregistered()
	events, stop := serve(t, h.agent, ServeOptions{Boot: now.Add(-time.Minute)})
	defer stop()

	h.clock.Advance(8 * time.Minute)
	noEvent(t, events, "inside postboot_delay")
	h.clock.Advance(time.Minute) // boot + 10m
	e := nextEvent(t, events)
	if e.kind != api.CommandDownload || e.err != nil || e.sum.Status != StatusReady {
		t.Fatalf("first job: %s %v %v", e.kind, e.sum.Line(), e.err)
	}
	e = nextEvent(t, events)
	if e.kind != api.CommandInstall || e.err != nil || byKB(e.sum.Updates)["KB5000004"].Status != wu.StatusOK {
		t.Fatalf("install job: %s %v %v", e.kind, e.sum.Line(), e.err)
	}
	h.clock.Advance(11 * time.Hour)
	noEvent(t, events, "before download_scheduling")
	h.clock.Advance(time.Hour)
	if e := nextEvent(t, events); e.kind != api.CommandDownload {
		t.Fatalf("second job %s", e.kind)
	}
	if h.wua.scanCount() != 2 { // the install changed the history
		t.Errorf("scans = %d, want 2", h.wua.scanCount())
	}
	// Nothing pending at the next install time: the job does nothing.
	h.clock.Advance(12 * time.Hour)
	if e := nextEvent(t, events); e.kind != api.CommandDownload {
		t.Fatalf("third job %s", e.kind)
	}
	noEvent(t, events, "install with nothing pending")
	if len(h.wua.installs) != 1 {
		t.Errorf("install batches = %v", h.wua.installs)
	}
}

func TestServeRetriesWhenWUABusy(t *testing.T) {
	now := time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)
	h := newHarness(t, "download_scheduling = 1d\npostboot_delay = 0", fleetUpdates(now)...)
	h.unregistered()
	h.wua.busy = 1
	events, stop := serve(t, h.agent, ServeOptions{Boot: now.Add(-time.Hour), BusyRetry: 15 * time.Minute})
	defer stop()
	e := nextEvent(t, events)
	if !errors.Is(e.err, wua.ErrBusy) || !e.sum.Busy {
		t.Fatalf("first job: %v", e.err)
	}
	h.clock.Advance(14 * time.Minute)
	noEvent(t, events, "before the busy retry")
	h.clock.Advance(time.Minute)
	if e := nextEvent(t, events); e.err != nil || e.sum.Status == StatusErrorScanning {
		t.Fatalf("retry: %v %s", e.err, e.sum.Status)
	}
}

func TestServeRunsPushedCommandWithinLongPoll(t *testing.T) {
	h := newFleet(t)
	events, stop := serve(t, h.agent, ServeOptions{CommandWait: 20 * time.Second})
	defer stop()
	// Let the agent start waiting, then push.
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.countRequests("GET /api/v1/hosts/"+testUUID+"/commands") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	id := h.srv.queue(api.CommandScan)
	select {
	case got := <-h.srv.resultCh:
		if got != id {
			t.Fatalf("result for command %s, want %s", got, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no command result")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("command ran after %v: the long-poll did not deliver it at once", took)
	}
	res := h.srv.results[id]
	if !res.OK || !strings.Contains(res.Message, "status PENDING_UPDATES") {
		t.Errorf("result = %+v", res)
	}
	if e := nextEvent(t, events); e.kind != api.CommandScan || !e.sum.Scanned {
		t.Errorf("event %s scanned=%v", e.kind, e.sum.Scanned)
	}
	// An install pushed the same way installs.
	id = h.srv.queue(api.CommandInstall)
	<-h.srv.resultCh
	if res := h.srv.results[id]; !res.OK || len(h.wua.installs) != 1 {
		t.Errorf("install result %+v, batches %v", res, h.wua.installs)
	}
	// An unknown command is answered, not ignored.
	id = h.srv.queue("defragment")
	<-h.srv.resultCh
	if res := h.srv.results[id]; res.OK || !strings.Contains(res.Message, "unknown command") {
		t.Errorf("unknown command result %+v", res)
	}
}

func TestShutdownInstallsPending(t *testing.T) {
	for _, tt := range []struct {
		ini         string
		wantInstall bool
	}{
		{"enabled = True\ninstall_at_shutdown = True", true},
		{"enabled = True\ninstall_at_shutdown = False", false},
		{"install_at_shutdown = True", false}, // enabled absent: scan only
	} {
		t.Run(strings.ReplaceAll(tt.ini, "\n", ", "), func(t *testing.T) {
			now := time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)
			h := newHarness(t, tt.ini+"\nallowed_kbs = KB5000004", fleetUpdates(now)...)
			h.srv.publish("5000004")
			if _, err := h.agent.Download(ctx, false); err != nil {
				t.Fatal(err)
			}
			h.rebuild() // the service process
			h.wua.forget()
			sum, err := h.agent.Shutdown(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(h.wua.installs) == 1; got != tt.wantInstall {
				t.Fatalf("installed = %v, want %v", got, tt.wantInstall)
			}
			if tt.wantInstall && byKB(sum.Updates)["KB5000004"].Status != wu.StatusOK {
				t.Errorf("after shutdown install: %s", sum.Line())
			}
		})
	}
}

func TestServeRetriesBusyCommand(t *testing.T) {
	h := newFleet(t)
	h.wua.busy = 1
	events, stop := serve(t, h.agent, ServeOptions{CommandWait: 20 * time.Second, BusyRetry: 15 * time.Minute})
	defer stop()
	id := h.srv.queue(api.CommandScan)
	select {
	case <-h.srv.resultCh:
	case <-time.After(10 * time.Second):
		t.Fatal("no command result")
	}
	h.srv.mu.Lock()
	res := h.srv.results[id]
	h.srv.mu.Unlock()
	if res.OK || !strings.Contains(res.Message, "busy") || !strings.Contains(res.Message, "retried at 2024-02-01T09:15:00Z") {
		t.Errorf("result = %+v", res)
	}
	if e := nextEvent(t, events); !e.sum.Busy {
		t.Fatalf("first run not busy: %v", e.err)
	}
	h.clock.Advance(14 * time.Minute)
	noEvent(t, events, "before the busy retry")
	h.clock.Advance(time.Minute)
	if e := nextEvent(t, events); e.kind != api.CommandScan || e.err != nil || !e.sum.Scanned {
		t.Fatalf("retry: %s %v", e.kind, e.err)
	}
}

// TestServeRunsRedeliveredCommandOnce: a command delivered again (at least once) is not
// run twice; its recorded result is posted again, also after a restart of the agent.
func TestServeRunsRedeliveredCommandOnce(t *testing.T) {
	h := newFleet(t)
	_, stop := serve(t, h.agent, ServeOptions{CommandWait: 20 * time.Second})
	id := h.srv.queue(api.CommandInstall)
	waitResult := func() api.CommandResult {
		t.Helper()
		select {
		case got := <-h.srv.resultCh:
			if got != id {
				t.Fatalf("result for command %s, want %s", got, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no command result")
		}
		h.srv.mu.Lock()
		defer h.srv.mu.Unlock()
		return h.srv.results[id]
	}
	first := waitResult()
	if !first.OK || len(h.wua.installs) != 1 {
		t.Fatalf("first delivery: %+v, %d install batches", first, len(h.wua.installs))
	}
	h.srv.redeliver(id, api.CommandInstall)
	if again := waitResult(); again != first {
		t.Errorf("result posted again = %+v, want the recorded %+v", again, first)
	}
	if n := len(h.wua.installs); n != 1 {
		t.Errorf("the redelivered command ran again: %d install batches", n)
	}
	stop()

	st, err := LoadState(h.agent.dataDir)
	if err != nil || len(st.Commands) != 1 || st.Commands[0].ID != id || st.Commands[0].Result != first {
		t.Fatalf("state commands: %+v, %v", st.Commands, err)
	}
	// Only the last MaxCommandRecords are kept.
	for i := 0; i < MaxCommandRecords+5; i++ {
		if err := h.agent.recordCommand(api.Command{ID: fmt.Sprintf("x%d", i), Kind: api.CommandScan}, api.CommandResult{OK: true}); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := LoadState(h.agent.dataDir); len(st.Commands) != MaxCommandRecords || st.Commands[0].ID != "x5" {
		t.Errorf("after %d records: %d kept, first %q", MaxCommandRecords+6, len(st.Commands), st.Commands[0].ID)
	}
}

// TestScheduledInstallFollowsMaintenanceWindows: the service's install job installs
// only inside a maintenance window of the rules; commands and waptwua-install are not
// gated.
func TestScheduledInstallFollowsMaintenanceWindows(t *testing.T) {
	h := newHarness(t, "enabled = True\nallowed_kbs = KB5000004", fleetUpdates(time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC))...)
	h.srv.publish("5000004")
	// Thursday 2024-02-01 09:00 UTC: outside a Saturday night window.
	h.srv.setRules(`{"maintenance_windows": ["Sat 22:00-23:30"]}`)
	if _, err := h.agent.Download(ctx, false); err != nil {
		t.Fatal(err)
	}
	sum, err := h.agent.runCycle(ctx, opInstall, false, true)
	if err != nil {
		t.Fatalf("scheduled install outside the window: %v", err)
	}
	if len(h.wua.installs) != 0 || byKB(sum.Updates)["KB5000004"].Status == wu.StatusOK {
		t.Fatalf("installed outside the maintenance window: %v", h.wua.installs)
	}
	// waptwua-status explains it, and says when it changes (Saturday 22:00).
	st, err := h.agent.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(st.Schedule, "\n"), "Sat") || !st.ScheduleNext.Equal(time.Date(2024, 2, 3, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("status schedule %q, next %s", st.Schedule, st.ScheduleNext)
	}
	// Inside a window: installed.
	h.srv.setRules(`{"maintenance_windows": ["Thu 08:00-10:00"]}`)
	sum, err = h.agent.runCycle(ctx, opInstall, false, true)
	if err != nil {
		t.Fatalf("scheduled install inside the window: %v", err)
	}
	if len(h.wua.installs) != 1 || byKB(sum.Updates)["KB5000004"].Status != wu.StatusOK {
		t.Fatalf("not installed inside the window: %v, %s", h.wua.installs, sum.Line())
	}
}

// TestInstallCommandIgnoresWindows: an administrator's install is not held.
func TestInstallCommandIgnoresWindows(t *testing.T) {
	h := newHarness(t, "enabled = True\nallowed_kbs = KB5000004", fleetUpdates(time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC))...)
	h.srv.publish("5000004")
	h.srv.setRules(`{"maintenance_windows": ["Sat 22:00-23:30"]}`)
	if _, err := h.agent.Install(ctx); err != nil {
		t.Fatal(err)
	}
	if len(h.wua.installs) != 1 {
		t.Fatalf("waptwua-install held by the windows: %v", h.wua.installs)
	}
}

// TestServeWakesAtMaintenanceWindow: with a weekly install job, the install happens
// when the window opens, not a week later.
func TestServeWakesAtMaintenanceWindow(t *testing.T) {
	now := time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC) // Thursday
	h := newHarness(t, "enabled = True\ndownload_scheduling = 7d\ninstall_scheduling = 7d\npostboot_delay = 10m\nallowed_kbs = KB5000004",
		fleetUpdates(now)...)
	h.srv.publish("5000004")
	h.srv.setRules(`{"maintenance_windows": ["Sat 22:00-23:30"]}`)
	events, stop := serve(t, h.agent, ServeOptions{Boot: now.Add(-time.Minute)})
	defer stop()

	h.clock.Advance(9 * time.Minute) // boot + 10m
	if e := nextEvent(t, events); e.kind != api.CommandDownload || e.err != nil {
		t.Fatalf("first job: %s %v", e.kind, e.err)
	}
	if e := nextEvent(t, events); e.kind != api.CommandInstall || byKB(e.sum.Updates)["KB5000004"].Status == wu.StatusOK {
		t.Fatalf("install job outside the window: %s %s", e.kind, e.sum.Line())
	}
	if len(h.wua.installs) != 0 {
		t.Fatalf("installed outside the window: %v", h.wua.installs)
	}
	// Saturday 21:59: still nothing; 22:00: the job wakes and installs.
	h.clock.Advance(time.Date(2024, 2, 3, 21, 59, 0, 0, time.UTC).Sub(h.clock.Now()))
	noEvent(t, events, "before the window")
	h.clock.Advance(time.Minute)
	e := nextEvent(t, events)
	if e.kind != api.CommandInstall || e.err != nil || byKB(e.sum.Updates)["KB5000004"].Status != wu.StatusOK {
		t.Fatalf("at the window: %s %v %v", e.kind, e.sum.Line(), e.err)
	}
}

// TestServeRecordsOffPeriods: the service's heartbeat; a gap longer than two
// heartbeats (host off, service stopped) is kept as a period off for the schedule.
func TestServeRecordsOffPeriods(t *testing.T) {
	h := newFleet(t)
	start := h.clock.Now()
	_, stop := serve(t, h.agent, ServeOptions{CommandWait: time.Second})
	waitFor := func(what string, ok func(*State) bool) *State {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := LoadState(h.agent.dataDir)
			if err == nil && ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: state %+v", what, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("first heartbeat", func(st *State) bool { return st.LastAlive.Equal(start) })
	h.clock.Advance(Heartbeat)
	waitFor("second heartbeat", func(st *State) bool { return st.LastAlive.Equal(start.Add(Heartbeat)) })
	stop()
	// Three days later the service starts again.
	h.clock.Advance(72 * time.Hour)
	_, stop = serve(t, h.agent, ServeOptions{CommandWait: time.Second})
	defer stop()
	st := waitFor("off period", func(st *State) bool { return len(st.Off) == 1 })
	if !st.Off[0].Start.Equal(start.Add(Heartbeat)) || !st.Off[0].End.Equal(start.Add(Heartbeat+72*time.Hour)) {
		t.Errorf("off period %+v", st.Off[0])
	}
}
