package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1" //nolint:gosec
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// --- fake clock ---------------------------------------------------------------------

type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	// added is signalled (non-blocking) whenever After registers a waiter.
	added chan struct{}
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t, added: make(chan struct{}, 100)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	select {
	case c.added <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves the clock and fires the waiters that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// --- fake disk ----------------------------------------------------------------------

type fakeDisk struct{ free uint64 }

func (d fakeDisk) FreeBytes(string) (uint64, error) { return d.free, nil }

// --- fake WUA -----------------------------------------------------------------------

type fakeWUA struct {
	mu       sync.Mutex
	updates  []wua.Update
	scans    int
	lastOpts wua.ScanOptions
	hidden   map[wu.UpdateKey]bool
	cached   map[wu.UpdateKey][]string
	installs [][]wu.UpdateKey
	// failures: install of the key fails with the HRESULT this many more times.
	failures     map[wu.UpdateKey]failure
	rebootAfter  map[wu.UpdateKey]bool
	reboot       bool
	busy         int // next busy scans/installs fail with ErrBusy
	scanErr      error
	scannedThis  bool
	cacheChecker func(path string) error
}

type failure struct {
	code  wua.HResult
	times int
}

func newFakeWUA(updates ...wua.Update) *fakeWUA {
	return &fakeWUA{
		updates: updates, hidden: map[wu.UpdateKey]bool{}, cached: map[wu.UpdateKey][]string{},
		failures: map[wu.UpdateKey]failure{}, rebootAfter: map[wu.UpdateKey]bool{},
	}
}

func (f *fakeWUA) Scan(_ context.Context, opts wua.ScanOptions) ([]wua.Update, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scans++
	f.lastOpts = opts
	if f.busy > 0 {
		f.busy--
		return nil, &wua.Error{Op: "scan", Code: wua.WUEOperationInProgress}
	}
	if f.scanErr != nil {
		return nil, f.scanErr
	}
	if _, err := os.Stat(opts.CabPath); err != nil {
		return nil, fmt.Errorf("offline scan: %w", err)
	}
	f.scannedThis = true
	out := make([]wua.Update, 0, len(f.updates))
	for _, u := range f.updates {
		u.Hidden = f.hidden[u.Key]
		out = append(out, u)
	}
	return out, nil
}

func (f *fakeWUA) SetHidden(_ context.Context, keys []wu.UpdateKey, hidden bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.scannedThis {
		return wua.ErrUnknownUpdate
	}
	for _, k := range keys {
		f.hidden[k] = hidden
	}
	return nil
}

func (f *fakeWUA) CopyToCache(_ context.Context, key wu.UpdateKey, files []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.scannedThis {
		return wua.ErrUnknownUpdate
	}
	for _, p := range files {
		got, err := fileSHA1(p)
		if err != nil {
			return err
		}
		if want := wu.SHA1FromFileName(filepath.Base(p)); got != want {
			return fmt.Errorf("copy %s: SHA-1 %s, want %s", p, got, want)
		}
	}
	f.cached[key] = append([]string(nil), files...)
	return nil
}

func (f *fakeWUA) Install(_ context.Context, keys []wu.UpdateKey) (wua.InstallResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.scannedThis {
		return wua.InstallResult{}, wua.ErrUnknownUpdate
	}
	if f.busy > 0 {
		f.busy--
		return wua.InstallResult{}, &wua.Error{Op: "install", Code: wua.WUEOperationInProgress}
	}
	if f.reboot {
		return wua.InstallResult{}, wua.ErrRebootPending
	}
	f.installs = append(f.installs, keys)
	var results []wua.UpdateResult
	for _, k := range keys {
		if _, ok := f.cached[k]; !ok {
			results = append(results, wua.UpdateResult{Key: k, ResultCode: wua.Failed, HResult: wua.WUEDMNotDownloaded})
			continue
		}
		if fl, ok := f.failures[k]; ok && fl.times != 0 {
			fl.times--
			f.failures[k] = fl
			results = append(results, wua.UpdateResult{Key: k, ResultCode: wua.Failed, HResult: fl.code})
			continue
		}
		for i := range f.updates {
			if f.updates[i].Key == k {
				f.updates[i].Installed = true
			}
		}
		r := wua.UpdateResult{Key: k, ResultCode: wua.Succeeded, RebootRequired: f.rebootAfter[k]}
		if r.RebootRequired {
			f.reboot = true
		}
		results = append(results, r)
	}
	return wua.Summarize(results), nil
}

func (f *fakeWUA) RebootPending(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reboot, nil
}

func (f *fakeWUA) scanCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scans
}

