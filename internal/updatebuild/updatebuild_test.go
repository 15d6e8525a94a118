package updatebuild_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/msu"
	"github.com/openwua/waptwua/internal/msu/msutest"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/pkg/pkgtest"
	"github.com/openwua/waptwua/internal/updatebuild"
)

var now = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func writeMSU(t *testing.T, dir, kb string) string {
	t.Helper()
	b, err := msutest.Make(msutest.Spec{Name: "Windows10.0-KB" + kb + "-x64", Properties: msutest.KB(kb), Payload: []byte("servicing stack " + kb), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "windows10.0-kb"+kb+"-x64.msu")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	mustTool = pkgtest.RequireTool
	run      = pkgtest.Run
	unzip    = pkgtest.Extract
)

// TestMSUPackageOpenSSL: an .msu made with the project's cabinet writer is read with the
// project's reader, turned into a signed update package, and the package's signature and
// hashes are checked with openssl and sha256sum, then with pkg.VerifyUpdate.
func TestMSUPackageOpenSSL(t *testing.T) {
	mustTool(t, "openssl")
	mustTool(t, "sha256sum")
	src := t.TempDir()
	file := writeMSU(t, src, "5034441")
	plan, err := updatebuild.FromMSU(file, updatebuild.Meta{Maturity: "PREPROD", TargetGroups: []string{"lyon"}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.MSU.KB != "5034441" || plan.Spec.Name != "waptwua-kb5034441-amd64" || plan.Warning != updatebuild.OOBWarning {
		t.Fatalf("plan %+v", plan)
	}
	a := plan.Spec.Action
	if a.Kind != pkg.KindMSU || a.KB != "5034441" || a.Architecture != "amd64" || a.Target != "windows10.0-kb5034441-x64.msu" {
		t.Fatalf("action %+v", a)
	}
	up, err := pkg.BuildUpdate(plan.Spec)
	if err != nil {
		t.Fatal(err)
	}
	s := pkgtest.New(t, "Acme Update Signer", now)
	z, err := pkg.SignUpdate(up, s.Key, s.Chain(), now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unzip(t, z, dir)
	payload := filepath.Join(dir, "payload")
	if err := updatebuild.CopyPayload(plan, payload); err != nil {
		t.Fatal(err)
	}

	pub := run(t, dir, "openssl", "x509", "-pubkey", "-noout", "-in", "WAPT/certificate.crt")
	os.WriteFile(filepath.Join(dir, "pub.pem"), []byte(pub), 0o644)
	b64, _ := os.ReadFile(filepath.Join(dir, "WAPT/signature.sha256"))
	sig, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "sig.bin"), sig, 0o644)
	if out := run(t, dir, "openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "WAPT/manifest.sha256"); strings.TrimSpace(out) != "Verified OK" {
		t.Fatalf("openssl dgst -verify: %q", out)
	}
	m, _ := os.ReadFile(filepath.Join(dir, "WAPT/manifest.sha256"))
	os.WriteFile(filepath.Join(dir, "manifest.bad"), bytes.Replace(m, []byte("5034441"), []byte("5034442"), 1), 0o644)
	bad := exec.Command("openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "manifest.bad")
	bad.Dir = dir
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "Verification failure") {
		t.Errorf("openssl accepted a changed manifest: %v %s", err, out)
	}
	var manifest [][]string
	if err := json.Unmarshal(m, &manifest); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range manifest {
		names[e[0]] = true
		if got := strings.Fields(run(t, dir, "sha256sum", e[0]))[0]; got != e[1] {
			t.Errorf("%s: sha256sum %s, manifest %s", e[0], got, e[1])
		}
	}
	for _, want := range []string{"WAPT/control", "WAPT/actions.json", "WAPT/certificate.crt", "payload/windows10.0-kb5034441-x64.msu"} {
		if !names[want] {
			t.Errorf("manifest lacks %s: %q", want, manifest)
		}
	}
	control, _ := os.ReadFile(filepath.Join(dir, "WAPT/control"))
	if !strings.Contains(string(control), "section           : waptwua-update\n") {
		t.Errorf("control:\n%s", control)
	}

	v, err := pkg.VerifyUpdate(z, pkg.VerifyOptions{Roots: s.Roots(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if v.Action.Kind != pkg.KindMSU || v.Action.KB != "5034441" || v.Control.Maturity != "PREPROD" || len(v.Action.Files) != 1 {
		t.Fatalf("verified %+v", v)
	}
	if err := pkg.CheckPayloadDir(payload, v.Action); err != nil {
		t.Fatal(err)
	}
	// A rules package verifier refuses it: it is not a rules package.
	if _, err := pkg.Verify(z, pkg.VerifyOptions{Roots: s.Roots(), Now: func() time.Time { return now }}); !errors.Is(err, pkg.ErrMalformed) {
		t.Errorf("pkg.Verify of an update package: %v", err)
	}
}

// TestNotAnUpdate: a random cabinet or a zip is refused with one line naming the file.
func TestNotAnUpdate(t *testing.T) {
	dir := t.TempDir()
	cabFile, zipFile, err := msutest.NotUpdates(dir)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		cabFile: "random.msu: not a Windows update (.msu): the cabinet has no <name>-pkgProperties.txt member",
		zipFile: "download.zip: not a Windows update (.msu): it is a zip archive",
	} {
		_, err := updatebuild.FromMSU(file, updatebuild.Meta{})
		if err == nil || !errors.Is(err, msu.ErrNotUpdate) || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line starting %q", file, err, want)
		}
	}
}

func TestOtherKinds(t *testing.T) {
	drv := t.TempDir()
	for n, c := range map[string]string{"net.inf": "[Version]", "net.sys": "MZ", "net.cat": "cat", "sub/readme.txt": "r"} {
		os.MkdirAll(filepath.Dir(filepath.Join(drv, n)), 0o755)
		os.WriteFile(filepath.Join(drv, n), []byte(c), 0o644)
	}
	p, err := updatebuild.FromDriverDir(drv, "", updatebuild.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if a := p.Spec.Action; a.Kind != pkg.KindDriver || a.Target != "net.inf" || len(a.Files) != 4 || p.Spec.Name != "waptwua-driver-net" {
		t.Errorf("driver plan %+v", p.Spec)
	}
	os.WriteFile(filepath.Join(drv, "other.inf"), []byte("x"), 0o644)
	if _, err := updatebuild.FromDriverDir(drv, "", updatebuild.Meta{}); err == nil || !strings.Contains(err.Error(), "--inf") {
		t.Errorf("two .inf: %v", err)
	}
	if p, err := updatebuild.FromDriverDir(drv, "other.inf", updatebuild.Meta{}); err != nil || p.Spec.Action.Target != "other.inf" {
		t.Errorf("--inf other.inf: %v", err)
	}

	u, err := updatebuild.KBUninstall("KB4023057", updatebuild.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if a := u.Spec.Action; a.Kind != pkg.KindKBUninstall || a.KB != "4023057" || len(a.Files) != 0 || u.Warning != updatebuild.UninstallWarning {
		t.Errorf("uninstall plan %+v", u)
	}
	if _, err := updatebuild.KBUninstall("KBx", updatebuild.Meta{}); err == nil {
		t.Error("bad KB accepted")
	}

	media := t.TempDir()
	if _, err := updatebuild.FromUpgradeDir(media, 0, updatebuild.Meta{}); err == nil || !strings.Contains(err.Error(), "no setup.exe") {
		t.Errorf("no setup.exe: %v", err)
	}
	os.MkdirAll(filepath.Join(media, "sources"), 0o755)
	os.WriteFile(filepath.Join(media, "setup.exe"), []byte("MZ"), 0o644)
	os.WriteFile(filepath.Join(media, "sources", "install.wim"), []byte("wim"), 0o644)
	g, err := updatebuild.FromUpgradeDir(media, 0, updatebuild.Meta{Name: "win11-24h2", Version: "24.2-1"})
	if err != nil {
		t.Fatal(err)
	}
	if a := g.Spec.Action; a.Kind != pkg.KindFeatureUpgrade || a.Target != "setup.exe" || a.MinFreeBytes != updatebuild.DefaultMinFreeBytes || len(a.Files) != 2 {
		t.Errorf("upgrade plan %+v", g.Spec.Action)
	}

	cabFile := filepath.Join(t.TempDir(), "Windows10.0-KB5031356-x64.cab")
	os.WriteFile(cabFile, []byte("MSCF"), 0o644)
	c, err := updatebuild.FromCab(cabFile, "kb5031356", updatebuild.Meta{})
	if err != nil || c.Spec.Action.Kind != pkg.KindCab || c.Spec.Action.KB != "5031356" || c.Spec.Name != "waptwua-kb5031356-cab" {
		t.Errorf("cab plan %+v %v", c, err)
	}
}
