package jobs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/cab/authenticode"
	"github.com/openwua/waptwua/internal/cab/authenticode/pki"
	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/upstream"
	"github.com/openwua/waptwua/internal/wu"
)

// synthCatalog is one synthetic wsusscn2.cab and what it holds.
type synthCatalog struct {
	data     []byte // signed by the stand-in's test root (standInPKI)
	unsigned []byte
	man      *catalog.SynthManifest
}

// standInPKI is the test root that signs the stand-in's catalogs: newEnv trusts it
// (cab_trusted_roots), so the signature check stays on in every test. Valid at the
// fake clock's time (2024).
var standInPKI = sync.OnceValues(func() (*pki.PKI, error) {
	return pki.New(pki.Options{SignerCN: "Stand-in Catalog Signer", NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)})
})

// synthCatalogs builds two small catalogs once per test binary: the seed-2 one plays
// the newer cab of the next Patch Tuesday.
var synthCatalogs = sync.OnceValues(func() ([2]synthCatalog, error) {
	var out [2]synthCatalog
	p, err := standInPKI()
	if err != nil {
		return out, err
	}
	signer := authenticode.Signer{Cert: p.Signer, Key: p.Key, Now: func() time.Time { return time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC) }}
	for i := range out {
		var b bytes.Buffer
		man, err := catalog.Synthesize(&b, catalog.SynthOptions{Updates: 150, Seed: int64(i + 1), MaxFileSize: 8 << 10, Workers: 2})
		if err != nil {
			return out, fmt.Errorf("catalog.Synthesize: %w", err)
		}
		signed, err := signer.Sign(b.Bytes())
		if err != nil {
			return out, err
		}
		out[i] = synthCatalog{data: signed, unsigned: b.Bytes(), man: man}
	}
	return out, nil
})

func testCatalog(t testing.TB, i int) synthCatalog {
	t.Helper()
	cats, err := synthCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	return cats[i]
}

// fault is a misbehaviour of the stand-in for one request.
type fault int

const (
	faultNone     fault = iota
	fault503            // 503 Service Unavailable
	faultTruncate       // announces the full length, sends half, cuts the connection
	faultWrong          // sends other bytes of the same length (digest mismatch)
)

// standIn stands for Microsoft's download servers: an httptest server that every host
// name reaches (the transport's dialer maps all addresses to it), serving the catalog
// cab with Last-Modified and conditional GET, and the update files of the catalogs. It
// counts the requests per path.
type standIn struct {
	srv *httptest.Server
	tr  *http.Transport

	mu      sync.Mutex
	cab     []byte
	cabMod  time.Time
	files   map[string][]byte // by URL path
	hits    map[string]int    // requests by URL path
	gets200 map[string]int    // full or partial bodies sent, by URL path
	faults  map[string][]fault
	gate    chan struct{} // when set, update-file responses wait for it to close
	condHdr []string      // If-Modified-Since of the cab requests
}

const cabURLPath = "/microsoftupdate/v6/wsusscan/wsusscn2.cab"

func newStandIn(t testing.TB) *standIn {
	t.Helper()
	m := &standIn{files: map[string][]byte{}, hits: map[string]int{}, gets200: map[string]int{}, faults: map[string][]fault{}}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	addr := m.srv.Listener.Addr().String()
	d := &net.Dialer{Timeout: 5 * time.Second}
	m.tr = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}, MaxConnsPerHost: 0, MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		m.tr.CloseIdleConnections()
		m.srv.Close()
	})
	return m
}

// setCab makes the stand-in serve data as wsusscn2.cab, last modified at mod.
func (m *standIn) setCab(data []byte, mod time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cab, m.cabMod = data, mod
}

// addCatalogFiles serves the payload files of a synthetic catalog.
func (m *standIn) addCatalogFiles(t testing.TB, man *catalog.SynthManifest) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range man.Files {
		data, err := io.ReadAll(catalog.SynthFileContent(f.Name, f.Size))
		if err != nil {
			t.Fatal(err)
		}
		m.files[urlPath(t, f.URL)] = data
	}
}

func (m *standIn) addFaults(t testing.TB, rawURL string, fs ...fault) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	p := urlPath(t, rawURL)
	m.faults[p] = append(m.faults[p], fs...)
}

func (m *standIn) setGate(g chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gate = g
}

func (m *standIn) hitsOf(t testing.TB, rawURL string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits[urlPath(t, rawURL)]
}

func (m *standIn) bodiesOf(t testing.TB, rawURL string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets200[urlPath(t, rawURL)]
}

