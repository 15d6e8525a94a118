package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// TestHostSchedulePage: the host page shows the schedule of the host's last report
// (next window, pending deadline, reboot state, refused policy, last decisions, escaped);
// the dashboard counts the hosts past their deadline and links to them.
func TestHostSchedulePage(t *testing.T) {
	e, _ := seededEnv(t)
	ctx := context.Background()
	win := time.Date(2026, 12, 12, 22, 0, 0, 0, time.UTC)
	must(t, e.st.SetHostSchedule(ctx, "host-001", store.HostSchedule{ReportedAt: testNow, NextWindowStart: win, NextWindowEnd: win.Add(2 * time.Hour),
		NextDeadline: win.Add(72 * time.Hour), PastDeadline: 3, Reboot: "countdown", RebootAt: win.Add(15 * time.Minute),
		RebootSince: win.Add(-24 * time.Hour), Postponed: 2, PolicyError: `schedule policy: reboot = "in_window": no maintenance window allows reboots`,
		Lines: []string{"now: outside the maintenance windows"},
		Events: []store.ScheduleEvent{{At: win.Add(-48 * time.Hour), Kind: "held", Text: "nothing installs now: <script>alert(1)</script>"},
			{At: win.Add(-24 * time.Hour), Kind: "reboot-postponed", Text: "the user postponed (2 of 3)"}}}))
	must(t, e.st.SetHostSchedule(ctx, "host-002", store.HostSchedule{ReportedAt: testNow, NextWindowStart: win, NextWindowEnd: win.Add(time.Hour)}))

	c := e.client()
	c.login("viewer", viewerPass)
	r := c.get("/ui/hosts/host-001")
	if r.status != 200 {
		t.Fatalf("host page: HTTP %d", r.status)
	}
	for _, want := range []string{`id="host-schedule"`, "2026-12-12 22:00", "2026-12-15 22:00", "3 updates past their deadline",
		"countdown", "restart at 2026-12-12 22:15", "postponed 2 times", "no maintenance window allows reboots",
		"now: outside the maintenance windows", "reboot-postponed", "the user postponed (2 of 3)",
		"nothing installs now: &lt;script&gt;alert(1)&lt;/script&gt;"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("host page lacks %q", want)
		}
	}
	if strings.Index(r.body, "reboot-postponed") > strings.Index(r.body, "nothing installs now") {
		t.Error("decisions not newest first")
	}
	if r := c.get("/ui/hosts/host-003"); strings.Contains(r.body, `id="host-schedule"`) {
		t.Error("a host that reported no schedule shows one")
	}

	r = c.get("/ui/")
	if !strings.Contains(r.body, `href="/ui/hosts?deadline=past" id="kpi-deadline"`) ||
		!strings.Contains(r.body, `<span class="kpi-value warn">1 <span class="kpi-unit">hosts</span>`) {
		t.Errorf("dashboard: no count of hosts past their deadline:\n%.3000s", r.body)
	}
	r = c.get("/ui/hosts?deadline=past")
	if !strings.Contains(r.body, "pc-001") || strings.Contains(r.body, "pc-002") || !strings.Contains(r.body, "<strong>1</strong> hosts") {
		t.Errorf("filtered host list:\n%.4000s", r.body)
	}
	// Combined with a compliance filter (filtered in the console).
	h, err := e.st.GetHost(ctx, "host-001")
	must(t, err)
	r = c.get("/ui/hosts?deadline=past&state=" + bucketOf(&h, testNow))
	if !strings.Contains(r.body, "pc-001") || !strings.Contains(r.body, "<strong>1</strong> hosts") {
		t.Errorf("filtered by bucket and deadline:\n%.4000s", r.body)
	}
}

