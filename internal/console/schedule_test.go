package console

import (
	"context"
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
