package mirror_test

// The mirror against the real main server (internal/server on SQLite, through
// servertest) over real HTTP.

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/mirror"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/server/servertest"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/sqlite/sqlitetest"
	"github.com/openwua/waptwua/internal/wu"
)

func openSQLite(t *testing.T) server.Store { return sqlitetest.Open(t) }

// counter counts the requests the mirror sends to the main server.
type counter struct {
	mu   sync.Mutex
	reqs []string // "METHOD path range"
	base http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.Path+" "+r.Header.Get("Range"))
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

func (c *counter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reqs
	c.reqs = nil
	return out
}

type world struct {
	t    *testing.T
	main *servertest.Env
	cred string
	reqs *counter
	data string
	now  time.Time
}

// cab is a minimal cabinet header (the catalog's shape check) padded to n bytes.
func cab(n int, fill byte) []byte {
	b := bytes.Repeat([]byte{fill}, n)
	copy(b, "MSCF\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(b[8:12], uint32(n))
	binary.LittleEndian.PutUint16(b[30:32], 0)
	return b
}

// updateName is an update file name ending with the SHA-1 of data, as Microsoft's.
func updateName(kb int, data []byte) string {
	h := sha1.Sum(data)
	return "windows10.0-kb" + strings.Repeat("1", kb%5+1) + "-x64_" + hex.EncodeToString(h[:]) + ".cab"
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, main: servertest.NewEnv(t, openSQLite, server.WithManifestPoll(20*time.Millisecond)), data: t.TempDir(),
		now: time.Now()}
	w.cred = w.main.RegisterMirror(servertest.EnrollmentSecret, "lyon-1", "lyon")
	w.reqs = &counter{base: http.DefaultTransport}
	return w
}

// put adds a file to the main server's repository folder.
func (w *world) put(name string, data []byte) {
	w.main.PutRepoFile(name, data)
}

func (w *world) putCab(data []byte) {
	w.put("wsusscn2.cab", data)
	h := sha1.Sum(data)
	w.put("wsusscn2.cab.sha1", []byte(hex.EncodeToString(h[:])+"\n"))
}

func (w *world) mirror(mod func(*mirror.Config)) *mirror.Mirror {
	cfg := mirror.Config{MainURL: w.main.HTTP.URL, Credential: w.cred, Data: w.data, Client: &http.Client{Transport: w.reqs},
		Now: func() time.Time { return w.now }}
	if mod != nil {
		mod(&cfg)
	}
	m, err := mirror.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { m.Close() })
	return m
}

// sameFolders fails unless the mirror's waptwua/ holds exactly the main's visible files.
func (w *world) sameFolders() {
	w.t.Helper()
	read := func(dir string) map[string]string {
		out := map[string]string{}
		ents, err := os.ReadDir(dir)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasSuffix(e.Name(), ".part") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				w.t.Fatal(err)
			}
			out[e.Name()] = string(b)
		}
		return out
	}
	main, mir := read(w.main.RepoDir), read(filepath.Join(w.data, "waptwua"))
	if len(main) != len(mir) {
		w.t.Fatalf("main holds %d files, the mirror %d", len(main), len(mir))
	}
	for n, b := range main {
		if mir[n] != b {
			w.t.Errorf("%s differs on the mirror (%d bytes, main %d)", n, len(mir[n]), len(b))
		}
	}
}

