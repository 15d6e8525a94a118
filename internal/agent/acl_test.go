package agent

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/config"
)

// TestCredentialFileIsPrivate: the credential file is 0600 in a 0700 folder, even when
// the folder existed with wider rights (on Windows: the ACL, see docs/windows.md).
func TestCredentialFileIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows uses an ACL (checked on a real host, docs/windows.md)")
	}
	dir := filepath.Join(t.TempDir(), "private")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cred.json")
	if err := SaveCredential(path, &Credential{Server: "https://srv", UUID: "u", Credential: "c"}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
	}
	if c, err := LoadCredential(path); err != nil || c.Credential != "c" {
		t.Errorf("LoadCredential: %+v, %v", c, err)
	}
}

// TestPlainHTTPRefused: an http:// server is refused unless allow_insecure_http.
func TestPlainHTTPRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		ini, server string
		ok          bool
	}{
		{"[global]\nwapt_server = http://srv\n", "http://srv", false},
		{"[global]\nwapt_server = http://srv\nallow_insecure_http = True\n", "http://srv", true},
		{"[global]\nwapt_server = https://srv\n", "https://srv", true},
		{"[global]\nrepo_url = http://repo/wapt\nwapt_server = https://srv\n", "https://srv", false},
	} {
		cfg, err := config.ParseAgent([]byte(tt.ini), filepath.Join(dir, "wapt-get.ini"))
		if err != nil {
			t.Fatal(err)
		}
		repo, _ := cfg.WUARepoURL()
		_, err = New(cfg, newFakeWUA(), NewClient(nil, tt.server, repo, nil, "test"), filepath.Join(dir, "data"))
		if tt.ok != (err == nil) {
			t.Errorf("%q: %v", tt.ini, err)
		}
		if err != nil && !strings.Contains(err.Error(), "allow_insecure_http = True") {
			t.Errorf("%q: the error does not say how to allow it: %v", tt.ini, err)
		}
	}
}