// forget simulates a new process: the backend knows no scan.
func (f *fakeWUA) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scannedThis = false
}

// --- update and file helpers ------------------------------------------------------------

// payload is a deterministic update file and its repository name.
func payload(kb string) (name string, content []byte) {
	content = []byte(strings.Repeat("payload of KB"+kb+"\n", 200))
	sum := sha1.Sum(content) //nolint:gosec
	return "windows10.0-kb" + kb + "-x64_" + hex.EncodeToString(sum[:]) + ".cab", content
}

func guid(n int) string { return fmt.Sprintf("0a1b2c3d-0000-4000-8000-%012d", n) }

// mkUpdate makes a scanned update numbered n with KB kb and one payload file.
func mkUpdate(n int, kb string, sev wu.Severity, opts ...func(*wua.Update)) wua.Update {
	name, _ := payload(kb)
	key := wu.UpdateKey{UpdateID: guid(n), RevisionNumber: 200 + n}
	u := wua.Update{
		Key:      key,
		Title:    "Update for Windows (KB" + kb + ")",
		KBs:      []string{kb},
		Severity: sev,
		Categories: []wua.Category{
			{ID: "a3c2375d-0c8a-42f9-bce0-28333e198407", Type: wu.CategoryProduct, Name: "Windows 10"},
			{ID: "0fa1201d-4330-4fa8-8ae9-b877473b6441", Type: wu.CategoryClassification, Name: "Security Updates"},
		},
		LastDeploymentChange: time.Date(2024, 1, 9, 18, 0, 0, 0, time.UTC),
		Bundled: []wua.BundledUpdate{{Key: key, Downloads: []wua.Download{
			{URL: "http://download.windowsupdate.com/c/msdownload/update/software/secu/2024/01/" + name, FileName: name},
		}}},
	}
	for _, o := range opts {
		o(&u)
	}
	return u
}

func installed(u *wua.Update) { u.Installed = true }

func deployed(t time.Time) func(*wua.Update) {
	return func(u *wua.Update) { u.LastDeploymentChange = t }
}

func supersedes(ids ...string) func(*wua.Update) {
	return func(u *wua.Update) { u.SupersededIDs = append(u.SupersededIDs, ids...) }
}

// --- fake server ----------------------------------------------------------------------

type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	mu           sync.Mutex
	files        map[string][]byte // repository folder
	modTime      time.Time
	cab          []byte
	cabSHA1      string // served as wsusscn2.cab.sha1; "" = the cab's real SHA-1
	rules        string // effective rules JSON
	packages     []api.Package
	repositories []string // the site repositories of the rules answer
	reports      []api.Report
	requests     []string // "METHOD path [Range]"
	commands     []api.Command
	results      map[string]api.CommandResult
	notify       chan struct{}
	creds        map[string]string // credential → uuid
	down         bool              // repository answers 503
	reportStatus int               // non-zero: reports answer this status
	resultCh     chan string
}

