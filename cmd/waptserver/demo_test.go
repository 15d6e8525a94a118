package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// startTestDemo starts a small demo fleet on a free port with short schedules.
func startTestDemo(t *testing.T, hosts int) *demoFleet {
	t.Helper()
	d, err := startDemo(context.Background(), demoOptions{listen: "127.0.0.1:0", data: t.TempDir(), hosts: hosts, updates: 1500, seed: 3, quick: true},
		false, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestDemoOptions(t *testing.T) {
	for _, o := range []demoOptions{{hosts: 0, updates: 1000}, {hosts: 501, updates: 1000}, {hosts: 3, updates: 10}} {
		if o.validate() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	hosts := planFleet(nil, 5, false)
	if len(hosts) != 5 || !hosts[2].Manual || strings.Contains(hosts[2].Ini, "scheduling") {
		t.Errorf("plan without catalog: %+v", hosts)
	}
}

// TestDemoFleet starts the demo and checks that the fleet reports, the files hosts need
// reach the server and the console answers with the printed login.
func TestDemoFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a demo fleet")
	}
	d := startTestDemo(t, 6)
	ctx := context.Background()
	waitFor(t, "the scheduled hosts to report", 90*time.Second, func() bool {
		page, err := d.Store.ListHosts(ctx, store.HostFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		scanned := 0
		for _, h := range page.Hosts {
			if !h.LastScan.IsZero() {
				scanned++
			}
		}
		return scanned >= 4+2 // four scheduled hosts and the two stale ones
	})
	waitFor(t, "the missing-files job to download what hosts need", 150*time.Second, func() bool {
		p, err := d.Store.ListUpdates(ctx, store.UpdateFilter{Downloaded: store.Bool(true), Limit: 1})
		return err == nil && p.Total > 0
	})
	var manual *demoHost
	for _, h := range d.Hosts {
		if h.Manual {
			manual = h
		}
	}
	if h, err := d.Store.GetHost(ctx, manual.UUID); err != nil || !h.LastScan.IsZero() {
		t.Errorf("manual host %s scanned on its own: %+v %v", manual.Name, h, err)
	}

	// The console answers with the printed credentials.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	res, err := hc.Get(d.ConsoleURL + "login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if token == nil {
		t.Fatalf("login form: %s", body)
	}
	res, err = hc.PostForm(d.ConsoleURL+"login", url.Values{"csrf": {string(token[1])}, "username": {d.Admin}, "password": {d.AdminPassword}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "Fleet compliance") {
		t.Fatalf("dashboard after login: %d\n%.500s", res.StatusCode, body)
	}
	// Some host reports a failed install or a forbidden/not allowed update: the fleet varies.
	seen := map[wu.Status]bool{}
	for _, h := range d.Hosts {
		ups, err := d.Store.HostUpdates(ctx, h.UUID)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ups {
			seen[u.Status] = true
		}
	}
	if !seen[wu.StatusDiscarded] || !(seen[wu.StatusMissing] || seen[wu.StatusPending]) {
		t.Errorf("statuses in the fleet: %v", seen)
	}
}
