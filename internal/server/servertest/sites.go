package servertest

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
)

// testSites: the admin API of sites (validation naming the field, conflicts, audit,
// authorisation), the networks and repository of reports, and the repositories of the
// host's site in its rules answer (with an ETag that changes with them).
func testSites(t *testing.T, open Opener) {
	e := NewEnv(t, open)
	a := server.AdminPrefix
	credA := e.Register(hostA)
	credB := e.Register(hostB)
	rep := sampleReport()
	rep.Networks = []string{"10.1.2.3/24", "fe80::1/64"}
	rep.Repository = "http://main.example/waptwua/"
	Want(t, e.Report(hostA, credA, rep), http.StatusNoContent, "report with networks")
	rep.Networks, rep.Repository = []string{"10.2.0.9/16"}, ""
	Want(t, e.Report(hostB, credB, rep), http.StatusNoContent, "report B")

	// Bad reports name the field.
	for _, bad := range []struct {
		nets  []string
		repo  string
		field string
	}{
		{[]string{"10.1.2.3"}, "", "networks[0]"},
		{[]string{"10.1.2.3/24", "x/8"}, "", "networks[1]"},
		{make([]string, api.MaxNetworks+1), "", "networks"},
		{nil, "ftp://mirror/", "repository"},
		{nil, "https://user:pw@mirror/", "repository"},
	} {
		r := sampleReport()
		r.Networks, r.Repository = bad.nets, bad.repo
		resp := e.Report(hostA, credA, r)
		Want(t, resp, http.StatusBadRequest, "bad report "+bad.field)
		if f := resp.Error(t).Field; f != bad.field {
			t.Errorf("bad report: field %q, want %q", f, bad.field)
		}
	}
	var host admin.HostDetail
	e.Do("GET", a+"/hosts/"+hostA, Viewer, nil).JSON(t, &host)
	if !slices.Equal(host.Host.Networks, []string{"10.1.2.3/24", "fe80::1/64"}) || host.Host.Repository != "http://main.example/waptwua/" || host.Host.RepositoryAt.IsZero() {
		t.Errorf("host A as the admin API shows it: networks %v repository %q at %v", host.Host.Networks, host.Host.Repository, host.Host.RepositoryAt)
	}

	rules := func(uuid, cred, etag string) (api.Rules, Response) {
		t.Helper()
		var hdr http.Header
		if etag != "" {
			hdr = http.Header{"If-None-Match": {etag}}
		}
		r := do(t, e.HTTP.URL, "GET", HostPath(api.PathRules, uuid), Bearer(cred), nil, hdr)
		var out api.Rules
		if r.Status == http.StatusOK {
			r.JSON(t, &out)
		}
		return out, r
	}
	r0, resp := rules(hostA, credA, "")
	Want(t, resp, http.StatusOK, "rules without sites")
	if len(r0.Repositories) != 0 {
		t.Errorf("repositories without sites: %v", r0.Repositories)
	}
	etag0 := resp.Header.Get("ETag")

	// Create: validation names the field, no change.
	for _, bad := range []struct {
		body  string
		field string
	}{
		{`{"name":"","repositories":[]}`, "name"},
		{`{"name":"Lyon","repositories":["https://ok","gopher://mirror"]}`, "repositories[1]"},
		{`{"name":"Lyon","repositories":[],"networks":["10.1.0.0/40"]}`, "networks[0]"},
		{`{"name":"Lyon","repositories":[],"nets":["10.1.0.0/16"]}`, "nets"},
	} {
		r := e.Do("POST", a+"/sites", Admin, bad.body)
		Want(t, r, http.StatusBadRequest, "bad site "+bad.body)
		if f := r.Error(t).Field; f != bad.field {
			t.Errorf("bad site %s: field %q, want %q", bad.body, f, bad.field)
		}
	}
	r := e.Do("POST", a+"/sites", Admin, admin.SiteRequest{Name: "Lyon", Repositories: []string{"http://mirror-lyon.example:8080/", "http://backup-lyon.example"},
		Networks: []string{"10.1.0.0/16"}})
	Want(t, r, http.StatusCreated, "create Lyon")
	var lyon admin.Site
	r.JSON(t, &lyon)
	if lyon.Name != "Lyon" || lyon.Position != 1 || !slices.Equal(lyon.Repositories, []string{"http://mirror-lyon.example:8080", "http://backup-lyon.example"}) {
		t.Errorf("created %+v", lyon)
	}
	Want(t, e.Do("POST", a+"/sites", Admin, admin.SiteRequest{Name: "Lyon"}), http.StatusConflict, "same name")
	Want(t, e.Do("POST", a+"/sites", Admin, admin.SiteRequest{Name: "Paris", Repositories: []string{"https://mirror-paris.example"},
		Hosts: []string{hostB}}), http.StatusCreated, "create Paris")

	// Read-only users see the sites and cannot change them; nobody else sees them.
	var list struct {
		Sites []admin.Site `json:"sites"`
	}
	e.Do("GET", a+"/sites", Viewer, nil).JSON(t, &list)
	if len(list.Sites) != 2 || list.Sites[0].Name != "Lyon" || list.Sites[0].HostsAssigned != 1 || list.Sites[1].HostsAssigned != 1 {
		t.Errorf("sites as a viewer sees them: %+v", list.Sites)
	}
	Want(t, e.Do("GET", a+"/sites/Paris", Viewer, nil), http.StatusOK, "viewer reads one site")
	Want(t, e.Do("GET", a+"/sites/Nowhere", Viewer, nil), http.StatusNotFound, "unknown site")
	Want(t, e.Do("GET", a+"/sites", nil, nil), http.StatusUnauthorized, "anonymous list")
	Want(t, e.Do("GET", a+"/sites", Bearer(credA), nil), http.StatusUnauthorized, "a host credential lists sites")
	Want(t, e.Do("PUT", a+"/sites/Lyon", Viewer, admin.SiteRequest{Name: "Lyon"}), http.StatusForbidden, "viewer edits")
	Want(t, e.Do("DELETE", a+"/sites/Lyon", Viewer, nil), http.StatusForbidden, "viewer deletes")
	Want(t, e.Do("POST", a+"/sites", Viewer, admin.SiteRequest{Name: "Nice"}), http.StatusForbidden, "viewer creates")

	// The rules answer carries the site's repositories; the ETag changes with them.
	r1, resp := rules(hostA, credA, etag0)
	Want(t, resp, http.StatusOK, "rules after Lyon")
	if !slices.Equal(r1.Repositories, []string{"http://mirror-lyon.example:8080", "http://backup-lyon.example"}) {
		t.Errorf("host A repositories = %v", r1.Repositories)
	}
	if r2, _ := rules(hostB, credB, ""); !slices.Equal(r2.Repositories, []string{"https://mirror-paris.example"}) {
		t.Errorf("host B (named by Paris) repositories = %v", r2.Repositories)
	}
	_, resp = rules(hostA, credA, resp.Header.Get("ETag"))
	Want(t, resp, http.StatusNotModified, "rules unchanged")

	// Update (rename, new repositories), then delete.
	r = e.Do("PUT", a+"/sites/Lyon", Admin, admin.SiteRequest{Name: "Lyon-Est", Repositories: []string{"https://mirror2-lyon.example"},
		Networks: []string{"10.1.0.0/16"}})
	Want(t, r, http.StatusOK, "update Lyon")
	r.JSON(t, &lyon)
	if lyon.Name != "Lyon-Est" || lyon.HostsAssigned != 1 || lyon.Position != 1 {
		t.Errorf("updated %+v", lyon)
	}
	Want(t, e.Do("PUT", a+"/sites/Lyon", Admin, admin.SiteRequest{Name: "Lyon"}), http.StatusNotFound, "update the old name")
	r = e.Do("PUT", a+"/sites/Lyon-Est", Admin, admin.SiteRequest{Name: "Paris"})
	Want(t, r, http.StatusConflict, "rename onto Paris")
	if r1, _ = rules(hostA, credA, ""); !slices.Equal(r1.Repositories, []string{"https://mirror2-lyon.example"}) {
		t.Errorf("host A repositories after the update = %v", r1.Repositories)
	}
	Want(t, e.Do("DELETE", a+"/sites/Lyon-Est", Admin, nil), http.StatusNoContent, "delete")
	Want(t, e.Do("DELETE", a+"/sites/Lyon-Est", Admin, nil), http.StatusNotFound, "delete twice")
	if r1, _ = rules(hostA, credA, ""); len(r1.Repositories) != 0 {
		t.Errorf("host A repositories after the delete = %v", r1.Repositories)
	}

	entries, err := e.Store.ListAudit(context.Background(), store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		if strings.HasPrefix(en.Action, "site.") {
			actions = append(actions, en.Action+" "+en.Target+" "+en.Actor)
		}
	}
	slices.Sort(actions)
	want := []string{"site.create site:Lyon admin", "site.create site:Paris admin", "site.delete site:Lyon-Est admin", "site.update site:Lyon admin"}
	if !slices.Equal(actions, want) {
		t.Errorf("audit = %v, want %v", actions, want)
	}
}
