package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1" //nolint:gosec
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/catalog"
)

// runCLI runs wapt-get with args and returns the exit code and outputs.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBadConfigExits1NamingTheKey(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "wapt-get.ini"), "[global]\nrepo_url = https://srv/wapt\n[waptwua]\ninstall_delay = 3x\nenabled = Truee\n")
	for _, args := range [][]string{
		{"waptwua-scan"}, {"waptwua-download"}, {"waptwua-install"}, {"waptwua-status", "--json"},
		{"register", "--server", "https://srv", "--secret", "s"}, {"service", "run"},
	} {
		t.Run(args[0], func(t *testing.T) {
			code, out, errOut := runCLI(t, append(args, "--config", cfg)...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			for _, want := range []string{`[waptwua] install_delay = "3x"`, `[waptwua] enabled = "Truee"`, "nothing done"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q does not contain %q", errOut, want)
				}
			}
			if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") || out != "" {
				t.Errorf("stdout %q stderr %q", out, errOut)
			}
		})
	}
}

func TestUsageErrorsExit1(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "wapt-get.ini"), "[global]\nrepo_url = https://srv/wapt\n")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"waptwua-status", "--config", filepath.Join(dir, "missing.ini")}, "missing.ini"},
		{[]string{"waptwua-scan", "--config", cfg, "--wua", "com"}, `--wua "com"`},
		{[]string{"waptwua-scan", "--config", cfg, "--wua", "sim"}, "--profile FILE"},
		{[]string{"waptwua-scan", "--config", cfg, "--wua", "sim", "--profile", filepath.Join(dir, "nope.json")}, "nope.json"},
		{[]string{"register", "--config", cfg, "--secret", "s"}, "--server"},
		{[]string{"waptwua-scan", "--config", cfg, "extra"}, "unknown command"},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests,
			struct {
				args []string
				want string
			}{[]string{"waptwua-scan", "--config", cfg, "--wua", "windows"}, "only on Windows"},
			struct {
				args []string
				want string
			}{[]string{"service", "install", "--config", cfg}, "service run"},
		)
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, tt.want)
			}
		})
	}
}

func TestStatusNeverScanned(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "wapt-get.ini"), "[global]\nrepo_url = https://srv/wapt\n")
	code, out, errOut := runCLI(t, "waptwua-status", "--config", cfg)
	if code != 0 || !strings.Contains(out, "status NEVER SCANNED, 0 installed") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// miniServer is the smallest waptserver the CLI needs: registration, rules, reports
// and the repository folder with a synthetic catalog.
type miniServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	cab     []byte
	files   map[string][]byte
	reports []api.Report
	rules   string
}

func newMiniServer(t *testing.T) *miniServer {
	t.Helper()
	var b bytes.Buffer
	man, err := catalog.Synthesize(&b, catalog.SynthOptions{Updates: 150, Seed: 3, MaxFileSize: 4 << 10, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := &miniServer{cab: b.Bytes(), files: map[string][]byte{}, rules: `{"default_allow": true}`}
	for _, f := range man.Files {
		data, _ := io.ReadAll(catalog.SynthFileContent(f.Name, f.Size))
		m.files[f.URL[strings.LastIndex(f.URL, "/")+1:]] = data
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathRegister, func(w http.ResponseWriter, r *http.Request) {
		var req api.RegisterRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if r.Header.Get("Authorization") != "Bearer enroll" {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(api.Error{Error: "enrollment secret rejected"})
			return
		}
		_ = json.NewEncoder(w).Encode(api.RegisterResponse{UUID: req.UUID, Credential: "cred-" + req.UUID})
	})
	mux.HandleFunc("GET /api/v1/hosts/{uuid}/rules", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		_ = json.NewEncoder(w).Encode(api.Rules{Rules: api.RawJSON(m.rules)})
	})
	mux.HandleFunc("POST /api/v1/hosts/{uuid}/report", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer cred-"+r.PathValue("uuid") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" { // the agent compresses its reports
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			body = zr
		}
		var rep api.Report
		if err := json.NewDecoder(body).Decode(&rep); err != nil || rep.Validate() != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		m.mu.Lock()
		m.reports = append(m.reports, rep)
		m.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /waptwua/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		m.mu.Lock()
		var data []byte
		var ok bool
		switch name {
		case "wsusscn2.cab":
			data, ok = m.cab, true
		case "wsusscn2.cab.sha1":
			sum := sha1.Sum(m.cab) //nolint:gosec
			data, ok = []byte(hex.EncodeToString(sum[:])+"\n"), true
		default:
			data, ok = m.files[name]
		}
		m.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, name, time.Date(2024, 3, 12, 18, 0, 0, 0, time.UTC), bytes.NewReader(data))
	})
	m.srv = httptest.NewServer(mux)
	t.Cleanup(m.srv.Close)
	return m
}

