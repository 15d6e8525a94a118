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

// TestRepositoriesPage: every user sees the sites and the site repositories with their
// state; administrators create, edit (refusals name the field) and delete sites;
// read-only users cannot.
func TestRepositoriesPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Two hosts: one in 10.1.0.0/16 by its report, one in group "paris".
	for i, groups := range [][]string{nil, {"paris"}} {
		uuid := []string{"host-lyon", "host-paris"}[i]
		if _, err := e.st.RegisterHost(ctx, store.HostRegistration{UUID: uuid, Name: uuid, Groups: groups, CredentialID: "c-" + uuid,
			CredentialHash: []byte("x"), At: testNow}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.ApplyReport(ctx, "host-lyon", store.Report{At: testNow.Add(-time.Hour), Networks: []string{"10.1.2.3/24"},
		Repository: "http://mirror-lyon.example:8080/waptwua/"}); err != nil {
		t.Fatal(err)
	}
	// Three mirrors: in sync, lagging with an error, silent for an hour.
	for i, m := range []struct {
		name, site, status string
		age                time.Duration
	}{{"lyon-1", "Lyon", "in_sync", time.Minute}, {"paris-1", "Paris", "error", 2 * time.Minute}, {"nice-1", "Nice", "in_sync", time.Hour}} {
		mm, err := e.st.RegisterMirror(ctx, store.MirrorRegistration{Name: m.name, Site: m.site, URL: "http://" + m.name + ".example:8080",
			CredentialID: "mc-" + m.name, CredentialHash: []byte{byte(i), 1}, At: testNow.Add(-2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		st := store.MirrorState{Status: m.status, FilesHeld: 12, BytesHeld: 3 << 30, FilesMissing: int64(i), Lag: time.Duration(i) * time.Minute}
		if m.status == "error" {
			st.LastError = "GET manifest: connection refused"
		}
		if err := e.st.SetMirrorState(ctx, mm.ID, st, testNow.Add(-m.age)); err != nil {
			t.Fatal(err)
		}
	}

	admin := e.client()
	admin.login("admin", adminPass)
	r := admin.post("/ui/repositories/sites", url.Values{"name": {"Lyon"}, "repositories": {"http://mirror-lyon.example:8080\nhttp://backup.example"},
		"networks": {"10.1.0.0/16"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create Lyon: HTTP %d\n%s", r.status, r.body)
	}
	admin.get("/ui/repositories")
	if r := admin.post("/ui/repositories/sites", url.Values{"name": {"Paris"}, "groups": {"paris"}, "repositories": {"https://mirror-paris.example"}}); r.status != http.StatusSeeOther {
		t.Fatalf("create Paris: HTTP %d", r.status)
	}
	// Refusals name the field and keep what was typed.
	admin.get("/ui/repositories")
	r = admin.post("/ui/repositories/sites", url.Values{"name": {"Nice"}, "repositories": {"https://ok.example\nftp://mirror-nice"}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "Repositories, line 2") || !strings.Contains(r.body, "ftp://mirror-nice") {
		t.Errorf("bad repository: HTTP %d, want 400 naming line 2 of the repositories\n%s", r.status, r.body)
	}
	r = admin.post("/ui/repositories/sites/Paris", url.Values{"name": {"Lyon"}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "exists already") {
		t.Errorf("rename onto Lyon: HTTP %d, want 409", r.status)
	}
	r = admin.post("/ui/repositories/sites/Paris", url.Values{"name": {"Paris"}, "groups": {"paris"}, "networks": {"10.2.0.0/33"}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "Networks, line 1") {
		t.Errorf("bad network: HTTP %d", r.status)
	}

	page := admin.get("/ui/repositories")
	for _, want := range []string{`data-site="Lyon"`, `data-site="Paris"`, "http://mirror-lyon.example:8080", "10.1.0.0/16",
		`data-state="in sync"`, `data-state="lagging"`, `data-state="unreachable"`, "connection refused", "(no such site)",
		`action="/ui/repositories/sites/Lyon"`, `id="new-site"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("admin's Repositories page lacks %s", want)
		}
	}
	// Lyon holds host-lyon (network), Paris host-paris (group): one host each.
	if !strings.Contains(page.body, `<tr data-mirror="lyon-1">`) {
		t.Fatal("no row for lyon-1")
	}
	row := page.body[strings.Index(page.body, `<tr data-mirror="lyon-1">`):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, `<td class="c-num">1</td>`) {
		t.Errorf("lyon-1 row does not say 1 host assigned: %s", row)
	}
	host := admin.get("/ui/hosts/host-lyon")
	if !strings.Contains(host.body, "http://mirror-lyon.example:8080/waptwua/") || !strings.Contains(host.body, "10.1.2.3/24") {
		t.Errorf("host page lacks the repository used last and the networks")
	}

	// Read-only users see everything, have no form, and cannot change anything.
	viewer := e.client()
	viewer.login("viewer", viewerPass)
	vp := viewer.get("/ui/repositories")
	if vp.status != http.StatusOK || !strings.Contains(vp.body, `data-site="Lyon"`) || !strings.Contains(vp.body, `data-mirror="paris-1"`) {
		t.Errorf("viewer's page: HTTP %d", vp.status)
	}
	if strings.Contains(vp.body, `id="new-site"`) || strings.Contains(vp.body, `action="/ui/repositories/sites`) {
		t.Error("viewer's page offers site forms")
	}
	for _, p := range []string{"/ui/repositories/sites", "/ui/repositories/sites/Lyon", "/ui/repositories/sites/Lyon/delete"} {
		if r := viewer.post(p, url.Values{"name": {"X"}}); r.status != http.StatusForbidden {
			t.Errorf("viewer POST %s: HTTP %d, want 403", p, r.status)
		}
	}
	anon := e.client()
	if r := anon.get("/ui/repositories"); r.status != http.StatusSeeOther {
		t.Errorf("anonymous GET: HTTP %d, want a redirect to the login", r.status)
	}
	if ss, _ := e.st.ListSites(ctx); len(ss) != 2 {
		t.Errorf("sites after the refusals: %d, want 2", len(ss))
	}

	// Delete.
	admin.get("/ui/repositories")
	if r := admin.post("/ui/repositories/sites/Paris/delete", nil); r.status != http.StatusSeeOther {
		t.Fatalf("delete: HTTP %d", r.status)
	}
	if _, err := e.st.GetSite(ctx, "Paris"); err == nil {
		t.Error("Paris still there")
	}
}
