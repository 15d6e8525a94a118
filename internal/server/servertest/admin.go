package servertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/throttle"
	"github.com/openwua/waptwua/internal/wu"
)

// changeRoutes are every admin route that changes something, with a valid body.
func changeRoutes() []struct{ method, path, body string } {
	a := server.AdminPrefix
	return []struct{ method, path, body string }{
		{"POST", a + "/updates/download", fmt.Sprintf(`{"updates":["%s_201"]}`, UpdateA)},
		{"DELETE", a + "/hosts/" + hostA, ""},
		{"POST", a + "/hosts/" + hostA + "/commands", `{"kind":"scan"}`},
		{"POST", a + "/commands", fmt.Sprintf(`{"kind":"scan","hosts":[%q]}`, hostA)},
		{"POST", a + "/cab/sync", ""},
		{"POST", a + "/files/download-missing", ""},
		{"POST", a + "/files/delete-unused", ""},
		{"PUT", a + "/rules", `{"default_allow":true}`},
		{"POST", a + "/users", `{"username":"eve","password":"long-enough-pw","role":"admin"}`},
		{"PATCH", a + "/users/" + ViewerUser, `{"role":"admin"}`},
		{"DELETE", a + "/users/" + AdminUser, ""},
		{"DELETE", a + "/mirrors/lyon-1", ""},
		{"POST", a + "/sites", `{"name":"Lyon","repositories":["https://mirror.lyon.example"]}`},
		{"PUT", a + "/sites/Lyon", `{"name":"Lyon","repositories":["https://mirror.lyon.example"]}`},
		{"DELETE", a + "/sites/Lyon", ""},
	}
}

func readRoutes() []string {
	a := server.AdminPrefix
	return []string{
		a + "/me", a + "/updates", a + "/updates/" + UpdateA + "_201", a + "/categories", a + "/hosts", a + "/hosts/" + hostA,
		a + "/hosts/" + hostA + "/updates", a + "/hosts/" + hostA + "/commands", a + "/tasks", a + "/cab",
		a + "/files/needed", a + "/files/unused", a + "/repository", a + "/rules", a + "/audit",
		a + "/mirrors",
		a + "/sites",
	}
}

func testAdminRequiresCredentials(t *testing.T, open Opener) {
	// Many wrong credentials from one address: the login throttle (SecurityLoginThrottle)
	// would answer 429; this test is about 401.
	e := NewEnv(t, open, server.WithAppOptions(app.WithLoginThrottle(throttle.Config{Free: 1000})))
	cred := e.Register(hostA)
	for _, p := range readRoutes() {
		for _, auth := range []Auth{nil, Basic(AdminUser, "wrong"), Basic("nobody", "x"), Bearer("ws1.forged.token"), Bearer(cred)} {
			r := e.Do("GET", p, auth, nil)
			Want(t, r, http.StatusUnauthorized, "GET "+p)
			if r.Error(t).Error == "" {
				t.Errorf("GET %s: 401 without a JSON error body", p)
			}
		}
	}
	for _, c := range changeRoutes() {
		Want(t, e.Do(c.method, c.path, nil, c.body), http.StatusUnauthorized, c.method+" "+c.path)
	}
	Want(t, e.Do("GET", server.AdminPrefix+"/users", nil, nil), http.StatusUnauthorized, "users")
	if r := e.Do("GET", server.AdminPrefix+"/hosts", nil, nil); !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("401 without WWW-Authenticate: Basic: %v", r.Header)
	}
}

func testReadOnlyCannotChange(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	Want(t, e.Report(hostA, cred, sampleReport()), http.StatusNoContent, "report")
	for _, c := range changeRoutes() {
		r := e.Do(c.method, c.path, Viewer, c.body)
		Want(t, r, http.StatusForbidden, "read-only "+c.method+" "+c.path)
	}
	for _, p := range []string{server.AdminPrefix + "/users", server.AdminPrefix + "/users/" + AdminUser} {
		Want(t, e.Do("GET", p, Viewer, nil), http.StatusForbidden, "read-only GET "+p)
	}
	// Nothing changed.
	if _, err := e.Store.GetHost(context.Background(), hostA); err != nil {
		t.Errorf("host gone: %v", err)
	}
	if u, err := e.Store.GetUser(context.Background(), ViewerUser); err != nil || u.Role != store.RoleReadOnly {
		t.Errorf("viewer: %+v %v", u, err)
	}
	if cmds, _ := e.Store.ListCommands(context.Background(), hostA, 10); len(cmds) != 0 {
		t.Errorf("commands queued: %+v", cmds)
	}
	if e.Jobs.CabSyncs+e.Jobs.Deletes+len(e.Jobs.Downloads) != 0 {
		t.Errorf("jobs called: %+v", e.Jobs)
	}
	// Reading is allowed.
	for _, p := range readRoutes() {
		Want(t, e.Do("GET", p, Viewer, nil), http.StatusOK, "read-only GET "+p)
	}
}

