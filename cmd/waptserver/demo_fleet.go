package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua/sim"
)

// demoHost is one simulated host of the demo.
type demoHost struct {
	Name    string
	UUID    string
	OS      string
	Manual  bool // no schedule: it scans only when the console triggers it
	Profile sim.Profile
	Ini     string // its [waptwua] section
	// Applicable are the catalog updates of its products, oldest first.
	Applicable []wu.Update
	Agent      *agent.Agent
	Sim        *sim.Host
}

// demoRole is a kind of machine of the demo fleet.
type demoRole struct {
	prefix   string
	os       string
	group    string
	products []string
}

var demoRoles = []demoRole{
	{"pc", "Windows 11 Pro 23H2", "workstations", []string{"Windows 11", "Microsoft 365 Apps/Office 2019/Office LTSC", ".NET 8.0"}},
	{"pc", "Windows 10 Pro 22H2", "workstations", []string{"Windows 10", "Windows 10, version 1903 and later", "Office 2016"}},
	{"lab", "Windows 10 Enterprise LTSC 2019", "lab", []string{"Windows 10", "Office 2013", "Visual Studio 2022"}},
	{"srv", "Windows Server 2019 Standard", "servers", []string{"Windows Server 2019", "SQL Server 2019"}},
	{"srv", "Windows Server 2016 Standard", "servers", []string{"Windows Server 2016", ".NET 6.0"}},
	{"srv", "Windows Server 2022 Datacenter", "servers", []string{"Microsoft Server operating system-21H2", "SQL Server 2022"}},
	{"pc", "Windows 8.1 Pro", "legacy", []string{"Windows 8.1", "Office 2013"}},
}

// demoRoleCycle spreads the roles over the fleet: mostly workstations.
var demoRoleCycle = []int{0, 1, 0, 3, 1, 2, 0, 4, 1, 5, 0, 6}

// plentyOfDisk stands in for the hosts' free space.
type plentyOfDisk struct{}

func (plentyOfDisk) FreeBytes(string) (uint64, error) { return 200 << 30, nil }

