package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/action"
	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/msu/msutest"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/updatebuild"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua/sim"
)

// publishUpdate signs an update package built by internal/updatebuild, checks its
// signature with openssl, uploads it and each payload file to the server, and assigns it
// to group.
func (s *ringServer) publishUpdate(t *testing.T, sg *signer, plan *updatebuild.Plan, at time.Time, group string) string {
	t.Helper()
	up, err := pkg.BuildUpdate(plan.Spec)
	if err != nil {
		t.Fatal(err)
	}
	z, err := pkg.SignUpdate(up, sg.key, sg.chain(), at)
	if err != nil {
		t.Fatal(err)
	}
	manifest := opensslVerify(t, z, sg.pemPath)
	for _, f := range plan.Spec.Action.Files {
		if !bytes.Contains(manifest, []byte(pkg.PayloadPrefix+f.Path)) {
			t.Fatalf("the signed manifest does not cover the payload file %s:\n%s", f.Path, manifest)
		}
	}
	s.mustUpload(t, z)
	name, version := up.Control.Package, up.Control.Version
	dir := t.TempDir()
	if err := updatebuild.CopyPayload(plan, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range plan.Spec.Action.Files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPut, s.url+server.AdminPrefix+"/packages/"+name+"/"+version+"/payload/"+f.Path, bytes.NewReader(data))
		req.SetBasicAuth("admin", adminPassword)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("payload %s of %s: HTTP %d %s", f.Path, name, resp.StatusCode, b)
		}
	}
	var st struct {
		Complete bool `json:"complete"`
	}
	if code := s.admin(t, "GET", "/packages/"+name+"/"+version+"/payload", nil, &st); code != http.StatusOK || !st.Complete {
		t.Fatalf("payload of %s: HTTP %d complete=%v", name, code, st.Complete)
	}
	s.assign(t, name, "group", group)
	return name
}

func (s *signer) chain() []*x509.Certificate { return []*x509.Certificate{s.cert} }