func (m *standIn) fileRequests() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for p, c := range m.hits {
		if p != cabURLPath {
			n += c
		}
	}
	return n
}

func urlPath(t testing.TB, rawURL string) string {
	t.Helper()
	i := strings.Index(rawURL, "://")
	if i < 0 {
		t.Fatalf("URL %q", rawURL)
	}
	rest := rawURL[i+3:]
	return rest[strings.IndexByte(rest, '/'):]
}

func (m *standIn) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	p := r.URL.Path
	m.hits[p]++
	if p == cabURLPath {
		m.condHdr = append(m.condHdr, r.Header.Get("If-Modified-Since"))
		data, mod := m.cab, m.cabMod
		m.mu.Unlock()
		if data == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.ms-cab-compressed")
		w.Header().Set("ETag", fmt.Sprintf(`"%x"`, mod.Unix()))
		cw := &countingWriter{ResponseWriter: w}
		http.ServeContent(cw, r, "", mod, bytes.NewReader(data))
		if cw.status == http.StatusOK || cw.status == http.StatusPartialContent {
			m.mu.Lock()
			m.gets200[p]++
			m.mu.Unlock()
		}
		return
	}
	data, ok := m.files[p]
	var f fault
	if q := m.faults[p]; len(q) > 0 {
		f, m.faults[p] = q[0], q[1:]
	}
	gate := m.gate
	m.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch f {
	case fault503:
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	case faultTruncate:
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // cut the connection
	case faultWrong:
		other := bytes.Repeat([]byte{'x'}, len(data))
		w.Header().Set("Content-Length", fmt.Sprint(len(other)))
		w.Write(other)
		return
	}
	m.mu.Lock()
	m.gets200[p]++
	m.mu.Unlock()
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

type countingWriter struct {
	http.ResponseWriter
	status int
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.ResponseWriter.Write(b)
}

// env is a server's job side on a real store, a real repository folder, a real
// upstream client talking to the stand-in, and a fake clock.
type env struct {
	t    *testing.T
	st   Store
	ms   *standIn
	repo *repo.Repo
	clk  *fakeClock
	r    *Runner
	set  Settings
	dir  string
}

type envOptions struct {
	store    Store      // nil: a fresh SQLite store
	ms       *standIn   // nil: a new stand-in
	repoDir  string     // "": a new folder
	settings *Settings  // nil: defaults below
	clk      *fakeClock // nil: a new one at 2024-03-12 10:00 UTC
	opts     []Option   // more runner options
	upOpts   []upstream.Option
	// builtInRoots leaves Settings.CabRoots nil: Microsoft's roots, which refuse the
	// stand-in's catalogs. Otherwise the stand-in's test root is trusted.
	builtInRoots bool
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, st: o.store, ms: o.ms, clk: o.clk, dir: o.repoDir}
	if e.st == nil {
		e.st = openSQLite(t)
	}
	if e.ms == nil {
		e.ms = newStandIn(t)
	}
	if e.clk == nil {
		e.clk = newFakeClock(at(12, 10, 0))
	}
	if e.dir == "" {
		e.dir = filepath.Join(t.TempDir(), "waptwua")
	}
	rp, err := repo.Open(e.dir, repo.WithLogger(discardLogger()))
	if err != nil {
		t.Fatalf("repo.Open: %v", err)
	}
	t.Cleanup(func() { rp.Close() })
	e.repo = rp
	var runner *Runner
	upOpts := append([]upstream.Option{
		upstream.WithTransport(e.ms.tr),
		upstream.WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }),
		upstream.WithRand(func() float64 { return 0 }),
		upstream.WithRetry(upstream.RetryPolicy{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}),
		upstream.WithTimeouts(upstream.Timeouts{Connect: 5 * time.Second, Header: 5 * time.Second, Idle: 5 * time.Second}),
		upstream.WithLogger(discardLogger()),
		upstream.WithProgress(func(name string, done, total int64) { runner.Progress(name, done, total) }),
	}, o.upOpts...)
	up, err := upstream.New(upOpts...)
	if err != nil {
		t.Fatalf("upstream.New: %v", err)
	}
	if o.settings != nil {
		e.set = *o.settings
	} else {
		e.set = Settings{DownloadConcurrency: 4, Instance: "test-1", CleanupKBs: true,
			CleanupWindow: config.Window{Start: config.TimeOfDay{Hour: 2, Minute: 30}, End: config.TimeOfDay{Hour: 3, Minute: 30}}}
	}
	if e.set.CabURL == "" {
		e.set.CabURL = "http://download.windowsupdate.com" + cabURLPath // the stand-in speaks plain HTTP
	}
	if e.set.CabRoots == nil && !o.builtInRoots {
		p, err := standInPKI()
		if err != nil {
			t.Fatal(err)
		}
		e.set.CabRoots = p.Pool()
	}
	opts := append([]Option{WithClock(e.clk), WithLogger(discardLogger()), WithRand(func() float64 { return 0 })}, o.opts...)
	runner, err = New(e.st, up, rp, e.set, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { runner.Close() })
	e.r = runner
	return e
}