func TestRegisterScanDownloadInstallWithSim(t *testing.T) {
	m := newMiniServer(t)
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "wapt-get.ini"), fmt.Sprintf(
		"[global]\nallow_insecure_http = True\nrepo_url = %s/wapt\nwapt_server = %s\nuuid = pc-cli-1\n[waptwua]\nenabled = True\n", m.srv.URL, m.srv.URL))
	profile := writeFile(t, filepath.Join(dir, "host.json"), `{"host_name": "pc-cli", "products": ["Windows 10", "Office 2016"]}`)
	sim := []string{"--config", cfg, "--wua", "sim", "--profile", profile}

	code, _, errOut := runCLI(t, append([]string{"register", "--server", m.srv.URL, "--secret", "wrong"}, sim...)...)
	if code != 1 || !strings.Contains(errOut, "enrollment secret rejected") {
		t.Fatalf("register with a wrong secret: exit %d, %q", code, errOut)
	}
	code, out, errOut := runCLI(t, append([]string{"register", "--server", m.srv.URL, "--secret", "enroll"}, sim...)...)
	if code != 0 || !strings.Contains(out, "registered pc-cli (pc-cli-1)") {
		t.Fatalf("register: exit %d, %q %q", code, out, errOut)
	}
	credFile := filepath.Join(dir, "private", "waptwua-credential.json")
	if fi, err := os.Stat(credFile); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("credential file: %v %v", fi.Mode(), err)
	}

	// Scan, as JSON.
	code, out, errOut = runCLI(t, append([]string{"waptwua-scan", "--json"}, sim...)...)
	if code != 0 {
		t.Fatalf("scan: exit %d, %s", code, errOut)
	}
	var res struct {
		Status         string `json:"status"`
		Installed      *int   `json:"installed"`
		Pending        *int   `json:"pending"`
		Missing        *int   `json:"missing"`
		Discarded      *int   `json:"discarded"`
		RebootRequired *bool  `json:"reboot_required"`
		CabDate        string `json:"cab_date"`
		Scanned        bool   `json:"scanned"`
		Reported       bool   `json:"reported"`
		Updates        []map[string]any
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if res.Status != agent.StatusPendingUpdates || res.Pending == nil || *res.Pending == 0 || res.Installed == nil ||
		res.RebootRequired == nil || res.CabDate == "" || !res.Scanned || !res.Reported || len(res.Updates) == 0 {
		t.Fatalf("scan result: %+v", res)
	}
	for _, key := range []string{"update_id", "revision_number", "status", "kb", "title"} {
		if _, ok := res.Updates[0][key]; !ok {
			t.Errorf("update lacks %q: %v", key, res.Updates[0])
		}
	}

	// Download, as a table.
	code, out, errOut = runCLI(t, append([]string{"waptwua-download"}, sim...)...)
	if code != 0 || !strings.Contains(out, "status READY") || !strings.Contains(out, "KB  ") || !strings.Contains(out, "downloaded") {
		t.Fatalf("download: exit %d\n%s\n%s", code, out, errOut)
	}
	// Install, then status from the state alone.
	code, out, errOut = runCLI(t, append([]string{"waptwua-install"}, sim...)...)
	if code != 0 || !strings.Contains(out, "status OK, ") || !strings.Contains(out, " 0 pending") {
		t.Fatalf("install: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "waptwua-status", "--config", cfg, "--all")
	if code != 0 || !strings.Contains(out, "installed 20") || !strings.Contains(out, "status OK") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	m.mu.Lock()
	last := m.reports[len(m.reports)-1]
	m.mu.Unlock()
	if last.WUAStatus != agent.StatusOK || last.Name != "pc-cli" {
		t.Errorf("last report: %s %s", last.WUAStatus, last.Name)
	}
}