func demoUUID(name string) string {
	s := sha256.Sum256([]byte("waptwua-demo-host\x00" + name))
	return fmt.Sprintf("%X-%X-%X-%X-%X", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// planFleet chooses the hosts' products, rules, schedules and quirks.
func planFleet(updates []wu.Update, n int, quick bool) []*demoHost {
	present := map[string]bool{}
	var products []string
	for _, u := range updates {
		for _, p := range u.Products {
			if !present[p] {
				present[p] = true
				products = append(products, p)
			}
		}
	}
	slices.Sort(products)
	download, install := "3m", "4m"
	if quick {
		download, install = "20s", "30s"
	}
	counters := map[string]int{}
	var hosts []*demoHost
	for i := range n {
		role := demoRoles[demoRoleCycle[i%len(demoRoleCycle)]]
		var prods []string
		for _, p := range role.products {
			if present[p] {
				prods = append(prods, p)
			}
		}
		if len(prods) == 0 && len(products) > 0 {
			prods = []string{products[i%len(products)]}
		}
		counters[role.prefix]++
		name := fmt.Sprintf("%s-%03d", role.prefix, counters[role.prefix])
		h := &demoHost{Name: name, UUID: demoUUID(name), OS: role.os + " (simulated)", Manual: i == 2 || i == 9}
		for _, u := range updates {
			if slices.ContainsFunc(u.Products, func(p string) bool { return slices.Contains(prods, p) }) {
				h.Applicable = append(h.Applicable, u)
			}
		}
		slices.SortStableFunc(h.Applicable, func(a, b wu.Update) int { return a.Created.Compare(b.Created) })
		// What is installed at start: the oldest 55–85 % of what applies.
		share := 55 + (i%7)*5
		if h.Manual {
			share = 90
		}
		k := len(h.Applicable) * share / 100
		for _, u := range h.Applicable[:k] {
			h.Profile.Installed = append(h.Profile.Installed, u.Key().String())
		}
		h.Profile.HostName = name
		h.Profile.Products = prods
		// newest names a recent update that is not installed and that the demo's server
		// rules allow, so that its injected failure shows.
		newest := func(skip int) string {
			for j := len(h.Applicable) - 1; j >= k; j-- {
				u := h.Applicable[j]
				allowed := u.Severity == wu.SeverityCritical || u.Severity == wu.SeverityImportant ||
					u.Classification == "Security Updates" || u.Classification == "Critical Updates"
				if len(u.KBs) == 0 || !allowed {
					continue
				}
				if skip == 0 {
					return u.KBs[0]
				}
				skip--
			}
			return ""
		}
		switch {
		case i%8 == 5:
			if kb := newest(0); kb != "" {
				h.Profile.Failures = []sim.Failure{{KB: kb, HResult: "0x80240022"}}
			}
		case i%11 == 7:
			if kb := newest(1); kb != "" {
				h.Profile.Failures = []sim.Failure{{KB: kb, HResult: "0x8024200D", Times: 1}}
			}
		}
		if i%3 == 0 {
			h.Profile.RebootRequiredAfterInstall = sim.RebootSpec{All: true}
		}
		h.Profile.RebootPending = i == 4
		if i == 6 {
			h.Profile.Busy = 1
		}
		ini := []string{"enabled = True"}
		if !h.Manual {
			ini = append(ini, "download_scheduling = "+download)
			if i%2 == 0 {
				ini = append(ini, "install_scheduling = "+install)
			}
		}
		switch {
		case i%4 == 1:
			ini = append(ini, "default_allow = True")
		case i%6 == 2:
			ini = append(ini, "allowed_severities = Critical")
		}
		if i%10 == 3 {
			ini = append(ini, "include_potentially_superseded_updates = True")
		}
		h.Ini = strings.Join(ini, "\n")
		hosts = append(hosts, h)
	}
	return hosts
}

// startFleet registers the simulated hosts and starts their agents' service loops, a
// few at a time, plus two hosts that stopped reporting days ago.
func (d *demoFleet) startFleet(ctx, runCtx context.Context, o demoOptions, secret string, log *slog.Logger) error {
	d.Hosts = planFleet(d.Manifest.Updates, o.hosts, o.quick)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * len(d.Hosts), IdleConnTimeout: time.Minute}}
	cats := d.Manifest.Categories
	for i, h := range d.Hosts {
		if err := d.startHost(ctx, runCtx, o, h, i, hc, secret, cats, log); err != nil {
			return fmt.Errorf("demo host %s: %w", h.Name, err)
		}
	}
	return d.addStaleHosts(ctx)
}

