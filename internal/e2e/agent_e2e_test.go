// Package e2e runs the whole system in one test binary: a stand-in for Microsoft's
// servers serving a synthetic catalog and its files, a real waptserver (agent and admin
// API, SQLite store, repository folder, background jobs), and agents driving simulated
// Windows hosts (internal/wua/sim) through the real agent cycle.
package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/jobs"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/sqlite"
	"github.com/openwua/waptwua/internal/upstream"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua/sim"
)

const (
	cabURL           = "http://download.windowsupdate.com/microsoftupdate/v6/wsusscan/wsusscn2.cab"
	enrollmentSecret = "e2e-enrollment-secret-0123456789"
	adminPassword    = "e2e-admin-password"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// --- stand-in for Microsoft -------------------------------------------------------------

// microsoft serves the synthetic catalog at cabURL and its payload files at their URLs,
// for every host name (the transport dials it whatever the address).
type microsoft struct {
	srv   *httptest.Server
	tr    *http.Transport
	cab   []byte            // signed by roots' test root (signCatalog)
	roots *x509.CertPool    // what the server trusts for the catalog's signature
	files map[string][]byte // by URL path
	mu    sync.Mutex
	hits  int
}

func newMicrosoft(t *testing.T, cab []byte, man *catalog.SynthManifest) *microsoft {
	t.Helper()
	signed, p := signCatalog(t, cab)
	m := &microsoft{cab: signed, roots: p.Pool(), files: map[string][]byte{}}
	for _, f := range man.Files {
		data, err := io.ReadAll(catalog.SynthFileContent(f.Name, f.Size))
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(f.URL)
		if err != nil {
			t.Fatal(err)
		}
		m.files[u.Path] = data
	}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.hits++
		m.mu.Unlock()
		data, ok := m.files[r.URL.Path]
		if strings.HasSuffix(r.URL.Path, "/wsusscn2.cab") {
			data, ok = m.cab, true
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Date(2024, 3, 12, 18, 0, 0, 0, time.UTC), bytes.NewReader(data))
	}))
	addr := m.srv.Listener.Addr().String()
	d := &net.Dialer{Timeout: 5 * time.Second}
	m.tr = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(func() { m.tr.CloseIdleConnections(); m.srv.Close() })
	return m
}

// --- the server -------------------------------------------------------------------------

type waptserver struct {
	url    string
	runner *jobs.Runner
	rules  string // path of the server-wide rules file
}

// jobsHook gives the admin API the job runner.
type jobsHook struct{ r *jobs.Runner }

func (j jobsHook) ForceCabSync(ctx context.Context) error { return j.r.ForceCabSync(ctx) }
func (j jobsHook) ForceDownload(ctx context.Context, keys []wu.UpdateKey) error {
	if len(keys) == 0 {
		_, err := j.r.DownloadMissing(ctx)
		return err
	}
	return j.r.ForceDownload(ctx, keys)
}
func (j jobsHook) DeleteUnused(ctx context.Context) (int, int64, error) { return j.r.DeleteUnused(ctx) }