func TestOnceMirrorsAndRepairs(t *testing.T) {
	w := newWorld(t)
	a, b, c := bytes.Repeat([]byte("a"), 300<<10), bytes.Repeat([]byte("b"), 5000), []byte("c")
	w.put(updateName(1, a), a)
	w.put(updateName(2, b), b)
	w.put(updateName(3, c), c)
	w.putCab(cab(70<<10, 'x'))
	m := w.mirror(nil)
	res, err := m.Once(context.Background())
	if err != nil || res.Downloaded != 4 || res.FilesHeld != 4 || res.Missing != 0 {
		t.Fatalf("Once = %+v, %v", res, err)
	}
	w.sameFolders()

	// An idle sync is one request answered 304.
	w.reqs.take()
	res = m.Sync(context.Background())
	if got := w.reqs.take(); res.Err != nil || !res.NotModified || len(got) != 1 || !strings.HasPrefix(got[0], "GET "+api.PathMirrorManifest) {
		t.Fatalf("idle sync: %+v, requests %q", res, got)
	}

	// Delete one file and change one byte of another (same size): a new mirror process
	// (its start scrub) repairs both.
	dir := filepath.Join(w.data, "waptwua")
	if err := os.Remove(filepath.Join(dir, updateName(2, b))); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(a)
	bad[1000] ^= 1
	if err := os.WriteFile(filepath.Join(dir, updateName(1, a)), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	m.Close()
	m = w.mirror(nil)
	res, err = m.Once(context.Background())
	if err != nil || res.Downloaded != 2 || res.Repaired != 1 || res.Missing != 0 {
		t.Fatalf("repairing Once = %+v, %v", res, err)
	}
	w.sameFolders()

	// A changed catalog on the main server is published on the mirror with its sidecar.
	w.putCab(cab(80<<10, 'y'))
	if res, err = m.Once(context.Background()); err != nil || res.Downloaded != 1 {
		t.Fatalf("Once after a new catalog = %+v, %v", res, err)
	}
	w.sameFolders()

	// The state reached the main server.
	r := w.main.Do("GET", server.AdminPrefix+"/mirrors", servertest.Admin, nil)
	servertest.Want(t, r, http.StatusOK, "mirror list")
	if !strings.Contains(string(r.Body), `"status":"in_sync"`) || !strings.Contains(string(r.Body), `"files_held":4`) {
		t.Errorf("mirror list after Once: %s", r.Body)
	}
}

func TestOnceWrongURLOrCredential(t *testing.T) {
	w := newWorld(t)
	w.put(updateName(1, []byte("a")), []byte("a"))
	for _, tc := range []struct {
		name string
		mod  func(*mirror.Config)
		want string
	}{
		{"wrong credential", func(c *mirror.Config) { c.Credential = "wmc_" + strings.Repeat("0", 32) + ".AAAAAAAAAAAAAAAAAAAAAA" }, "refused the mirror (401)"},
		{"host credential", func(c *mirror.Config) { c.Credential = w.main.Register("4C4C4544-0034-3910-8044-B4C04F4A4D32") }, "refused the mirror (401)"},
		{"closed port", func(c *mirror.Config) { c.MainURL = "http://127.0.0.1:1" }, "unreachable"},
		{"not a waptserver", func(c *mirror.Config) {
			c.MainURL = httptest.NewServer(http.NotFoundHandler()).URL
		}, "404 (is main_url a waptserver"},
		{"scope needed, site not defined", func(c *mirror.Config) { c.Scope = api.ScopeNeeded }, `site "lyon" is not defined`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.data = t.TempDir()
			_, err := w.mirror(tc.mod).Once(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Once = %v, want one line with %q", err, tc.want)
			}
		})
	}
}

func TestResumeAndNoPartialServed(t *testing.T) {
	w := newWorld(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	name := updateName(1, big)
	w.put(name, big)
	dir := filepath.Join(w.data, "waptwua")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// What a killed download leaves: the first 400 KiB in <name>.part.
	if err := os.WriteFile(filepath.Join(dir, name+".part"), big[:400<<10], 0o644); err != nil {
		t.Fatal(err)
	}
	m := w.mirror(nil)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	for _, p := range []string{"/waptwua/" + name, "/waptwua/" + name + ".part", "/waptwua/.tmp", "/waptwua/..%2fx"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s before the sync: %d, want 404", p, resp.StatusCode)
		}
	}
	w.reqs.take()
	res, err := m.Once(context.Background())
	if err != nil || res.BytesSynced != int64(len(big)-400<<10) {
		t.Fatalf("Once = %+v, %v (want %d bytes synced)", res, err, len(big)-400<<10)
	}
	var ranged bool
	for _, r := range w.reqs.take() {
		ranged = ranged || r == "GET /waptwua/"+name+" bytes=409600-"
	}
	if !ranged {
		t.Errorf("no Range request resumed the download")
	}
	// Served like the main server: whole, by range, with the immutable ETag.
	resp, err := http.Get(srv.URL + "/waptwua/" + name)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, big) || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("GET after sync: %d, %d bytes, %v", resp.StatusCode, len(got), resp.Header)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/waptwua/"+name, nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(got) != string(big[10:20]) {
		t.Errorf("range: %d %q", resp.StatusCode, got)
	}
	if c := m.Counters(); c.Requests < 6 || c.BytesServed < int64(len(big)) {
		t.Errorf("counters %+v", c)
	}
}

func TestDeleteAfterGrace(t *testing.T) {
	w := newWorld(t)
	a, b := []byte("keep"), []byte("drop")
	w.put(updateName(1, a), a)
	w.put(updateName(2, b), b)
	m := w.mirror(func(c *mirror.Config) { c.DeleteGrace = time.Hour })
	if _, err := m.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(w.main.RepoDir, updateName(2, b))); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(w.data, "waptwua", updateName(2, b))
	if res, err := m.Once(context.Background()); err != nil || res.Deleted != 0 {
		t.Fatalf("Once = %+v %v", res, err)
	}
	if _, err := os.Stat(gone); err != nil {
		t.Fatalf("deleted before the grace period: %v", err)
	}
	w.now = w.now.Add(61 * time.Minute)
	if res, err := m.Once(context.Background()); err != nil || res.Deleted != 1 {
		t.Fatalf("Once after the grace = %+v %v", res, err)
	}
	if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("kept after the grace period: %v", err)
	}
	w.sameFolders()
}

