package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/msu/msutest"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/pkg/pkgtest"
)

type packagesFixture struct {
	dir, key, cert string
	signer         pkgtest.Signer
}

func newPackagesFixture(t *testing.T) packagesFixture {
	t.Helper()
	s := pkgtest.New(t, "Acme Admin", time.Now())
	dir := t.TempDir()
	f := packagesFixture{dir: dir, key: filepath.Join(dir, "admin.pem"), cert: filepath.Join(dir, "admin.crt"), signer: s}
	if err := os.WriteFile(f.key, s.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cert, s.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f packagesFixture) build(args ...string) (int, string, string) {
	return rulesCLI(append(append([]string{"packages"}, args...), "--key", f.key, "--cert", f.cert)...)
}

func (f packagesFixture) verify(t *testing.T, wapt string) *pkg.VerifiedUpdate {
	t.Helper()
	z, err := os.ReadFile(wapt)
	if err != nil {
		t.Fatal(err)
	}
	v, err := pkg.VerifyUpdate(z, pkg.VerifyOptions{Roots: f.signer.Roots()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPackagesBuildMSU(t *testing.T) {
	f := newPackagesFixture(t)
	b, err := msutest.Make(msutest.Spec{Name: "Windows10.0-KB5034441-x64", Properties: msutest.KB("5034441"), Payload: []byte("winre update"), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	msuFile := filepath.Join(f.dir, "windows10.0-kb5034441-x64.msu")
	os.WriteFile(msuFile, b, 0o644)
	out := filepath.Join(f.dir, "out")
	os.Mkdir(out, 0o755)
	code, stdout, stderr := f.build("build-msu", msuFile, "-o", out, "--maturity", "PREPROD", "--target-group", "lyon")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	wapt := filepath.Join(out, "waptwua-kb5034441-amd64_1-0.wapt")
	for _, want := range []string{"wrote " + wapt + ": waptwua-kb5034441-amd64 1-0, msu KB5034441 (amd64), maturity PREPROD, signed by Acme Admin",
		"payload: " + filepath.Join(out, "waptwua-kb5034441-amd64_1-0.payload") + " (1 files, ", "applies to: Windows 10, version 22H2", "out-of-band updates may break"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	v := f.verify(t, wapt)
	if v.Action.Kind != pkg.KindMSU || v.Action.KB != "5034441" || len(v.Control.TargetGroups) != 1 {
		t.Errorf("%+v", v)
	}
	if err := pkg.CheckPayloadDir(filepath.Join(out, "waptwua-kb5034441-amd64_1-0.payload"), v.Action); err != nil {
		t.Error(err)
	}

	// openssl checks the written package's manifest signature.
	pkgtest.RequireTool(t, "openssl")
	z, _ := os.ReadFile(wapt)
	x := t.TempDir()
	pkgtest.Extract(t, z, x)
	os.WriteFile(filepath.Join(x, "pub.pem"), []byte(pkgtest.Run(t, x, "openssl", "x509", "-pubkey", "-noout", "-in", "WAPT/certificate.crt")), 0o644)
	b64, _ := os.ReadFile(filepath.Join(x, "WAPT/signature.sha256"))
	sig, _ := base64.StdEncoding.DecodeString(string(b64))
	os.WriteFile(filepath.Join(x, "sig.bin"), sig, 0o644)
	if got := pkgtest.Run(t, x, "openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "WAPT/manifest.sha256"); strings.TrimSpace(got) != "Verified OK" {
		t.Errorf("openssl: %q", got)
	}

	// The same version again is refused, and nothing is overwritten.
	if code, _, stderr := f.build("build-msu", msuFile, "-o", out); code == 0 || !strings.Contains(stderr, "already exists") {
		t.Errorf("rebuild over an existing package: %d %s", code, stderr)
	}
	if f.verify(t, wapt) == nil {
		t.Error("package damaged")
	}
}

func TestPackagesBuildNotAnUpdate(t *testing.T) {
	f := newPackagesFixture(t)
	cabFile, zipFile, err := msutest.NotUpdates(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for file, want := range map[string]string{
		cabFile: "packages build-msu: random.msu: not a Windows update (.msu): the cabinet has no <name>-pkgProperties.txt member",
		zipFile: "packages build-msu: download.zip: not a Windows update (.msu): it is a zip archive, not a cabinet",
	} {
		code, _, stderr := f.build("build-msu", file, "-o", out)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], want) {
			t.Errorf("%s: exit %d, stderr %q, want one line with %q", file, code, stderr, want)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
}

func TestPackagesBuildOtherKinds(t *testing.T) {
	f := newPackagesFixture(t)
	out := t.TempDir()

	code, stdout, stderr := f.build("build-uninstall", "--kb", "KB4023057", "-o", out)
	if code != 0 || !strings.Contains(stdout, "kb-uninstall KB4023057") || !strings.Contains(stdout, "uninstalling a Windows update can be dangerous") {
		t.Fatalf("build-uninstall: %d %s %s", code, stdout, stderr)
	}
	if v := f.verify(t, filepath.Join(out, "waptwua-uninstall-kb4023057_1-0.wapt")); v.Action.Kind != pkg.KindKBUninstall || v.Action.KB != "4023057" {
		t.Errorf("%+v", v.Action)
	}
	if code, _, stderr := f.build("build-uninstall", "-o", out); code == 0 || !strings.Contains(stderr, "--kb is required") {
		t.Errorf("no --kb: %d %s", code, stderr)
	}

	drv := filepath.Join(f.dir, "drv")
	os.Mkdir(drv, 0o755)
	for _, n := range []string{"e1000.inf", "e1000.sys", "e1000.cat"} {
		os.WriteFile(filepath.Join(drv, n), []byte(n), 0o644)
	}
	if code, _, stderr := f.build("build-driver", drv, "-o", out, "--timeout", "600"); code != 0 {
		t.Fatalf("build-driver: %s", stderr)
	}
	v := f.verify(t, filepath.Join(out, "waptwua-driver-e1000_1-0.wapt"))
	if v.Action.Kind != pkg.KindDriver || v.Action.Target != "e1000.inf" || len(v.Action.Files) != 3 || v.Action.TimeoutSeconds != 600 {
		t.Errorf("%+v", v.Action)
	}
	if err := pkg.CheckPayloadDir(filepath.Join(out, "waptwua-driver-e1000_1-0.payload"), v.Action); err != nil {
		t.Error(err)
	}

	media := filepath.Join(f.dir, "media")
	os.MkdirAll(filepath.Join(media, "sources"), 0o755)
	os.WriteFile(filepath.Join(media, "setup.exe"), []byte("MZ"), 0o644)
	os.WriteFile(filepath.Join(media, "sources", "install.wim"), []byte("wim"), 0o644)
	if code, _, stderr := f.build("build-upgrade", media, "-o", out, "--name", "win11-24h2", "--min-free-gb", "25"); code != 0 {
		t.Fatalf("build-upgrade: %s", stderr)
	}
	if v := f.verify(t, filepath.Join(out, "win11-24h2_1-0.wapt")); v.Action.Kind != pkg.KindFeatureUpgrade || v.Action.MinFreeBytes != 25<<30 || len(v.Action.Files) != 2 {
		t.Errorf("%+v", v.Action)
	}

	cabFile := filepath.Join(f.dir, "ssu.cab")
	os.WriteFile(cabFile, []byte("MSCF"), 0o644)
	if code, _, stderr := f.build("build-cab", cabFile, "--kb", "5031356", "-o", out); code != 0 {
		t.Fatalf("build-cab: %s", stderr)
	}
	if v := f.verify(t, filepath.Join(out, "waptwua-kb5031356-cab_1-0.wapt")); v.Action.Kind != pkg.KindCab || v.Action.KB != "5031356" {
		t.Errorf("%+v", v.Action)
	}
	// Without a key nothing is built.
	if code, _, stderr := rulesCLI("packages", "build-uninstall", "--kb", "1234567", "-o", out); code == 0 || !strings.Contains(stderr, "--key and --cert are required") {
		t.Errorf("unsigned build: %d %s", code, stderr)
	}
}
