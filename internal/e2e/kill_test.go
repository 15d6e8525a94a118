package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// --- a stand-in for Microsoft that stalls in the middle of one file -------------------

// stallingMicrosoft is an HTTP proxy standing in for Microsoft: the real server binary
// reaches it through http_proxy, so the catalog keeps Microsoft's host names and the
// default allowed_upstream_hosts apply. It serves the synthetic cab and one update file:
// the first request for that file gets its first cut bytes, then nothing until the
// client goes away; later requests wait for release, then get the file with Range.
type stallingMicrosoft struct {
	srv     *httptest.Server
	cab     []byte
	path    string // URL path of the stalling file
	data    []byte
	cut     int
	stalled chan struct{} // closed once the first answer sent cut bytes
	arrived chan struct{} // closed when the second request for the file arrives
	release chan struct{} // closed by the test: the second answer may go
	stop    chan struct{} // closed at cleanup: no handler waits any longer

	mu       sync.Mutex
	requests []seenRequest // requests for the stalling file
	others   []string      // other requests, "host path"
}

type seenRequest struct {
	host, rangeHeader string
}

var standinModTime = time.Date(2024, 3, 12, 18, 0, 0, 0, time.UTC)

func newStallingMicrosoft(t *testing.T, cab []byte, path string, data []byte, cut int) *stallingMicrosoft {
	t.Helper()
	m := &stallingMicrosoft{cab: cab, path: path, data: data, cut: cut, stalled: make(chan struct{}),
		arrived: make(chan struct{}), release: make(chan struct{}), stop: make(chan struct{})}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	t.Cleanup(func() { close(m.stop) }) // runs first: handlers return, then Close returns
	return m
}

func (m *stallingMicrosoft) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/wsusscn2.cab"):
		m.mu.Lock()
		m.others = append(m.others, r.Host+" "+r.URL.Path)
		m.mu.Unlock()
		http.ServeContent(w, r, "", standinModTime, bytes.NewReader(m.cab))
	case r.URL.Path == m.path:
		m.mu.Lock()
		m.requests = append(m.requests, seenRequest{host: r.Host, rangeHeader: r.Header.Get("Range")})
		n := len(m.requests)
		m.mu.Unlock()
		if n == 1 {
			m.stall(w, r)
			return
		}
		if n == 2 {
			close(m.arrived)
		}
		select {
		case <-m.release:
		case <-m.stop:
			return
		case <-r.Context().Done():
			return
		}
		http.ServeContent(w, r, "", standinModTime, bytes.NewReader(m.data))
	default:
		m.mu.Lock()
		m.others = append(m.others, r.Host+" "+r.URL.Path)
		m.mu.Unlock()
		http.NotFound(w, r)
	}
}

// stall sends the first cut bytes of a 200 answer promising the whole file, then waits
// until the client is gone.
func (m *stallingMicrosoft) stall(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", fmt.Sprint(len(m.data)))
	h.Set("Last-Modified", standinModTime.Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for off := 0; off < m.cut; off += 64 << 10 {
		if _, err := w.Write(m.data[off:min(off+64<<10, m.cut)]); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	close(m.stalled)
	select {
	case <-r.Context().Done():
	case <-m.stop:
	}
}

func (m *stallingMicrosoft) fileRequests() []seenRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.requests)
}

// --- the real waptserver binary --------------------------------------------------------

const killAdminPassword = "kill-test-admin-password-0123456789"

// buildWaptserver compiles cmd/waptserver into dir. It skips the test only when no Go
// toolchain is there to build it.
func buildWaptserver(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if goBin = filepath.Join(runtime.GOROOT(), "bin", "go"); !fileExists(goBin) {
			t.Fatalf("no go command to build waptserver: %v", err)
		}
	}
	bin := filepath.Join(dir, "waptserver")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/openwua/waptwua/cmd/waptserver")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/waptserver: %v\n%s", err, out)
	}
	return bin
}

// addAdmin creates the admin user (killAdminPassword) with "waptserver user add".
func addAdmin(t *testing.T, bin, ini string) {
	t.Helper()
	add := exec.Command(bin, "user", "add", "admin", "--role", "admin", "--password-stdin", "--config", ini)
	add.Stdin = strings.NewReader(killAdminPassword + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("waptserver user add: %v\n%s", err, out)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// serverProcess is one life of "waptserver serve".
type serverProcess struct {
	cmd  *exec.Cmd
	url  string
	log  string
	done chan error
}

// startWaptserver runs "waptserver serve --config ini" and waits for its listening line.
func startWaptserver(t *testing.T, bin, ini, logPath string) *serverProcess {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: exec.Command(bin, "serve", "--config", ini), log: logPath, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start waptserver: %v", err)
	}
	logf.Close()
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.stop() })

	deadline := time.Now().Add(60 * time.Second)
	for p.url == "" {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("waptserver exited while starting (%v):\n%s", err, p.logText())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("waptserver did not listen within 60s:\n%s", p.logText())
		}
		p.url = listeningURL(p.logText())
	}
	return p
}

