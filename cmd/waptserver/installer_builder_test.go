package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/api"
)

// TestConsoleAgentInstaller runs "serve" as wired for production with --agent-exe-dir
// holding only an amd64 wapt-get.exe: the console refuses the download to a read-only
// user, explains how to get the arm64 one, and gives an admin a real MSI (wixl,
// msitools: the test fails without them) whose wapt-get.ini points at the server and
// whose enrollment token registers a host; the download is in the audit log.
func TestConsoleAgentInstaller(t *testing.T) {
	for _, tool := range []string{"wixl", "msibuild", "msiinfo", "msiextract"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install Debian's wixl and msitools (scripts/test.sh does)", tool)
		}
	}
	exeDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(exeDir, "windows-amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(exeDir, "windows-amd64", "wapt-get.exe"), []byte("MZ not really a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	t.Setenv("WAPTSERVER_DB_URL", "")
	base, _, stop := startServe(t, http.DefaultClient, "http", "--data", data, "--agent-exe-dir", exeDir)
	defer stop()
	for _, u := range [][2]string{{"admin", "admin"}, {"viewer", "read-only"}} {
		if _, _, err := runCmd(t, context.Background(), u[0]+"-password\n", "user", "add", u[0], "--role", u[1], "--password-stdin", "--data", data); err != nil {
			t.Fatal(err)
		}
	}
	post := func(hc *http.Client, csrf, arch string) (*http.Response, []byte) {
		t.Helper()
		resp, err := hc.PostForm(base+"/ui/enrollment/installer", url.Values{"csrf": {csrf}, "arch": {arch}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	page := func(hc *http.Client, path string) string { t.Helper(); return pageBody(t, hc, base+path) }

	vc, vcsrf := consoleClient(t, base, "viewer", "viewer-password")
	if resp, _ := post(vc, vcsrf, "amd64"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only download: %d", resp.StatusCode)
	}
	hc, csrf := consoleClient(t, base, "admin", "admin-password")
	if p := page(hc, "/ui/enrollment"); !strings.Contains(p, `id="installer-amd64"`) || !strings.Contains(p, "make build cross") ||
		!strings.Contains(p, filepath.Join(exeDir, "windows-arm64", "wapt-get.exe")) {
		t.Errorf("enrollment page: no amd64 download, or no arm64 explanation:\n%s", p)
	}
	if resp, b := post(hc, csrf, "arm64"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "make build cross") {
		t.Errorf("arm64 download: %d", resp.StatusCode)
	}
	resp, msiBytes := post(hc, csrf, "amd64")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Disposition") != `attachment; filename="waptagent-amd64.msi"` {
		t.Fatalf("admin download: %d %v\n%.500s", resp.StatusCode, resp.Header, msiBytes)
	}
	work := t.TempDir()
	msiPath := filepath.Join(work, "waptagent-amd64.msi")
	if err := os.WriteFile(msiPath, msiBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	ini, err := exec.Command("msiinfo", "export", msiPath, "IniFile").CombinedOutput()
	if err != nil {
		t.Fatalf("msiinfo: %v\n%s", err, ini)
	}
	for _, want := range []string{"global\twapt_server\t" + base + "\t", "global\tallow_insecure_http\tTrue"} {
		if !strings.Contains(string(ini), want) {
			t.Errorf("IniFile without %q:\n%s", want, ini)
		}
	}
	out := filepath.Join(work, "x")
	if b, err := exec.Command("msiextract", "-C", out, msiPath).CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v\n%s", err, b)
	}
	var token string
	_ = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "enrollment-token" {
			b, _ := os.ReadFile(p)
			token = strings.TrimSpace(string(b))
		}
		return nil
	})
	if !strings.HasPrefix(token, "wet_") {
		t.Fatalf("no enrollment token in the MSI (%q)", token)
	}

	// A host registers with the installer's token.
	reg := registerHost(t, base, "HOST-MSI", "pc-msi", token)
	reg.Body.Close()
	if reg.StatusCode != http.StatusOK {
		t.Errorf("register with the installer's token: %d", reg.StatusCode)
	}
	if p := page(hc, "/ui/audit?action=agent_installer.download"); !strings.Contains(p, "agent_installer.download") || !strings.Contains(p, "waptagent-amd64.msi") {
		t.Errorf("audit page without the download:\n%s", p)
	}
}

// registerHost posts an agent's registration with the bearer secret or token; the
// caller closes the answer's body.
func registerHost(t *testing.T, base, uuid, name, bearer string) *http.Response {
	t.Helper()
	body, _ := json.Marshal(api.RegisterRequest{UUID: uuid, Name: name})
	req, _ := http.NewRequest("POST", base+api.PathRegister, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
