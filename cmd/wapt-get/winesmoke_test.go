package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/cab/authenticode"
	"github.com/openwua/waptwua/internal/cab/authenticode/authenticodetest"
	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/wu"
)

// The Wine smoke test runs the Windows wapt-get.exe under Wine against the Linux
// waptserver with a stand-in for Microsoft. It is run by scripts/wine-smoke.sh (make
// wine-smoke, and the test command), which sets WAPTWUA_WINE_SMOKE=1 and retries it
// once; without Wine and the MinGW binutils it fails.
const wineSmokeEnv = "WAPTWUA_WINE_SMOKE"

// wineTools are the programs the smoke needs (Debian: wine wine64
// binutils-mingw-w64-x86-64).
var wineTools = []string{"wine", "wineserver", "wineboot", "x86_64-w64-mingw32-as", "x86_64-w64-mingw32-dlltool", "x86_64-w64-mingw32-ld"}

// wineEnv is one Wine prefix with our binaries.
type wineEnv struct {
	t      *testing.T
	dir    string
	prefix string
	env    []string
	exe    string   // wapt-get.exe, as a Linux path
	base   []string // its --config and --data-dir
	log    *bytes.Buffer
}

// winPath turns a Linux path into the Z: path Wine maps it to.
func winPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// run runs a command in the prefix, bounded by timeout; it returns stdout, stderr.
// Outputs go through files, not pipes: Wine's daemons (wineserver, services.exe)
// inherit them and would keep a pipe open long after the command ended.
func (w *wineEnv) run(timeout time.Duration, extraEnv []string, name string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	outF, err := os.CreateTemp(w.dir, "out-*")
	if err != nil {
		return "", "", err
	}
	errF, err := os.CreateTemp(w.dir, "err-*")
	if err != nil {
		outF.Close()
		return "", "", err
	}
	defer func() {
		outF.Close()
		errF.Close()
		os.Remove(outF.Name())
		os.Remove(errF.Name())
	}()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), w.env...), extraEnv...)
	cmd.Dir = w.dir
	cmd.Stdout, cmd.Stderr = outF, errF
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s: timed out after %s", name, strings.Join(args, " "), timeout)
	}
	stdout, _ := os.ReadFile(outF.Name())
	stderr, _ := os.ReadFile(errF.Name())
	fmt.Fprintf(w.log, "$ %s %s\n%s%s", name, strings.Join(args, " "), stdout, stderr)
	return string(stdout), string(stderr), err
}

// wapt runs wapt-get.exe and fails the test on error.
func (w *wineEnv) wapt(extraEnv []string, args ...string) string {
	w.t.Helper()
	out, errOut, err := w.run(3*time.Minute, extraEnv, "wine", append([]string{w.exe}, args...)...)
	if err != nil {
		w.t.Fatalf("wapt-get %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// newWineEnv makes a fresh prefix with the bcryptprimitives shim, and registers the
// cleanup that leaves nothing running.
func newWineEnv(t *testing.T, dir string) *wineEnv {
	for _, tool := range wineTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install wine wine64 binutils-mingw-w64-x86-64 (scripts/test.sh does when root)", tool)
		}
	}
	w := &wineEnv{t: t, dir: dir, prefix: filepath.Join(dir, "prefix"), log: &bytes.Buffer{}}
	w.env = []string{"WINEPREFIX=" + w.prefix, "WINEARCH=win64", "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=", "DISPLAY="}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("wine commands:\n%s", w.log.String())
		}
		// Always: the test service away (a leftover automatic service stalls every later
		// Wine session), then the whole wineserver of this prefix.
		if w.exe != "" {
			_, _, _ = w.run(time.Minute, nil, "wine", append(append([]string{w.exe}, w.base...), "service", "uninstall")...)
		}
		_, _, _ = w.run(30*time.Second, nil, "wineserver", "-k")
		_, _, _ = w.run(30*time.Second, nil, "wineserver", "-w")
	})
	start := time.Now()
	if _, errOut, err := w.run(3*time.Minute, nil, "wineboot", "-i"); err != nil {
		t.Fatalf("wineboot -i: %v\n%s", err, errOut)
	}
	// wineboot leaves a second services.exe behind now and then: start from a clean
	// server, else service install and uninstall fail.
	_, _, _ = w.run(30*time.Second, nil, "wineserver", "-k")
	_, _, _ = w.run(30*time.Second, nil, "wineserver", "-w")
	t.Logf("fresh Wine prefix in %s", time.Since(start).Round(100*time.Millisecond))

	dll := buildBcryptShim(t, w, dir)
	sys32 := filepath.Join(w.prefix, "drive_c", "windows", "system32")
	data, err := os.ReadFile(dll)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys32, "bcryptprimitives.dll"), data, 0o644); err != nil {
		t.Fatalf("copy the shim into the prefix: %v", err)
	}
	return w
}

