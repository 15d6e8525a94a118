package agent

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua/sim"
)

// simHost is one simulated agent of TestAgentSchedule45Days: its own fake server, fake
// WUA and desktop, a clock in Europe/Paris, and the periods it is switched off.
type simHost struct {
	name string
	h    *harness
	d    *sim.Desktop
	off  [][2]time.Time
	cab  int
	// releases are the approvals of updates, by time.
	releases map[time.Time][]rel
}

// rel is the approval of update n (KB kb), which asks for a restart when reboot.
type rel struct {
	n      int
	kb     string
	reboot bool
}

func newSimHost(t *testing.T, name, rulesJSON string, start time.Time, kbs []string) *simHost {
	t.Helper()
	h := newHarness(t, "enabled = True\ndownload_scheduling = 6h\ninstall_scheduling = 6h\nallowed_kbs = "+strings.Join(kbs, ","))
	h.clock = newFakeClock(start)
	h.srv.setRules(rulesJSON)
	d := sim.NewDesktop(h.wua)
	h.rebuild(WithClock(h.clock), WithNotifier(d), WithRebooter(d))
	return &simHost{name: name, h: h, d: d}
}

// release approves a new update now: WUA finds it at the next scan of the new catalog.
func (s *simHost) release(n int, kb string, reboot bool) {
	now := s.h.clock.Now()
	u := mkUpdate(n, kb, wu.SeverityImportant, deployed(now))
	s.h.wua.mu.Lock()
	s.h.wua.updates = append(s.h.wua.updates, u)
	if reboot {
		s.h.wua.rebootAfter[u.Key] = true
	}
	s.h.wua.mu.Unlock()
	s.h.srv.publish(kb)
	s.cab++
	s.h.srv.setCab([]byte(fmt.Sprintf("MSCF fake catalog v%d", s.cab+1)), now)
}

func (s *simHost) isOff(t time.Time) bool {
	for _, p := range s.off {
		if !t.Before(p[0]) && t.Before(p[1]) {
			return true
		}
	}
	return false
}

// step is what the service does at the clock's time: the heartbeat, then the jobs that
// are due (Serve's own due times: install_scheduling or the schedule's next change).
func (s *simHost) step() error {
	now := s.h.clock.Now()
	if s.isOff(now) {
		return nil
	}
	return s.h.agent.RunDue(ctx)
}

