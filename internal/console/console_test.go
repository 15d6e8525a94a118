package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/storetest"
	"github.com/openwua/waptwua/internal/wu"
)

// pages are the GET pages every test walks; {key} and {host} are filled in.
var pages = []string{
	"/ui/", "/ui/updates", "/ui/updates/facets", "/ui/updates.csv", "/ui/updates/{key}", "/ui/tasks", "/ui/tasks?fragment=1",
	"/ui/tasks.csv", "/ui/cleanup", "/ui/hosts", "/ui/hosts.csv", "/ui/hosts/{host}", "/ui/hosts/{host}/live",
	"/ui/hosts/{host}/updates.csv", "/ui/rules", "/ui/audit", "/ui/audit.csv", "/ui/schedule", "/ui/repositories",
	"/ui/packages/msu",
}

func fill(p, key, host string) string {
	return strings.NewReplacer("{key}", key, "{host}", host).Replace(p)
}

func TestRedirectsToLogin(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := c.get("/")
	if r.status != http.StatusFound || r.header.Get("Location") != "/ui/" {
		t.Fatalf("/: %d %q", r.status, r.header.Get("Location"))
	}
	for _, p := range pages {
		r := c.get(fill(p, "x", "y"))
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/ui/login") {
			t.Errorf("%s without session: %d %q", p, r.status, r.header.Get("Location"))
		}
	}
	if r := c.get("/ui/updates?sev=Critical"); r.header.Get("Location") != "/ui/login?next=%2Fui%2Fupdates%3Fsev%3DCritical" {
		t.Errorf("next: %q", r.header.Get("Location"))
	}
	if r := c.post("/ui/cab/sync", nil); r.status != http.StatusUnauthorized {
		t.Errorf("POST without session: %d", r.status)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := c.get("/ui/login")
	if r.status != 200 || !strings.Contains(r.body, `name="password"`) {
		t.Fatalf("login form: %d", r.status)
	}
	if ck := r.header.Get("Set-Cookie"); !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") {
		t.Errorf("login cookie flags: %q", ck)
	}
	if r := c.post("/ui/login", url.Values{"username": {"admin"}, "password": {"wrong"}}); r.status != http.StatusUnauthorized ||
		!strings.Contains(r.body, "Wrong user name or password") {
		t.Errorf("wrong password: %d", r.status)
	}
	if r := c.post("/ui/login", url.Values{"username": {"nobody"}, "password": {"wrong"}}); r.status != http.StatusUnauthorized {
		t.Errorf("unknown user: %d", r.status)
	}
	if r := c.post("/ui/login", url.Values{"username": {"admin"}, "password": {adminPass}, "csrf": {"forged"}}); r.status != http.StatusForbidden {
		t.Errorf("login without the form's token: %d", r.status)
	}
	c.get("/ui/login")
	r = c.post("/ui/login", url.Values{"username": {"admin"}, "password": {adminPass}, "next": {"//evil.example/x"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/" {
		t.Fatalf("login: %d %q", r.status, r.header.Get("Location"))
	}
	var session string
	for _, ck := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(ck, sessionCookie+"=") {
			session = ck
		}
	}
	if !strings.Contains(session, "HttpOnly") || !strings.Contains(session, "SameSite=Lax") || !strings.Contains(session, "Path=/ui/") ||
		strings.Contains(session, "Secure") {
		t.Errorf("session cookie on plain HTTP: %q", session)
	}
	if r := c.get("/ui/"); r.status != 200 || !strings.Contains(r.body, "Dashboard") {
		t.Fatalf("dashboard after login: %d", r.status)
	}
	entries, _ := e.st.ListAudit(context.Background(), store.AuditFilter{Action: "session.login"})
	if len(entries) != 1 || entries[0].Actor != "admin" {
		t.Errorf("login audit: %+v", entries)
	}
	// Logout needs the token, then ends the session.
	if r := c.post("/ui/logout", url.Values{"csrf": {"stale"}}); r.status != http.StatusForbidden {
		t.Errorf("logout with a bad token: %d", r.status)
	}
	c.get("/ui/")
	if r := c.post("/ui/logout", nil); r.status != http.StatusSeeOther {
		t.Errorf("logout: %d", r.status)
	}
	if r := c.get("/ui/"); r.status != http.StatusSeeOther {
		t.Errorf("after logout: %d", r.status)
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	e := newEnv(t)
	h, _ := New(Deps{Store: e.st, App: testApp(t, e.st, nil, nil)}, WithLogger(quiet), WithSecureCookies(true))
	rec := httptest.NewRecorder()
	req, _ := http.NewRequest("GET", "/ui/login", nil)
	h.ServeHTTP(rec, req)
	if ck := rec.Header().Get("Set-Cookie"); !strings.Contains(ck, "Secure") {
		t.Errorf("WithSecureCookies: %q", ck)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/hosts?q=a":         "/ui/hosts?q=a",
		"":                      "/ui/",
		"https://evil.example/": "/ui/",
		"//evil.example/ui/":    "/ui/",
		"/ui//evil.example":     "/ui/",
		"/ui/\\evil":            "/ui/",
		"/ui/login?next=/ui/":   "/ui/",
		"/api/v1/admin/users":   "/ui/",
		"/ui/x\r\nSet-Cookie:a": "/ui/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEveryPageEmptyStore(t *testing.T) {
	e := newEnv(t)
	for _, user := range []struct{ name, pass string }{{"admin", adminPass}, {"viewer", viewerPass}} {
		c := e.client()
		c.login(user.name, user.pass)
		for _, p := range pages {
			r := c.get(fill(p, "01234567-89ab-cdef-0123-456789abcdef_1", "no-such-host"))
			want := 200
			if strings.Contains(p, "{key}") || strings.Contains(p, "{host}") {
				want = 404
			}
			if r.status != want {
				t.Errorf("%s %s: HTTP %d, want %d\n%.400s", user.name, p, r.status, want, r.body)
			}
		}
	}
}

func seededEnv(t *testing.T) (*env, []wu.Update) {
	e := newEnv(t)
	us, cats := storetest.Catalog(300)
	us[5].Title = `<script>alert("x")</script> & "quotes"`
	us[6].Title = `=HYPERLINK("http://evil.example")`
	seed(t, e.st, us, cats, 25)
	return e, us
}

func TestEveryPageSeeded(t *testing.T) {
	e, us := seededEnv(t)
	c := e.client()
	c.login("admin", adminPass)
	key := us[5].Key().String()
	for _, p := range pages {
		r := c.get(fill(p, key, "host-005"))
		if r.status != 200 {
			t.Errorf("%s: HTTP %d\n%.600s", p, r.status, r.body)
		}
		if !strings.Contains(p, ".csv") && strings.Contains(r.body, "<script>alert") {
			t.Errorf("%s: title not escaped", p)
		}
	}
	r := c.get("/ui/updates?q=alert")
	if !strings.Contains(r.body, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quotes&#34;`) {
		t.Errorf("escaped title missing:\n%s", r.body)
	}
	r = c.get("/ui/updates.csv?q=HYPERLINK")
	if !strings.Contains(r.body, `"'=HYPERLINK(""http://evil.example"")"`) || r.header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Errorf("CSV formula not neutralised: %s", r.body)
	}
	if !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
		t.Errorf("CSV disposition: %q", r.header.Get("Content-Disposition"))
	}
	// The dashboard counts the seeded fleet.
	r = c.get("/ui/")
	for _, want := range []string{"Not seen for 7 days", "Reboot needed", "<svg", "345 MiB"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	// The host page lists its statuses.
	r = c.get("/ui/hosts/host-001")
	if !strings.Contains(r.body, "WU_E_ALL_UPDATES_FAILED") && !strings.Contains(r.body, "MISSING") {
		t.Errorf("host page without statuses:\n%.2000s", r.body)
	}
}

func TestRulesPackagesListed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client()
	c.login("viewer", viewerPass)
	if r := c.get("/ui/rules"); !strings.Contains(r.body, "No rules package uploaded yet") {
		t.Errorf("rules page without packages:\n%.300s", r.body)
	}
	_, _, err := e.st.PutPackage(ctx, store.RulesPackage{Name: "acme-wsus-<b>", Version: "3", Filename: "acme-wsus_3.wapt", SHA256: strings.Repeat("ab", 32),
		Size: 10, Maturity: "PREPROD", Signer: `Evil "signer" <script>`, Rules: []byte("{}"), UploadedAt: testNow, Data: []byte("0123456789")})
	must(t, err)
	_, err = e.st.AssignPackage(ctx, store.PackageAssignment{Package: "acme-wsus-<b>", Kind: store.AssignGroup, Target: "servers", CreatedAt: testNow})
	must(t, err)
	r := c.get("/ui/rules")
	for _, want := range []string{"acme-wsus-&lt;b&gt;", "PREPROD", "group:servers", "not verified", "Evil &#34;signer&#34; &lt;script&gt;"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("rules page lacks %q", want)
		}
	}
}

