package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openwua/waptwua/internal/api"
)

// startMirrorDemo starts a demo fleet of hosts with two site repositories.
func startMirrorDemo(t *testing.T, hosts int) *demoFleet {
	t.Helper()
	d, err := startDemo(context.Background(), demoOptions{listen: "127.0.0.1:0", data: t.TempDir(), hosts: hosts, updates: 1500, seed: 3,
		quick: true, mirrors: 2}, false, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// mirrorsInSync says whether every mirror of the demo reported in_sync.
func mirrorsInSync(ctx context.Context, t *testing.T, d *demoFleet) bool {
	ms, err := d.Store.ListMirrors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if m.State.Status == "in_sync" && m.State.FilesHeld > 0 {
			n++
		}
	}
	return n == len(d.Mirrors) && n > 0
}

// scheduledHosts counts the demo hosts that run cycles by themselves (the manual ones
// wait for the console, so their networks are not known yet).
func scheduledHosts(d *demoFleet) int {
	n := 0
	for _, h := range d.Hosts {
		if !h.Manual {
			n++
		}
	}
	return n
}

// TestDemoMirrors: `waptserver demo --mirrors 2` starts two site repositories, prints
// each on a line of its own, assigns about half of the hosts to each site by network,
// the mirrors come in sync within two minutes, and hosts download from their site's
// mirror.
func TestDemoMirrors(t *testing.T) {
	if testing.Short() {
		t.Skip("demo fleet")
	}
	start := time.Now()
	d := startMirrorDemo(t, 8)
	ctx := context.Background()
	lines := d.mirrorLines()
	re := regexp.MustCompile(`(?m)^  Mirror ([12]): (http://127\.0\.0\.1:\d+)$`)
	if got := re.FindAllStringSubmatch(lines, -1); len(got) != 2 || got[0][2] != d.Mirrors[0].URL || got[1][2] != d.Mirrors[1].URL {
		t.Errorf("mirror lines:\n%s", lines)
	}
	if err := (demoOptions{hosts: 3, updates: 1000, mirrors: 5}).validate(); err == nil {
		t.Error("--mirrors 5 accepted")
	}
	waitFor(t, "both mirrors in sync", 2*time.Minute-time.Since(start), func() bool { return mirrorsInSync(ctx, t, d) })
	t.Logf("both mirrors in sync %v after the start", time.Since(start).Round(time.Second))

	// Every host reports its network: half of the hosts in each site.
	waitFor(t, "the first report of every scheduled host", 90*time.Second, func() bool {
		counts, err := d.Store.SiteHostCounts(ctx)
		return err == nil && counts["Site 1"]+counts["Site 2"] >= scheduledHosts(d)
	})
	counts, _ := d.Store.SiteHostCounts(ctx)
	if counts["Site 1"] < scheduledHosts(d)/2-1 || counts["Site 2"] < scheduledHosts(d)/2-1 {
		t.Errorf("hosts per site = %v, want about half each of %d", counts, scheduledHosts(d))
	}
	t.Logf("hosts per site: %v", counts)
	// Hosts download from their site's mirror (once their site is known).
	want := map[string]string{}
	for i, h := range d.Hosts {
		want[h.UUID] = api.RepoFolder(d.Mirrors[demoSiteOf(i, 2)-1].URL)
	}
	waitFor(t, "a host of each site reporting its mirror", 3*time.Minute, func() bool {
		seen := map[string]bool{}
		for uuid, folder := range want {
			h, err := d.Store.GetHost(ctx, uuid)
			if err == nil && h.Repository == folder {
				seen[folder] = true
			}
		}
		return len(seen) == 2
	})
	for uuid, folder := range want {
		if h, _ := d.Store.GetHost(ctx, uuid); h.Repository != "" && h.Repository != folder && !strings.HasPrefix(h.Repository, d.URL) {
			t.Errorf("host %s used %s, want its site's mirror %s (or the main server)", h.Name, h.Repository, folder)
		}
	}
	served := int64(0)
	for _, m := range d.Mirrors {
		served += m.M.Counters().BytesServed
	}
	if served == 0 {
		t.Error("the mirrors served no byte")
	}
}

// TestRepositoriesInBrowser drives the Repositories page of a demo with two mirrors in
// headless Chromium: both mirrors show in sync with their hosts, an administrator edits
// a site (a refused network named, then saved), a read-only user sees the page without
// any form.
func TestRepositoriesInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	bctx := newBrowser(t)
	d := startMirrorDemo(t, 6)
	ctx := context.Background()
	shots := t.TempDir()
	defer copyShots(t, shots)
	b := &browserSession{t: t, ctx: bctx, base: d.ConsoleURL, shots: shots}
	b.login(d.Admin, d.AdminPassword)
	waitFor(t, "both mirrors in sync", 2*time.Minute, func() bool { return mirrorsInSync(ctx, t, d) })
	waitFor(t, "the first report of every scheduled host", 90*time.Second, func() bool {
		counts, err := d.Store.SiteHostCounts(ctx)
		return err == nil && counts["Site 1"]+counts["Site 2"] >= scheduledHosts(d)
	})
	b.open("repositories", "#mirrors")
	states := eval[[]string](b, `Array.from(document.querySelectorAll('#mirrors .mirror-state')).map(e => e.dataset.state)`)
	if len(states) != 2 || states[0] != "in sync" || states[1] != "in sync" {
		t.Errorf("mirror states on the page: %v", states)
	}
	assigned := eval[[]string](b, `Array.from(document.querySelectorAll('#mirrors tr')).map(r => r.cells[6] ? r.cells[6].innerText : '').filter(s => s)`)
	counts, _ := d.Store.SiteHostCounts(ctx)
	if want := []string{"Hosts assigned", fmt.Sprint(counts["Site 1"]), fmt.Sprint(counts["Site 2"])}; fmt.Sprint(assigned) != fmt.Sprint(want) || counts["Site 1"] == 0 || counts["Site 2"] == 0 {
		t.Errorf("hosts assigned per mirror on the page: %v, want %v", assigned, want)
	}
	b.shot("30-repositories")
	b.noCSPViolation("repositories")

	// A refused network is named; then a group is added.
	sel := `#edit-Site\ 1 `
	b.run("type a bad network",
		chromedp.SetValue(sel+`textarea[name=networks]`, "10.1.0.0/16\n10.9.0.0/99"),
		chromedp.Click(sel+`button[type=submit]`),
		chromedp.WaitVisible(`#site-error`))
	if msg := eval[string](b, `document.querySelector('#site-error').innerText`); !strings.Contains(msg, "Networks, line 2") {
		t.Errorf("refusal = %q, want it to name line 2 of the networks", msg)
	}
	b.shot("31-repositories-refused")
	b.run("add a group",
		chromedp.SetValue(sel+`textarea[name=networks]`, "10.1.0.0/16"),
		chromedp.SetValue(sel+`textarea[name=groups]`, "servers"),
		chromedp.Click(sel+`button[type=submit]`),
		chromedp.WaitVisible(`.flash.ok`))
	site, err := d.Store.GetSite(ctx, "Site 1")
	if err != nil || fmt.Sprint(site.Groups) != "[servers]" || fmt.Sprint(site.Networks) != "[10.1.0.0/16]" {
		t.Errorf("Site 1 after the edit: %+v %v", site, err)
	}

	// The host page shows the repository a host used last.
	waitFor(t, "a host reporting its repository", 3*time.Minute, func() bool {
		h, err := d.Store.GetHost(ctx, d.Hosts[0].UUID)
		return err == nil && h.Repository != ""
	})
	b.open("hosts/"+d.Hosts[0].UUID, "#host-repository")
	if txt := eval[string](b, `document.querySelector('#host-repository').innerText`); !strings.Contains(txt, "/waptwua/") {
		t.Errorf("host page repository = %q", txt)
	}

	// Read-only: sees, no form.
	b.logout()
	b.login(d.Viewer, d.ViewerPassword)
	b.open("repositories", "#mirrors")
	if n := eval[int](b, `document.querySelectorAll('form.site-form, #new-site').length`); n != 0 {
		t.Errorf("read-only user sees %d site forms", n)
	}
	if n := eval[int](b, `document.querySelectorAll('#sites tr[data-site]').length`); n != 2 {
		t.Errorf("read-only user sees %d sites, want 2", n)
	}
	b.shot("32-repositories-viewer")
}