func testSessionLogin(t *testing.T, open Opener) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e := NewEnv(t, open, server.WithClock(clock), server.WithSessionTTL(time.Hour))
	r := e.Do("POST", server.AdminPrefix+"/login", nil, map[string]string{"username": ViewerUser, "password": "nope"})
	Want(t, r, http.StatusUnauthorized, "bad login")
	r = e.Do("POST", server.AdminPrefix+"/login", nil, map[string]string{"username": ViewerUser, "password": ViewerPassword})
	Want(t, r, http.StatusOK, "login")
	var lr struct {
		Token string   `json:"token"`
		User  app.User `json:"user"`
	}
	r.JSON(t, &lr)
	if lr.User.Role != store.RoleReadOnly {
		t.Errorf("login user %+v", lr.User)
	}
	r = e.Do("GET", server.AdminPrefix+"/me", Bearer(lr.Token), nil)
	Want(t, r, http.StatusOK, "me with token")
	Want(t, e.Do("POST", server.AdminPrefix+"/cab/sync", Bearer(lr.Token), nil), http.StatusForbidden, "read-only token change")
	Want(t, e.Do("GET", server.AdminPrefix+"/me", Bearer(lr.Token[:len(lr.Token)-2]+"xx"), nil), http.StatusUnauthorized, "tampered token")

	// A role change and a password change end all of the user's sessions (issue 11).
	Want(t, e.Do("PATCH", server.AdminPrefix+"/users/"+ViewerUser, Admin, map[string]string{"role": "admin"}), http.StatusOK, "promote")
	Want(t, e.Do("POST", server.AdminPrefix+"/cab/sync", Bearer(lr.Token), nil), http.StatusUnauthorized, "token after a role change")
	r = e.Do("POST", server.AdminPrefix+"/login", nil, map[string]string{"username": ViewerUser, "password": ViewerPassword})
	Want(t, r, http.StatusOK, "login after the role change")
	r.JSON(t, &lr)
	Want(t, e.Do("POST", server.AdminPrefix+"/cab/sync", Bearer(lr.Token), nil), http.StatusAccepted, "promoted user's new token")
	Want(t, e.Do("PATCH", server.AdminPrefix+"/users/"+ViewerUser, Admin, map[string]string{"password": "another-password-42"}), http.StatusOK, "new password")
	Want(t, e.Do("GET", server.AdminPrefix+"/me", Bearer(lr.Token), nil), http.StatusUnauthorized, "token after password change")

	r = e.Do("POST", server.AdminPrefix+"/login", nil, map[string]string{"username": AdminUser, "password": AdminPassword})
	Want(t, r, http.StatusOK, "admin login")
	r.JSON(t, &lr)
	now = now.Add(2 * time.Hour)
	Want(t, e.Do("GET", server.AdminPrefix+"/me", Bearer(lr.Token), nil), http.StatusUnauthorized, "expired token")
}