const testUUID = "host-0001"
const testCred = "cred-0001"

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{
		t: t, files: map[string][]byte{}, modTime: time.Date(2024, 1, 9, 18, 0, 0, 0, time.UTC),
		cab: []byte("MSCF fake catalog v1"), rules: "{}", results: map[string]api.CommandResult{},
		notify: make(chan struct{}, 1), creds: map[string]string{testCred: testUUID}, resultCh: make(chan string, 10),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathRegister, f.register)
	mux.HandleFunc("POST /api/v1/hosts/{uuid}/report", f.auth(f.report))
	mux.HandleFunc("GET /api/v1/hosts/{uuid}/commands", f.auth(f.commandsH))
	mux.HandleFunc("POST /api/v1/hosts/{uuid}/commands/{id}", f.auth(f.result))
	mux.HandleFunc("GET /api/v1/hosts/{uuid}/rules", f.auth(f.rulesH))
	mux.HandleFunc("GET /waptwua/{name}", f.repo)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) URL() string { return f.srv.URL }

func (f *fakeServer) log(r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := r.Method + " " + r.URL.Path
	if rg := r.Header.Get("Range"); rg != "" {
		line += " " + rg
	}
	f.requests = append(f.requests, line)
}

func (f *fakeServer) countRequests(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeServer) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.log(r)
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		uuid, ok := f.creds[tok]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(api.Error{Error: "host credential rejected: register the host again"})
			return
		}
		if r.PathValue("uuid") != uuid {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

func (f *fakeServer) register(w http.ResponseWriter, r *http.Request) {
	f.log(r)
	if r.Header.Get("Authorization") != "Bearer enroll-secret" {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(api.Error{Error: "enrollment secret rejected"})
		return
	}
	var req api.RegisterRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	cred := fmt.Sprintf("cred-%d", len(f.creds)+1)
	f.creds[cred] = req.UUID
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(api.RegisterResponse{UUID: req.UUID, Credential: cred})
}

func (f *fakeServer) report(w http.ResponseWriter, r *http.Request) {
	var rep api.Report
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			f.t.Errorf("report is not gzip: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body = zr
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		f.t.Errorf("report is not api.Report JSON: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := rep.Validate(); err != nil {
		f.t.Errorf("report invalid: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	status := f.reportStatus
	if status == 0 {
		f.reports = append(f.reports, rep)
	}
	f.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeServer) lastReport(t *testing.T) api.Report {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reports) == 0 {
		t.Fatal("no report received")
	}
	return f.reports[len(f.reports)-1]
}

func (f *fakeServer) allReports() []api.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.Report(nil), f.reports...)
}

func (f *fakeServer) reportCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reports)
}

func (f *fakeServer) rulesH(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	body, _ := json.Marshal(api.Rules{Rules: api.RawJSON(f.rules), Packages: f.packages, Repositories: f.repositories})
	f.mu.Unlock()
	sum := sha1.Sum(body) //nolint:gosec
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(body)
}

func (f *fakeServer) setRules(js string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = js
}

func (f *fakeServer) queue(kind api.CommandKind) string {
	f.mu.Lock()
	id := strconv.Itoa(len(f.commands) + len(f.results) + 1)
	f.commands = append(f.commands, api.Command{ID: id, Kind: kind, Created: time.Now()})
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
	return id
}