func (e *env) ctx() context.Context { return context.Background() }

// syncCatalog makes the stand-in serve catalog i and imports it with a sync.
func (e *env) syncCatalog(i int, mod time.Time) synthCatalog {
	e.t.Helper()
	c := testCatalog(e.t, i)
	e.ms.setCab(c.data, mod)
	e.ms.addCatalogFiles(e.t, c.man)
	row, err := e.r.SyncCab(e.ctx(), false)
	if err != nil || row.Status != store.CabFinished {
		e.t.Fatalf("SyncCab = %+v, %v; want finished", row, err)
	}
	return c
}

// hostReports registers host uuid (when new) and records the statuses it reports.
func (e *env) hostReports(uuid string, statuses map[wu.UpdateKey]wu.Status) {
	e.t.Helper()
	if err := e.report(uuid, statuses); err != nil {
		e.t.Fatal(err)
	}
}

// report is hostReports for other goroutines than the test's.
func (e *env) report(uuid string, statuses map[wu.UpdateKey]wu.Status) error {
	hs, ok := e.st.(interface {
		RegisterHost(context.Context, store.HostRegistration) (store.Host, error)
		ApplyReport(context.Context, string, store.Report) error
	})
	if !ok {
		return fmt.Errorf("store %T cannot register hosts", e.st)
	}
	now := e.clk.Now()
	if _, err := hs.RegisterHost(e.ctx(), store.HostRegistration{UUID: uuid, Name: uuid, CredentialID: "cred-" + uuid, CredentialHash: []byte("hash-" + uuid), At: now, Rotate: "cred-" + uuid}); err != nil {
		return fmt.Errorf("RegisterHost(%s): %w", uuid, err)
	}
	rep := store.Report{At: now, ScanAt: now, WUAStatus: "PENDING_UPDATES", Full: true}
	for k, s := range statuses {
		ru := store.ReportedUpdate{Key: k, Status: s}
		if s == wu.StatusDiscarded {
			ru.Reason = wu.ReasonForbidden
		}
		rep.Updates = append(rep.Updates, ru)
	}
	if err := hs.ApplyReport(e.ctx(), uuid, rep); err != nil {
		return fmt.Errorf("ApplyReport(%s): %w", uuid, err)
	}
	return nil
}

// fileState returns the cache state of a file.
func (e *env) fileState(sha1 string) store.UpdateFile {
	e.t.Helper()
	f, err := e.st.GetFile(e.ctx(), sha1)
	if err != nil {
		e.t.Fatalf("GetFile(%s): %v", sha1, err)
	}
	return f
}

// inRepo reports whether the repository holds the update file f, and checks that no
// partial download is left.
func (e *env) inRepo(f wu.File) bool {
	e.t.Helper()
	name, err := repo.NameFromURL(f.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.repo.Stat(name)
	return err == nil
}

func (e *env) noPartialFiles() {
	e.t.Helper()
	u, err := e.repo.Usage()
	if err != nil {
		e.t.Fatal(err)
	}
	if u.TempFiles != 0 {
		ents, _ := os.ReadDir(e.dir)
		var names []string
		for _, d := range ents {
			names = append(names, d.Name())
		}
		e.t.Errorf("repository holds %d temporary files: %v", u.TempFiles, names)
	}
}

// pickUpdates returns n updates of the catalog with files, no two sharing a file.
func pickUpdates(t testing.TB, man *catalog.SynthManifest, n int) []wu.Update {
	t.Helper()
	seen := map[string]bool{}
	var out []wu.Update
	for _, u := range man.Updates {
		if len(u.Files) == 0 {
			continue
		}
		clash := false
		for _, f := range u.Files {
			if seen[f.SHA1] {
				clash = true
			}
		}
		if clash {
			continue
		}
		for _, f := range u.Files {
			seen[f.SHA1] = true
		}
		out = append(out, u)
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("catalog has fewer than %d updates with distinct files", n)
	return nil
}