func (d *demoFleet) startHost(ctx, runCtx context.Context, o demoOptions, h *demoHost, i int, hc *http.Client, secret string,
	cats []wu.Category, log *slog.Logger) error {
	dir := filepath.Join(d.Data, "agents", h.Name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	iniPath := filepath.Join(dir, "wapt-get.ini")
	ini := fmt.Sprintf("[global]\nallow_insecure_http = True\nrepo_url = %s/wapt\nwapt_server = %s\nuuid = %s\n\n[waptwua]\n%s\n", d.URL, d.URL, h.UUID, h.Ini)
	if err := os.WriteFile(iniPath, []byte(ini), 0o600); err != nil {
		return err
	}
	cfg, err := config.ParseAgent([]byte(ini), iniPath)
	if err != nil {
		return err
	}
	profilePath := filepath.Join(dir, "host.json")
	pb, err := json.MarshalIndent(h.Profile, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(profilePath, pb, 0o600); err != nil {
		return err
	}
	if h.Sim, err = sim.Open(profilePath, sim.WithCategories(cats)); err != nil {
		return err
	}
	d.closers = append(d.closers, h.Sim.Close)
	repoURL, err := cfg.WUARepoURL()
	if err != nil {
		return err
	}
	maturity := ""
	if i%5 == 4 {
		maturity = "PREPROD"
	}
	role := demoRoles[demoRoleCycle[i%len(demoRoleCycle)]]
	cred, err := agent.Register(ctx, agent.NewClient(hc, d.URL, repoURL, nil, "waptwua-demo"), d.URL, secret,
		api.RegisterRequest{UUID: h.UUID, Name: h.Name, OS: h.OS, AgentVersion: "demo", Groups: []string{role.group}, Maturity: maturity})
	if err != nil {
		return err
	}
	if err := agent.SaveCredential(cfg.Global.CredentialFile, cred); err != nil {
		return err
	}
	client := agent.NewClient(hc, d.URL, repoURL, cred, "waptwua-demo")
	alog := log.With(slog.String("host", h.Name))
	opts := []agent.Option{agent.WithLogger(alog), agent.WithDiskSpace(plentyOfDisk{}), agent.WithHostInfo(h.Name, h.OS, "demo")}
	if o.mirrors > 0 {
		nets := demoHostNetworks(i, o.mirrors)
		opts = append(opts, agent.WithNetworks(func() ([]string, error) { return nets, nil }))
	}
	if h.Agent, err = agent.New(cfg, h.Sim, client, filepath.Join(dir, "data"), opts...); err != nil {
		return err
	}
	// Start the agents over a few seconds, as a fleet comes to life.
	delay := time.Duration(i) * min(400*time.Millisecond, 15*time.Second/time.Duration(max(len(d.Hosts), 1)))
	if o.quick {
		delay = 0
	}
	d.wg.Go(func() {
		select {
		case <-time.After(delay):
		case <-runCtx.Done():
			return
		}
		if err := h.Agent.Serve(runCtx, agent.ServeOptions{CommandWait: 20 * time.Second, PollBackoff: time.Second,
			MaxBackoff: 10 * time.Second, BusyRetry: 30 * time.Second, ErrorRetry: time.Minute}); err != nil && runCtx.Err() == nil {
			alog.Error("demo agent stopped", slog.Any("err", err))
		}
	})
	return nil
}

// addStaleHosts records two hosts whose last report is days old (machines switched off),
// straight in the store: a real agent cannot report in the past.
func (d *demoFleet) addStaleHosts(ctx context.Context) error {
	now := time.Now()
	for i, s := range []struct {
		name string
		age  time.Duration
	}{{"kiosk-hall", 9 * 24 * time.Hour}, {"laptop-travel", 16 * 24 * time.Hour}} {
		uuid := demoUUID(s.name)
		if _, err := d.Store.RegisterHost(ctx, store.HostRegistration{UUID: uuid, Name: s.name, OS: "Windows 10 Pro 22H2 (simulated)",
			AgentVersion: "demo", Groups: []string{"workstations"}, CredentialID: "stale-" + uuid, Rotate: "stale-" + uuid, CredentialHash: []byte(randomSecret(16)),
			At: now.Add(-s.age - 30*24*time.Hour)}); err != nil {
			return fmt.Errorf("demo stale host %s: %w", s.name, err)
		}
		at := now.Add(-s.age)
		r := store.Report{At: at, ScanAt: at, Full: true, WUAStatus: agent.StatusPendingUpdates, Name: s.name}
		var apps []wu.Update
		for _, u := range d.Manifest.Updates {
			if slices.Contains(u.Products, "Windows 10") || slices.Contains(u.Products, "Office 2016") {
				apps = append(apps, u)
			}
		}
		for j, u := range apps {
			st := wu.StatusOK
			var installed time.Time
			if j%4 == i {
				st = wu.StatusMissing
			} else {
				installed = at.Add(-time.Duration(j%20) * 24 * time.Hour)
			}
			r.Updates = append(r.Updates, store.ReportedUpdate{Key: u.Key(), Status: st, InstalledAt: installed})
		}
		if err := d.Store.ApplyReport(ctx, uuid, r); err != nil {
			return fmt.Errorf("demo stale host %s: %w", s.name, err)
		}
	}
	return nil
}