// opensslVerify checks the package's signature of its manifest with openssl dgst, as a
// WAPT administrator would (the tool must be there: the test fails without it).
func opensslVerify(t *testing.T, z []byte, certPEM string) []byte {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is needed to check the signature: %v", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	dir := t.TempDir()
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(files[pkg.SignatureName])))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "manifest"), files[pkg.ManifestName], 0o600)
	os.WriteFile(filepath.Join(dir, "sig"), sig, 0o600)
	pub, err := exec.Command(bin, "x509", "-in", certPEM, "-pubkey", "-noout").Output()
	if err != nil {
		t.Fatalf("openssl x509: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "pub.pem"), pub, 0o600)
	out, err := exec.Command(bin, "dgst", "-sha256", "-verify", filepath.Join(dir, "pub.pem"), "-signature", filepath.Join(dir, "sig"),
		filepath.Join(dir, "manifest")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl dgst: %v: %s", err, out)
	}
	if !bytes.Contains(files[pkg.ManifestName], []byte(pkg.ActionsName)) {
		t.Fatalf("the signed manifest does not cover actions.json:\n%s", files[pkg.ManifestName])
	}
	return files[pkg.ManifestName]
}

// reportedUpdatePackages is the server's view of a host's update packages, by name.
func (s *ringServer) reportedUpdatePackages(t *testing.T, uuid string) map[string]store.HostPackage {
	t.Helper()
	var out struct {
		Reported []store.HostPackage `json:"reported_update_packages"`
	}
	s.admin(t, "GET", "/hosts/"+uuid+"/packages", nil, &out)
	m := map[string]store.HostPackage{}
	for _, p := range out.Reported {
		m[p.Name] = p
	}
	return m
}

// TestUpdatePackagesThroughServer is issue 15's acceptance through the real server: an
// .msu-shaped cabinet made with the project's cabinet writer, a KB uninstall, a driver
// folder and an upgrade folder become signed packages (checked with openssl dgst),
// uploaded with their payload and assigned to a group; a simulated agent's install
// cycle fetches them from the server's repository, runs them, reports them installed;
// the KB the .msu brings is no longer missing, the uninstalled one is; a second cycle
// runs nothing.
func TestUpdatePackagesThroughServer(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	ms, plan := ringFixture(t)
	t0 := plan.maxBuilt.Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	clk := &clock{now: t0}
	admin := newSigner(t, "Acme WAPT Admin", t0)
	srv := startRingServer(t, ms, clk, admin.pemPath)
	if sync, err := srv.runner.SyncCab(ctx, true); err != nil || sync.Status != store.CabFinished {
		t.Fatalf("cab sync: %+v %v", sync, err)
	}
	signed := t0.Add(-time.Hour)

	// The .msu brings X (missing on the host); the uninstall removes Z (installed).
	b, err := msutest.Make(msutest.Spec{Name: "Windows10.0-KB" + plan.kx + "-x64", Properties: msutest.KB(plan.kx),
		Payload: bytes.Repeat([]byte("payload "+plan.kx), 5000), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	msuFile := filepath.Join(t.TempDir(), "windows10.0-kb"+plan.kx+"-x64.msu")
	if err := os.WriteFile(msuFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	msuPlan, err := updatebuild.FromMSU(msuFile, updatebuild.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if msuPlan.MSU == nil || msuPlan.MSU.KB != plan.kx {
		t.Fatalf("the .msu reads as %+v", msuPlan.MSU)
	}
	uninstall, err := updatebuild.KBUninstall(plan.kz, updatebuild.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if uninstall.Warning == "" {
		t.Error("a kb-uninstall plan without the seeds' warning")
	}
	drv := t.TempDir()
	os.MkdirAll(filepath.Join(drv, "x64"), 0o755)
	for n, c := range map[string]string{"e1000.inf": "[Version]", "x64/e1000.sys": "MZ driver", "e1000.cat": "catalog"} {
		os.WriteFile(filepath.Join(drv, filepath.FromSlash(n)), []byte(c), 0o644)
	}
	drvPlan, err := updatebuild.FromDriverDir(drv, "", updatebuild.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	media := t.TempDir()
	os.MkdirAll(filepath.Join(media, "sources"), 0o755)
	os.WriteFile(filepath.Join(media, "setup.exe"), []byte("MZ setup"), 0o644)
	os.WriteFile(filepath.Join(media, "sources", "install.wim"), bytes.Repeat([]byte("wim"), 300000), 0o644)
	upgPlan, err := updatebuild.FromUpgradeDir(media, 0, updatebuild.Meta{Name: "win11-24h2"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range []*updatebuild.Plan{msuPlan, uninstall, drvPlan, upgPlan} {
		names = append(names, srv.publishUpdate(t, admin, p, signed, "fleet"))
	}

	// A simulated host of the fleet whose update packages' commands the sim host answers.
	h := newRingHost(t, srv, "pc-upd", "PROD", admin.pemPath, sim.Profile{Products: []string{plan.product}, Installed: []string{"KB" + plan.kz}},
		hostSetup{Groups: []string{"fleet"}, Options: func(sh *sim.Host) []agent.Option {
			runner := &action.Sim{Answer: func(c action.Command) (action.Exit, error) {
				code, err := sh.RunCommand(ctx, c.String())
				return action.Exit{Code: code}, err
			}}
			return []agent.Option{agent.WithActionRunner(runner, `C:\Windows`)}
		}})
	simHost := h.sim

	sum, err := h.agent.Install(ctx)
	if err != nil {
		t.Fatalf("install cycle: %v", err)
	}
	_ = sum
	cmds := simHost.Commands()
	if len(cmds) != 4 {
		t.Fatalf("commands run: %q; the server sees %+v", cmds, srv.reportedUpdatePackages(t, "pc-upd"))
	}
	for _, want := range []string{`wusa.exe ` /* the .msu */, `wusa.exe /uninstall /kb:` + plan.kz, `pnputil.exe /add-driver `, `setup.exe /auto upgrade`} {
		if !strings.Contains(strings.Join(cmds, "\n"), want) {
			t.Errorf("no command with %q in %q", want, cmds)
		}
	}
	rep := srv.reportedUpdatePackages(t, "pc-upd")
	for _, n := range names {
		if p, ok := rep[n]; !ok || p.Status != store.HostUpdatePackageInstalled {
			t.Errorf("server sees %s as %+v, want installed (all: %+v)", n, p, rep)
		}
	}

	// The next scan: X is no longer missing, Z is.
	if _, err := h.agent.Scan(ctx, true); err != nil {
		t.Fatalf("scan: %v", err)
	}
	ups := srv.hostUpdates(t, "pc-upd")
	if st := fmt.Sprint(ups[plan.kx]["status"]); st != string(wu.StatusOK) {
		t.Errorf("KB%s (brought by the .msu) on the server: %s, want OK", plan.kx, st)
	}
	if st := fmt.Sprint(ups[plan.kz]["status"]); st == string(wu.StatusOK) {
		t.Errorf("KB%s (uninstalled) on the server: %s", plan.kz, st)
	}

	// A second install cycle runs nothing and still reports them installed.
	if _, err := h.agent.Install(ctx); err != nil {
		t.Fatalf("second install cycle: %v", err)
	}
	if n := len(simHost.Commands()); n != 4 {
		t.Errorf("second cycle ran commands: %q", simHost.Commands())
	}
	for n, p := range srv.reportedUpdatePackages(t, "pc-upd") {
		if p.Status != store.HostUpdatePackageInstalled {
			t.Errorf("after the second cycle %s is %s", n, p.Status)
		}
	}
	out, _ := json.Marshal(srv.reportedUpdatePackages(t, "pc-upd"))
	t.Logf("reported update packages: %s", out)
}
