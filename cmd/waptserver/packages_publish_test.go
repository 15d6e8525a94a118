package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/msu/msutest"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/server/servertest"
)

// TestPackagesPublish: packages build-msu then packages publish uploads the .wapt and its
// payload folder to a real server, which then offers the package to the assigned
// group's hosts; publishing again uploads nothing more; a changed payload byte is
// refused with pkg's reason.
func TestPackagesPublish(t *testing.T) {
	f := newPackagesFixture(t)
	b, err := msutest.Make(msutest.Spec{Name: "Windows10.0-KB5034441-x64", Properties: msutest.KB("5034441"),
		Payload: bytes.Repeat([]byte("winre update "), 1000), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	msuFile := filepath.Join(f.dir, "windows10.0-kb5034441-x64.msu")
	os.WriteFile(msuFile, b, 0o644)
	out := filepath.Join(f.dir, "out")
	os.Mkdir(out, 0o755)
	if code, _, stderr := f.build("build-msu", msuFile, "-o", out); code != 0 {
		t.Fatalf("build-msu: %s", stderr)
	}
	wapt := filepath.Join(out, "waptwua-kb5034441-amd64_1-0.wapt")
	env := servertest.NewEnv(t, openSQLite, server.WithPackageRoots(f.signer.Roots(), f.cert))
	cred := env.Register("H1") // in no group: assigned by host below

	var stdout bytes.Buffer
	o := publishOptions{server: env.HTTP.URL, user: servertest.AdminUser, hosts: []string{"H1"}}
	if err := runRulesPublish(context.Background(), &stdout, http.DefaultClient, wapt, o, servertest.AdminPassword); err != nil {
		t.Fatalf("publish: %v\n%s", err, stdout.String())
	}
	for _, want := range []string{"published waptwua-kb5034441-amd64_1-0.wapt", "uploaded payload windows10.0-kb5034441-x64.msu",
		"payload complete: 1 files", "assigned waptwua-kb5034441-amd64 to host H1"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	r := env.Do("GET", servertest.HostPath(api.PathRules, "H1"), servertest.Bearer(cred), nil)
	var rs api.Rules
	r.JSON(t, &rs)
	if len(rs.UpdatePackages) != 1 || rs.UpdatePackages[0].Name != "waptwua-kb5034441-amd64" {
		t.Errorf("rules answer of H1: %s", r.Body)
	}
	// Again: nothing more to upload.
	stdout.Reset()
	if err := runRulesPublish(context.Background(), &stdout, http.DefaultClient, wapt, o, servertest.AdminPassword); err != nil ||
		strings.Contains(stdout.String(), "uploaded payload") {
		t.Errorf("second publish: %v\n%s", err, stdout.String())
	}

	// Another version whose payload changed after signing: refused with pkg's reason.
	if code, _, stderr := f.build("build-msu", msuFile, "-o", out, "--version", "2"); code != 0 {
		t.Fatalf("build-msu v2: %s", stderr)
	}
	payload := filepath.Join(out, "waptwua-kb5034441-amd64_2.payload", "windows10.0-kb5034441-x64.msu")
	pb, err := os.ReadFile(payload)
	if err != nil {
		t.Fatal(err)
	}
	pb[len(pb)/2] ^= 1
	os.WriteFile(payload, pb, 0o644)
	err = runRulesPublish(context.Background(), &stdout, http.DefaultClient, filepath.Join(out, "waptwua-kb5034441-amd64_2.wapt"), o, servertest.AdminPassword)
	if err == nil || !strings.Contains(err.Error(), "HTTP 422") || !strings.Contains(err.Error(), "the signed manifest says") {
		t.Errorf("tampered payload: %v", err)
	}
}