func TestCSVExports(t *testing.T) {
	e, _ := seededEnv(t)
	c := e.client()
	c.login("admin", adminPass)
	for path, wantRows := range map[string]int{
		"/ui/updates.csv":                    300,
		"/ui/updates.csv?sev=Critical":       60,
		"/ui/hosts.csv":                      25,
		"/ui/hosts.csv?state=stale":          5,
		"/ui/hosts/host-003/updates.csv":     12,
		"/ui/audit.csv?action=session.login": 1,
	} {
		r := c.get(path)
		lines := strings.Count(strings.TrimSpace(r.body), "\n") // header + rows - 1
		if r.status != 200 || lines != wantRows {
			t.Errorf("%s: HTTP %d, %d rows, want %d\n%.300s", path, r.status, lines, wantRows, r.body)
		}
	}
}

// hostile are query strings a page must survive without a 500.
var hostile = []string{
	"page=-1", "page=0", "page=99999999999999999999999", "page=abc", "page=1e9", "size=0", "size=-5", "size=100000000",
	"sort=drop%20table", "sort=title&dir=sideways", "sev=Catastrophic", "sev=critical&sev=CRITICAL", "product=%00%ff",
	"q=%27%22%3C%3E%25_%5C", "q=" + strings.Repeat("A", 5000), "after=garbage&page=3", "after=" + strings.Repeat("x", 3000) + "&page=2",
	"status=NOPE", "state=%3Cscript%3E", "before=-1", "before=99999999999999999999", "needed=maybe", "fragment=%3Cx%3E",
	"class=" + url.QueryEscape(`" onmouseover="alert(1)`), "actor=%25%25", strings.Repeat("sev=Low&", 500),
}

