package e2e

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua/sim"
)

// consoleUser is a browser logged in to the console (cookies, CSRF token of the last
// page read, redirects not followed).
type consoleUser struct {
	base string
	hc   *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func consoleLogin(t *testing.T, base, user, password string) *consoleUser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &consoleUser{base: base, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
	c.get(t, "/ui/login")
	res, err := c.hc.PostForm(base+"/ui/login", url.Values{"username": {user}, "password": {password}, "csrf": {c.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("console login as %s: HTTP %d", user, res.StatusCode)
	}
	return c
}

// get returns a console page's HTML (HTTP 200 required).
func (c *consoleUser) get(t *testing.T, path string) string {
	t.Helper()
	res, err := c.hc.Get(c.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("console %s: HTTP %d %v", path, res.StatusCode, err)
	}
	if m := csrfField.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return string(b)
}

// schedHost is one simulated agent of TestMaintenanceSchedule45Days.
type schedHost struct {
	*host
	desk *sim.Desktop
	off  [2]time.Time // switched off from off[0] to off[1] (zero: never)
}

func (h *schedHost) isOff(t time.Time) bool { return !t.Before(h.off[0]) && t.Before(h.off[1]) }

// events are the agent's decisions (its state, as wapt-get waptwua-status shows them).
func (h *schedHost) events(t *testing.T) []agent.ScheduleEvent {
	t.Helper()
	st, err := agent.LoadState(h.agent.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	return st.Events
}

func eventsOf(evs []agent.ScheduleEvent, kind string) []agent.ScheduleEvent {
	var out []agent.ScheduleEvent
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// hostDetail is the admin API's view of a host (its schedule included).
func (s *ringServer) hostDetail(t *testing.T, uuid string) admin.HostDetail {
	t.Helper()
	var hd admin.HostDetail
	if code := s.admin(t, "GET", "/hosts/"+uuid, nil, &hd); code != http.StatusOK {
		t.Fatalf("host %s: HTTP %d", uuid, code)
	}
	return hd
}

// inWeekly says whether t (UTC) is inside a weekly window of days from..to (to may be
// past midnight, on the next day).
func inWeekly(t time.Time, days []time.Weekday, from, to time.Duration) bool {
	for _, back := range []int{0, 1} { // a window that started the day before
		d := t.AddDate(0, 0, -back)
		if !slices.Contains(days, d.Weekday()) {
			continue
		}
		start := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC).Add(from)
		end := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC).Add(to)
		if !t.Before(start) && t.Before(end) {
			return true
		}
	}
	return false
}

// TestMaintenanceSchedule45Days: five simulated agents on one injected clock talk to the
// real server (HTTP, SQLite, the jobs fetching files from the Microsoft stand-in) for 45
// simulated days, each in a group whose signed rules package sets a maintenance policy:
// updates install only inside windows, reboots follow each policy (in a reboot window;
// never; asked, postponed twice then forced outside active hours), a host off for a week
// catches up within its grace period, a paused group installs nothing until the pause
// ends, and every decision is in the agent's state, its reports and the admin API's
// host detail (the console's host page reads the same).
func TestMaintenanceSchedule45Days(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	var cabBuf bytes.Buffer
	man, err := catalog.Synthesize(&cabBuf, catalog.SynthOptions{Updates: 200, Seed: 11, MaxFileSize: 4 << 10, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ms := newMicrosoft(t, cabBuf.Bytes(), man)
	// One product's updates, oldest first: the newest, N, is approved (created) two days
	// after the start; the others long before.
	var product string
	var us []wu.Update
	for _, u := range man.Updates {
		if len(u.Products) == 1 && len(u.KBs) > 0 && len(u.Files) > 0 {
			cand := applicable(man.Updates, u.Products[0], false)
			var ok []wu.Update
			for _, c := range cand {
				if len(c.Products) == 1 && len(c.KBs) > 0 && len(c.Files) > 0 {
					ok = append(ok, c)
				}
			}
			if len(ok) >= 4 && len(ok) > len(us) {
				product, us = u.Products[0], ok
			}
		}
	}
	if len(us) < 4 {
		t.Fatal("the synthetic catalog has no product with 4 updates")
	}
	slices.SortFunc(us, func(a, b wu.Update) int { return a.Created.Compare(b.Created) })
	kb := func(u wu.Update) string { d, _ := wu.ParseKB(u.KBs[0]); return d }
	n := us[len(us)-1]
	a, b := us[0], us[1]
	t0 := n.Created.UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	if !us[len(us)-2].Created.Before(t0) {
		t.Fatalf("the two newest updates of %s are too close: %s, %s", product, us[len(us)-2].Created, n.Created)
	}
	day := func(d int) time.Time { return t0.AddDate(0, 0, d) }
	t.Logf("product %q: A KB%s, B KB%s (old), N KB%s created %s; start %s (%s)", product, kb(a), kb(b), kb(n), n.Created, t0, t0.Weekday())

	clk := &clock{now: t0}
	signer := newSigner(t, "Acme WAPT Admin", t0.AddDate(0, 0, -1))
	srv := startRingServer(t, ms, clk, signer.pemPath)
	if _, err := srv.runner.SyncCab(ctx, true); err != nil {
		t.Fatal(err)
	}
	pause := day(20).Format("2006-01-02")
	policies := map[string]string{
		"windows": fmt.Sprintf(`{"default_allow": false, "allowed_kbs": ["KB%s", "KB%s"],
			"maintenance_windows": ["Tue,Thu 22:00-01:00", {"when": "Sun 03:00-05:00", "reboot": true}], "reboot": "in_window"}`, kb(a), kb(b)),
		"never":   fmt.Sprintf(`{"default_allow": false, "allowed_kbs": ["KB%s"], "reboot": "never"}`, kb(a)),
		"ask":     fmt.Sprintf(`{"default_allow": false, "allowed_kbs": ["KB%s"], "reboot": "ask", "max_postpone": 2, "active_hours": "Mon-Fri 08:00-18:00"}`, kb(a)),
		"offweek": fmt.Sprintf(`{"default_allow": false, "allowed_kbs": ["KB%s"], "maintenance_windows": ["Sat 09:00-12:00"], "deadline_days": 3, "grace_days": 2}`, kb(n)),
		"paused":  fmt.Sprintf(`{"default_allow": false, "allowed_kbs": ["KB%s", "KB%s"], "pause_until": {"*": %q}}`, kb(a), kb(b), pause),
	}
	groups := []string{"windows", "never", "ask", "offweek", "paused"}
	hosts := map[string]*schedHost{}
	for _, g := range groups {
		r, err := rules.Parse([]byte(policies[g]))
		if err != nil {
			t.Fatalf("%s policy: %v", g, err)
		}
		srv.mustUpload(t, signer.build(t, pkg.Spec{Name: "acme-" + g, Version: "1", Maturity: pkg.MaturityProd, TargetGroups: []string{g}, Rules: r}, t0.Add(-time.Hour)))
		sh := &schedHost{}
		sh.host = newRingHost(t, srv, "pc-"+g, "PROD", signer.pemPath, sim.Profile{Products: []string{product}, RebootRequiredAfterInstall: sim.RebootSpec{All: true}},
			hostSetup{Groups: []string{g}, IniWUA: "download_scheduling = 24h\ninstall_scheduling = 12h\n",
				Options: func(h *sim.Host) []agent.Option {
					sh.desk = sim.NewDesktop(h)
					return []agent.Option{agent.WithNotifier(sh.desk), agent.WithRebooter(sh.desk)}
				}})
		hosts[g] = sh
	}
	hosts["ask"].desk.SetLoggedOn(true)
	hosts["ask"].desk.Script(sim.AnswerNo, sim.AnswerNo) // then nobody answers
	hosts["offweek"].off = [2]time.Time{day(4), day(11)}

	// 45 days, every 30 minutes: each host that is on does what its service does (jobs
	// every 24 h and 12 h, and when the schedule changes: a window opens, a pause ends,
	// a countdown ends); the server fetches the files hosts need every 6 hours.
	end := day(45)
	for now := t0; now.Before(end); now = now.Add(2 * agent.Heartbeat) {
		clk.Advance(now.Sub(clk.Now()))
		for _, g := range groups {
			if h := hosts[g]; !h.isOff(now) {
				if err := h.agent.RunDue(ctx); err != nil {
					t.Fatalf("%s at %s: %v", h.name, now, err)
				}
			}
		}
		if now.Sub(t0)%(6*time.Hour) == 0 {
			if dl, err := srv.runner.DownloadMissing(ctx); err != nil || dl.Failed != 0 {
				t.Fatalf("files at %s: %+v %v", now, dl, err)
			}
		}
	}

	// Every allowed update is installed at the end, on the server's view too.
	want := map[string][]string{"windows": {kb(a), kb(b)}, "never": {kb(a)}, "ask": {kb(a)}, "offweek": {kb(n)}, "paused": {kb(a), kb(b)}}
	ui := consoleLogin(t, srv.url, "admin", adminPassword)
	for _, g := range groups {
		h := hosts[g]
		ups := srv.hostUpdates(t, h.name)
		for _, k := range want[g] {
			if s := ups[k]; s["status"] != "OK" {
				t.Errorf("%s: KB%s is %v at the end on the server (%v)", h.name, k, s["status"], s["last_error"])
			}
		}
		evs := h.events(t)
		if len(eventsOf(evs, "install")) == 0 {
			t.Errorf("%s: no install decision: %v", h.name, evs)
		}
		// Every decision reached the server: its newest 20 are the agent's newest 20.
		hd := srv.hostDetail(t, h.name)
		if hd.Schedule == nil {
			t.Fatalf("%s: the server has no schedule for the host", h.name)
		}
		got := hd.Schedule.Events
		if len(got) != min(20, len(evs)) {
			t.Errorf("%s: the server shows %d decisions, the agent has %d", h.name, len(got), len(evs))
		}
		for i, e := range got {
			ae := evs[len(evs)-1-i]
			// Texts longer than api.MaxScheduleText are cut (with "...") in the report.
			if !e.At.Equal(ae.At) || e.Kind != ae.Kind || !strings.HasPrefix(ae.Text, strings.TrimSuffix(e.Text, "...")) ||
				len(e.Text) > api.MaxScheduleText {
				t.Errorf("%s: server decision %d = %s %s %q, agent's = %s %s %q", h.name, i, e.At, e.Kind, e.Text, ae.At, ae.Kind, ae.Text)
			}
		}
		// The console's host page shows the same decisions.
		page := html.UnescapeString(ui.get(t, "/ui/hosts/"+h.name))
		for _, e := range got {
			if !strings.Contains(page, "<td>"+e.Kind+"</td>") || !strings.Contains(page, e.Text) {
				t.Errorf("%s: the console's host page lacks the decision %s %q", h.name, e.Kind, e.Text)
			}
		}
		t.Logf("%s: %d decisions, reboot %q, next window %s", h.name, len(evs), hd.Schedule.Reboot,
			hd.Schedule.NextWindowStart.Format(time.DateTime))
		for _, e := range evs {
			t.Logf("  %s %s %s: %.120s", e.At.Format("Mon 2006-01-02 15:04"), e.Kind, strings.Repeat(" ", max(0, 16-len(e.Kind))), e.Text)
		}
	}

	// windows: installs only inside Tue/Thu 22:00-01:00 or Sun 03:00-05:00; restarts in
	// the Sunday reboot window (after the 15 minute countdown).
	w := hosts["windows"]
	for _, e := range eventsOf(w.events(t), "install") {
		if !inWeekly(e.At, []time.Weekday{time.Tuesday, time.Thursday}, 22*time.Hour, 25*time.Hour) &&
			!inWeekly(e.At, []time.Weekday{time.Sunday}, 3*time.Hour, 5*time.Hour) {
			t.Errorf("pc-windows installed outside its windows at %s (%s): %s", e.At, e.At.Weekday(), e.Text)
		}
	}
	restarts := eventsOf(w.events(t), "restart")
	if len(restarts) == 0 || len(w.desk.Restarts()) == 0 {
		t.Errorf("pc-windows never restarted: %v", w.events(t))
	}
	for _, e := range restarts {
		if !inWeekly(e.At, []time.Weekday{time.Sunday}, 3*time.Hour, 5*time.Hour+30*time.Minute) {
			t.Errorf("pc-windows restarted outside its reboot window at %s (%s)", e.At, e.At.Weekday())
		}
	}

	// never: the reboot is reported as needed, nothing restarts.
	nv := hosts["never"]
	if len(nv.desk.Restarts()) != 0 || len(eventsOf(nv.events(t), "restart")) != 0 {
		t.Errorf("pc-never restarted: %v", nv.desk.Restarts())
	}
	if hd := srv.hostDetail(t, nv.name); hd.Schedule.Reboot != "needed" || !hd.Host.RebootPending || len(eventsOf(nv.events(t), "reboot-needed")) == 0 {
		t.Errorf("pc-never: reboot state %q, pending %v", hd.Schedule.Reboot, hd.Host.RebootPending)
	}

	// ask: asked, postponed twice (max_postpone), then restarted after a countdown,
	// never in active hours.
	ak := hosts["ask"]
	aevs := ak.events(t)
	if len(eventsOf(aevs, "reboot-postponed")) != 2 || len(eventsOf(aevs, "reboot-countdown")) == 0 || len(eventsOf(aevs, "restart")) != 1 {
		t.Errorf("pc-ask decisions: %v", aevs)
	}
	for _, e := range eventsOf(aevs, "restart") {
		if wd := e.At.Weekday(); wd != time.Saturday && wd != time.Sunday && e.At.Hour() >= 8 && e.At.Hour() < 18 {
			t.Errorf("pc-ask forced a restart in active hours at %s (%s)", e.At, wd)
		}
	}

	// offweek: N approved on day 2, deadline day 5 while the host was off (days 4 to 11):
	// installed once back, within grace_days (2).
	ow := hosts["offweek"]
	ins := eventsOf(ow.events(t), "install")
	if len(ins) == 0 {
		t.Fatal("pc-offweek never installed")
	}
	if at := ins[0].At; at.Before(day(11)) || at.After(day(13).Add(time.Hour)) {
		t.Errorf("pc-offweek installed at %s, want between its return %s and the end of its grace %s", at, day(11), day(13))
	}

	// paused: nothing installs before the end of the pause, then it installs.
	pz := hosts["paused"]
	pins := eventsOf(pz.events(t), "install")
	if len(pins) == 0 {
		t.Fatal("pc-paused never installed")
	}
	if pins[0].At.Before(day(20)) || pins[0].At.After(day(22)) {
		t.Errorf("pc-paused installed first at %s, pause until %s", pins[0].At, pause)
	}
	if len(eventsOf(pz.events(t), "held")) == 0 || !strings.Contains(eventsOf(pz.events(t), "held")[0].Text, "pause") {
		t.Errorf("pc-paused: no held decision naming the pause: %v", pz.events(t))
	}
}