func testRepositoryTraversal(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	const secret = "TOP-SECRET-CONTENT"
	writeFile(t, filepath.Join(e.DataDir, "secret.txt"), secret)
	writeFile(t, filepath.Join(e.RepoDir, "hello.txt"), "hello")
	if err := os.MkdirAll(filepath.Join(e.RepoDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(e.RepoDir, "sub", "inner.txt"), secret)
	if err := os.Symlink(filepath.Join(e.DataDir, "secret.txt"), filepath.Join(e.RepoDir, "link.txt")); err != nil {
		t.Fatal(err)
	}

	status, body := rawGet(t, e.HTTP.URL, "/waptwua/hello.txt")
	if status != http.StatusOK || string(body) != "hello" {
		t.Fatalf("visible file: %d %q", status, body)
	}
	r := do(t, e.HTTP.URL, "GET", "/waptwua/hello.txt", nil, nil, http.Header{"Range": {"bytes=1-2"}})
	if r.Status != http.StatusPartialContent || string(r.Body) != "el" {
		t.Errorf("range: %d %q", r.Status, r.Body)
	}

	for _, target := range []string{
		"/waptwua/../secret.txt",
		"/waptwua/..%2fsecret.txt",
		"/waptwua/..%2Fsecret.txt",
		"/waptwua/%2e%2e/secret.txt",
		"/waptwua/%2e%2e%2fsecret.txt",
		"/waptwua/.%2e/secret.txt",
		"/waptwua/..%5csecret.txt",
		"/waptwua/..\\secret.txt",
		"/waptwua/%252e%252e%252fsecret.txt",
		"/waptwua/%c0%ae%c0%ae/secret.txt",
		"/waptwua//../secret.txt",
		"/waptwua/./../secret.txt",
		"/waptwua/sub/inner.txt",
		"/waptwua/sub%2finner.txt",
		"/waptwua/link.txt",
		"/waptwua/.tmp/",
		"/waptwua/",
		"/waptwua/%00",
		"/waptwua/../../../../etc/passwd",
		"/secret.txt",
	} {
		status, body := rawGet(t, e.HTTP.URL, target)
		if strings.Contains(string(body), secret) || strings.Contains(string(body), "root:") {
			t.Errorf("GET %s: %d served what lies outside the folder: %q", target, status, body)
		}
		if status == http.StatusOK {
			t.Errorf("GET %s: 200 %q", target, body)
		}
	}
}

func testOperations(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	r := e.Do("GET", "/healthz", nil, nil)
	Want(t, r, http.StatusOK, "healthz")
	r = e.Do("GET", "/readyz", nil, nil)
	Want(t, r, http.StatusOK, "readyz")
	var rz struct {
		Checks map[string]string `json:"checks"`
	}
	r.JSON(t, &rz)
	if rz.Checks["store"] != "ok" || rz.Checks["repository"] != "ok" {
		t.Errorf("readyz checks %v", rz.Checks)
	}
	cred := e.Register(hostA)
	Want(t, e.Report(hostA, cred, sampleReport()), http.StatusNoContent, "report")
	e.Server.Metrics().SetCabDate(time.Now().Add(-time.Hour))
	e.Server.Metrics().AddDownloadedBytes(1234)
	e.Server.Metrics().SetTaskCounts(map[store.TaskStatus]int{store.TaskQueued: 3})
	r = e.Do("GET", "/metrics", nil, nil)
	Want(t, r, http.StatusOK, "metrics")
	for _, want := range []string{
		`waptserver_reports_total{result="applied"} 1`,
		"waptserver_report_duration_seconds_bucket",
		`waptserver_http_requests_total{code="204",method="POST",route="POST /api/v1/hosts/{uuid}/report"} 1`,
		"waptserver_cab_age_seconds 36",
		"waptserver_upstream_downloaded_bytes_total 1234",
		`waptserver_download_tasks{state="queued"} 3`,
		"waptserver_download_queue_depth 3",
		"waptserver_host_registrations_total 1",
		"go_goroutines",
	} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// pingFails is a store whose database does not answer.
type pingFails struct{ server.Store }

func (pingFails) Ping(context.Context) error { return errors.New("connection refused") }

func testReadyzStoreDown(t *testing.T, open Opener) {
	e := newEnvOn(t, pingFails{open(t)})
	r := e.Do("GET", "/readyz", nil, nil)
	Want(t, r, http.StatusServiceUnavailable, "readyz with the store down")
	if strings.Contains(string(r.Body), "connection refused") {
		t.Errorf("readyz shows internal errors: %s", r.Body)
	}
	Want(t, e.Do("GET", "/healthz", nil, nil), http.StatusOK, "healthz with the store down")
}

func testJobs(t *testing.T, open Opener) {
	noJobs := NewEnv(t, open, server.WithJobs(nil))
	for _, p := range []string{"/cab/sync", "/files/delete-unused", "/files/download-missing"} {
		r := noJobs.Do("POST", server.AdminPrefix+p, Admin, nil)
		Want(t, r, http.StatusServiceUnavailable, p+" without jobs")
		if !strings.Contains(r.Error(t).Error, "jobs not running") {
			t.Errorf("%s: %s", p, r.Body)
		}
	}

	e := NewEnv(t, open)
	cred := e.Register(hostA)
	Want(t, e.Report(hostA, cred, sampleReport()), http.StatusNoContent, "report")
	Want(t, e.Do("POST", server.AdminPrefix+"/cab/sync", Admin, nil), http.StatusAccepted, "cab sync")
	r := e.Do("POST", server.AdminPrefix+"/updates/download", Admin, map[string]any{"updates": []string{strings.ToUpper(UpdateA) + "_201", UpdateB}})
	Want(t, r, http.StatusAccepted, "force download")
	r = e.Do("POST", server.AdminPrefix+"/updates/download", Admin, map[string]any{"updates": []string{UpdateA + "_201", "0a1b2c3d-0000-4000-8000-0000000000ff_1"}})
	Want(t, r, http.StatusNotFound, "force download of an unknown update")
	if f := r.Error(t).Field; f != "updates[1]" {
		t.Errorf("field %q", f)
	}
	r = e.Do("POST", server.AdminPrefix+"/updates/download", Admin, map[string]any{"updates": []string{"KB5034441"}})
	Want(t, r, http.StatusBadRequest, "force download of a KB")
	if f := r.Error(t).Field; f != "updates[0]" {
		t.Errorf("field %q", f)
	}
	r = e.Do("POST", server.AdminPrefix+"/files/delete-unused", Admin, nil)
	Want(t, r, http.StatusOK, "delete unused")
	var del map[string]int64
	r.JSON(t, &del)
	if del["deleted"] != 2 || del["bytes"] != 300 {
		t.Errorf("delete unused: %v", del)
	}
	Want(t, e.Do("POST", server.AdminPrefix+"/files/download-missing", Admin, nil), http.StatusAccepted, "download missing")

	want := [][]wu.UpdateKey{{{UpdateID: UpdateA, RevisionNumber: 201}, {UpdateID: UpdateB, RevisionNumber: 1}}, nil}
	if e.Jobs.CabSyncs != 1 || e.Jobs.Deletes != 1 || fmt.Sprint(e.Jobs.Downloads) != fmt.Sprint(want) {
		t.Errorf("jobs calls: syncs %d deletes %d downloads %v, want downloads %v", e.Jobs.CabSyncs, e.Jobs.Deletes, e.Jobs.Downloads, want)
	}

	e.Jobs.Err = server.ErrJobRunning
	Want(t, e.Do("POST", server.AdminPrefix+"/cab/sync", Admin, nil), http.StatusConflict, "cab sync while running")
}

func testUsers(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	a := server.AdminPrefix
	r := e.Do("GET", a+"/users", Admin, nil)
	Want(t, r, http.StatusOK, "users")
	if strings.Contains(string(r.Body), "$2a$") || strings.Contains(string(r.Body), "password") {
		t.Errorf("user list shows password hashes: %s", r.Body)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"username":"bad name","password":"long-enough","role":"admin"}`, "username"},
		{`{"username":"ok","password":"short","role":"admin"}`, "password"},
		{`{"username":"ok","password":"long-enough","role":"root"}`, "role"},
		{`{"username":"ok","password":"long-enough"}`, "role"},
		{`{"username":"ok","password":"long-enough","role":"admin","admin":true}`, "admin"},
	} {
		r := e.Do("POST", a+"/users", Admin, tc.body)
		Want(t, r, http.StatusBadRequest, tc.body)
		if f := r.Error(t).Field; f != tc.field {
			t.Errorf("%s: field %q, want %q", tc.body, f, tc.field)
		}
	}
	Want(t, e.Do("POST", a+"/users", Admin, `{"username":"carol","password":"carol-password","role":"read-only"}`), http.StatusCreated, "create")
	Want(t, e.Do("POST", a+"/users", Admin, `{"username":"carol","password":"carol-password","role":"read-only"}`), http.StatusConflict, "create twice")
	Want(t, e.Do("GET", a+"/me", Basic("carol", "carol-password"), nil), http.StatusOK, "new user logs in")
	Want(t, e.Do("PATCH", a+"/users/"+AdminUser, Admin, `{"role":"read-only"}`), http.StatusConflict, "demote the last admin")
	Want(t, e.Do("DELETE", a+"/users/"+AdminUser, Admin, nil), http.StatusConflict, "delete the last admin")
	Want(t, e.Do("DELETE", a+"/users/carol", Admin, nil), http.StatusNoContent, "delete")
	Want(t, e.Do("GET", a+"/me", Basic("carol", "carol-password"), nil), http.StatusUnauthorized, "deleted user")
	Want(t, e.Do("DELETE", a+"/users/carol", Admin, nil), http.StatusNotFound, "delete twice")
}

func testAudit(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	a := server.AdminPrefix
	e.Register(hostA)
	Want(t, e.Do("POST", a+"/hosts/"+hostA+"/commands", Admin, map[string]string{"kind": "install"}), http.StatusAccepted, "command")
	Want(t, e.Do("POST", a+"/users", Admin, `{"username":"dave","password":"dave-password","role":"read-only"}`), http.StatusCreated, "user")
	Want(t, e.Do("PUT", a+"/rules", Admin, `{"forbidden_kbs":["KB5034441"]}`), http.StatusOK, "rules")
	Want(t, e.Do("POST", a+"/cab/sync", Admin, nil), http.StatusAccepted, "cab")
	Want(t, e.Do("DELETE", a+"/hosts/"+hostA, Admin, nil), http.StatusNoContent, "delete host")
	Want(t, e.Do("POST", a+"/cab/sync", Viewer, nil), http.StatusForbidden, "refused change")

	r := e.Do("GET", a+"/audit", Viewer, nil)
	Want(t, r, http.StatusOK, "audit")
	var body struct {
		Entries []store.AuditEntry `json:"entries"`
	}
	r.JSON(t, &body)
	var got []string
	for i := len(body.Entries) - 1; i >= 0; i-- {
		en := body.Entries[i]
		got = append(got, en.Actor+" "+en.Action+" "+en.Target)
	}
	want := []string{
		"agent host.register host:" + hostA,
		"admin host.command host:" + hostA,
		"admin user.create user:dave",
		"admin rules.update rules:server",
		"admin cab.sync wsusscn2.cab",
		"admin host.delete host:" + hostA,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, en := range body.Entries {
		if en.Action == "host.command" && !strings.Contains(en.Details, `"install"`) {
			t.Errorf("command entry without its kind: %+v", en)
		}
	}
	r = e.Do("GET", a+"/audit?action=user.create", Admin, nil)
	r.JSON(t, &body)
	if len(body.Entries) != 1 {
		t.Errorf("audit filter: %s", r.Body)
	}
}

func testRules(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	cred := e.Register(hostA)
	path := HostPath(api.PathRules, hostA)
	r := e.Do("GET", path, Bearer(cred), nil)
	Want(t, r, http.StatusOK, "empty rules")
	var rs api.Rules
	r.JSON(t, &rs)
	if strings.TrimSpace(string(rs.Rules)) != "{}" {
		t.Errorf("rules without a rules file: %s", r.Body)
	}
	r = e.Do("PUT", server.AdminPrefix+"/rules", Admin, `{"forbidden_kbs":["kb5034441"],"allowed_severities":["critical"],"default_allow":false}`)
	Want(t, r, http.StatusOK, "put rules")
	r = e.Do("PUT", server.AdminPrefix+"/rules", Admin, `{"forbidden_kbs":["not-a-kb"]}`)
	Want(t, r, http.StatusBadRequest, "bad rules")
	if f := r.Error(t).Field; !strings.HasPrefix(f, "forbidden_kbs") {
		t.Errorf("bad rules field %q (%s)", f, r.Body)
	}
	r = e.Do("GET", path, Bearer(cred), nil)
	Want(t, r, http.StatusOK, "rules")
	r.JSON(t, &rs)
	if !strings.Contains(string(rs.Rules), `"KB5034441"`) || !strings.Contains(string(rs.Rules), `"Critical"`) {
		t.Errorf("rules %s", rs.Rules)
	}
	etag := r.Header.Get("ETag")
	r2 := do(t, e.HTTP.URL, "GET", path, Bearer(cred), nil, http.Header{"If-None-Match": {etag}})
	Want(t, r2, http.StatusNotModified, "rules unchanged")
}

func testUpdatesAndHosts(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	credA, credB := e.Register(hostA), e.Register(hostB)
	Want(t, e.Report(hostA, credA, sampleReport()), http.StatusNoContent, "report A")
	rep := api.Report{Full: true, WUAStatus: "OK", Updates: []api.UpdateStatus{{UpdateID: UpdateA, RevisionNumber: 201, Status: wu.StatusOK}}}
	Want(t, e.Report(hostB, credB, rep), http.StatusNoContent, "report B")
	a := server.AdminPrefix

	var page struct {
		Updates []struct {
			UpdateID string `json:"update_id"`
		} `json:"updates"`
		Total  int           `json:"total"`
		Facets *store.Facets `json:"facets"`
	}
	r := e.Do("GET", a+"/updates?severity=critical&facets=true", Viewer, nil)
	Want(t, r, http.StatusOK, "updates by severity")
	r.JSON(t, &page)
	if page.Total != 1 || page.Updates[0].UpdateID != UpdateA || page.Facets == nil {
		t.Errorf("critical updates: %s", r.Body)
	}
	r = e.Do("GET", a+"/updates?needed=true&limit=10", Viewer, nil)
	r.JSON(t, &page)
	if page.Total != 2 { // A (MISSING on host A) and C (DISCARDED)
		t.Errorf("needed updates: %s", r.Body)
	}
	for q, field := range map[string]string{"severity=urgent": "severity", "needed=maybe": "needed", "limit=0": "limit", "sort=size": "sort", "source=x": "source"} {
		r := e.Do("GET", a+"/updates?"+q, Viewer, nil)
		Want(t, r, http.StatusBadRequest, q)
		if f := r.Error(t).Field; f != field {
			t.Errorf("%s: field %q", q, f)
		}
	}

	r = e.Do("GET", a+"/updates/"+UpdateA+"_201", Viewer, nil)
	Want(t, r, http.StatusOK, "update")
	var ud struct {
		Key           string `json:"key"`
		HostsComplete bool   `json:"hosts_complete"`
		Hosts         []struct {
			UUID   string `json:"uuid"`
			Status string `json:"status"`
		} `json:"hosts"`
	}
	r.JSON(t, &ud)
	got := map[string]string{}
	for _, h := range ud.Hosts {
		got[h.UUID] = h.Status
	}
	if ud.Key != UpdateA+"_201" || !ud.HostsComplete || got[hostA] != "MISSING" || got[hostB] != "OK" || len(got) != 2 {
		t.Errorf("update detail: %s", r.Body)
	}
	Want(t, e.Do("GET", a+"/updates/"+UpdateA, Viewer, nil), http.StatusOK, "update by bare GUID")
	Want(t, e.Do("GET", a+"/updates/0a1b2c3d-0000-4000-8000-0000000000ff_1", Viewer, nil), http.StatusNotFound, "unknown update")
	Want(t, e.Do("GET", a+"/updates/KB123", Viewer, nil), http.StatusBadRequest, "bad key")

	r = e.Do("GET", a+"/hosts?q=4C4C4544-0034", Viewer, nil)
	Want(t, r, http.StatusOK, "hosts search")
	var hp store.HostPage
	r.JSON(t, &hp)
	if hp.Total != 1 || hp.Hosts[0].UUID != hostA {
		t.Errorf("hosts: %s", r.Body)
	}
	r = e.Do("GET", a+"/hosts/"+hostA+"/updates?status=missing,discarded", Viewer, nil)
	Want(t, r, http.StatusOK, "host updates by status")
	if n := strings.Count(string(r.Body), `"status"`); n != 2 {
		t.Errorf("host updates by status: %s", r.Body)
	}
	Want(t, e.Do("GET", a+"/hosts/no-such-host", Viewer, nil), http.StatusNotFound, "unknown host")
	Want(t, e.Do("DELETE", a+"/hosts/"+hostB, Admin, nil), http.StatusNoContent, "delete host")
	Want(t, e.Do("GET", HostPath(api.PathRules, hostB), Bearer(credB), nil), http.StatusUnauthorized, "deleted host's credential")
}

func testUnknownEndpoint(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	r := e.Do("GET", "/api/v1/nothing", Admin, nil)
	Want(t, r, http.StatusNotFound, "unknown endpoint")
	if r.Error(t).Error == "" {
		t.Errorf("404 body %s", r.Body)
	}
	r = e.Do("DELETE", server.AdminPrefix+"/tasks", Admin, nil)
	Want(t, r, http.StatusMethodNotAllowed, "wrong method")
	if r.Error(t).Error == "" || r.Header.Get("Allow") == "" {
		t.Errorf("405: %v %s", r.Header, r.Body)
	}
}

// fakeHealth is the jobs' health /readyz reads.
type fakeHealth []server.JobHealth

func (f fakeHealth) JobHealth() []server.JobHealth { return f }

func readyz(t *testing.T, e *Env, query string) (int, map[string]string) {
	t.Helper()
	r := e.Do("GET", "/readyz"+query, nil, nil)
	var rz struct {
		Checks map[string]string `json:"checks"`
	}
	if r.Status == http.StatusOK || r.Status == http.StatusServiceUnavailable {
		r.JSON(t, &rz)
	}
	return r.Status, rz.Checks
}

// testReadyzCatalogAndJobs: /readyz goes unready when the last successful catalog sync
// is older than max_catalog_age, reports each job's health, and gates on the jobs
// named with ?check=.
func testReadyzCatalogAndJobs(t *testing.T, open Opener) {
	synced := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	clock := &testClock{now: synced.Add(24 * time.Hour)}
	health := fakeHealth{
		{Name: "cab-sync", ConsecutiveFailures: 3, LastSuccess: synced, LastError: "download failed"},
		{Name: "cleanup", LastSuccess: synced},
	}
	e := NewEnv(t, open, server.WithClock(clock.Now), server.WithMaxCatalogAge(48*time.Hour), server.WithJobHealth(health))
	ctx := context.Background()

	// Never synced: reported, not gating (a fresh install accepts registrations).
	if code, checks := readyz(t, e, ""); code != http.StatusOK || checks["catalog"] != "none" {
		t.Errorf("no catalog yet: %d %v", code, checks)
	}
	c, err := e.Store.AddCabSync(ctx, store.CabSync{StartedAt: synced, UpdatedAt: synced, Status: store.CabDownloading})
	if err != nil {
		t.Fatal(err)
	}
	c.Status, c.CabDate = store.CabFinished, synced.Add(-48*time.Hour)
	if err := e.Store.UpdateCabSync(ctx, c); err != nil {
		t.Fatal(err)
	}
	// A later failed sync does not count as fresh.
	if _, err := e.Store.AddCabSync(ctx, store.CabSync{StartedAt: synced.Add(time.Hour), UpdatedAt: synced.Add(time.Hour), Status: store.CabError, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	code, checks := readyz(t, e, "")
	if code != http.StatusOK || checks["catalog"] != "ok" || checks["job:cab-sync"] != "failing" || checks["job:cleanup"] != "ok" {
		t.Errorf("fresh catalog, failing job not selected: %d %v", code, checks)
	}
	// Selecting the failing job (or every job) gates on it.
	for _, q := range []string{"?check=cab-sync", "?check=jobs", "?check=store,cab-sync"} {
		if code, _ := readyz(t, e, q); code != http.StatusServiceUnavailable {
			t.Errorf("%s with cab-sync failing: %d", q, code)
		}
	}
	if code, checks := readyz(t, e, "?check=cleanup"); code != http.StatusOK || checks["job:cleanup"] != "ok" {
		t.Errorf("?check=cleanup: %d %v", code, checks)
	}
	r := e.Do("GET", "/readyz?check=bogus", nil, nil)
	Want(t, r, http.StatusBadRequest, "unknown check")
	if !strings.Contains(r.Error(t).Error, "cab-sync") {
		t.Errorf("unknown check error does not list the checks: %s", r.Body)
	}
	// Three days later the catalog is older than max_catalog_age (2 days): not ready.
	clock.advance(2 * 24 * time.Hour)
	if code, checks := readyz(t, e, ""); code != http.StatusServiceUnavailable || checks["catalog"] != "stale" {
		t.Errorf("stale catalog: %d %v", code, checks)
	}
	if code, _ := readyz(t, e, "?check=store"); code != http.StatusOK {
		t.Errorf("?check=store with a stale catalog: %d", code)
	}
}

// testSessionsEnd (issue 11 item 4): logout ends the token at once, an administrator
// lists and ends any user's sessions, other users see only their own; every new route
// checks its authorisation.
func testSessionsEnd(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	login := func(user, pw string) string {
		r := e.Do("POST", server.AdminPrefix+"/login", nil, map[string]string{"username": user, "password": pw})
		Want(t, r, http.StatusOK, "login "+user)
		var lr struct {
			Token string `json:"token"`
		}
		r.JSON(t, &lr)
		return lr.Token
	}
	tok := login(ViewerUser, ViewerPassword)
	copied := tok // a copy taken before logout (another tab, a stolen token)
	Want(t, e.Do("POST", server.AdminPrefix+"/logout", Bearer(tok), nil), http.StatusNoContent, "logout")
	Want(t, e.Do("GET", server.AdminPrefix+"/me", Bearer(copied), nil), http.StatusUnauthorized, "token after logout")
	Want(t, e.Do("POST", server.AdminPrefix+"/logout", nil, nil), http.StatusUnauthorized, "logout without credentials")
	Want(t, e.Do("POST", server.AdminPrefix+"/logout", Viewer, nil), http.StatusBadRequest, "logout with Basic (no session)")

	v1, v2 := login(ViewerUser, ViewerPassword), login(ViewerUser, ViewerPassword)
	a1 := login(AdminUser, AdminPassword)
	var list struct {
		Sessions []struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
			Kind     string `json:"kind"`
		} `json:"sessions"`
	}
	r := e.Do("GET", server.AdminPrefix+"/sessions", Bearer(a1), nil)
	Want(t, r, http.StatusOK, "admin lists sessions")
	r.JSON(t, &list)
	if len(list.Sessions) != 3 {
		t.Fatalf("sessions %+v, want 3", list.Sessions)
	}
	if strings.Contains(string(r.Body), v1) || strings.Contains(string(r.Body), "token") {
		t.Error("the session list shows tokens")
	}
	r = e.Do("GET", server.AdminPrefix+"/sessions", Bearer(v1), nil)
	Want(t, r, http.StatusOK, "viewer lists own sessions")
	r.JSON(t, &list)
	var victim int64
	for _, s := range list.Sessions {
		if s.Username != ViewerUser {
			t.Errorf("viewer sees %s's session", s.Username)
		}
		victim = s.ID
	}
	Want(t, e.Do("GET", server.AdminPrefix+"/sessions?user="+AdminUser, Bearer(v1), nil), http.StatusForbidden, "viewer lists the admin's sessions")
	Want(t, e.Do("DELETE", server.AdminPrefix+fmt.Sprintf("/sessions/%d", victim), Bearer(v1), nil), http.StatusForbidden, "viewer ends a session")
	Want(t, e.Do("DELETE", server.AdminPrefix+fmt.Sprintf("/sessions/%d", victim), nil, nil), http.StatusUnauthorized, "anonymous ends a session")
	Want(t, e.Do("DELETE", server.AdminPrefix+fmt.Sprintf("/sessions/%d", victim), Bearer(a1), nil), http.StatusNoContent, "admin ends a session")
	Want(t, e.Do("DELETE", server.AdminPrefix+fmt.Sprintf("/sessions/%d", victim), Bearer(a1), nil), http.StatusNotFound, "end it twice")
	alive := 0
	for _, tk := range []string{v1, v2} {
		if e.Do("GET", server.AdminPrefix+"/me", Bearer(tk), nil).Status == http.StatusOK {
			alive++
		}
	}
	if alive != 1 {
		t.Errorf("%d of the viewer's 2 sessions alive after the admin ended one, want 1", alive)
	}
	if entries, err := e.Store.ListAudit(t.Context(), store.AuditFilter{Action: "session.end"}); err != nil || len(entries) != 1 {
		t.Errorf("session.end audited %d times: %v", len(entries), err)
	}
}