func TestHostileQueries(t *testing.T) {
	e, us := seededEnv(t)
	c := e.client()
	c.login("viewer", viewerPass)
	key := us[7].Key().String()
	for _, p := range pages {
		for _, q := range hostile {
			path := fill(p, key, "host-002")
			path += sep(path) + q
			r := c.get(path)
			if r.status >= 500 {
				t.Errorf("%s: HTTP %d", path[:min(len(path), 120)], r.status)
			}
			if !strings.Contains(p, ".csv") && (strings.Contains(r.body, `onmouseover="alert`) || strings.Contains(r.body, "<script>")) {
				t.Errorf("%s: unescaped input in the page", path[:min(len(path), 120)])
			}
		}
	}
	for _, p := range []string{"/ui/updates/not-a-key", "/ui/updates/%3Cscript%3E", "/ui/hosts/%3Cscript%3E", "/ui/nope", "/ui/static/nope.js",
		"/ui/static/", "/ui/static/%2e%2e/console.go"} {
		r := c.get(p)
		if r.status != http.StatusNotFound || strings.Contains(r.body, "<script>") {
			t.Errorf("%s: HTTP %d", p, r.status)
		}
	}
	if r := c.do("DELETE", "/ui/updates", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", r.status)
	}
	// A huge page number shows the last page.
	r := c.get("/ui/updates?page=99999999999999999999")
	if r.status != 200 || !strings.Contains(r.body, "Page 6 of 6") {
		t.Errorf("huge page: %d", r.status)
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, p := range []string{"/ui/static/app.css", "/ui/static/htmx.min.js", "/ui/static/app.js", "/ui/static/htmx.LICENSE"} {
		r := c.get(p)
		if r.status != 200 || r.header.Get("ETag") == "" || len(r.body) < 100 {
			t.Errorf("%s: %d, etag %q, %d bytes", p, r.status, r.header.Get("ETag"), len(r.body))
		}
	}
	r := c.get("/ui/login")
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if r.header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

func TestReadOnlyUserCannotAct(t *testing.T) {
	e, us := seededEnv(t)
	c := e.client()
	c.login("viewer", viewerPass)
	r := c.get("/ui/updates")
	for _, button := range []string{"Download now", "Forbid", "Download WSUSScan cab", `name="key"`} {
		if strings.Contains(r.body, button) {
			t.Errorf("read-only user sees %q", button)
		}
	}
	if r := c.get("/ui/hosts/host-001"); strings.Contains(r.body, "Trigger the scan") {
		t.Error("read-only user sees the trigger buttons")
	}
	key := us[1].Key().String()
	for path, form := range map[string]url.Values{
		"/ui/updates/download":        {"key": {key}},
		"/ui/updates/rules":           {"key": {key}, "action": {"forbid"}},
		"/ui/cab/sync":                nil,
		"/ui/files/download-missing":  nil,
		"/ui/cleanup":                 nil,
		"/ui/hosts/host-001/commands": {"kind": {"scan"}},
		"/ui/hosts/commands":          {"kind": {"scan"}, "uuid": {"host-001"}},
		"/ui/rules":                   {"default_allow": {"true"}},
		"/ui/rules/json":              {"json": {`{"default_allow": true}`}},
	} {
		c.get("/ui/")
		if r := c.post(path, form); r.status != http.StatusForbidden {
			t.Errorf("read-only POST %s: HTTP %d", path, r.status)
		}
	}
	if e.jobs.CabSyncs+len(e.jobs.Downloads)+e.jobs.Deletes != 0 {
		t.Errorf("jobs ran for a read-only user: %+v", e.jobs)
	}
	if cmds, _ := e.st.ListCommands(context.Background(), "host-001", 10); len(cmds) != 0 {
		t.Errorf("commands queued for a read-only user: %+v", cmds)
	}
}

func TestAdminActions(t *testing.T) {
	e, us := seededEnv(t)
	ctx := context.Background()
	c := e.client()
	c.login("admin", adminPass)
	k1, k2 := us[1].Key().String(), us[2].Key().String()

	// Without the token nothing happens.
	if r := c.post("/ui/cab/sync", url.Values{"csrf": {"nope"}}); r.status != http.StatusForbidden || e.jobs.CabSyncs != 0 {
		t.Fatalf("CSRF: %d", r.status)
	}
	c.get("/ui/updates")
	if r := c.post("/ui/cab/sync", nil); r.status != http.StatusSeeOther || e.jobs.CabSyncs != 1 {
		t.Errorf("cab sync: %d, %d syncs", r.status, e.jobs.CabSyncs)
	}
	if r := c.get("/ui/tasks"); !strings.Contains(r.body, "Download of wsusscn2.cab from Microsoft started") {
		t.Error("no flash message after the cab sync")
	}
	if r := c.post("/ui/updates/download", url.Values{"key": {k1, k2}}); r.status != http.StatusSeeOther || len(e.jobs.Downloads) != 1 ||
		len(e.jobs.Downloads[0]) != 2 {
		t.Errorf("download now: %d %v", r.status, e.jobs.Downloads)
	}
	if r := c.post("/ui/updates/download", url.Values{}); r.status != http.StatusBadRequest {
		t.Errorf("download nothing: %d", r.status)
	}
	if r := c.post("/ui/updates/download", url.Values{"key": {"01234567-89ab-cdef-0123-456789abcdef_5"}}); r.status != http.StatusNotFound {
		t.Errorf("download an unknown update: %d", r.status)
	}
	if r := c.post("/ui/files/download-missing", nil); r.status != http.StatusSeeOther || len(e.jobs.Downloads) != 2 || e.jobs.Downloads[1] != nil {
		t.Errorf("download missing: %d %v", r.status, e.jobs.Downloads)
	}
	// Forbid then allow.
	r := c.post("/ui/updates/rules", url.Values{"key": {k1, k2}, "action": {"forbid"}, "back": {"/ui/updates?sev=Low"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/updates?sev=Low" {
		t.Errorf("forbid: %d %q", r.status, r.header.Get("Location"))
	}
	rs, _ := e.rules.ServerRules(ctx)
	if !slices.Equal(rs.ForbiddenUpdates, []string{k1, k2}) {
		t.Errorf("forbidden: %v", rs.ForbiddenUpdates)
	}
	c.post("/ui/updates/rules", url.Values{"key": {k1}, "action": {"allow"}})
	rs, _ = e.rules.ServerRules(ctx)
	if !slices.Equal(rs.ForbiddenUpdates, []string{k2}) || !slices.Equal(rs.AllowedUpdates, []string{k1}) {
		t.Errorf("after allow: %+v", rs)
	}
	if r := c.get("/ui/updates/" + k2); !strings.Contains(r.body, "forbidden (forbidden_updates") {
		t.Errorf("update page does not say it is forbidden")
	}
	// The rules form.
	r = c.post("/ui/rules", url.Values{"allowed_kbs": {"5000001\nKB5000002"}, "allowed_severities": {"Critical"},
		"default_allow": {"false"}, "forbidden_updates": {k2}, "allowed_products": {"Windows 11"}})
	if r.status != http.StatusSeeOther {
		t.Errorf("save rules: %d\n%.500s", r.status, r.body)
	}
	rs, _ = e.rules.ServerRules(ctx)
	if !slices.Equal(rs.AllowedKBs, []string{"KB5000001", "KB5000002"}) || rs.DefaultAllow == nil || *rs.DefaultAllow ||
		!slices.Equal(rs.AllowedProducts, []string{"Windows 11"}) || len(rs.AllowedUpdates) != 0 {
		t.Errorf("saved rules: %+v", rs)
	}
	if r := c.post("/ui/rules", url.Values{"forbidden_kbs": {"KBnope"}}); r.status != http.StatusBadRequest || !strings.Contains(r.body, "forbidden_kbs") {
		t.Errorf("invalid rules: %d\n%.300s", r.status, r.body)
	}
	if r := c.post("/ui/rules/json", url.Values{"json": {`{"default_allow": tru}`}}); r.status != http.StatusBadRequest {
		t.Errorf("invalid JSON: %d", r.status)
	}
	if r := c.post("/ui/rules/json", url.Values{"json": {`{"default_allow": true, "forbidden_kbs": ["KB1"]}`}}); r.status != http.StatusSeeOther {
		t.Errorf("JSON rules: %d", r.status)
	}
	// Commands.
	if r := c.post("/ui/hosts/host-004/commands", url.Values{"kind": {"scan"}}); r.status != http.StatusSeeOther {
		t.Errorf("trigger scan: %d", r.status)
	}
	if r := c.post("/ui/hosts/host-004/commands", url.Values{"kind": {"reboot"}}); r.status != http.StatusBadRequest {
		t.Errorf("unknown command: %d", r.status)
	}
	if r := c.post("/ui/hosts/nope/commands", url.Values{"kind": {"scan"}}); r.status != http.StatusNotFound {
		t.Errorf("unknown host: %d", r.status)
	}
	// Bulk commands are all or nothing (as in the admin API): an unknown host refuses
	// the whole action, naming it.
	if r := c.post("/ui/hosts/commands", url.Values{"kind": {"install"}, "uuid": {"host-001", "host-002", "gone"}}); r.status != http.StatusNotFound ||
		!strings.Contains(r.body, "gone") {
		t.Errorf("bulk command with an unknown host: %d", r.status)
	}
	if cmds, _ := e.st.ListCommands(ctx, "host-002", 10); len(cmds) != 0 {
		t.Errorf("bulk command refused but queued: %+v", cmds)
	}
	c.post("/ui/hosts/commands", url.Values{"kind": {"install"}, "uuid": {"host-001", "host-002"}})
	cmds, _ := e.st.ListCommands(ctx, "host-004", 10)
	if len(cmds) != 1 || cmds[0].Kind != store.CommandScan || cmds[0].Actor != "admin" {
		t.Errorf("host-004 commands: %+v", cmds)
	}
	if cmds, _ := e.st.ListCommands(ctx, "host-002", 10); len(cmds) != 1 || cmds[0].Kind != store.CommandInstall {
		t.Errorf("bulk command: %+v", cmds)
	}
	if r := c.get("/ui/hosts/host-004"); !strings.Contains(r.body, `hx-trigger="every 2s"`) {
		t.Error("host page does not poll while a command is pending")
	}
	// Delete unused KBs: confirmation, then the job.
	if r := c.get("/ui/cleanup"); r.status != 200 {
		t.Errorf("cleanup confirmation: %d", r.status)
	}
	if r := c.post("/ui/cleanup", nil); r.status != http.StatusSeeOther || e.jobs.Deletes != 1 {
		t.Errorf("cleanup: %d", r.status)
	}
	// Everything is in the audit log.
	entries, _ := e.st.ListAudit(ctx, store.AuditFilter{Actor: "admin", Limit: 100})
	got := map[string]int{}
	for _, en := range entries {
		got[en.Action]++
	}
	for _, a := range []string{"cab.sync", "update.download", "files.download_missing", "rules.update", "host.command", "files.delete_unused"} {
		if got[a] == 0 {
			t.Errorf("no %s in the audit log: %v", a, got)
		}
	}
	if r := c.get("/ui/audit?action=host.command"); !strings.Contains(r.body, "host:host-004") {
		t.Error("audit page lacks the command")
	}
}

func TestJobsErrors(t *testing.T) {
	e, _ := seededEnv(t)
	c := e.client()
	c.login("admin", adminPass)
	e.jobs.Err = fmt.Errorf("cab sync: %w", errBusy{})
	if r := c.post("/ui/cab/sync", nil); r.status != http.StatusConflict {
		t.Errorf("busy job: %d", r.status)
	}
	e.jobs.Err = fmt.Errorf("disk on fire")
	c.get("/ui/")
	if r := c.post("/ui/cab/sync", nil); r.status != http.StatusInternalServerError || strings.Contains(r.body, "disk on fire") {
		t.Errorf("failing job: %d", r.status)
	}
	// No jobs at all.
	h, _ := New(Deps{Store: e.st, App: testApp(t, e.st, nil, nil)}, WithLogger(quiet))
	if _, err := New(Deps{}); err == nil {
		t.Error("New without a store")
	}
	_ = h
}

type errBusy struct{}

func (errBusy) Error() string { return "job is running on another server replica" }
func (errBusy) Busy() bool    { return true }

func TestFacetCache(t *testing.T) {
	fc := newFacetCache(2, facetCacheTTL)
	f := store.Facets{Severity: []store.FacetCount{{Value: "Low", Count: 1}}}
	fc.put("a", f, testNow)
	fc.put("b", f, testNow.Add(1))
	fc.put("c", f, testNow.Add(2))
	if _, ok := fc.get("a", testNow.Add(3)); ok {
		t.Error("oldest entry kept past the size")
	}
	if _, ok := fc.get("c", testNow.Add(facetCacheTTL+time.Second)); ok {
		t.Error("entry kept past its TTL")
	}
	if _, ok := fc.get("b", testNow.Add(time.Minute)); !ok {
		t.Error("fresh entry lost")
	}
}

// TestCookieDiesAtLogout (issue 11 item 4): a session cookie copied before logout does
// not work after it, not even to queue a command.
func TestCookieDiesAtLogout(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("admin", adminPass)
	u, _ := url.Parse(e.srv.URL + "/ui/")
	var stolen *http.Cookie
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			stolen = ck
		}
	}
	if stolen == nil {
		t.Fatal("no session cookie after login")
	}
	csrf := c.csrf
	if r := c.post("/ui/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	thief := e.client()
	thief.hc.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: stolen.Value, Path: Prefix}})
	if r := thief.get("/ui/"); r.status != http.StatusSeeOther {
		t.Errorf("dashboard with a cookie copied before logout: %d, want a redirect to the login", r.status)
	}
	if r := thief.post("/ui/hosts/commands", url.Values{"csrf": {csrf}, "kind": {"scan"}, "uuid": {"host-001"}}); r.status == http.StatusSeeOther {
		t.Error("a cookie copied before logout queued a command")
	}
}