// buildBcryptShim builds bcryptprimitives.dll, which Wine 8 lacks and Go's runtime
// loads for ProcessPrng: a forwarder to advapi32.SystemFunction036 (RtlGenRandom).
func buildBcryptShim(t *testing.T, w *wineEnv, dir string) string {
	def := filepath.Join(dir, "bcryptprimitives.def")
	asm := filepath.Join(dir, "bcryptprimitives.s")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(def, []byte("LIBRARY bcryptprimitives.dll\nEXPORTS\nProcessPrng = advapi32.SystemFunction036\n"), 0o644))
	// DllMain returns TRUE.
	must(os.WriteFile(asm, []byte("\t.text\n\t.globl DllMain\nDllMain:\n\tmovl $1, %eax\n\tret\n"), 0o644))
	obj, exp, dll := filepath.Join(dir, "shim.o"), filepath.Join(dir, "shim-exp.o"), filepath.Join(dir, "bcryptprimitives.dll")
	for _, c := range [][]string{
		{"x86_64-w64-mingw32-as", "-o", obj, asm},
		{"x86_64-w64-mingw32-dlltool", "-d", def, "-e", exp},
		{"x86_64-w64-mingw32-ld", "-shared", "--entry", "DllMain", "-o", dll, obj, exp},
	} {
		if out, errOut, err := w.run(time.Minute, nil, c[0], c[1:]...); err != nil {
			t.Fatalf("%s: %v\n%s%s", strings.Join(c, " "), err, out, errOut)
		}
	}
	return dll
}

// goBuild builds a command of this module.
func goBuild(t *testing.T, out, pkg string, env ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// microsoftStandin serves a synthetic wsusscn2.cab and the files of its updates, as
// an HTTP proxy for download.windowsupdate.com.
type microsoftStandin struct {
	cab   []byte
	files map[string]catalog.SynthFile
}

func (s *microsoftStandin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/wsusscn2.cab") {
		http.ServeContent(w, r, "wsusscn2.cab", time.Date(2024, 3, 12, 0, 0, 0, 0, time.UTC), bytes.NewReader(s.cab))
		return
	}
	f, ok := s.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	data, err := io.ReadAll(catalog.SynthFileContent(f.Name, f.Size))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.ServeContent(w, r, f.Name, time.Date(2024, 3, 12, 0, 0, 0, 0, time.UTC), bytes.NewReader(data))
}

// smokeServer is the Linux waptserver of the smoke.
type smokeServer struct {
	url, password string
	cmd           *exec.Cmd
	logPath       string
}

func (s *smokeServer) admin(t *testing.T, method, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.url+"/api/v1/admin"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", s.password)
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v: %.300s", method, path, err, body)
		}
	}
	if resp.StatusCode/100 != 2 {
		t.Logf("%s %s: HTTP %d: %.300s", method, path, resp.StatusCode, body)
	}
	return resp.StatusCode
}