func (s *simHost) state(t *testing.T) *State {
	t.Helper()
	st, err := LoadState(s.h.agent.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// installedAt is when the agent installed kb (zero: not installed).
func (s *simHost) installedAt(t *testing.T, kb string) time.Time {
	st := s.state(t)
	u, ok := byKB(st.Updates)["KB"+kb]
	if !ok {
		return time.Time{}
	}
	return st.InstalledAt[u.key()]
}

// TestAgentSchedule45Days drives five simulated agents through the service's jobs
// every 15 simulated minutes from Monday 2026-03-02 to 2026-04-16 in Europe/Paris
// (the DST change of March 29 included): updates install only inside windows, reboots
// follow each policy and never happen in active hours, a host off for a week catches
// up within its grace period, a paused host installs nothing until the pause ends, and
// each decision is an event of the agent's state (waptwua-status).
func TestAgentSchedule45Days(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, paris)
	day := func(n int, hh, mm int) time.Time { return time.Date(2026, 3, 2+n, hh, mm, 0, 0, paris) }

	win := newSimHost(t, "windows", `{"maintenance_windows": ["Tue,Thu 22:00-01:00", {"when": "Sun 03:00-05:00", "reboot": true}], "reboot": "in_window"}`,
		start, []string{"KB5000004", "KB5000005", "KB5000006"})
	off := newSimHost(t, "off-a-week", `{"maintenance_windows": ["Sat 09:00-12:00"], "deadline_days": 3, "grace_days": 2}`,
		start, []string{"KB5000004"})
	off.off = [][2]time.Time{{day(11, 18, 0), day(18, 9, 0)}} // Fri 13th 18:00 to Fri 20th 09:00
	paused := newSimHost(t, "paused", `{"pause_until": "2026-03-25"}`, start, []string{"KB5000004", "KB5000005"})
	ask := newSimHost(t, "ask", `{"reboot": "ask", "max_postpone": 2, "active_hours": "Mon-Fri 08:00-18:00"}`, start, []string{"KB5000004"})
	ask.d.SetLoggedOn(true)
	ask.d.Script(sim.AnswerNo, sim.AnswerNo, sim.AnswerNo, sim.AnswerNo)
	dl := newSimHost(t, "deadline", `{"maintenance_windows": ["Sat 09:00-12:00"], "reboot": "deadline", "deadline_days": 7, "active_hours": "Mon-Fri 08:00-18:00"}`,
		start, []string{"KB5000004"})
	dl.d.SetLoggedOn(true)
	hosts := []*simHost{win, off, paused, ask, dl}

	// Approvals, each seen at the next catalog scan.
	win.releases = map[time.Time][]rel{day(0, 10, 0): {{4, "5000004", false}}, day(9, 10, 0): {{5, "5000005", true}}, day(30, 10, 0): {{6, "5000006", true}}}
	paused.releases = map[time.Time][]rel{day(0, 10, 0): {{4, "5000004", false}}, day(9, 10, 0): {{5, "5000005", true}}}
	ask.releases = map[time.Time][]rel{day(2, 9, 0): {{4, "5000004", true}}}    // Wed Mar 4
	off.releases = map[time.Time][]rel{day(10, 10, 0): {{4, "5000004", false}}} // Thu Mar 12
	dl.releases = map[time.Time][]rel{day(14, 10, 0): {{4, "5000004", true}}}   // Mon Mar 16
	// Each host lives on its own clock: they run side by side, every 30 minutes (the
	// heartbeat's tolerance) from start to end.
	end := day(45, 0, 0)
	var wg sync.WaitGroup
	for _, s := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for now := start; now.Before(end); now = now.Add(2 * Heartbeat) {
				s.h.at(now)
				for _, r := range s.releases[now] {
					s.release(r.n, r.kb, r.reboot)
				}
				if err := s.step(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()

	// Every host installed everything, and says why each time.
	for _, s := range hosts {
		st := s.state(t)
		for _, u := range st.Updates {
			if u.Status != wu.StatusOK {
				t.Errorf("%s: %v is %s at the end (%s)", s.name, u.KBs, u.Status, strings.Join(st.Schedule, "; "))
			}
		}
		if len(st.Events) == 0 {
			t.Errorf("%s: no decision recorded", s.name)
		}
		t.Logf("%s: %d installs, %d restarts, %d messages, events %v", s.name, len(st.InstalledAt), len(s.d.Restarts()), len(s.d.Messages()), eventKinds(st.Events))
	}

	// Windows: installs only Tue/Thu 22:00-01:00, restarts only in the Sunday window.
	inWeekly := func(t time.Time) bool {
		t = t.In(paris)
		wd, hh := t.Weekday(), t.Hour()
		return ((wd == time.Tuesday || wd == time.Thursday) && hh >= 22) || ((wd == time.Wednesday || wd == time.Friday) && hh < 1)
	}
	for k, at := range win.state(t).InstalledAt {
		if !inWeekly(at) {
			t.Errorf("windows: %s installed outside the windows, %s", k, at.In(paris))
		}
	}
	winRestarts := 0
	for _, e := range win.state(t).Events {
		switch e.Kind {
		case EventInstall:
			if !inWeekly(e.At) {
				t.Errorf("windows: install decision outside the windows: %s %s", e.At.In(paris), e.Text)
			}
		case EventRestart, EventCountdown:
			if at := e.At.In(paris); at.Weekday() != time.Sunday || at.Hour() < 3 || at.Hour() >= 6 {
				t.Errorf("windows: %s outside the reboot window: %s", e.Kind, at)
			}
			if e.Kind == EventRestart {
				winRestarts++
			}
		}
	}
	if winRestarts != 2 || len(win.d.Restarts()) != 2 {
		t.Errorf("windows: %d restarts (%d asked), want 2 (after KB5000005 and KB5000006)", winRestarts, len(win.d.Restarts()))
	}

	// Off a week: the deadline (Sun 15th 10:00) passed while off; back Fri 20th 09:00,
	// grace 2 days: installed in the Saturday window of the 21st, before Sun 22nd 09:00.
	back := day(18, 9, 0)
	if at := off.installedAt(t, "5000004"); at.Before(day(19, 9, 0)) || at.After(day(19, 12, 0)) {
		t.Errorf("off a week: installed at %s, want within the grace period after %s", at.In(paris), back)
	}
	if !hasEvent(off.state(t).Events, EventHeld, "missed window: Sat 2026-03-14 09:00") || !hasEvent(off.state(t).Events, EventHeld, "grace_days 2") {
		t.Errorf("off a week: the missed window and the grace are not explained: %v", off.state(t).Events)
	}
	if st := off.state(t); len(st.Off) != 1 || !st.Off[0].Start.Equal(day(11, 17, 30)) || !st.Off[0].End.Equal(day(18, 9, 0)) {
		t.Errorf("off a week: off periods %+v", st.Off)
	}

	// Paused through March 25: nothing before March 26 00:00, then everything.
	for _, kb := range []string{"5000004", "5000005"} {
		if at := paused.installedAt(t, kb); at.Before(day(24, 0, 0)) || at.After(day(24, 6, 0)) {
			t.Errorf("paused: %s installed at %s, want soon after the pause, 2026-03-26 00:00", kb, at.In(paris))
		}
	}
	if !hasEvent(paused.state(t).Events, EventHeld, "pause_until") {
		t.Errorf("paused: the hold is not explained: %v", paused.state(t).Events)
	}
	if len(paused.d.Restarts()) != 0 {
		t.Errorf("paused: reboot = never restarted the host")
	}

	// Ask: two postponements, then a countdown and a restart, outside active hours.
	askEv := ask.state(t).Events
	if n := strings.Count(strings.Join(eventKinds(askEv), ","), EventRebootPostpone); n != 2 || len(ask.d.Restarts()) != 1 {
		t.Errorf("ask: %d postponements, %d restarts: %v", n, len(ask.d.Restarts()), eventKinds(askEv))
	}
	// Deadline: forced after Mon 23rd 10:00, once the active hours end.
	for _, s := range []*simHost{ask, dl} {
		for _, e := range s.state(t).Events {
			if e.Kind != EventRestart && e.Kind != EventCountdown {
				continue
			}
			at := e.At.In(paris)
			if at.Weekday() >= time.Monday && at.Weekday() <= time.Friday && at.Hour() >= 8 && at.Hour() < 18 {
				t.Errorf("%s: %s in the active hours: %s", s.name, e.Kind, at)
			}
		}
	}
	if rs := dl.d.Restarts(); len(rs) != 1 {
		t.Errorf("deadline: %d restarts", len(rs))
	}
	for _, e := range dl.state(t).Events {
		if e.Kind == EventRestart && e.At.Before(day(21, 18, 0)) {
			t.Errorf("deadline: restarted at %s, before the deadline's end of active hours", e.At.In(paris))
		}
	}
	// The server saw each host's status; no reboot is left pending.
	for _, s := range hosts {
		rep := s.h.srv.lastReport(t)
		want := s == paused // KB5000005 asked for a restart, reboot = never
		if rep.RebootPending != want {
			t.Errorf("%s: reported reboot pending %v, want %v", s.name, rep.RebootPending, want)
		}
	}
}