// TestResetHost: the host page's "Reset registration" clears the host's credential
// (audited host.reset); read-only users cannot; an unknown host is a 404.
func TestResetHost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.st.RegisterHost(ctx, store.HostRegistration{UUID: "host-r1", Name: "pc-r1", CredentialID: "00112233445566778899aabbccddeeff",
		CredentialHash: make([]byte, 32), At: testNow}); err != nil {
		t.Fatal(err)
	}
	v := e.client()
	v.login("viewer", viewerPass)
	if r := v.post("/ui/hosts/host-r1/reset", nil); r.status != http.StatusForbidden {
		t.Errorf("read-only reset: %d", r.status)
	}
	c := e.client()
	c.login("admin", adminPass)
	if r := c.get("/ui/hosts/host-r1"); !strings.Contains(r.body, `id="reset-host"`) {
		t.Error("no reset button on the host page")
	}
	if r := c.post("/ui/hosts/nope/reset", nil); r.status != http.StatusNotFound {
		t.Errorf("reset an unknown host: %d", r.status)
	}
	if r := c.post("/ui/hosts/host-r1/reset", nil); r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	if _, err := e.st.HostByCredential(ctx, "00112233445566778899aabbccddeeff"); err == nil {
		t.Error("the credential still works after the reset")
	}
	if entries, err := e.st.ListAudit(ctx, store.AuditFilter{Action: "host.reset"}); err != nil || len(entries) != 1 || entries[0].Actor != "admin" {
		t.Errorf("host.reset audit: %+v %v", entries, err)
	}
}