// TestMaintenanceCalendar: the calendar page shows, per group, the policy merged from
// the verified packages assigned to it and its windows over 30 days; a refused merged
// policy names the key; the policy check refuses an unknown day, a window of zero length
// and a deadline before the delay, naming the key, and places a valid policy's windows.
func TestMaintenanceCalendar(t *testing.T) {
	e := newEnv(t) // testNow: Saturday 2026-03-14 09:30 UTC
	ctx := context.Background()
	put := func(name, version, js string, prio int, groups ...string) {
		t.Helper()
		_, _, err := e.st.PutPackage(ctx, store.RulesPackage{Name: name, Version: version, Filename: name + "_" + version + ".wapt",
			SHA256: strings.Repeat("cd", 32), Size: 1, Maturity: "PROD", Rules: []byte(js), UploadedAt: testNow, Data: []byte("x"), Verified: true})
		must(t, err)
		if prio != 0 {
			_, err = e.st.SetPackagePolicy(ctx, name, version, store.PackagePolicy{Priority: prio})
			must(t, err)
		}
		for _, g := range groups {
			_, err = e.st.AssignPackage(ctx, store.PackageAssignment{Package: name, Kind: store.AssignGroup, Target: g, CreatedAt: testNow})
			must(t, err)
		}
	}
	put("windows-servers", "1", `{"maintenance_windows": [{"when": "Sun 02:00-05:00", "reboot": true}], "reboot": "in_window", "deadline_days": 7}`, 0, "servers")
	put("windows-servers", "2", `{"maintenance_windows": [{"when": "Sat 22:00-02:00", "reboot": true}], "reboot": "in_window", "deadline_days": 7}`, 0)
	put("pause-servers", "1", `{"pause_until": {"*": "2026-03-20"}}`, 5, "servers")
	put("bad-reboot", "1", `{"reboot": "deadline"}`, 0, "kiosks")

	c := e.client()
	c.login("viewer", viewerPass)
	r := c.get("/ui/schedule")
	if r.status != 200 {
		t.Fatalf("calendar: HTTP %d\n%.500s", r.status, r.body)
	}
	servers := section(t, r.body, `id="group-servers"`)
	// Version 2 (newest) is merged: Saturday 22:00-02:00 with reboots, 5 Saturdays in 30
	// days from Saturday 14 March (14, 21, 28 March, 4 and 11 April).
	for _, want := range []string{"windows-servers 2, pause-servers 1", "window: Sat 22:00-02:00 (install and reboot)",
		"pause_until *: 2026-03-20", "deadline: 7 days after approval", "reboot: in_window", "14/03", "12/04"} {
		if !strings.Contains(servers, want) {
			t.Errorf("servers calendar lacks %q:\n%s", want, servers)
		}
	}
	if n := strings.Count(servers, "22:00–02:00 ↻"); n != 5 {
		t.Errorf("%d Saturday windows in 30 days, want 5", n)
	}
	if strings.Contains(servers, "Sun 02:00") {
		t.Error("the older version's window is shown")
	}
	kiosks := section(t, r.body, `id="group-kiosks"`)
	if !strings.Contains(kiosks, "Refused policy") || !strings.Contains(kiosks, "reboot") || !strings.Contains(kiosks, "needs deadline_days") {
		t.Errorf("kiosks: refused policy not shown:\n%s", kiosks)
	}

	check := func(js string) string {
		t.Helper()
		r := c.get("/ui/schedule?policy=" + url.QueryEscape(js))
		if r.status != 200 {
			t.Fatalf("check %s: HTTP %d", js, r.status)
		}
		return section(t, r.body, `id="policy-check"`)
	}
	for _, tt := range []struct{ js, want string }{
		{`{"maintenance_windows": ["Mo 22:00-23:00"]}`, `maintenance_windows[0].when = &#34;Mo 22:00-23:00&#34;: unknown day`},
		{`{"maintenance_windows": ["Tue 22:00-22:00"]}`, `maintenance_windows[0].when = &#34;Tue 22:00-22:00&#34;: window of zero length`},
		{`{"install_delay_days": 10, "deadline_days": 5}`, `deadline_days = &#34;5&#34;: the deadline comes before the end of install_delay_days`},
	} {
		if got := check(tt.js); !strings.Contains(got, `id="policy-error"`) || !strings.Contains(got, tt.want) {
			t.Errorf("policy %s: want the refusal %q in:\n%s", tt.js, tt.want, got)
		}
	}
	got := check(`{"maintenance_windows": ["2nd Tue 20:00-23:00", "patch_tuesday+3d 20:00-23:59"]}`)
	// March's Patch Tuesday was the 10th (its +3d the 13th), April's is the 14th: no
	// occurrence between 14/03 and 12/04.
	if !strings.Contains(got, `id="policy-ok"`) || !strings.Contains(got, "Valid policy: 0 windows") {
		t.Errorf("valid policy without windows in range:\n%s", got)
	}
	got = check(`{"maintenance_windows": ["Tue,Thu 22:00-04:00"]}`)
	if !strings.Contains(got, "Valid policy: 8 windows") || strings.Count(got, "22:00–04:00") != 8 {
		t.Errorf("Tue,Thu windows over 30 days from Saturday 14 March: want 8:\n%s", got)
	}
}

// section returns the HTML from the element with attr to the end of its section.
func section(t *testing.T, body, attr string) string {
	t.Helper()
	i := strings.Index(body, attr)
	if i < 0 {
		t.Fatalf("no %s in:\n%.2000s", attr, body)
	}
	j := strings.Index(body[i:], "</section>")
	if j < 0 {
		return body[i:]
	}
	return body[i : i+j]
}

// TestPackageBuilderRefusesInvalidPolicy: the console's package builder refuses a
// maintenance policy the agents would refuse, naming the key, and builds nothing.
func TestPackageBuilderRefusesInvalidPolicy(t *testing.T) {
	e := newPackagesEnv(t, true)
	admin := e.client()
	admin.login("admin", adminPass)
	admin.get("/ui/packages")
	for _, tt := range []struct{ js, key, want string }{
		{`{"maintenance_windows": ["Mo 22:00-23:00"]}`, `maintenance_windows[0].when`, `unknown day`},
		{`{"maintenance_windows": ["Tue 22:00-22:00"]}`, `maintenance_windows[0].when`, `window of zero length`},
		{`{"install_delay_days": 10, "deadline_days": 5}`, `deadline_days`, `the deadline comes before the end of install_delay_days`},
	} {
		r := admin.post("/ui/packages", newPackageForm("acme-policy", "1", "PROD", tt.js))
		wantStatus(t, r, http.StatusBadRequest, `role="alert">Rules JSON: waptwua_rules.json: `+tt.key, tt.want)
	}
	pkgs, err := e.st.ListPackages(context.Background())
	must(t, err)
	if len(pkgs) != 0 {
		t.Errorf("packages stored from invalid policies: %d", len(pkgs))
	}
}
