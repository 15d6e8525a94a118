package agent

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/action"
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/msu/msutest"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/pkg/pkgtest"
	"github.com/openwua/waptwua/internal/updatebuild"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
	"github.com/openwua/waptwua/internal/wua/sim"
)

var updNow = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

type updClock struct{}

func (updClock) Now() time.Time                         { return updNow }
func (updClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// updEnv is a simulated agent (sim WUA, sim action runner driven by the host profile)
// against a real HTTP package repository holding signed update packages.
type updEnv struct {
	t       *testing.T
	signer  pkgtest.Signer
	repoDir string // served as /wapt/
	host    *sim.Host
	agent   *Agent
	// newAgent makes a new agent process over the same data folder.
	newAgent func() *Agent
	mu       sync.Mutex
	ranges   []string // Range headers the repository received
	free     atomic.Uint64
}

func newUpdEnv(t *testing.T, profile sim.Profile) *updEnv {
	t.Helper()
	e := &updEnv{t: t, signer: pkgtest.New(t, "Acme Update Signer", updNow), repoDir: t.TempDir()}
	e.free.Store(30 << 30)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "signer.crt")
	if err := os.WriteFile(certFile, e.signer.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	fileServer := http.StripPrefix("/wapt/", http.FileServer(http.Dir(e.repoDir)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rg := r.Header.Get("Range"); rg != "" {
			e.mu.Lock()
			e.ranges = append(e.ranges, r.URL.Path+" "+rg)
			e.mu.Unlock()
		}
		fileServer.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	updates := []wu.Update{
		{UpdateID: "11111111-2222-3333-4444-555555555555", RevisionNumber: 200, Title: "2024-01 Update KB5034441", KBs: []string{"5034441"},
			Classification: "Security Updates", Products: []string{"Windows 10"}},
		{UpdateID: "66666666-7777-8888-9999-000000000000", RevisionNumber: 201, Title: "Update KB4023057", KBs: []string{"4023057"},
			Classification: "Updates", Products: []string{"Windows 10"}},
	}
	profile.HostName, profile.Products = "pc-sim", []string{"Windows 10"}
	host, err := sim.New(updates, profile, filepath.Join(dir, "host.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	e.host = host

	ini := fmt.Sprintf("[global]\nallow_insecure_http = True\nrepo_url = %s/wapt\nwapt_server = %s\n[waptwua]\ntrusted_certs = %s\n", srv.URL, srv.URL, certFile)
	cfg, err := config.ParseAgent([]byte(ini), filepath.Join(dir, "wapt-get.ini"))
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := cfg.WUARepoURL()
	runner := &action.Sim{Answer: func(c action.Command) (action.Exit, error) {
		code, err := host.RunCommand(context.Background(), c.String())
		return action.Exit{Code: code, Output: "simulated " + filepath.Base(strings.ReplaceAll(c.Path, `\`, "/"))}, err
	}}
	e.newAgent = func() *Agent {
		a, err := New(cfg, host, NewClient(srv.Client(), srv.URL, repo, nil, "test"), filepath.Join(dir, "data"),
			WithClock(updClock{}), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			WithDiskSpace(diskFunc(e.free.Load)), WithSystemDrive(`C:\`),
			WithActionRunner(runner, `C:\Windows`))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	e.agent = e.newAgent()
	return e
}

// publish builds and signs the plan, and puts the package and its payload into the
// repository; it returns the server's list entry.
func (e *updEnv) publish(p *updatebuild.Plan) api.Package {
	e.t.Helper()
	up, err := pkg.BuildUpdate(p.Spec)
	if err != nil {
		e.t.Fatal(err)
	}
	z, err := pkg.SignUpdate(up, e.signer.Key, e.signer.Chain(), updNow)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.put(up.Control.Package, up.Control.Version, z, p)
}

func (e *updEnv) put(name, version string, z []byte, p *updatebuild.Plan) api.Package {
	e.t.Helper()
	base := name + "_" + version
	if err := os.WriteFile(filepath.Join(e.repoDir, base+".wapt"), z, 0o644); err != nil {
		e.t.Fatal(err)
	}
	if p != nil && len(p.Spec.Action.Files) > 0 {
		if err := updatebuild.CopyPayload(p, filepath.Join(e.repoDir, base+".payload")); err != nil {
			e.t.Fatal(err)
		}
	}
	sum := sha256.Sum256(z)
	return api.Package{Name: name, Version: version, Filename: base + ".wapt", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(z)),
		Maturity: "PROD", OfferedMaturity: "PROD"}
}

// installed says whether the sim WUA's scan reports kb installed.
func (e *updEnv) installed(kb string) bool {
	e.t.Helper()
	ups, err := e.host.Scan(context.Background(), wua.ScanOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range ups {
		for _, k := range u.KBs {
			if k == kb {
				return u.Installed
			}
		}
	}
	e.t.Fatalf("KB%s not in the scan", kb)
	return false
}

func (e *updEnv) run(ref api.Package) api.PackageStatus {
	e.t.Helper()
	st := e.agent.InstallUpdatePackages(context.Background(), []api.Package{ref})
	if len(st) != 1 {
		e.t.Fatalf("statuses %+v", st)
	}
	return st[0]
}

func msuPlan(t *testing.T, kb string) *updatebuild.Plan {
	t.Helper()
	b, err := msutest.Make(msutest.Spec{Name: "Windows10.0-KB" + kb + "-x64", Properties: msutest.KB(kb), Payload: bytes.Repeat([]byte("payload "+kb), 5000), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "windows10.0-kb"+kb+"-x64.msu")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := updatebuild.FromMSU(f, updatebuild.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUpdatePackageMSU: an .msu made with the cabinet writer becomes a signed package; the
// simulated agent downloads it, verifies it, runs wusa, reports it installed, the KB is no
// longer missing, and a second run does nothing.
func TestUpdatePackageMSU(t *testing.T) {
	e := newUpdEnv(t, sim.Profile{})
	if e.installed("5034441") {
		t.Fatal("KB5034441 installed before")
	}
	ref := e.publish(msuPlan(t, "5034441"))
	if st := e.run(ref); st.Status != UpdatePackageInstalled || st.Name != "waptwua-kb5034441-amd64" {
		t.Fatalf("status %+v", st)
	}
	cmds := e.host.Commands()
	if len(cmds) != 1 || !strings.HasPrefix(cmds[0], `C:\Windows\System32\wusa.exe `) || !strings.HasSuffix(cmds[0], `windows10.0-kb5034441-x64.msu /quiet /norestart`) {
		t.Fatalf("commands %q", cmds)
	}
	if !e.installed("5034441") {
		t.Error("KB5034441 still missing after the package installed it")
	}
	if st := e.run(ref); st.Status != UpdatePackageInstalled {
		t.Errorf("second run: %+v", st)
	}
	if n := len(e.host.Commands()); n != 1 {
		t.Errorf("second run ran the action again: %d commands", n)
	}
	// A new agent process over the same data folder remembers it too.
	again := e.newAgent()
	if st := again.InstallUpdatePackages(context.Background(), []api.Package{ref}); st[0].Status != UpdatePackageInstalled || len(e.host.Commands()) != 1 {
		t.Errorf("after restart: %+v, %d commands", st, len(e.host.Commands()))
	}
}

func TestUpdatePackageUninstall(t *testing.T) {
	e := newUpdEnv(t, sim.Profile{Installed: []string{"KB4023057"}})
	if !e.installed("4023057") {
		t.Fatal("KB4023057 not installed before")
	}
	p, err := updatebuild.KBUninstall("4023057", updatebuild.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	ref := e.publish(p)
	if st := e.run(ref); st.Status != UpdatePackageInstalled {
		t.Fatalf("%+v", st)
	}
	if cmds := e.host.Commands(); len(cmds) != 1 || cmds[0] != `C:\Windows\System32\wusa.exe /uninstall /kb:4023057 /quiet /norestart` {
		t.Fatalf("commands %q", cmds)
	}
	if e.installed("4023057") {
		t.Error("KB4023057 still installed after its uninstall package")
	}
	e.run(ref)
	if n := len(e.host.Commands()); n != 1 {
		t.Errorf("second run: %d commands", n)
	}
}

func TestUpdatePackageDriverAndUpgrade(t *testing.T) {
	e := newUpdEnv(t, sim.Profile{Actions: []sim.ActionExit{{Match: "setup.exe", ExitCode: "3010"}}})
	drv := t.TempDir()
	os.MkdirAll(filepath.Join(drv, "x64"), 0o755)
	for n, c := range map[string]string{"e1000.inf": "[Version]", "x64/e1000.sys": "MZ driver", "e1000.cat": "catalog"} {
		os.WriteFile(filepath.Join(drv, filepath.FromSlash(n)), []byte(c), 0o644)
	}
	dp, err := updatebuild.FromDriverDir(drv, "", updatebuild.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	dref := e.publish(dp)
	if st := e.run(dref); st.Status != UpdatePackageInstalled {
		t.Fatalf("driver: %+v", st)
	}
	cmds := e.host.Commands()
	if len(cmds) != 1 || !strings.HasPrefix(cmds[0], `C:\Windows\System32\pnputil.exe /add-driver `) || !strings.HasSuffix(cmds[0], `waptwua-driver-e1000_1-0.payload\e1000.inf /install`) {
		t.Fatalf("commands %q", cmds)
	}
	payload := filepath.Join(e.agent.updatesDir(), "waptwua-driver-e1000_1-0.payload", "x64", "e1000.sys")
	if b, err := os.ReadFile(payload); err != nil || string(b) != "MZ driver" {
		t.Errorf("payload %s: %q %v", payload, b, err)
	}

	media := t.TempDir()
	os.MkdirAll(filepath.Join(media, "sources"), 0o755)
	os.WriteFile(filepath.Join(media, "setup.exe"), []byte("MZ setup"), 0o644)
	os.WriteFile(filepath.Join(media, "sources", "install.wim"), bytes.Repeat([]byte("wim"), 100000), 0o644)
	up, err := updatebuild.FromUpgradeDir(media, 0, updatebuild.Meta{Name: "win11-24h2"})
	if err != nil {
		t.Fatal(err)
	}
	uref := e.publish(up)
	// Too little space for the media: nothing is downloaded nor run, and it is retried.
	e.free.Store(DefaultMinFreeBytes + 1000)
	if st := e.run(uref); st.Status != UpdatePackageError || !strings.Contains(st.Error, "the package needs") {
		t.Fatalf("low disk: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(e.agent.updatesDir(), "win11-24h2_1-0.payload")); err == nil {
		t.Error("payload downloaded without the space for it")
	}
	e.free.Store(30 << 30)
	st := e.agent.InstallUpdatePackages(context.Background(), []api.Package{dref, uref})
	if len(st) != 2 || st[0].Status != UpdatePackageInstalled || st[1].Status != UpdatePackageRebootNeeded {
		t.Fatalf("statuses %+v", st)
	}
	cmds = e.host.Commands()
	if len(cmds) != 2 || !strings.HasSuffix(cmds[1], `win11-24h2_1-0.payload\setup.exe /auto upgrade /quiet /noreboot /dynamicupdate disable`) {
		t.Fatalf("commands %q", cmds)
	}
	e.agent.InstallUpdatePackages(context.Background(), []api.Package{dref, uref})
	if n := len(e.host.Commands()); n != 2 {
		t.Errorf("second run: %d commands", n)
	}
}

// TestUpdatePackageRefused: a tampered payload, a changed action kind, an unsigned
// package and an untrusted signer are refused and nothing runs.
func TestUpdatePackageRefused(t *testing.T) {
	e := newUpdEnv(t, sim.Profile{})
	p := msuPlan(t, "5034441")
	ref := e.publish(p)
	// Payload byte changed in the repository.
	payload := filepath.Join(e.repoDir, "waptwua-kb5034441-amd64_1-0.payload", "windows10.0-kb5034441-x64.msu")
	b, _ := os.ReadFile(payload)
	b[100] ^= 1
	os.WriteFile(payload, b, 0o644)
	st := e.run(ref)
	if st.Status != api.PackageRefused || !strings.Contains(st.Error, "SHA-256") {
		t.Errorf("tampered payload: %+v", st)
	}
	b[100] ^= 1
	os.WriteFile(payload, b, 0o644)

	z, _ := os.ReadFile(filepath.Join(e.repoDir, ref.Filename))
	// Action kind changed inside the zip (the server lists the changed file's hash).
	kindChanged := rezip(t, z, func(name string, data []byte) []byte {
		if name == pkg.ActionsName {
			return bytes.Replace(data, []byte(`"kind": "msu"`), []byte(`"kind": "cab"`), 1)
		}
		return data
	})
	// Unsigned: the signature dropped.
	unsigned := rezip(t, z, func(name string, data []byte) []byte {
		if name == pkg.SignatureName {
			return nil
		}
		return data
	})
	other := pkgtest.New(t, "Mallory", updNow)
	upk, _ := pkg.BuildUpdate(p.Spec)
	untrusted, _ := pkg.SignUpdate(upk, other.Key, other.Chain(), updNow)
	for what, c := range map[string]struct {
		zip  []byte
		want string
	}{
		"kind changed": {kindChanged, "package tampered"},
		"unsigned":     {unsigned, "package is not signed"},
		"untrusted":    {untrusted, "signer is not trusted"},
	} {
		ref := e.put("waptwua-kb5034441-amd64", "1-0", c.zip, nil)
		st := e.run(ref)
		if st.Status != api.PackageRefused || !strings.Contains(st.Error, c.want) {
			t.Errorf("%s: %+v", what, st)
		}
	}
	if n := len(e.host.Commands()); n != 0 {
		t.Errorf("a refused package ran: %q", e.host.Commands())
	}
	if e.installed("5034441") {
		t.Error("KB marked installed")
	}
}

// TestUpdatePackageResumeAndRetry: a partial payload download is resumed with a Range
// request; a failed action is reported with its code and runs again next time.
func TestUpdatePackageResumeAndRetry(t *testing.T) {
	e := newUpdEnv(t, sim.Profile{Actions: []sim.ActionExit{{Match: "kb5034441", ExitCode: "0x80070005"}}})
	p := msuPlan(t, "5034441")
	ref := e.publish(p)
	src, _ := os.ReadFile(p.Sources[p.Spec.Action.Target])
	partDir := filepath.Join(e.agent.updatesDir(), "waptwua-kb5034441-amd64_1-0.payload")
	os.MkdirAll(partDir, 0o700)
	os.WriteFile(filepath.Join(partDir, p.Spec.Action.Target+".part"), src[:len(src)/2], 0o600)

	st := e.run(ref)
	if st.Status != UpdatePackageError || !strings.Contains(st.Error, "0x80070005") || !strings.Contains(st.Error, "access denied") {
		t.Fatalf("%+v", st)
	}
	e.mu.Lock()
	ranges := append([]string(nil), e.ranges...)
	e.mu.Unlock()
	if len(ranges) != 1 || !strings.HasSuffix(ranges[0], fmt.Sprintf("windows10.0-kb5034441-x64.msu bytes=%d-", len(src)/2)) {
		t.Errorf("Range requests %q", ranges)
	}
	if e.installed("5034441") {
		t.Error("a failed install marked the KB installed")
	}
	e.run(ref)
	if n := len(e.host.Commands()); n != 2 {
		t.Errorf("a failed package did not run again: %d commands", n)
	}
}

// rezip rewrites the entries of a zip through edit (nil drops the entry).
func rezip(t *testing.T, z []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	pkgtest.Extract(t, z, dir)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := filepath.ToSlash(rel)
		data, _ := os.ReadFile(p)
		if data = edit(name, data); data == nil {
			return nil
		}
		w, err := zw.Create(name)
		if err == nil {
			_, err = w.Write(data)
		}
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