func TestWindowAndBandwidth(t *testing.T) {
	w := newWorld(t)
	data := bytes.Repeat([]byte("z"), 1<<20)
	w.put(updateName(1, data), data)
	m := w.mirror(func(c *mirror.Config) { c.InWindow = func(time.Time) bool { return false } })
	res, err := m.Once(context.Background())
	if !errors.Is(err, mirror.ErrOutsideWindow) || res.BytesSynced != 0 || res.Missing != 1 {
		t.Fatalf("outside the window: %+v %v", res, err)
	}
	m.Close()
	m = w.mirror(func(c *mirror.Config) { c.BandwidthLimit = 512 << 10 })
	start := time.Now()
	if _, err := m.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 1 MiB at 512 KiB/s with a quarter-second burst: at least 1.5 s.
	if d := time.Since(start); d < 1500*time.Millisecond || d > 20*time.Second {
		t.Errorf("1 MiB at 512 KiB/s took %s", d)
	}
}

func TestServiceFollowsChanges(t *testing.T) {
	w := newWorld(t)
	a := []byte("first")
	w.put(updateName(1, a), a)
	m := w.mirror(func(c *mirror.Config) { c.Interval = time.Hour; c.Now = time.Now })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(w.data, "waptwua", updateName(1, a))); return err == nil })
	b := []byte("second")
	w.put(updateName(2, b), b)
	// The long-poll sees the change long before the hour-long interval.
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(w.data, "waptwua", updateName(2, b))); return err == nil })
	waitFor(t, func() bool {
		r := w.main.Do("GET", server.AdminPrefix+"/mirrors", servertest.Admin, nil)
		return strings.Contains(string(r.Body), `"files_held":2`) && strings.Contains(string(r.Body), `"status":"in_sync"`)
	})
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestScopeNeeded: with scope = needed the mirror holds the catalog and only the files
// that the hosts of its site need (the main server computes them from the sites).
func TestScopeNeeded(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	needed, other := []byte("needed by lyon"), []byte("needed by paris only")
	nameA, nameB := updateName(1, needed), updateName(2, other)
	upd := func(id, name string, data []byte) wu.Update {
		h := sha1.Sum(data)
		return wu.Update{UpdateID: id, RevisionNumber: 1, RevisionID: 1, Title: "update " + name, Created: w.now,
			Files: []wu.File{{Name: name, Size: int64(len(data)), SHA1: hex.EncodeToString(h[:]), URL: "http://download.windowsupdate.com/d/" + name}}}
	}
	if _, err := w.main.Store.ImportCatalog(ctx, store.CatalogImport{At: w.now, Updates: store.UpdatesOf([]wu.Update{
		upd(servertest.UpdateA, nameA, needed), upd(servertest.UpdateB, nameB, other)})}); err != nil {
		t.Fatal(err)
	}
	hostLyon, hostParis := "4C4C4544-0034-3910-8044-B4C04F4A4D32", "4C4C4544-0035-3910-8044-B4C04F4A4D33"
	servertest.Want(t, w.main.Do("POST", server.AdminPrefix+"/sites", servertest.Admin,
		map[string]any{"name": "lyon", "repositories": []string{"http://mirror.lyon.example"}, "hosts": []string{hostLyon}}), http.StatusCreated, "create site")
	report := func(host, update string) {
		cred := w.main.Register(host)
		servertest.Want(t, w.main.Report(host, cred, api.Report{Full: true, WUAStatus: "PENDING_UPDATES", Updates: []api.UpdateStatus{
			{UpdateID: update, RevisionNumber: 1, Status: wu.StatusMissing}}}), http.StatusNoContent, "report")
	}
	report(hostLyon, servertest.UpdateA)
	report(hostParis, servertest.UpdateB)
	w.put(nameA, needed)
	w.put(nameB, other)
	w.putCab(cab(40<<10, 'c'))

	m := w.mirror(func(c *mirror.Config) { c.Scope = api.ScopeNeeded })
	res, err := m.Once(ctx)
	if err != nil || res.Files != 2 || res.Downloaded != 2 {
		t.Fatalf("Once = %+v, %v", res, err)
	}
	dir := filepath.Join(w.data, "waptwua")
	for name, want := range map[string]bool{nameA: true, "wsusscn2.cab": true, "wsusscn2.cab.sha1": true, nameB: false} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s on the mirror: %v, want present %v", name, err, want)
		}
	}
}

// TestStalledClientCut: a host that stops reading a download is cut after WriteIdle
// (the main server's per-write deadline), while a slow reader is served.
func TestStalledClientCut(t *testing.T) {
	w := newWorld(t)
	big := bytes.Repeat([]byte("s"), 48<<20)
	name := updateName(1, big)
	w.put(name, big)
	m := w.mirror(func(c *mirror.Config) { c.WriteIdle = 300 * time.Millisecond })
	if _, err := m.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/waptwua/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(2 * time.Second) // stall: the socket buffers fill, the server's write waits
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && n == int64(len(big)) {
		t.Fatalf("a client stalled for 2s got the whole 48 MiB with a 300ms write deadline")
	}
}