func (s *smokeServer) logText() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startSmokeServer starts waptserver serve with the stand-in as its Microsoft.
func startSmokeServer(t *testing.T, dir, bin, standin, secret, cabRoots string) *smokeServer {
	t.Helper()
	ini := filepath.Join(dir, "waptserver.ini")
	conf := fmt.Sprintf(`[options]
listen = 127.0.0.1:0
data = %s
wsusscn2_url = http://download.windowsupdate.com/microsoftupdate/v6/wsusscan/wsusscn2.cab
http_proxy = %s
enrollment_secret = %s
cab_trusted_roots = %s
download_concurrency = 2
`, filepath.Join(dir, "serverdata"), standin, secret, cabRoots)
	if err := os.WriteFile(ini, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &smokeServer{password: randomHex(12), logPath: filepath.Join(dir, "waptserver.log")}
	add := exec.Command(bin, "user", "add", "admin", "--role", "admin", "--password-stdin", "--config", ini)
	add.Stdin = strings.NewReader(s.password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("waptserver user add: %v\n%s", err, out)
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "serve", "--config", ini)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("waptserver log:\n%s", s.logText())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for s.url == "" {
		if time.Now().After(deadline) {
			t.Fatalf("waptserver did not listen within 60s:\n%s", s.logText())
		}
		select {
		case <-done:
			t.Fatalf("waptserver exited:\n%s", s.logText())
		case <-time.After(100 * time.Millisecond):
		}
		sc := bufio.NewScanner(strings.NewReader(s.logText()))
		for sc.Scan() {
			var line struct {
				Msg string `json:"msg"`
				URL string `json:"url"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "waptserver listening" {
				s.url = line.URL
			}
		}
	}
	return s
}

// waitUntil polls cond for at most timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (%s)", what, timeout, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type hostCounts struct {
	Host struct {
		WUAStatus string         `json:"wua_status"`
		Counts    map[string]int `json:"counts"`
		LastSeen  string         `json:"last_seen"`
	} `json:"host"`
}

// TestWineSmoke: see the top of this file and docs/windows.md.
func TestWineSmoke(t *testing.T) {
	if os.Getenv(wineSmokeEnv) != "1" {
		t.Skip("the Wine smoke runs from scripts/wine-smoke.sh (make wine-smoke, make test)")
	}
	started := time.Now()
	dir := t.TempDir()

	// Binaries: wapt-get.exe for Windows, waptserver for this system.
	exe := filepath.Join(dir, "wapt-get.exe")
	goBuild(t, exe, "github.com/openwua/waptwua/cmd/wapt-get", "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	serverBin := filepath.Join(dir, "waptserver")
	goBuild(t, serverBin, "github.com/openwua/waptwua/cmd/waptserver")
	w := newWineEnv(t, dir)
	w.exe = exe
	t.Logf("binaries and prefix ready in %s", time.Since(started).Round(100*time.Millisecond))

	// The stand-in for Microsoft and the server.
	var cab bytes.Buffer
	man, err := catalog.Synthesize(&cab, catalog.SynthOptions{Updates: 120, Seed: 7, MinFileSize: 1 << 10, MaxFileSize: 8 << 10, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Signed like Microsoft's, with a throw-away root the server trusts: its signature
	// check stays on.
	p := authenticodetest.NewPKI(t, authenticodetest.PKIOptions{SignerCN: "Stand-in Catalog Signer"})
	signed, err := authenticode.Signer{Cert: p.Signer, Key: p.Key}.Sign(cab.Bytes())
	if err != nil {
		t.Fatalf("sign the stand-in's catalog: %v", err)
	}
	ms := &microsoftStandin{cab: signed, files: map[string]catalog.SynthFile{}}
	for _, f := range man.Files {
		u, err := url.Parse(f.URL)
		if err != nil {
			t.Fatal(err)
		}
		ms.files[u.Path] = f
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: ms, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	secret := randomHex(24)
	srv := startSmokeServer(t, dir, serverBin, "http://"+ln.Addr().String(), secret, p.CAFile)

	// The product of the simulated host: the one with the most updates.
	count := map[string]int{}
	for _, u := range man.Updates {
		for _, p := range u.Products {
			count[p]++
		}
	}
	var product string
	for p, n := range count {
		if product == "" || n > count[product] || n == count[product] && p < product {
			product = p
		}
	}
	profile := filepath.Join(dir, "host.json")
	pb, _ := json.Marshal(map[string]any{"host_name": "wine-pc", "products": []string{product}})
	if err := os.WriteFile(profile, pb, 0o600); err != nil {
		t.Fatal(err)
	}
	agentDir := filepath.Join(dir, "agent")
	if err := os.MkdirAll(agentDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ini := filepath.Join(agentDir, "wapt-get.ini")
	const uuid = "0b5e7c1a-1111-4222-8333-444455556666"
	conf := fmt.Sprintf("[global]\nwapt_server = %s\nuuid = %s\nallow_insecure_http = True\n[waptwua]\nenabled = True\ndefault_allow = True\n", srv.url, uuid)
	if err := os.WriteFile(ini, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--config", winPath(ini), "--data-dir", winPath(filepath.Join(agentDir, "data"))}
	w.base = base
	sim := append(slices.Clone(base), "--wua", "sim", "--profile", winPath(profile))

	step := func(name string) func() {
		s := time.Now()
		return func() { t.Logf("%-28s %s", name, time.Since(s).Round(10*time.Millisecond)) }
	}

	// The server has imported the catalog (startup sync) before the agent asks for it.
	waitUntil(t, 2*time.Minute, "the server's catalog imported", func() (bool, string) {
		resp, err := http.Get(srv.url + "/waptwua/wsusscn2.cab")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})

	// 1. The binary starts (the shim works).
	done := step("help")
	if out := w.wapt(nil, "--help"); !strings.Contains(out, "waptwua-scan") {
		t.Fatalf("wapt-get --help: %s", out)
	}
	done()

	// 2. Registration with the token from the environment.
	done = step("register")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := w.wapt([]string{"WAPTWUA_ENROLLMENT_SECRET=" + secret}, append(slices.Clone(sim), "register")...)
	if !strings.Contains(out, "registered wine-pc") {
		t.Fatalf("register: %s", out)
	}
	done()

	// 3. Scan, report seen by the server.
	done = step("waptwua-scan --wua sim")
	w.wapt(nil, append(slices.Clone(sim), "waptwua-scan", "--json")...)
	var h hostCounts
	if code := srv.admin(t, "GET", "/hosts/"+uuid, &h); code != http.StatusOK {
		t.Fatalf("the server does not know the host after the scan: HTTP %d", code)
	}
	if h.Host.Counts["missing"]+h.Host.Counts["pending"] == 0 {
		t.Fatalf("report after the scan: %+v, want missing or pending updates", h.Host)
	}
	t.Logf("after the scan the server sees %s %v", h.Host.WUAStatus, h.Host.Counts)
	done()

	// 4. The server fetches the files from the stand-in, the agent downloads them.
	done = step("server downloads")
	srv.admin(t, "POST", "/files/download-missing", nil)
	waitUntil(t, 2*time.Minute, "the server has the needed files", func() (bool, string) {
		var needed struct {
			Files []json.RawMessage `json:"files"`
		}
		srv.admin(t, "GET", "/files/needed", &needed)
		return len(needed.Files) == 0, fmt.Sprintf("%d files needed", len(needed.Files))
	})
	done()
	done = step("waptwua-download --wua sim")
	w.wapt(nil, append(slices.Clone(sim), "waptwua-download")...)
	done()

	// 5. Install, report seen by the server.
	done = step("waptwua-install --wua sim")
	w.wapt(nil, append(slices.Clone(sim), "waptwua-install")...)
	h = hostCounts{}
	srv.admin(t, "GET", "/hosts/"+uuid, &h)
	if h.Host.Counts["ok"] == 0 || h.Host.Counts["missing"]+h.Host.Counts["pending"] != 0 {
		t.Fatalf("report after the install: %s %v, want every update ok", h.Host.WUAStatus, h.Host.Counts)
	}
	t.Logf("after the install the server sees %s %v", h.Host.WUAStatus, h.Host.Counts)
	done()

	// 6. Status, offline, as JSON.
	done = step("waptwua-status --json")
	out = w.wapt(nil, append(slices.Clone(sim), "waptwua-status", "--json")...)
	var st struct {
		Updates []struct {
			Status wu.Status `json:"status"`
		} `json:"updates"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("waptwua-status --json: %v\n%s", err, out)
	}
	done()

	// 7. Windows Update policies: set, read back, restore.
	done = step("policies set/restore")
	const auKey = `HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU`
	w.wapt(nil, append(slices.Clone(base), "waptwua-policy", "set")...)
	q, _, err := w.run(time.Minute, nil, "wine", "reg", "query", auKey, "/v", "NoAutoUpdate")
	if err != nil || !strings.Contains(q, "0x1") {
		t.Fatalf("NoAutoUpdate after set: %v\n%s", err, q)
	}
	w.wapt(nil, append(slices.Clone(base), "waptwua-policy", "restore")...)
	q, _, _ = w.run(time.Minute, nil, "wine", "reg", "query", auKey, "/v", "NoAutoUpdate")
	if strings.Contains(q, "NoAutoUpdate") {
		t.Fatalf("NoAutoUpdate still there after restore:\n%s", q)
	}
	done()

	// 8. The real Windows Update Agent: Wine's lacks name lookup. One clear line naming
	// the COM call and the HRESULT.
	done = step("real backend failure")
	_, errOut, err := w.run(time.Minute, nil, "wine", append([]string{exe}, append(slices.Clone(base), "waptwua-scan", "--wua", "windows")...)...)
	if err == nil {
		t.Fatal("waptwua-scan --wua windows succeeded under Wine")
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if !strings.Contains(l, "level=WARN") {
			lines = append(lines, l)
		}
	}
	want := "wapt-get: Windows Update Agent: set IUpdateSession.ClientApplicationID: 0x80004001 E_NOTIMPL: Not implemented."
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Fatalf("real backend under Wine: %q, want one line starting %q", lines, want)
	}
	done()

	// 9. The service: install, start, service mode reached, stop, uninstall.
	done = step("service")
	serviceLog := filepath.Join(agentDir, "data", "waptwua-service.log")
	w.wapt(nil, append(slices.Clone(sim), "service", "install")...)
	q, _, err = w.run(time.Minute, nil, "wine", "reg", "query", `HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\waptwua`)
	if err != nil {
		t.Errorf("event log source waptwua not registered: %v\n%s", err, q)
	}
	if out, errOut, err := w.run(2*time.Minute, nil, "wine", "net", "start", "waptwua"); err != nil {
		t.Fatalf("net start waptwua: %v\n%s%s\nservice log:\n%s", err, out, errOut, readFile(serviceLog))
	}
	waitUntil(t, time.Minute, "service mode reached", func() (bool, string) {
		l := readFile(serviceLog)
		return strings.Contains(l, "running as the waptwua service") && strings.Contains(l, "service started"), l
	})
	if out, errOut, err := w.run(2*time.Minute, nil, "wine", "net", "stop", "waptwua"); err != nil {
		t.Fatalf("net stop waptwua: %v\n%s%s", err, out, errOut)
	}
	waitUntil(t, time.Minute, "service stopped", func() (bool, string) {
		l := readFile(serviceLog)
		return strings.Contains(l, "service stopped"), l
	})
	w.wapt(nil, append(slices.Clone(base), "service", "uninstall")...)
	if q, _, err := w.run(time.Minute, nil, "wine", "reg", "query", `HKLM\SYSTEM\CurrentControlSet\Services\waptwua`); err == nil {
		t.Fatalf("the service is still registered after uninstall:\n%s", q)
	}
	done()

	// 10. The agent installer: built by waptserver agent-installer, installed by msiexec,
	// registered at the service's first start, removed (data kept, then purged).
	done = step("msi build")
	msiPath := filepath.Join(dir, "waptagent.msi")
	preset := filepath.Join(dir, "preset.ini")
	if err := os.WriteFile(preset, []byte("[waptwua]\nenabled = True\ninstall_delay = 7d\nallowed_severities = Critical, Important\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, err := w.run(2*time.Minute, []string{"WAPTWUA_ENROLLMENT_TOKEN=" + secret}, serverBin, "agent-installer",
		"--server", srv.url, "--preset", preset, "--agent-exe", exe, "-o", msiPath); err != nil {
		t.Fatalf("waptserver agent-installer: %v\n%s", err, out)
	}
	done()
	done = step("msiexec /i")
	drive := filepath.Join(w.prefix, "drive_c")
	progDir := filepath.Join(drive, "Program Files", "waptwua")
	dataDir := filepath.Join(drive, "ProgramData", "waptwua")
	install := func() {
		t.Helper()
		if out, errOut, err := w.run(3*time.Minute, nil, "wine", "msiexec", "/i", winPath(msiPath), "/qn"); err != nil {
			t.Fatalf("msiexec /i: %v\n%s%s", err, out, errOut)
		}
	}
	install()
	iniText := readFile(filepath.Join(progDir, "wapt-get.ini"))
	for _, want := range []string{"wapt_server=" + srv.url, "install_delay=7d", "allowed_severities=Critical, Important", "enabled=True",
		`credential_file=C:\ProgramData\waptwua\private\waptwua-credential.json`} {
		if !strings.Contains(strings.ReplaceAll(iniText, " = ", "="), want) {
			t.Errorf("wapt-get.ini written by the MSI lacks %q:\n%s", want, iniText)
		}
	}
	if _, err := os.Stat(filepath.Join(progDir, "wapt-get.exe")); err != nil {
		t.Errorf("wapt-get.exe not installed: %v", err)
	}
	if q, _, err := w.run(time.Minute, nil, "wine", "reg", "query", `HKLM\SYSTEM\CurrentControlSet\Services\waptwua`); err != nil || !strings.Contains(q, "--as-service") {
		t.Fatalf("the MSI did not register the service: %v\n%s", err, q)
	}
	credPath := filepath.Join(dataDir, "private", "waptwua-credential.json")
	waitUntil(t, 90*time.Second, "registered at the service's first start", func() (bool, string) {
		_, err := os.Stat(credPath)
		return err == nil, readFile(filepath.Join(dataDir, "waptwua-service.log"))
	})
	if _, err := os.Stat(filepath.Join(dataDir, "private", "enrollment-token")); err == nil {
		t.Error("the enrollment token file is still there after the registration")
	}
	// The installed program finds its ini and data folder without flags.
	if out, errOut, err := w.run(time.Minute, nil, "wine", filepath.Join(progDir, "wapt-get.exe"), "waptwua-status", "--json"); err != nil || !json.Valid([]byte(out)) {
		t.Errorf("installed wapt-get.exe waptwua-status --json without flags: %v\n%s%s", err, out, errOut)
	}
	done()
	done = step("msiexec /x")
	if out, errOut, err := w.run(3*time.Minute, nil, "wine", "msiexec", "/x", winPath(msiPath), "/qn"); err != nil {
		t.Fatalf("msiexec /x: %v\n%s%s", err, out, errOut)
	}
	if q, _, err := w.run(time.Minute, nil, "wine", "reg", "query", `HKLM\SYSTEM\CurrentControlSet\Services\waptwua`); err == nil {
		t.Errorf("the service is still registered after msiexec /x:\n%s", q)
	}
	for _, gone := range []string{"wapt-get.exe", "wapt-get.ini"} {
		if _, err := os.Stat(filepath.Join(progDir, gone)); err == nil {
			t.Errorf("%s still installed after msiexec /x", gone)
		}
	}
	if _, err := os.Stat(credPath); err != nil {
		t.Errorf("the data folder was not kept by msiexec /x: %v", err)
	}
	install()
	if out, errOut, err := w.run(3*time.Minute, nil, "wine", "msiexec", "/x", winPath(msiPath), "/qn", "REMOVEDATA=1"); err != nil {
		t.Fatalf("msiexec /x REMOVEDATA=1: %v\n%s%s", err, out, errOut)
	}
	if _, err := os.Stat(dataDir); err == nil {
		t.Errorf("msiexec /x REMOVEDATA=1 kept %s", dataDir)
	}
	done()

	t.Logf("Wine smoke passed in %s", time.Since(started).Round(100*time.Millisecond))
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