// TestEnrollmentPage: tokens are created (shown once), listed without their value and
// revoked; pending hosts are accepted or rejected; read-only users change nothing.
func TestEnrollmentPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v := e.client()
	v.login("viewer", viewerPass)
	if r := v.get("/ui/enrollment"); r.status != http.StatusOK || strings.Contains(r.body, "create-token") {
		t.Errorf("read-only page: %d (create form shown: %v)", r.status, strings.Contains(r.body, "create-token"))
	}
	if r := v.post("/ui/enrollment/tokens", url.Values{"label": {"x"}}); r.status != http.StatusForbidden {
		t.Errorf("read-only create: %d", r.status)
	}
	c := e.client()
	c.login("admin", adminPass)
	c.get("/ui/enrollment")
	r := c.post("/ui/enrollment/tokens", url.Values{"label": {"site Lyon"}, "days": {"7"}, "max_uses": {"5"}})
	m := regexp.MustCompile(`id="token-value">(wet_[0-9a-f]{64})<`).FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("create: %d, token shown: %v", r.status, m != nil)
	}
	if _, err := e.st.UseEnrollmentToken(ctx, m[1], testNow); err != nil {
		t.Fatalf("the shown token does not enroll: %v", err)
	}
	page := c.get("/ui/enrollment")
	if strings.Contains(page.body, m[1]) || !strings.Contains(page.body, "site Lyon") {
		t.Error("the list shows the token or lacks its label")
	}
	ts, _ := e.st.ListEnrollmentTokens(ctx)
	if len(ts) != 1 || ts[0].MaxUses != 5 || ts[0].ExpiresAt.IsZero() {
		t.Fatalf("tokens: %+v", ts)
	}
	if r := c.post(fmt.Sprintf("/ui/enrollment/tokens/%d/revoke", ts[0].ID), nil); r.status != http.StatusSeeOther {
		t.Errorf("revoke: %d", r.status)
	}
	if _, err := e.st.UseEnrollmentToken(ctx, m[1], testNow); err == nil {
		t.Error("a revoked token still enrolls")
	}
	if _, err := e.st.RegisterHost(ctx, store.HostRegistration{UUID: "host-p1", Name: "pc-p1", CredentialID: "ffeeddccbbaa99887766554433221100",
		CredentialHash: make([]byte, 32), At: testNow, Pending: true}); err != nil {
		t.Fatal(err)
	}
	if r := c.get("/ui/enrollment"); !strings.Contains(r.body, "host-p1") {
		t.Error("pending host not listed")
	}
	if r := c.post("/ui/enrollment/pending/host-p1", url.Values{"decision": {"accept"}}); r.status != http.StatusSeeOther {
		t.Errorf("accept: %d", r.status)
	}
	if h, err := e.st.GetHost(ctx, "host-p1"); err != nil || h.Pending {
		t.Errorf("accepted host: %+v %v", h, err)
	}
}