func (f *fakeServer) commandsH(w http.ResponseWriter, r *http.Request) {
	wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		cmds := f.commands
		f.commands = nil
		f.mu.Unlock()
		if len(cmds) > 0 || wait == 0 {
			_ = json.NewEncoder(w).Encode(api.Commands{Commands: append([]api.Command{}, cmds...)})
			return
		}
		select {
		case <-f.notify:
		case <-deadline.C:
			wait = 0
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fakeServer) result(w http.ResponseWriter, r *http.Request) {
	var res api.CommandResult
	if err := json.NewDecoder(r.Body).Decode(&res); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.results[r.PathValue("id")] = res
	f.mu.Unlock()
	f.resultCh <- r.PathValue("id")
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeServer) repo(w http.ResponseWriter, r *http.Request) {
	f.log(r)
	name := r.PathValue("name")
	f.mu.Lock()
	down := f.down
	var content []byte
	var ok bool
	switch name {
	case CabFileName:
		content, ok = f.cab, true
		sum := sha1.Sum(f.cab) //nolint:gosec
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	case CabSHA1Name:
		sha := f.cabSHA1
		if sha == "" {
			sum := sha1.Sum(f.cab) //nolint:gosec
			sha = hex.EncodeToString(sum[:])
		}
		content, ok = []byte(sha+"  wsusscn2.cab\n"), true
	default:
		content, ok = f.files[name]
	}
	mod := f.modTime
	f.mu.Unlock()
	if down {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, name, mod, bytes.NewReader(content))
}

// publish puts the payload of kb on the repository.
func (f *fakeServer) publish(kb string) {
	name, content := payload(kb)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[name] = content
}

func (f *fakeServer) setCab(content []byte, mod time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cab, f.modTime = content, mod
}

// --- agent under test -------------------------------------------------------------------

type harness struct {
	t     *testing.T
	srv   *fakeServer
	wua   *fakeWUA
	clock *fakeClock
	dir   string
	cfg   *config.Agent
	agent *Agent
	disk  *fakeDisk
	opts  []Option
}

// newHarness builds an agent against a fake server; waptwua is the body of [waptwua].
func newHarness(t *testing.T, waptwua string, updates ...wua.Update) *harness {
	t.Helper()
	h := &harness{
		t: t, srv: newFakeServer(t), wua: newFakeWUA(updates...),
		clock: newFakeClock(time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)),
		dir:   t.TempDir(), disk: &fakeDisk{free: 10 << 30},
	}
	ini := fmt.Sprintf("[global]\nallow_insecure_http = True\nrepo_url = %s/wapt\nwapt_server = %s\n[waptwua]\n%s\n", h.srv.URL(), h.srv.URL(), waptwua)
	cfg, err := config.ParseAgent([]byte(ini), filepath.Join(h.dir, "wapt-get.ini"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h.cfg = cfg
	h.rebuild()
	return h
}

// rebuild makes a new Agent over the same data folder (a new process).
func (h *harness) rebuild(opts ...Option) {
	h.t.Helper()
	h.opts = append(h.opts, opts...)
	repo, _ := h.cfg.WUARepoURL()
	cred := &Credential{Server: h.srv.URL(), UUID: testUUID, Credential: testCred}
	client := NewClient(h.srv.srv.Client(), h.srv.URL(), repo, cred, "waptwua-test")
	base := []Option{
		WithClock(h.clock), WithDiskSpace(diskFunc(func() uint64 { return h.disk.free })),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), WithHostInfo("pc-test", "Windows 10", "test"),
	}
	a, err := New(h.cfg, h.wua, client, filepath.Join(h.dir, "data"), append(base, h.opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.agent = a
}

type diskFunc func() uint64

func (d diskFunc) FreeBytes(string) (uint64, error) { return d(), nil }

// byKB indexes the statuses of a summary or report by their first KB.
func byKB(updates []UpdateState) map[string]UpdateState {
	m := map[string]UpdateState{}
	for _, u := range updates {
		if len(u.KBs) > 0 {
			m[u.KBs[0]] = u
		}
	}
	return m
}

func reportByKB(r api.Report) map[string]api.UpdateStatus {
	m := map[string]api.UpdateStatus{}
	for _, u := range r.Updates {
		if len(u.KBs) > 0 {
			m[u.KBs[0]] = u
		}
	}
	return m
}

func apiRegister(uuid string) api.RegisterRequest {
	return api.RegisterRequest{UUID: uuid, Name: "pc-test", OS: "Windows 10", AgentVersion: "test"}
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// redeliver delivers a command again with the same id, as a server that did not get
// (or did not keep) the result does.
func (f *fakeServer) redeliver(id string, kind api.CommandKind) {
	f.mu.Lock()
	f.commands = append(f.commands, api.Command{ID: id, Kind: kind, Created: time.Now()})
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
}