func startServer(t *testing.T, ms *microsoft) *waptserver {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "waptserver.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	hash, err := app.HashPassword(adminPassword, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.CreateUser(ctx, store.User{Username: "admin", PasswordHash: hash, Role: store.RoleAdmin, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	rp, err := repo.Open(filepath.Join(dir, "waptwua"), repo.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rp.Close() })
	up, err := upstream.New(upstream.WithTransport(ms.tr), upstream.WithLogger(discard),
		upstream.WithRetry(upstream.RetryPolicy{Attempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	runner, err := jobs.New(st, up, rp, jobs.Settings{CabURL: cabURL, CabRoots: ms.roots, DownloadConcurrency: 2, Instance: "e2e",
		MissingFilesInterval: 30 * time.Minute}, jobs.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { runner.Close() })
	rulesPath := filepath.Join(dir, "waptwua_rules.json")
	srv := server.New(st, server.WithRepo(rp), server.WithEnrollmentSecret(enrollmentSecret), server.WithLogger(discard),
		server.WithRules(&server.FileRules{Path: rulesPath}), server.WithJobs(jobsHook{runner}))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Shutdown(); ts.Close() })
	return &waptserver{url: ts.URL, runner: runner, rules: rulesPath}
}

// admin calls the admin API as the admin user.
func (s *waptserver) admin(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+server.AdminPrefix+path, r)
	req.SetBasicAuth("admin", adminPassword)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// hostUpdates returns the server's view of a host's updates by KB.
func (s *waptserver) hostUpdates(t *testing.T, uuid string) map[string]map[string]any {
	t.Helper()
	var out struct {
		Updates []map[string]any `json:"updates"`
	}
	if code := s.admin(t, "GET", "/hosts/"+uuid+"/updates", nil, &out); code != http.StatusOK {
		t.Fatalf("host updates: HTTP %d", code)
	}
	m := map[string]map[string]any{}
	for _, u := range out.Updates {
		if kbs, ok := u["kb"].([]any); ok && len(kbs) > 0 {
			kb, _ := kbs[0].(string)
			if d, err := wu.ParseKB(kb); err == nil {
				m[d] = u
			}
		}
	}
	return m
}

// --- simulated hosts --------------------------------------------------------------------

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	return time.After(min(d, 50*time.Millisecond))
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type host struct {
	name  string
	agent *agent.Agent
	sim   *sim.Host
	clock *clock
}

// newHost registers a simulated host with the server and returns its agent.
func newHost(t *testing.T, srv *waptserver, name string, profile sim.Profile, waptwua string, now time.Time) *host {
	t.Helper()
	dir := t.TempDir()
	ini := fmt.Sprintf("[global]\nallow_insecure_http = True\nrepo_url = %s/wapt\nwapt_server = %s\nuuid = %s\n[waptwua]\n%s\n", srv.url, srv.url, name, waptwua)
	cfg, err := config.ParseAgent([]byte(ini), filepath.Join(dir, "wapt-get.ini"))
	if err != nil {
		t.Fatal(err)
	}
	profile.HostName = name
	pb, _ := json.Marshal(profile)
	profilePath := filepath.Join(dir, "host.json")
	if err := os.WriteFile(profilePath, pb, 0o600); err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: now}
	h, err := sim.Open(profilePath, sim.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	repoURL, _ := cfg.WUARepoURL()
	anon := agent.NewClient(http.DefaultClient, srv.url, repoURL, nil, "e2e")
	cred, err := agent.Register(context.Background(), anon, srv.url, enrollmentSecret,
		api.RegisterRequest{UUID: name, Name: name, OS: "Windows (simulated)", AgentVersion: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.SaveCredential(cfg.Global.CredentialFile, cred); err != nil {
		t.Fatal(err)
	}
	client := agent.NewClient(http.DefaultClient, srv.url, repoURL, cred, "e2e")
	a, err := agent.New(cfg, h, client, filepath.Join(dir, "data"), agent.WithClock(clk), agent.WithLogger(discard),
		agent.WithDiskSpace(plentyOfSpace{}), agent.WithHostInfo(name, "Windows (simulated)", "e2e"))
	if err != nil {
		t.Fatal(err)
	}
	return &host{name: name, agent: a, sim: h, clock: clk}
}

type plentyOfSpace struct{}

func (plentyOfSpace) FreeBytes(string) (uint64, error) { return 100 << 30, nil }

func statuses(s *agent.Summary) map[string]agent.UpdateState {
	m := map[string]agent.UpdateState{}
	for _, u := range s.Updates {
		if len(u.KBs) > 0 {
			d, _ := wu.ParseKB(u.KBs[0])
			m[d] = u
		}
	}
	return m
}

// --- choosing updates of the synthetic catalog -------------------------------------------

type fleetPlan struct {
	productA, productB, productC string
	forbidden                    string    // KB forbidden by the server rules, a product A update
	failing                      string    // KB whose first install fails on host C
	superseded                   string    // KB superseded on host C
	earliestB, latestB           time.Time // creation dates of host B's updates
	maxCreated                   time.Time
}

// applicable mimics the simulated host: the updates with one of the products, without
// those superseded by another applicable update unless includeSuperseded.
func applicable(updates []wu.Update, product string, includeSuperseded bool) []wu.Update {
	var in []wu.Update
	for _, u := range updates {
		if slices.Contains(u.Products, product) {
			in = append(in, u)
		}
	}
	ids := map[string]bool{}
	for _, u := range in {
		ids[u.UpdateID] = true
	}
	var out []wu.Update
	for _, u := range in {
		sup := slices.ContainsFunc(u.SupersededBy, func(id string) bool { return ids[id] })
		if !sup || includeSuperseded {
			out = append(out, u)
		}
	}
	return out
}

func isSuperseded(u wu.Update, among []wu.Update) bool {
	for _, o := range among {
		if slices.Contains(u.SupersededBy, o.UpdateID) {
			return true
		}
	}
	return false
}

func planFleet(t *testing.T, man *catalog.SynthManifest) fleetPlan {
	t.Helper()
	var p fleetPlan
	products := map[string]bool{}
	for _, u := range man.Updates {
		for _, pr := range u.Products {
			products[pr] = true
		}
		if u.Created.After(p.maxCreated) {
			p.maxCreated = u.Created
		}
	}
	names := make([]string, 0, len(products))
	for pr := range products {
		names = append(names, pr)
	}
	slices.Sort(names)
	withFiles := func(us []wu.Update) []wu.Update {
		var out []wu.Update
		for _, u := range us {
			if len(u.Files) > 0 && len(u.KBs) > 0 {
				out = append(out, u)
			}
		}
		return out
	}
	// C: a product with a superseded update and at least one that is not.
	for _, pr := range names {
		all := withFiles(applicable(man.Updates, pr, true))
		var sup, leaf []wu.Update
		for _, u := range all {
			if isSuperseded(u, all) {
				sup = append(sup, u)
			} else {
				leaf = append(leaf, u)
			}
		}
		if len(sup) > 0 && len(leaf) > 0 {
			p.productC, p.superseded, p.failing = pr, sup[0].KBs[0], leaf[0].KBs[0]
			break
		}
	}
	for _, pr := range names {
		if pr == p.productC {
			continue
		}
		us := withFiles(applicable(man.Updates, pr, false))
		switch {
		case p.productA == "" && len(us) >= 2:
			p.productA, p.forbidden = pr, us[0].KBs[0]
		case p.productB == "" && len(us) >= 1:
			p.productB = pr
			for _, u := range us {
				if u.Created.After(p.latestB) {
					p.latestB = u.Created
				}
				if p.earliestB.IsZero() || u.Created.Before(p.earliestB) {
					p.earliestB = u.Created
				}
			}
		}
	}
	if p.productA == "" || p.productB == "" || p.productC == "" {
		t.Fatalf("the synthetic catalog has no products fit for the test: %+v", p)
	}
	return p
}

// --- the test ---------------------------------------------------------------------------

func TestAgentsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	var cabBuf bytes.Buffer
	man, err := catalog.Synthesize(&cabBuf, catalog.SynthOptions{Updates: 300, Seed: 7, MaxFileSize: 8 << 10, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	plan := planFleet(t, man)
	t.Logf("plan: A=%q (forbidden KB%s) B=%q C=%q (failing KB%s, superseded KB%s)",
		plan.productA, plan.forbidden, plan.productB, plan.productC, plan.failing, plan.superseded)

	ms := newMicrosoft(t, cabBuf.Bytes(), man)
	srv := startServer(t, ms)
	if sync, err := srv.runner.SyncCab(ctx, true); err != nil || sync.Status != store.CabFinished {
		t.Fatalf("cab sync: %+v %v", sync, err)
	}
	// Server-wide rules: everything allowed but one KB.
	if err := os.WriteFile(srv.rules, []byte(fmt.Sprintf(`{"default_allow": true, "forbidden_kbs": ["KB%s"]}`, plan.forbidden)), 0o600); err != nil {
		t.Fatal(err)
	}

	later := plan.maxCreated.Add(30 * 24 * time.Hour)
	a := newHost(t, srv, "pc-a", sim.Profile{Products: []string{plan.productA}, RebootRequiredAfterInstall: sim.RebootSpec{All: true}}, "enabled = True", later)
	b := newHost(t, srv, "pc-b", sim.Profile{Products: []string{plan.productB}}, "enabled = True\ninstall_delay = 7d", plan.earliestB.Add(time.Hour))
	c := newHost(t, srv, "pc-c", sim.Profile{Products: []string{plan.productC},
		Failures: []sim.Failure{{KB: plan.failing, HResult: "0x80240022", Times: 1}}},
		"enabled = True\ninclude_potentially_superseded_updates = True", later)

	// 1. First cycles: nothing is on the server yet.
	sumA, err := a.agent.Download(ctx, false)
	if err != nil {
		t.Fatalf("pc-a download: %v", err)
	}
	stA := statuses(sumA)
	if s := stA[plan.forbidden]; s.Status != wu.StatusDiscarded || s.Reason != wu.ReasonForbidden {
		t.Errorf("pc-a KB%s: %s/%s, want DISCARDED/forbidden", plan.forbidden, s.Status, s.Reason)
	}
	missing := 0
	for kb, s := range stA {
		if kb != plan.forbidden && s.Status != wu.StatusOK {
			if s.Status != wu.StatusMissing {
				t.Errorf("pc-a KB%s: %s, want MISSING before the server fetched it", kb, s.Status)
			}
			missing++
		}
	}
	if missing == 0 || sumA.Status != agent.StatusPendingUpdates {
		t.Fatalf("pc-a: %s", sumA.Line())
	}
	sumB, err := b.agent.Download(ctx, false)
	if err != nil {
		t.Fatalf("pc-b download: %v", err)
	}
	for kb, s := range statuses(sumB) {
		if s.Status != wu.StatusOK && (s.Status != wu.StatusDiscarded || s.Reason != wu.ReasonDelayed) {
			t.Errorf("pc-b KB%s: %s/%s, want DISCARDED/delayed inside install_delay", kb, s.Status, s.Reason)
		}
	}
	sumC, err := c.agent.Download(ctx, false)
	if err != nil {
		t.Fatalf("pc-c download: %v", err)
	}
	if s := statuses(sumC)[plan.superseded]; s.Status != wu.StatusSuperseded {
		t.Errorf("pc-c KB%s: %s, want SUPERSEDED", plan.superseded, s.Status)
	}
	if s := srv.hostUpdates(t, "pc-a")[plan.forbidden]; s["status"] != "DISCARDED" || s["reason"] != "forbidden" {
		t.Errorf("server's view of pc-a KB%s: %v", plan.forbidden, s)
	}

	// 2. The server fetches from Microsoft what hosts need and may install.
	dl, err := srv.runner.DownloadMissing(ctx)
	if err != nil || dl.Done == 0 || dl.Failed != 0 {
		t.Fatalf("missing files: %+v %v", dl, err)
	}

	// 3. The agents find the files: PENDING, downloaded.
	for _, h := range []*host{a, c} {
		sum, err := h.agent.Download(ctx, false)
		if err != nil {
			t.Fatalf("%s download: %v", h.name, err)
		}
		if sum.Status != agent.StatusReady || sum.Missing != 0 || sum.Pending == 0 {
			t.Errorf("%s after the server's download: %s", h.name, sum.Line())
		}
	}

	// 4. Install on pc-a: everything but the forbidden KB; a restart is required.
	sumA, err = a.agent.Install(ctx)
	if err != nil {
		t.Fatalf("pc-a install: %v", err)
	}
	for kb, s := range statuses(sumA) {
		want := wu.StatusOK
		if kb == plan.forbidden {
			want = wu.StatusDiscarded
		}
		if s.Status != want {
			t.Errorf("pc-a KB%s after install: %s, want %s", kb, s.Status, want)
		}
	}
	if !sumA.RebootRequired {
		t.Error("pc-a: reboot required not in the summary")
	}
	var hostA struct {
		Host store.Host `json:"host"`
	}
	srv.admin(t, "GET", "/hosts/pc-a", nil, &hostA)
	if !hostA.Host.RebootPending || hostA.Host.WUAStatus != agent.StatusOK {
		t.Errorf("server's pc-a: reboot_pending=%v status=%q", hostA.Host.RebootPending, hostA.Host.WUAStatus)
	}
	if s := srv.hostUpdates(t, "pc-a")[plan.forbidden]; s["status"] != "DISCARDED" {
		t.Errorf("forbidden update on the server after install: %v", s)
	}

	// 5. pc-c: the injected failure gives ERROR with the WUA error in words; the next
	// cycle retries and succeeds. The superseded update is never pending nor installed.
	sumC, err = c.agent.Install(ctx)
	if err == nil {
		t.Fatal("pc-c install: no error despite the injected failure")
	}
	if s := statuses(sumC)[plan.failing]; s.Status != wu.StatusError || !strings.Contains(s.Error, "0x80240022") || !strings.Contains(s.Error, "WU_E_ALL_UPDATES_FAILED") {
		t.Errorf("pc-c KB%s: %s %q, want ERROR with the HRESULT in words", plan.failing, s.Status, s.Error)
	}
	if s := srv.hostUpdates(t, "pc-c")[plan.failing]; s["status"] != "ERROR" || !strings.Contains(fmt.Sprint(s["last_error"]), "0x80240022") {
		t.Errorf("server's pc-c KB%s: %v", plan.failing, s)
	}
	checkSuperseded := func(sum *agent.Summary) {
		t.Helper()
		if s := statuses(sum)[plan.superseded]; s.Status != wu.StatusSuperseded {
			t.Errorf("pc-c KB%s: %s, want SUPERSEDED", plan.superseded, s.Status)
		}
	}
	checkSuperseded(sumC)
	sumC, err = c.agent.Install(ctx)
	if err != nil {
		t.Fatalf("pc-c retry: %v", err)
	}
	if s := statuses(sumC)[plan.failing]; s.Status != wu.StatusOK || s.Error != "" {
		t.Errorf("pc-c KB%s after the retry: %s %q", plan.failing, s.Status, s.Error)
	}
	checkSuperseded(sumC)
	if sumC.Status != agent.StatusOK {
		t.Errorf("pc-c: %s", sumC.Line())
	}

	// 6. pc-b: install_delay holds the updates back until the injected clock passes it.
	sumB, err = b.agent.Install(ctx)
	if err != nil || sumB.Installed != 0 && sumB.Pending+sumB.Missing != 0 {
		t.Fatalf("pc-b install inside install_delay: %s %v", sumB.Line(), err)
	}
	installedBefore := sumB.Installed
	b.clock.Advance(plan.latestB.Sub(plan.earliestB) + 7*24*time.Hour)
	sumB, _ = b.agent.Download(ctx, false)
	if sumB.Missing == 0 {
		t.Fatalf("pc-b after install_delay: %s, want MISSING updates", sumB.Line())
	}
	if dl, err := srv.runner.DownloadMissing(ctx); err != nil || dl.Failed != 0 {
		t.Fatalf("missing files for pc-b: %+v %v", dl, err)
	}
	sumB, err = b.agent.Install(ctx)
	if err != nil || sumB.Status != agent.StatusOK || sumB.Installed <= installedBefore {
		t.Fatalf("pc-b install after install_delay: %s %v", sumB.Line(), err)
	}

	// 7. A trigger from the admin API reaches pc-a's service through the long-poll.
	svcCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.agent.Serve(svcCtx, agent.ServeOptions{CommandWait: 20 * time.Second}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	var queued store.Command
	if code := srv.admin(t, "POST", "/hosts/pc-a/commands", map[string]string{"kind": "scan"}, &queued); code != http.StatusAccepted {
		t.Fatalf("queue command: HTTP %d", code)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var cmds struct {
			Commands []store.Command `json:"commands"`
		}
		srv.admin(t, "GET", "/hosts/pc-a/commands", nil, &cmds)
		var got *store.Command
		for i := range cmds.Commands {
			if cmds.Commands[i].ID == queued.ID {
				got = &cmds.Commands[i]
			}
		}
		if got != nil && (got.Status == store.CommandDone || got.Status == store.CommandFailed) {
			if got.Status != store.CommandDone || !strings.Contains(got.Result, "status OK") {
				t.Errorf("command %d: %s %q %q", got.ID, got.Status, got.Result, got.Error)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %d not done in time: %+v", queued.ID, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The forbidden update was never installed anywhere.
	for _, h := range []*host{a, b, c} {
		sum, _ := h.agent.Status()
		if s, ok := statuses(sum)[plan.forbidden]; ok && s.Status == wu.StatusOK {
			t.Errorf("%s installed the forbidden KB%s", h.name, plan.forbidden)
		}
	}
}
