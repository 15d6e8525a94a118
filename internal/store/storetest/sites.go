package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

func siteNames(ss []store.Site) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

func testSites(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ss, err := s.ListSites(ctx); err != nil || len(ss) != 0 {
		t.Fatalf("ListSites on an empty store = %v, %v", ss, err)
	}
	lyon, err := s.CreateSite(ctx, store.Site{Name: " Lyon ", Repositories: []string{"https://mirror.lyon.example/", "http://10.1.0.5:8080/wapt"},
		Networks: []string{"10.1.2.3/16", "10.1.0.0/16", "192.0.2.7"}, Groups: []string{"lyon"}, UpdatedAt: at(1), UpdatedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if lyon.Name != "Lyon" || lyon.Position != 1 || !slices.Equal(lyon.Repositories, []string{"https://mirror.lyon.example", "http://10.1.0.5:8080/wapt"}) ||
		!slices.Equal(lyon.Networks, []string{"10.1.0.0/16", "192.0.2.7/32"}) || lyon.UpdatedBy != "alice" || len(lyon.Hosts) != 0 || lyon.Hosts == nil {
		t.Errorf("created site = %+v", lyon)
	}
	sameTime(t, "site created_at", lyon.CreatedAt, at(1))
	paris, err := s.CreateSite(ctx, store.Site{Name: "Paris", Repositories: []string{"https://mirror.paris.example"},
		Networks: []string{"10.2.0.0/16", "10.1.9.0/24"}, UpdatedAt: at(2)})
	if err != nil {
		t.Fatal(err)
	}
	if paris.Position != 2 {
		t.Errorf("second site position = %d, want 2 (last)", paris.Position)
	}
	if _, err := s.CreateSite(ctx, store.Site{Name: "Paris", UpdatedAt: at(3)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSite with an existing name: %v, want ErrConflict", err)
	}
	for _, bad := range []struct {
		site  store.Site
		field string
	}{
		{store.Site{Name: ""}, "name"},
		{store.Site{Name: "x", Repositories: []string{"ftp://mirror"}}, "repositories[0]"},
		{store.Site{Name: "x", Repositories: []string{"https://ok", "https://user:pw@mirror"}}, "repositories[1]"},
		{store.Site{Name: "x", Repositories: []string{"https://mirror/?a=1"}}, "repositories[0]"},
		{store.Site{Name: "x", Networks: []string{"10.0.0.0/33"}}, "networks[0]"},
		{store.Site{Name: "x", Networks: []string{"10.0.0.0/8", "lyon"}}, "networks[1]"},
		{store.Site{Name: "x", Groups: []string{""}}, "groups[0]"},
		{store.Site{Name: "x", Hosts: []string{"a\nb"}}, "hosts[0]"},
		{store.Site{Name: "x", Position: -1}, "position"},
	} {
		_, err := s.CreateSite(ctx, bad.site)
		var fe *store.InvalidField
		if !errors.Is(err, store.ErrInvalid) || !errors.As(err, &fe) || fe.Field != bad.field {
			t.Errorf("CreateSite(%+v) = %v, want ErrInvalid naming %s", bad.site, err, bad.field)
		}
	}
	if got, err := s.GetSite(ctx, "Paris"); err != nil || got.Name != "Paris" || !slices.Equal(got.Networks, paris.Networks) {
		t.Errorf("GetSite = %+v, %v", got, err)
	}
	if _, err := s.GetSite(ctx, "Nowhere"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSite unknown: %v, want ErrNotFound", err)
	}

	// Hosts: 1 in 10.1.9.0/24 (both sites' networks: Lyon comes first), 2 in group
	// "lyon" but in Paris's network (group wins), 3 named by Paris but in group lyon
	// (host wins), 4 nowhere, 5 in Paris's network.
	reg := func(n int, groups ...string) {
		t.Helper()
		if _, err := s.RegisterHost(ctx, store.HostRegistration{UUID: HostUUID(n), Name: fmt.Sprintf("host-%03d", n), Groups: groups,
			CredentialID: fmt.Sprintf("cred-%d", n), CredentialHash: []byte{1}, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	reg(1, "lab")
	reg(2, "LYON")
	reg(3, "lyon")
	reg(4)
	reg(5)
	paris.Hosts = []string{HostUUID(3)}
	paris.UpdatedAt = at(4)
	if paris, err = s.UpdateSite(ctx, "Paris", paris); err != nil || paris.Position != 2 || !slices.Equal(paris.Hosts, []string{HostUUID(3)}) {
		t.Fatalf("UpdateSite = %+v, %v", paris, err)
	}
	nets := map[int][]string{1: {"10.1.9.20/24", "fe80::1/64"}, 2: {"10.2.3.4/16"}, 3: {"10.3.0.1/8"}, 4: {"172.16.0.1/12"}, 5: {"10.2.200.1/16"}}
	us, cats := Catalog(6)
	importAll(t, s, us, cats, t0)
	for n, ns := range nets {
		r := store.Report{At: at(5), Networks: ns, Repository: fmt.Sprintf("https://repo-%d/waptwua/", n)}
		switch n {
		case 1: // Lyon: update 0 missing, 1 installed
			r.Updates = []store.ReportedUpdate{{Key: us[0].Key(), Status: wu.StatusMissing}, {Key: us[1].Key(), Status: wu.StatusOK}}
		case 5: // Paris: update 2 pending, update 3 not allowed
			r.Updates = []store.ReportedUpdate{{Key: us[2].Key(), Status: wu.StatusPending},
				{Key: us[3].Key(), Status: wu.StatusDiscarded, Reason: wu.ReasonNotAllowed}}
		case 4: // no site: update 4 missing
			r.Updates = []store.ReportedUpdate{{Key: us[4].Key(), Status: wu.StatusMissing}}
		}
		report(t, s, n, r)
	}
	h, err := s.GetHost(ctx, HostUUID(1))
	if err != nil || !slices.Equal(h.Networks, nets[1]) || h.Repository != "https://repo-1/waptwua/" {
		t.Errorf("host 1 networks %v repository %q, %v", h.Networks, h.Repository, err)
	}
	sameTime(t, "host repository_at", h.RepositoryAt, at(5))
	// A report without them keeps them.
	report(t, s, 1, store.Report{At: at(6), Updates: []store.ReportedUpdate{{Key: us[0].Key(), Status: wu.StatusMissing}, {Key: us[1].Key(), Status: wu.StatusOK}}})
	if h, _ := s.GetHost(ctx, HostUUID(1)); !slices.Equal(h.Networks, nets[1]) || h.Repository != "https://repo-1/waptwua/" {
		t.Errorf("after a report without networks: %v %q", h.Networks, h.Repository)
	}

	want := map[int]string{1: "Lyon", 2: "Lyon", 3: "Paris", 4: "", 5: "Paris"}
	for n, w := range want {
		site, ok, err := s.HostSite(ctx, HostUUID(n))
		if err != nil || ok != (w != "") || site.Name != w {
			t.Errorf("HostSite(host %d) = %q %v %v, want %q", n, site.Name, ok, err, w)
		}
	}
	if _, _, err := s.HostSite(ctx, HostUUID(99)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("HostSite unknown host: %v, want ErrNotFound", err)
	}
	counts, err := s.SiteHostCounts(ctx)
	if err != nil || !maps.Equal(counts, map[string]int{"Lyon": 2, "Paris": 2}) {
		t.Errorf("SiteHostCounts = %v, %v", counts, err)
	}

	files := func(site string, want ...string) {
		t.Helper()
		fs, err := s.NeededFilesForSite(ctx, site)
		if err != nil {
			t.Fatalf("NeededFilesForSite(%s): %v", site, err)
		}
		want = slices.Compact(slices.Sorted(slices.Values(want)))
		if got := shas(fs); !slices.Equal(got, want) {
			t.Errorf("NeededFilesForSite(%s) = %v, want %v", site, got, want)
		}
	}
	fileSHAs := func(u wu.Update) []string {
		var out []string
		for _, f := range u.Files {
			out = append(out, f.SHA1)
		}
		return out
	}
	files("Lyon", fileSHAs(us[0])...)
	files("Paris", fileSHAs(us[2])...)
	// Downloaded files are listed too.
	if err := s.MarkDownloaded(ctx, us[2].Files[0].SHA1, store.Downloaded{At: at(7), Size: 10}); err != nil {
		t.Fatal(err)
	}
	files("Paris", fileSHAs(us[2])...)
	if _, err := s.NeededFilesForSite(ctx, "Nowhere"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("NeededFilesForSite unknown site: %v, want ErrNotFound", err)
	}

	// Moving Paris first: host 1 (in both networks) goes to Paris.
	lyon.Position = 3
	lyon.UpdatedAt = at(8)
	if _, err := s.UpdateSite(ctx, "Lyon", lyon); err != nil {
		t.Fatal(err)
	}
	ss, _ := s.ListSites(ctx)
	if got := siteNames(ss); !slices.Equal(got, []string{"Paris", "Lyon"}) {
		t.Errorf("order after moving Lyon last = %v", got)
	}
	if site, _, _ := s.HostSite(ctx, HostUUID(1)); site.Name != "Paris" {
		t.Errorf("host 1 in both networks after reordering: %q, want Paris", site.Name)
	}
	files("Paris", append(fileSHAs(us[0]), fileSHAs(us[2])...)...)
	files("Lyon")

	// Rename and delete.
	lyon.Name = "Lyon-2"
	if _, err := s.UpdateSite(ctx, "Lyon", lyon); err != nil {
		t.Fatal(err)
	}
	lyon.Name = "Paris"
	if _, err := s.UpdateSite(ctx, "Lyon-2", lyon); !errors.Is(err, store.ErrConflict) {
		t.Errorf("renaming onto an existing site: %v, want ErrConflict", err)
	}
	if _, err := s.UpdateSite(ctx, "Lyon", lyon); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("updating the old name: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSite(ctx, "Paris"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSite(ctx, "Paris"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	if site, _, _ := s.HostSite(ctx, HostUUID(3)); site.Name != "Lyon-2" {
		t.Errorf("host 3 (group lyon) after Paris went: %q, want Lyon-2", site.Name)
	}
}
