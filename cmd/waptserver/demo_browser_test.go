package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Debian Chromium with a fresh profile, or skips the test
// when Chromium is absent and WAPTWUA_REQUIRE_CHROMIUM is unset.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("WAPTWUA_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("%s: %v (WAPTWUA_REQUIRE_CHROMIUM is set: apt-get install -y chromium)", chromiumPath, err)
		}
		t.Skipf("browser tests skipped: %s not found (apt-get install -y chromium; set WAPTWUA_REQUIRE_CHROMIUM=1 to make this a failure)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// browserSession drives one browser through the console, saving screenshots.
type browserSession struct {
	t     *testing.T
	ctx   context.Context
	base  string // console URL, ends with /ui/
	shots string
}

func (b *browserSession) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action that returns a value.
func bget[T any](b *browserSession, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// eval evaluates JavaScript (awaiting a promise) and returns its value.
func eval[T any](b *browserSession, js string) T {
	b.t.Helper()
	return bget(b, "evaluate "+js, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

func (b *browserSession) open(path string, waitSel string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+strings.TrimPrefix(path, "/ui/")), chromedp.WaitReady(waitSel))
}

// waitJS polls a JavaScript condition until it is true.
func (b *browserSession) waitJS(what, js string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if eval[bool](b, "!!("+js+")") {
			return
		}
		if time.Now().After(deadline) {
			body := eval[string](b, "document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText")
			b.t.Fatalf("timed out after %v waiting for %s; the page shows:\n%.1500s", timeout, what, body)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// noCSPViolation fails when the page broke its Content-Security-Policy (an inline
// style or script that htmx or a template added).
func (b *browserSession) noCSPViolation(page string) {
	b.t.Helper()
	if v := eval[string](b, `(window.waptwuaCSP || []).join("; ")`); v != "" {
		b.t.Errorf("%s: Content-Security-Policy violations: %s", page, v)
	}
}

func (b *browserSession) location() string {
	return bget(b, "location", chromedp.Location())
}

func (b *browserSession) shot(name string) {
	b.t.Helper()
	b.run("settle", chromedp.Sleep(150*time.Millisecond))
	png := bget(b, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browserSession) login(user, password string) {
	b.t.Helper()
	b.open("login", "#username")
	b.run("log in as "+user,
		chromedp.SendKeys("#username", user),
		chromedp.SendKeys("#password", password),
		chromedp.Click(".login button[type=submit]"),
		chromedp.WaitVisible(".kpis"),
	)
}

func (b *browserSession) logout() {
	b.t.Helper()
	b.run("log out", chromedp.Click(".who button[type=submit]"), chromedp.WaitVisible("#username"))
}

// copyShots keeps the screenshots under bench/out/screenshots/ of the repository.
func copyShots(t *testing.T, from string) {
	dst := filepath.Join("..", "..", "bench", "out", "screenshots")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Logf("screenshots stay in %s: %v", from, err)
		return
	}
	entries, _ := os.ReadDir(from)
	for _, e := range entries {
		src, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			continue
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err == nil {
			_, _ = io.Copy(out, src)
			out.Close()
		}
		src.Close()
	}
	abs, _ := filepath.Abs(dst)
	t.Logf("%d screenshots in %s", len(entries), abs)
}

// TestConsoleInBrowser drives the demo's console with a real headless Chromium: log in,
// filter the Windows Updates, force a download and watch it finish, trigger a scan on a
// simulated host and watch its status change, forbid an update and see the host report
// it DISCARDED, and check that a read-only user cannot act. It saves a screenshot of
// every page (1280×800) under bench/out/screenshots/.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	bctx := newBrowser(t)
	d := startTestDemo(t, 8)
	ctx := context.Background()
	shots := t.TempDir()
	defer copyShots(t, shots)
	b := &browserSession{t: t, ctx: bctx, base: d.ConsoleURL, shots: shots}

	var manual *demoHost
	for _, h := range d.Hosts {
		if h.Manual {
			manual = h
			break
		}
	}

	// Login. The page records CSP violations (checked on the pages below): make sure it does.
	b.open("login", "#username")
	b.shot("01-login")
	if n := eval[int](b, `document.body.setAttribute('style', 'color: red');
		new Promise(r => setTimeout(() => r(window.waptwuaCSP.length), 200))`); n == 0 {
		t.Error("an inline style was not reported as a Content-Security-Policy violation")
	}
	b.login(d.Admin, d.AdminPassword)
	waitFor(t, "the fleet's first reports", 90*time.Second, func() bool {
		p, err := d.Store.ListHosts(ctx, store.HostFilter{WUAStatus: "PENDING_UPDATES", Limit: 1})
		return err == nil && p.Total >= 2
	})
	b.open("/ui/", ".kpis")
	b.shot("02-dashboard")

	t.Run("filter by severity and product", func(t *testing.T) {
		b.t = t
		b.open("updates", "#facets")
		b.shot("03-updates")
		b.waitJS("the facet counts", `document.querySelector('#facets .facet-count')`, 30*time.Second)
		b.run("tick Critical", chromedp.Click(`#facets input[name=sev][value=Critical]`))
		b.waitJS("the severity filter", `location.search.includes('sev=Critical') && document.querySelector('#facets .facet-count')`, 20*time.Second)
		product := manual.Profile.Products[0]
		b.run("tick "+product, chromedp.Click(fmt.Sprintf(`#facets input[name=product][value=%q]`, product)))
		b.waitJS("the product filter", `location.search.includes('product=')`, 20*time.Second)
		page, err := d.Store.ListUpdates(ctx, store.UpdateFilter{Severities: []wu.Severity{wu.SeverityCritical}, Products: []string{product}, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		count := eval[string](b, `document.querySelector('.toolbar .count strong').innerText`)
		sevs := eval[[]string](b, `Array.from(document.querySelectorAll('table.updates td.c-sev')).map(e => e.innerText.trim())`)
		if count != strconv.Itoa(page.Total) || page.Total == 0 {
			t.Errorf("filtered list shows %q updates, the store has %d", count, page.Total)
		}
		for _, s := range sevs {
			if s != "Critical" {
				t.Errorf("a %q update in the Critical list", s)
			}
		}
		if loc := b.location(); !strings.Contains(loc, "product="+url.QueryEscape(product)) {
			t.Errorf("location %s", loc)
		}
		b.shot("04-updates-filtered")
		b.noCSPViolation("updates")
	})

	t.Run("force a download and see it finish", func(t *testing.T) {
		b.t = t
		page, err := d.Store.ListUpdates(ctx, store.UpdateFilter{Downloaded: store.Bool(false), Needed: store.Bool(false), Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		var target store.UpdateInfo
		for _, u := range page.Updates {
			info, err := d.Store.GetUpdate(ctx, u.Key())
			if err == nil && len(info.FileStates) > 0 && len(u.KBs) > 0 && info.DownloadedOn.IsZero() {
				target = info
				break
			}
		}
		if target.UpdateID == "" {
			t.Fatal("no update left to download")
		}
		kb := wu.FormatKB(target.KBs[0])
		b.open("updates?q="+kb, "table.updates")
		b.run("select "+kb, chromedp.Click(fmt.Sprintf(`input[name=key][value=%q]`, target.Key().String())))
		b.run("Download now", chromedp.Click("#download-now"))
		b.waitJS("the tasks page", `location.pathname === '/ui/tasks' && document.querySelector('#tasks')`, 20*time.Second)
		name := target.FileStates[0].Name
		b.waitJS("the download of "+name+" to finish", fmt.Sprintf(
			`Array.from(document.querySelectorAll('#tasks tr[data-status="done"]')).some(r => r.innerText.includes(%q))`, name), 60*time.Second)
		b.shot("05-tasks")
		b.noCSPViolation("tasks")
		info, err := d.Store.GetUpdate(ctx, target.Key())
		if err != nil || info.DownloadedOn.IsZero() {
			t.Errorf("%s not on the server after the download: %v", kb, err)
		}
		b.open("updates/"+target.Key().String(), ".facts")
		b.shot("06-update")
	})

	t.Run("trigger a scan and see the status change", func(t *testing.T) {
		b.t = t
		b.open("hosts", "table.hosts")
		b.shot("07-hosts")
		b.open("hosts/"+manual.UUID, "#wua-status")
		status := eval[string](b, `document.querySelector('#wua-status').innerText`)
		if !strings.Contains(status, "never scanned") {
			t.Fatalf("%s before the scan: %q", manual.Name, status)
		}
		b.run("Trigger the scan", chromedp.Click("#trigger-scan"))
		b.waitJS("the flash message", `document.querySelector('.flash.ok')`, 10*time.Second)
		b.waitJS("the new WUA status", `!document.querySelector('#wua-status').innerText.includes('never scanned')`, 60*time.Second)
		b.waitJS("the command to finish", `document.querySelector('#commands .cmd-done')`, 60*time.Second)
		b.shot("08-host-scanned")
		h, err := d.Store.GetHost(ctx, manual.UUID)
		if err != nil || h.LastScan.IsZero() {
			t.Errorf("host after the scan: %+v %v", h, err)
		}
	})

	t.Run("forbid an update and see the host discard it", func(t *testing.T) {
		b.t = t
		ups, err := d.Store.HostUpdates(ctx, manual.UUID, wu.StatusMissing, wu.StatusPending)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(ups, func(u store.HostUpdate) bool { return len(u.KBs) > 0 })
		if i < 0 {
			t.Fatalf("%s needs no allowed update", manual.Name)
		}
		u := ups[i]
		kb := wu.FormatKB(u.KBs[0])
		b.open("updates?q="+kb, "table.updates")
		b.run("select "+kb, chromedp.Click(fmt.Sprintf(`input[name=key][value=%q]`, u.Key.String())))
		b.run("Forbid", chromedp.Click("#forbid"))
		b.waitJS("the rules flash", `document.querySelector('.flash.ok') && document.querySelector('.flash.ok').innerText.includes('forbidden')`, 10*time.Second)
		b.open("hosts/"+manual.UUID, "#wua-status")
		b.run("Trigger the scan", chromedp.Click("#trigger-scan"))
		b.waitJS(kb+" DISCARDED", fmt.Sprintf(`(r => r && r.innerText.includes('DISCARDED') && r.innerText.includes('forbidden'))(document.querySelector('#host-updates tr[data-kb=%q]'))`, kb),
			60*time.Second)
		b.run("scroll to "+kb, chromedp.ScrollIntoView(fmt.Sprintf(`#host-updates tr[data-kb=%q]`, kb)))
		b.shot("09-host-discarded")
		b.noCSPViolation("host")
		b.open("rules", "#rules-form")
		b.shot("10-rules")
	})

	t.Run("other pages", func(t *testing.T) {
		b.t = t
		b.open("cleanup", "h1")
		b.shot("11-cleanup")
		b.open("audit", "table.grid")
		b.shot("12-audit")
		b.open("hosts?state=stale", "table.hosts")
		b.shot("13-hosts-stale")
		b.open("no-such-page", ".error-page")
		b.shot("14-error-404")
		b.open("/ui/", ".kpis")
		b.shot("15-dashboard-later")
		b.noCSPViolation("dashboard")
	})

	t.Run("read-only user cannot act", func(t *testing.T) {
		b.t = t
		b.open("/ui/", ".kpis")
		b.logout()
		b.login(d.Viewer, d.ViewerPassword)
		b.open("updates", "table.updates")
		absent := eval[bool](b, `!document.querySelector('#download-now, #forbid, #allow, #cab-sync, input[name=key]')`)
		if !absent {
			t.Error("the read-only user sees action buttons on the updates page")
		}
		b.shot("16-readonly-updates")
		b.open("hosts/"+manual.UUID, "#wua-status")
		absent = eval[bool](b, `!document.querySelector('#trigger-scan, #trigger-download, #trigger-install')`)
		if !absent {
			t.Error("the read-only user sees the trigger buttons")
		}
		status := eval[int](b, `(async () => {
			const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
			const body = new URLSearchParams({kind: 'scan', csrf: token});
			const r = await fetch(location.pathname + '/commands', {method: 'POST', body});
			return r.status;
		})()`)
		if status != 403 {
			t.Errorf("read-only POST of a command: HTTP %d, want 403", status)
		}
		cmds, err := d.Store.ListCommands(ctx, manual.UUID, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			if c.Actor == d.Viewer {
				t.Errorf("command queued for the read-only user: %+v", c)
			}
		}
	})
}
