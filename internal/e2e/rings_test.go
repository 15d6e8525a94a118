package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
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
	"github.com/openwua/waptwua/internal/console"
	"github.com/openwua/waptwua/internal/jobs"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/sqlite"
	"github.com/openwua/waptwua/internal/upstream"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua/sim"
)

// --- signers ------------------------------------------------------------------------------

// signer is a self-signed code-signing certificate and its key, valid around t0.
type signer struct {
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	pemPath string // the certificate, PEM
}

func newSigner(t *testing.T, cn string, t0 time.Time) *signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(t0.UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0.AddDate(-1, 0, 0), NotAfter: t0.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	path := filepath.Join(t.TempDir(), "signer.crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &signer{key: key, cert: cert, pemPath: path}
}

// build makes and signs a rules package.
func (s *signer) build(t *testing.T, spec pkg.Spec, at time.Time) []byte {
	t.Helper()
	if spec.Description == "" {
		spec.Description = "rules for the e2e fleet"
	}
	p, err := pkg.Build(spec)
	if err != nil {
		t.Fatalf("build %s: %v", spec.Name, err)
	}
	z, err := pkg.Sign(p, s.key, []*x509.Certificate{s.cert}, at)
	if err != nil {
		t.Fatalf("sign %s: %v", spec.Name, err)
	}
	return z
}

// rewriteZip copies a zip, letting edit change (or drop, returning nil) each entry, and
// appends extra entries.
func rewriteZip(t *testing.T, data []byte, edit func(name string, b []byte) []byte, extra map[string]string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if edit != nil {
			b = edit(f.Name, b)
		}
		if b == nil {
			continue
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: f.Modified})
		w.Write(b)
	}
	for name, content := range extra {
		w, _ := zw.Create(name)
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// --- the server, with packages, an injected clock and a man in the middle -------------------

type ringServer struct {
	*waptserver
	clock *clock
	// tampered replaces the bytes of /wapt/<file> on their way to the agents: a
	// compromised mirror or a man in the middle.
	mu       sync.Mutex
	tampered map[string][]byte
}

func (s *ringServer) tamper(file string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if data == nil {
		delete(s.tampered, file)
		return
	}
	s.tampered[file] = data
}

func startRingServer(t *testing.T, ms *microsoft, clk *clock, trusted string) *ringServer {
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
	hash, _ := app.HashPassword(adminPassword, bcrypt.MinCost)
	if err := st.CreateUser(ctx, store.User{Username: "admin", PasswordHash: hash, Role: store.RoleAdmin, CreatedAt: clk.Now(), UpdatedAt: clk.Now()}); err != nil {
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
	roots, _, err := config.LoadCertPool("package_trusted_certs", trusted)
	if err != nil {
		t.Fatal(err)
	}
	// One application layer for the admin API and the jobs' promotions; the jobs hook is
	// filled once the runner exists.
	hook := &ringJobs{}
	application := server.NewApp(st, hook, nil, roots, trusted, app.WithClock(clk.Now), app.WithLogger(discard), app.WithPayloads(rp))
	runner, err := jobs.New(st, up, rp, jobs.Settings{CabURL: cabURL, CabRoots: ms.roots, DownloadConcurrency: 2, Instance: "e2e-rings"},
		jobs.WithLogger(discard), jobs.WithClock(clk), jobs.WithPackages(st, application))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { runner.Close() })
	hook.r = runner
	// The console too, on the same application: what an administrator sees is checked
	// through its pages.
	con, err := console.New(console.Deps{Store: st, App: application, Packages: st}, console.WithLogger(discard), console.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(st, server.WithRepo(rp), server.WithEnrollmentSecret(enrollmentSecret), server.WithLogger(discard),
		server.WithClock(clk.Now), server.WithJobs(hook), server.WithApp(application),
		server.WithHandler("GET /{$}", con), server.WithHandler(console.Prefix, con))
	rs := &ringServer{clock: clk, tampered: map[string][]byte{}}
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if file, ok := strings.CutPrefix(r.URL.Path, api.PackagePrefix); ok {
			rs.mu.Lock()
			data, bad := rs.tampered[file]
			rs.mu.Unlock()
			if bad {
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Write(data)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Shutdown(); ts.Close() })
	rs.waptserver = &waptserver{url: ts.URL, runner: runner}
	return rs
}

// ringJobs adds the on-demand promotion check to the e2e jobs hook.
type ringJobs struct{ jobsHook }

func (j *ringJobs) CheckPromotions(ctx context.Context) ([]string, error) {
	if u, ok := app.UserFromContext(ctx); ok {
		ctx = jobs.WithActor(ctx, u.Name)
	}
	sum, err := j.r.CheckPromotions(ctx)
	return sum.Promoted, err
}

// upload posts a .wapt to the admin API.
func (s *ringServer) upload(t *testing.T, data []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+server.AdminPrefix+"/packages", bytes.NewReader(data))
	req.SetBasicAuth("admin", adminPassword)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (s *ringServer) mustUpload(t *testing.T, data []byte) {
	t.Helper()
	if code, out := s.upload(t, data); code != http.StatusCreated {
		t.Fatalf("upload: HTTP %d %v", code, out)
	}
}

func (s *ringServer) assign(t *testing.T, pkgName, kind, target string) {
	t.Helper()
	if code := s.admin(t, "POST", "/packages/"+pkgName+"/assignments", map[string]string{"kind": kind, "target": target}, nil); code != http.StatusCreated {
		t.Fatalf("assign %s to %s %s: HTTP %d", pkgName, kind, target, code)
	}
}

// checkPromotions runs the rollout check through the admin API.
func (s *ringServer) checkPromotions(t *testing.T) []string {
	t.Helper()
	var out struct {
		Promoted []string `json:"promoted"`
	}
	if code := s.admin(t, "POST", "/promotions/check", nil, &out); code != http.StatusOK {
		t.Fatalf("promotions check: HTTP %d", code)
	}
	return out.Promoted
}

type rolloutOut struct {
	OfferedMaturity string `json:"offered_maturity"`
	Rollout         struct {
		Status       string    `json:"status"`
		EligibleAt   time.Time `json:"eligible_at"`
		SuccessPct   *float64  `json:"success_pct"`
		RingHosts    int       `json:"ring_hosts"`
		SuccessHosts int       `json:"success_hosts"`
		Note         string    `json:"note"`
	} `json:"rollout"`
	Rules json.RawMessage `json:"rules"`
}

func (s *ringServer) rollout(t *testing.T, name, version string) rolloutOut {
	t.Helper()
	var out rolloutOut
	if code := s.admin(t, "GET", "/packages/"+name+"/"+version, nil, &out); code != http.StatusOK {
		t.Fatalf("GET package %s %s: HTTP %d", name, version, code)
	}
	return out
}

// reportedPackages is the server's view of what a host applied and refused.
func (s *ringServer) reportedPackages(t *testing.T, uuid string) map[string]store.HostPackage {
	t.Helper()
	var out struct {
		Reported []store.HostPackage `json:"reported"`
	}
	if code := s.admin(t, "GET", "/hosts/"+uuid+"/packages", nil, &out); code != http.StatusOK {
		t.Fatalf("host packages: HTTP %d", code)
	}
	m := map[string]store.HostPackage{}
	for _, p := range out.Reported {
		m[p.Name+"="+p.Version] = p
	}
	return m
}

// --- hosts ---------------------------------------------------------------------------------

// hostSetup changes what newRingHost makes: the host's groups (default "fleet"), more
// [waptwua] lines, and agent options made with the simulated host (a sim.Desktop).
type hostSetup struct {
	Groups  []string
	IniWUA  string
	Options func(h *sim.Host) []agent.Option
}

// newRingHost registers a simulated host with groups and a maturity, trusting the
// package certificates at trusted, on the shared clock.
func newRingHost(t *testing.T, srv *ringServer, name, maturity, trusted string, profile sim.Profile, setup ...hostSetup) *host {
	t.Helper()
	su := hostSetup{Groups: []string{"fleet"}}
	if len(setup) > 0 {
		su = setup[0]
	}
	dir := t.TempDir()
	ini := fmt.Sprintf("[global]\nallow_insecure_http = True\nrepo_url = %s/wapt\nwapt_server = %s\nuuid = %s\nmaturities = %s\n[waptwua]\nenabled = True\ntrusted_certs = %s\n%s",
		srv.url, srv.url, name, maturity, trusted, su.IniWUA)
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
	h, err := sim.Open(profilePath, sim.WithClock(srv.clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	repoURL, _ := cfg.WUARepoURL()
	anon := agent.NewClient(http.DefaultClient, srv.url, repoURL, nil, "e2e")
	cred, err := agent.Register(context.Background(), anon, srv.url, enrollmentSecret,
		api.RegisterRequest{UUID: name, Name: name, OS: "Windows (simulated)", AgentVersion: "e2e", Groups: su.Groups, Maturity: maturity})
	if err != nil {
		t.Fatal(err)
	}
	client := agent.NewClient(http.DefaultClient, srv.url, repoURL, cred, "e2e")
	opts := []agent.Option{agent.WithClock(srv.clock), agent.WithLogger(discard),
		agent.WithDiskSpace(plentyOfSpace{}), agent.WithHostInfo(name, "Windows (simulated)", "e2e")}
	if su.Options != nil {
		opts = append(opts, su.Options(h)...)
	}
	a, err := agent.New(cfg, h, client, filepath.Join(dir, "data"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &host{name: name, agent: a, sim: h, clock: srv.clock}
}

// --- choosing updates ------------------------------------------------------------------------

// ringPlan names three updates of one product: X the update the PREPROD package newly
// allows (through an auto_approve AND rule), Y one the PROD package forbids, Z one the
// PROD package allows.
type ringPlan struct {
	product  string
	x, y, z  wu.Update
	kx, ky   string // their KB digits
	kz       string
	maxBuilt time.Time
}

func planRings(t *testing.T, man *catalog.SynthManifest) ringPlan {
	t.Helper()
	var p ringPlan
	products := map[string]bool{}
	for _, u := range man.Updates {
		for _, pr := range u.Products {
			products[pr] = true
		}
		if u.Created.After(p.maxBuilt) {
			p.maxBuilt = u.Created
		}
	}
	names := make([]string, 0, len(products))
	for pr := range products {
		names = append(names, pr)
	}
	slices.Sort(names)
	for _, pr := range names {
		var us []wu.Update
		for _, u := range applicable(man.Updates, pr, false) {
			if len(u.Files) > 0 && len(u.KBs) > 0 && len(u.Products) == 1 {
				us = append(us, u)
			}
		}
		if len(us) < 3 {
			continue
		}
		// X: the only update of its (classification, severity) pair, so that the
		// auto_approve rule allows X and nothing else of the product.
		pairs := map[string]int{}
		key := func(u wu.Update) string { return u.Classification + "|" + string(u.Severity) }
		for _, u := range us {
			pairs[key(u)]++
		}
		xi := slices.IndexFunc(us, func(u wu.Update) bool {
			return u.Severity != wu.SeverityNone && u.Classification != "" && pairs[key(u)] == 1
		})
		if xi < 0 {
			continue
		}
		p.product, p.x = pr, us[xi]
		rest := slices.Delete(slices.Clone(us), xi, xi+1)
		p.y, p.z = rest[0], rest[1]
		p.kx, _ = wu.ParseKB(p.x.KBs[0])
		p.ky, _ = wu.ParseKB(p.y.KBs[0])
		p.kz, _ = wu.ParseKB(p.z.KBs[0])
		return p
	}
	t.Fatal("the synthetic catalog has no product fit for the rings test")
	return p
}

func ringFixture(t *testing.T) (*microsoft, ringPlan) {
	t.Helper()
	var cabBuf bytes.Buffer
	man, err := catalog.Synthesize(&cabBuf, catalog.SynthOptions{Updates: 200, Seed: 11, MaxFileSize: 4 << 10, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	return newMicrosoft(t, cabBuf.Bytes(), man), planRings(t, man)
}

func wantStatus(t *testing.T, h *host, sum *agent.Summary, kb string, status wu.Status, reason wu.Reason) agent.UpdateState {
	t.Helper()
	s, ok := statuses(sum)[kb]
	if !ok {
		t.Fatalf("%s: KB%s not in the scan", h.name, kb)
	}
	if s.Status != status || s.Reason != reason {
		t.Errorf("%s KB%s: %s/%s (%s), want %s/%s", h.name, kb, s.Status, s.Reason, s.Rule, status, reason)
	}
	return s
}

func allowedNow(s wu.Status) bool {
	return s == wu.StatusPending || s == wu.StatusMissing || s == wu.StatusOK
}

// --- the tests ----------------------------------------------------------------------------

// Two rings: a PREPROD package allows update X (through an auto_approve AND rule); the
// PREPROD hosts install it, the PROD host does not until the package is promoted, which
// needs promote_after_days on the injected clock and every PREPROD host without ERROR.
func TestRolloutRings(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	ms, plan := ringFixture(t)
	t.Logf("plan: product %q, X KB%s (%s, %s), Y KB%s, Z KB%s", plan.product, plan.kx, plan.x.Classification, plan.x.Severity, plan.ky, plan.kz)
	t0 := plan.maxBuilt.Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	clk := &clock{now: t0}
	admin := newSigner(t, "Acme WAPT Admin", t0)
	srv := startRingServer(t, ms, clk, admin.pemPath)
	if sync, err := srv.runner.SyncCab(ctx, true); err != nil || sync.Status != store.CabFinished {
		t.Fatalf("cab sync: %+v %v", sync, err)
	}

	// PROD package for everyone: Z allowed, Y forbidden. PREPROD package for the ring:
	// X approved by an AND rule, promotable after 3 days if every ring host succeeds.
	base := admin.build(t, pkg.Spec{Name: "acme-base", Version: "1", Maturity: pkg.MaturityProd,
		Rules: rules.Rules{AllowedKBs: []string{"KB" + plan.kz}, ForbiddenKBs: []string{"KB" + plan.ky}}}, t0.Add(-time.Hour))
	ring := admin.build(t, pkg.Spec{Name: "acme-ring", Version: "1", Maturity: pkg.MaturityPreprod, TargetGroups: []string{"fleet"},
		PromoteAfterDays: 3, PromoteMinSuccessPct: 100,
		Rules: rules.Rules{AutoApprove: []rules.AutoApprove{{Products: []string{plan.product},
			Classifications: []string{plan.x.Classification}, Severities: []string{string(plan.x.Severity)}}}}}, t0.Add(-time.Hour))
	srv.mustUpload(t, base)
	srv.assign(t, "acme-base", "group", "fleet")
	srv.mustUpload(t, ring) // its signed target_groups assign it to "fleet"
	if r := srv.rollout(t, "acme-ring", "1"); r.OfferedMaturity != store.MaturityPreprod || r.Rollout.Status != "waiting" ||
		!r.Rollout.EligibleAt.Equal(t0.Add(3*24*time.Hour)) || !strings.Contains(string(r.Rules), "auto_approve") {
		t.Fatalf("ring package before any check: %+v", r)
	}

	pre := newRingHost(t, srv, "pc-preprod", "PREPROD", admin.pemPath, sim.Profile{Products: []string{plan.product}})
	flaky := newRingHost(t, srv, "pc-preprod-flaky", "PREPROD", admin.pemPath, sim.Profile{Products: []string{plan.product},
		Failures: []sim.Failure{{KB: plan.kx, HResult: "0x80240022", Times: 1}}})
	prod := newRingHost(t, srv, "pc-prod", "PROD", admin.pemPath, sim.Profile{Products: []string{plan.product}})
	hosts := []*host{pre, flaky, prod}

	// 1. Everybody scans; the server fetches what is allowed somewhere.
	for _, h := range hosts {
		sum, err := h.agent.Download(ctx, false)
		if err != nil {
			t.Fatalf("%s download: %v", h.name, err)
		}
		if h == pre {
			// The AND rule of the signed package reached the host and decided X.
			if s := statuses(sum)[plan.kx]; !strings.HasPrefix(s.Rule, "auto_approve[0]: classifications="+plan.x.Classification) {
				t.Errorf("pc-preprod KB%s decided by %q, want the package's auto_approve rule", plan.kx, s.Rule)
			}
		}
	}
	if dl, err := srv.runner.DownloadMissing(ctx); err != nil || dl.Failed != 0 {
		t.Fatalf("missing files: %+v %v", dl, err)
	}
	sums := map[string]*agent.Summary{}
	for _, h := range hosts {
		sum, err := h.agent.Install(ctx)
		if err != nil && h != flaky {
			t.Fatalf("%s install: %v", h.name, err)
		}
		sums[h.name] = sum
	}
	// PREPROD: X installed (approved by the package's AND rule); Y forbidden, Z installed.
	wantStatus(t, pre, sums[pre.name], plan.kx, wu.StatusOK, "")
	wantStatus(t, pre, sums[pre.name], plan.ky, wu.StatusDiscarded, wu.ReasonForbidden)
	wantStatus(t, pre, sums[pre.name], plan.kz, wu.StatusOK, "")
	wantStatus(t, flaky, sums[flaky.name], plan.kx, wu.StatusError, "")
	// PROD: X not allowed yet.
	wantStatus(t, prod, sums[prod.name], plan.kx, wu.StatusDiscarded, wu.ReasonNotAllowed)
	wantStatus(t, prod, sums[prod.name], plan.kz, wu.StatusOK, "")
	if got := srv.reportedPackages(t, pre.name); got["acme-base=1"].Status != store.HostPackageApplied || got["acme-ring=1"].Status != store.HostPackageApplied {
		t.Errorf("pc-preprod reported packages: %+v", got)
	}
	if got := srv.reportedPackages(t, prod.name); len(got) != 1 || got["acme-base=1"].Status != store.HostPackageApplied {
		t.Errorf("pc-prod reported packages: %+v (the PREPROD package must not reach it)", got)
	}
	if pkgs := sums[pre.name].Packages; len(pkgs) != 2 || pkgs[0].Name != "acme-base" || pkgs[1].Name != "acme-ring" {
		t.Errorf("pc-preprod applied packages, in install order: %+v", pkgs)
	}

	// 2. Before promote_after_days: no promotion.
	if got := srv.checkPromotions(t); len(got) != 0 {
		t.Fatalf("promoted before promote_after_days: %v", got)
	}
	// 3. After it, one ring host in ERROR on X: 50% < 100%, still no promotion.
	clk.Advance(3*24*time.Hour + time.Minute)
	if got := srv.checkPromotions(t); len(got) != 0 {
		t.Fatalf("promoted with a ring host in ERROR: %v", got)
	}
	r := srv.rollout(t, "acme-ring", "1")
	if r.Rollout.Status != "below_threshold" || r.Rollout.RingHosts != 2 || r.Rollout.SuccessHosts != 1 || r.Rollout.SuccessPct == nil || *r.Rollout.SuccessPct != 50 {
		t.Fatalf("rollout with a failing ring host: %+v", r.Rollout)
	}
	// pc-prod still does not take X.
	sum, err := prod.agent.Download(ctx, false)
	if err != nil {
		t.Fatalf("pc-prod: %v", err)
	}
	wantStatus(t, prod, sum, plan.kx, wu.StatusDiscarded, wu.ReasonNotAllowed)

	// 4. The flaky host's retry succeeds: the whole ring succeeded, the package is
	// promoted, with an audit entry.
	if sum, err := flaky.agent.Install(ctx); err != nil {
		t.Fatalf("pc-preprod-flaky retry: %v", err)
	} else {
		wantStatus(t, flaky, sum, plan.kx, wu.StatusOK, "")
	}
	if got := srv.checkPromotions(t); !slices.Equal(got, []string{"acme-ring 1"}) {
		t.Fatalf("promotions after the ring succeeded: %v", got)
	}
	r = srv.rollout(t, "acme-ring", "1")
	if r.OfferedMaturity != store.MaturityProd || r.Rollout.Status != "promoted" || *r.Rollout.SuccessPct != 100 {
		t.Errorf("rollout after promotion: %+v", r)
	}
	var audit struct {
		Entries []store.AuditEntry `json:"entries"`
	}
	srv.admin(t, "GET", "/audit?action=package.promote", nil, &audit)
	if len(audit.Entries) != 1 || audit.Entries[0].Target != "package:acme-ring=1" || audit.Entries[0].Actor != "admin" ||
		!strings.Contains(audit.Entries[0].Details, `"success_hosts":2`) {
		t.Errorf("audit of the promotion: %+v", audit.Entries)
	}

	// 5. The PROD host now takes the PREPROD-signed package as promoted, and installs X.
	sum, err = prod.agent.Install(ctx)
	if err != nil {
		t.Fatalf("pc-prod install after promotion: %v", err)
	}
	wantStatus(t, prod, sum, plan.kx, wu.StatusOK, "")
	wantStatus(t, prod, sum, plan.ky, wu.StatusDiscarded, wu.ReasonForbidden)
	if got := srv.reportedPackages(t, prod.name); got["acme-ring=1"].Status != store.HostPackageApplied {
		t.Errorf("pc-prod reported packages after promotion: %+v", got)
	}
	if s := srv.hostUpdates(t, prod.name)[plan.kx]; s["status"] != "OK" {
		t.Errorf("server's view of pc-prod KB%s: %v", plan.kx, s)
	}
}

// A package changed after signing, unsigned, signed by an untrusted key or with a file
// added is refused by the agent with its own message, reported to the server, and the
// previous good version stays in force. The server refuses the same uploads.
func TestRulesPackageTampering(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	ms, plan := ringFixture(t)
	t0 := plan.maxBuilt.Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	clk := &clock{now: t0}
	admin := newSigner(t, "Acme WAPT Admin", t0)
	intruder := newSigner(t, "Acme WAPT Admin", t0) // same name, another key: not trusted
	srv := startRingServer(t, ms, clk, admin.pemPath)
	if sync, err := srv.runner.SyncCab(ctx, true); err != nil || sync.Status != store.CabFinished {
		t.Fatalf("cab sync: %+v %v", sync, err)
	}
	// Version 1: Z allowed, Y forbidden.
	v1 := admin.build(t, pkg.Spec{Name: "acme-rules", Version: "1",
		Rules: rules.Rules{AllowedKBs: []string{"KB" + plan.kz}, ForbiddenKBs: []string{"KB" + plan.ky}}}, t0.Add(-time.Hour))
	srv.mustUpload(t, v1)
	srv.assign(t, "acme-rules", "group", "fleet")
	h := newRingHost(t, srv, "pc-a", "PROD", admin.pemPath, sim.Profile{Products: []string{plan.product}})
	sum, err := h.agent.Download(ctx, false)
	if err != nil {
		t.Fatalf("first cycle: %v", err)
	}
	if s := statuses(sum)[plan.kz]; !allowedNow(s.Status) {
		t.Fatalf("KB%s with version 1: %s (%s), want allowed", plan.kz, s.Status, s.Rule)
	}
	wantStatus(t, h, sum, plan.ky, wu.StatusDiscarded, wu.ReasonForbidden)

	// Version 2 reverses them (Y allowed, Z forbidden); the server has the good file, but
	// what reaches the agent is altered.
	v2spec := pkg.Spec{Name: "acme-rules", Version: "2",
		Rules: rules.Rules{AllowedKBs: []string{"KB" + plan.ky}, ForbiddenKBs: []string{"KB" + plan.kz}}}
	v2 := admin.build(t, v2spec, t0.Add(-time.Hour))
	srv.mustUpload(t, v2)
	oneByte := rewriteZip(t, v2, func(name string, b []byte) []byte {
		if name == pkg.RulesName {
			// KBnnn4 instead of KBnnn3: one byte, still valid rules.
			i := bytes.Index(b, []byte(plan.ky))
			if i < 0 {
				t.Fatalf("KB%s not in the rules JSON %s", plan.ky, b)
			}
			b = bytes.Clone(b)
			last := i + len(plan.ky) - 1
			b[last] = '0' + (b[last]-'0'+1)%10
		}
		return b
	}, nil)
	unsigned := rewriteZip(t, v2, func(name string, b []byte) []byte {
		if name == pkg.SignatureName {
			return nil
		}
		return b
	}, nil)
	untrusted := intruder.build(t, v2spec, t0.Add(-time.Hour))
	extra := rewriteZip(t, v2, nil, map[string]string{"WAPT/setup.py": "def install(): run('format c:')\n"})
	cases := []struct {
		desc     string
		data     []byte
		sentinel error
		words    string
	}{
		{"one byte of the rules JSON changed", oneByte, pkg.ErrTampered, "package tampered"},
		{"signature dropped", unsigned, pkg.ErrUnsigned, "not signed"},
		{"signed with an untrusted key", untrusted, pkg.ErrUntrusted, "not trusted"},
		{"a file added", extra, pkg.ErrExtraFile, "WAPT/setup.py"},
	}
	var messages []string
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			// The server refuses such an upload, saying why.
			if code, out := srv.upload(t, tc.data); code != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(out["error"]), tc.words) {
				t.Errorf("server upload: HTTP %d %v, want 422 naming %q", code, out["error"], tc.words)
			}
			srv.tamper("acme-rules_2.wapt", tc.data)
			sum, err := h.agent.Download(ctx, false)
			if !errors.Is(err, tc.sentinel) || !errors.Is(err, agent.ErrPackageRefused) {
				t.Fatalf("agent cycle error %v, want %v", err, tc.sentinel)
			}
			msg := err.Error()
			if !strings.Contains(msg, "acme-rules 2") || !strings.Contains(msg, tc.words) || !strings.Contains(msg, "version 1 stays in force") {
				t.Errorf("agent message %q: want the package, the cause (%q) and what stays in force", msg, tc.words)
			}
			t.Logf("agent: %s", msg)
			messages = append(messages, msg)
			// The previous rules stay: Z still allowed, Y still forbidden.
			if s := statuses(sum)[plan.kz]; !allowedNow(s.Status) {
				t.Errorf("KB%s: %s (%s), want still allowed by version 1", plan.kz, s.Status, s.Rule)
			}
			wantStatus(t, h, sum, plan.ky, wu.StatusDiscarded, wu.ReasonForbidden)
			if len(sum.Packages) != 2 || sum.Packages[0] != (api.PackageStatus{Name: "acme-rules", Version: "1", Status: api.PackageApplied}) ||
				sum.Packages[1].Status != api.PackageRefused {
				t.Errorf("agent packages: %+v", sum.Packages)
			}
			// The server knows.
			rep := srv.reportedPackages(t, h.name)
			if rep["acme-rules=1"].Status != store.HostPackageApplied || rep["acme-rules=2"].Status != store.HostPackageRefused ||
				!strings.Contains(rep["acme-rules=2"].Error, tc.words) {
				t.Errorf("server's view of pc-a's packages: %+v", rep)
			}
		})
	}
	// Each refusal has its own message.
	for i := range messages {
		for j := range i {
			if messages[i] == messages[j] {
				t.Errorf("two cases share the message %q", messages[i])
			}
		}
	}

	// The good version 2 goes through: Y allowed, Z forbidden.
	srv.tamper("acme-rules_2.wapt", nil)
	sum, err = h.agent.Download(ctx, false)
	if err != nil {
		t.Fatalf("cycle with the good version 2: %v", err)
	}
	if s := statuses(sum)[plan.ky]; !allowedNow(s.Status) {
		t.Errorf("KB%s with version 2: %s (%s), want allowed", plan.ky, s.Status, s.Rule)
	}
	wantStatus(t, h, sum, plan.kz, wu.StatusDiscarded, wu.ReasonForbidden)
	if rep := srv.reportedPackages(t, h.name); len(rep) != 1 || rep["acme-rules=2"].Status != store.HostPackageApplied {
		t.Errorf("server's view after the good version: %+v", rep)
	}
}