// listeningURL finds the URL of the "waptserver listening" JSON log line.
func listeningURL(log string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "waptserver listening" {
			return line.URL
		}
	}
	return ""
}

func (p *serverProcess) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// kill ends the process with SIGKILL (TerminateProcess on Windows): no deferred call,
// no shutdown hook runs.
func (p *serverProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill waptserver: %v", err)
	}
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(30 * time.Second):
		t.Fatal("waptserver still running 30s after SIGKILL")
	}
}

// stop asks for a graceful stop (os.Interrupt) and reports how it went; a process
// already gone is left alone.
func (p *serverProcess) stop() error {
	select {
	case err := <-p.done:
		p.done <- err
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		return errors.New("no graceful stop within 30s: killed")
	}
}

// call makes one request to the server: admin API calls as the admin user, agent calls
// with a bearer token. It returns the status and the body.
func (p *serverProcess) call(t *testing.T, method, path, bearer string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	} else if strings.HasPrefix(path, server.AdminPrefix) {
		req.SetBasicAuth("admin", killAdminPassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, data
}

// admin calls the admin API and decodes its 2xx JSON answer into out.
func (p *serverProcess) admin(t *testing.T, method, path string, body, out any) {
	t.Helper()
	code, data := p.call(t, method, server.AdminPrefix+path, "", body)
	if code/100 != 2 {
		t.Fatalf("%s %s%s: HTTP %d: %s", method, server.AdminPrefix, path, code, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s%s: %v: %s", method, server.AdminPrefix, path, err, data)
		}
	}
}

// tasksFor lists the download tasks of one file, oldest first.
func (p *serverProcess) tasksFor(t *testing.T, fileSHA1 string) []store.DownloadTask {
	t.Helper()
	var out struct {
		Tasks []store.DownloadTask `json:"tasks"`
	}
	p.admin(t, "GET", "/tasks?limit=1000", nil, &out)
	var ts []store.DownloadTask
	for _, task := range out.Tasks {
		if task.FileSHA1 == fileSHA1 {
			ts = append(ts, task)
		}
	}
	slices.SortFunc(ts, func(a, b store.DownloadTask) int { return int(a.ID - b.ID) })
	return ts
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last state: %s)", what, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// repoEntries lists the repository folder (hidden files and .tmp/ included).
func repoEntries(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// --- the test ---------------------------------------------------------------------------

// TestServerKilledDuringDownload kills the real server binary with SIGKILL while it
// downloads an update file from Microsoft, and checks that the repository folder never
// shows a partial file under its final name, and that the restarted server finishes the
// download (resuming it with Range, or starting over) and serves the right bytes.
func TestServerKilledDuringDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	dir := t.TempDir()
	bin := buildWaptserver(t, dir)

	// A small catalog whose files are a few MB.
	var cabBuf bytes.Buffer
	man, err := catalog.Synthesize(&cabBuf, catalog.SynthOptions{Updates: 40, Seed: 21, MinFileSize: 2 << 20, MaxFileSize: 4 << 20, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var upd *wu.Update
	for i := range man.Updates {
		if u := &man.Updates[i]; len(u.Files) == 1 {
			upd = u
			break
		}
	}
	if upd == nil {
		t.Fatal("the synthetic catalog has no update with exactly one file")
	}
	file := upd.Files[0]
	name, err := repo.NameFromURL(file.URL)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(catalog.SynthFileContent(file.Name, file.Size))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha1.Sum(data); hex.EncodeToString(sum[:]) != file.SHA1 {
		t.Fatalf("synthetic content of %s does not match the catalog's SHA-1", file.Name)
	}
	fileURL, err := url.Parse(file.URL)
	if err != nil || fileURL.Host != "download.windowsupdate.com" {
		t.Fatalf("file URL %s is not on download.windowsupdate.com (%v)", file.URL, err)
	}
	cut := len(data) * 2 / 5 // the first answer stalls after 40%
	signedCab, catalogPKI := signCatalog(t, cabBuf.Bytes())
	ms := newStallingMicrosoft(t, signedCab, fileURL.Path, data, cut)
	t.Logf("update %s_%d, file %s (%d bytes); the first answer stalls after %d bytes", upd.UpdateID, upd.RevisionNumber, name, len(data), cut)

	// waptserver.ini: Microsoft's default URLs and host allow-list, reached through the
	// stand-in as HTTP proxy.
	dataDir := filepath.Join(dir, "data")
	repoDir := filepath.Join(dataDir, "waptwua")
	ini := filepath.Join(dir, "waptserver.ini")
	conf := fmt.Sprintf(`[options]
listen = 127.0.0.1:0
data = %s
wsusscn2_url = http://download.windowsupdate.com/microsoftupdate/v6/wsusscan/wsusscn2.cab
cab_trusted_roots = %s
http_proxy = %s
enrollment_secret = %s
download_concurrency = 1
cleanup_kbs = False
`, dataDir, catalogPKI.CAFile, ms.srv.URL, enrollmentSecret)
	if err := os.WriteFile(ini, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addAdmin(t, bin, ini)

	// 1. First life: the cab is synced at start; a host reports the update MISSING and
	// the missing-files job starts the download, which stalls.
	srv := startWaptserver(t, bin, ini, filepath.Join(dir, "server1.log"))
	key := fmt.Sprintf("%s_%d", upd.UpdateID, upd.RevisionNumber)
	waitFor(t, 60*time.Second, "catalog imported", func() (bool, string) {
		code, body := srv.call(t, "GET", server.AdminPrefix+"/updates/"+key, "", nil)
		return code == http.StatusOK, fmt.Sprintf("HTTP %d %.200s", code, body)
	})
	code, body := srv.call(t, "POST", api.PathRegister, enrollmentSecret,
		api.RegisterRequest{UUID: "kill-test-pc", Name: "kill-test-pc", OS: "Windows (simulated)", AgentVersion: "e2e"})
	if code != http.StatusOK {
		t.Fatalf("register: HTTP %d: %s", code, body)
	}
	var reg api.RegisterResponse
	if err := json.Unmarshal(body, &reg); err != nil {
		t.Fatal(err)
	}
	report := api.Report{Full: true, WUAStatus: "PENDING_UPDATES", Updates: []api.UpdateStatus{
		{UpdateID: upd.UpdateID, RevisionNumber: upd.RevisionNumber, Status: wu.StatusMissing}}}
	if code, body := srv.call(t, "POST", strings.ReplaceAll(api.PathReport, "{uuid}", reg.UUID), reg.Credential, report); code/100 != 2 {
		t.Fatalf("report: HTTP %d: %s", code, body)
	}
	var needed struct {
		Files []store.UpdateFile `json:"files"`
	}
	srv.admin(t, "GET", "/files/needed", nil, &needed)
	if len(needed.Files) != 1 || needed.Files[0].SHA1 != file.SHA1 {
		t.Fatalf("needed files: %+v, want only %s", needed.Files, file.SHA1)
	}
	srv.admin(t, "POST", "/files/download-missing", nil, nil)

	select {
	case <-ms.stalled:
	case <-time.After(60 * time.Second):
		t.Fatalf("the server did not request %s within 60s:\n%s", name, srv.logText())
	}
	// The bytes received must be on disk, but never under the file's final name.
	part := name + ".part"
	partial := func(entries map[string]int64) (files []string, bytes int64) {
		for n, size := range entries {
			if n != repo.CabName && n != repo.CabSHA1Name {
				files, bytes = append(files, n), bytes+size
			}
		}
		slices.Sort(files)
		return files, bytes
	}
	waitFor(t, 30*time.Second, "partial download on disk", func() (bool, string) {
		entries := repoEntries(t, repoDir)
		if size, ok := entries[name]; ok {
			t.Fatalf("%s is in the repository under its final name during the download (%d of %d bytes)", name, size, len(data))
		}
		_, n := partial(entries)
		return n > 0, fmt.Sprint(entries)
	})
	if code, _ := srv.call(t, "GET", api.RepoPrefix+name, "", nil); code != http.StatusNotFound {
		t.Errorf("GET %s%s during the download: HTTP %d, want 404", api.RepoPrefix, name, code)
	}
	if code, _ := srv.call(t, "GET", api.RepoPrefix+part, "", nil); code != http.StatusNotFound {
		t.Errorf("GET %s%s: HTTP %d, want 404 (a partial file is never served)", api.RepoPrefix, part, code)
	}
	if ts := srv.tasksFor(t, file.SHA1); len(ts) != 1 || ts[0].Status != store.TaskDownloading {
		t.Errorf("tasks before the kill: %+v, want one downloading", ts)
	}

	// 2. SIGKILL in the middle of the body.
	srv.kill(t)
	after := repoEntries(t, repoDir)
	t.Logf("repository after SIGKILL: %v", after)
	if size, ok := after[name]; ok {
		t.Fatalf("%s is in the repository under its final name after the kill (%d of %d bytes)", name, size, len(data))
	}
	files, partBytes := partial(after)
	if partBytes <= 0 || partBytes > int64(cut) {
		t.Fatalf("after the kill: partial files %v hold %d bytes, want 1 to %d", files, partBytes, cut)
	}
	for _, n := range files {
		if !strings.HasSuffix(n, ".part") && !strings.HasPrefix(n, repo.TempDirName+"/") {
			t.Errorf("after the kill: %s is neither a .part file nor under %s/", n, repo.TempDirName)
		}
	}
	partSize := after[part] // what a resumed download must ask for

	// 3. Second life on the same data folder: the download is queued again and the
	// file stays invisible until it is complete and verified.
	srv = startWaptserver(t, bin, ini, filepath.Join(dir, "server2.log"))
	select {
	case <-ms.arrived:
	case <-time.After(60 * time.Second):
		t.Fatalf("the restarted server did not request %s again within 60s:\n%s", name, srv.logText())
	}
	if code, _ := srv.call(t, "GET", api.RepoPrefix+name, "", nil); code != http.StatusNotFound {
		t.Errorf("GET %s%s after the restart, before the download ended: HTTP %d, want 404", api.RepoPrefix, name, code)
	}
	if _, ok := repoEntries(t, repoDir)[name]; ok {
		t.Errorf("%s is under its final name before the second download ended", name)
	}
	close(ms.release)

	var tasks []store.DownloadTask
	waitFor(t, 60*time.Second, "download task done", func() (bool, string) {
		tasks = srv.tasksFor(t, file.SHA1)
		return len(tasks) > 0 && tasks[len(tasks)-1].Status == store.TaskDone, fmt.Sprintf("%+v", tasks)
	})
	for _, task := range tasks[:len(tasks)-1] {
		if task.Status != store.TaskFailed || !strings.Contains(task.Error, "interrupted") {
			t.Errorf("task %d of the first life: %s %q, want failed as interrupted", task.ID, task.Status, task.Error)
		}
	}
	if last := tasks[len(tasks)-1]; last.Bytes != int64(len(data)) {
		t.Errorf("finished task %d: %d bytes, want %d", last.ID, last.Bytes, len(data))
	}

	code, body = srv.call(t, "GET", api.RepoPrefix+name, "", nil)
	if sum := sha1.Sum(body); code != http.StatusOK || hex.EncodeToString(sum[:]) != file.SHA1 {
		t.Fatalf("GET %s%s: HTTP %d, %d bytes, SHA-1 %x; want 200, %d bytes, %s", api.RepoPrefix, name, code, len(body), sum, len(data), file.SHA1)
	}
	final := repoEntries(t, repoDir)
	if _, ok := final[part]; ok {
		t.Errorf("%s still there after the download: %v", part, final)
	}

	// What the stand-in saw: the first request stalled, the second resumed at the
	// partial file's end (or started over, which is clean too), nothing more.
	reqs := ms.fileRequests()
	if len(reqs) != 2 {
		t.Fatalf("requests for %s: %+v, want 2", name, reqs)
	}
	if reqs[0].host != "download.windowsupdate.com" || reqs[0].rangeHeader != "" {
		t.Errorf("first request: %+v, want download.windowsupdate.com without Range", reqs[0])
	}
	switch want := fmt.Sprintf("bytes=%d-", partSize); {
	case reqs[1].rangeHeader == "":
		t.Logf("the restarted server downloaded %s again from the start (no Range)", name)
	case partSize > 0 && reqs[1].rangeHeader == want:
		t.Logf("the restarted server resumed with Range: %s", want)
	default:
		t.Errorf("second request: Range %q, want %q (the size of %s after the kill) or none", reqs[1].rangeHeader, want, part)
	}

	// The second life stops gracefully.
	if err := srv.stop(); err != nil {
		t.Errorf("graceful stop after the download: %v\n%s", err, srv.logText())
	}
}
