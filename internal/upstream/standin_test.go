package upstream

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/wu"
)

// microsoftStandIn is a stand-in for Microsoft's download servers: an httptest server that
// every host name reaches, through a transport whose dialer maps all addresses to it. So
// tests use real Microsoft URLs and the real allow-list, and no DNS.
type microsoftStandIn struct {
	srv      *httptest.Server
	tr       *http.Transport
	requests atomic.Int64
	mu       sync.Mutex
	seen     []*http.Request // clones of the requests received, in order
}

func newStandIn(t *testing.T, h http.HandlerFunc) *microsoftStandIn {
	t.Helper()
	m := &microsoftStandIn{}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		m.mu.Lock()
		m.seen = append(m.seen, r.Clone(context.Background()))
		m.mu.Unlock()
		h(w, r)
	}))
	addr := m.srv.Listener.Addr().String()
	d := &net.Dialer{Timeout: 5 * time.Second}
	m.tr = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(m.srv.Close)
	return m
}

func (m *microsoftStandIn) request(i int) *http.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i >= len(m.seen) {
		return nil
	}
	return m.seen[i]
}

// sleepRecorder replaces the backoff sleep: it records the waits and returns at once.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newTestClient builds a client on rt with no jitter (rand = 0), 4 attempts with a 1s base
// delay (recorded, never waited), and short timeouts.
func newTestClient(t *testing.T, rt http.RoundTripper, opts ...Option) (*Client, *sleepRecorder) {
	t.Helper()
	sl := &sleepRecorder{}
	base := []Option{
		WithSleep(sl.sleep),
		WithRand(func() float64 { return 0 }),
		WithRetry(RetryPolicy{Attempts: 4, BaseDelay: time.Second, MaxDelay: time.Minute, Jitter: 0.5}),
		WithTimeouts(Timeouts{Connect: 5 * time.Second, Header: 5 * time.Second, Idle: 5 * time.Second}),
		WithLogger(discardLogger()),
	}
	if rt != nil {
		base = append(base, WithTransport(rt))
	}
	c, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, sl
}

type testFile struct {
	data []byte
	f    wu.File
}

// newTestFile makes a pseudo-random update file named as Microsoft names them.
func newTestFile(t *testing.T, size int, seed uint64) testFile {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	s1 := sha1.Sum(data)
	s256 := sha256.Sum256(data)
	name := fmt.Sprintf("windows10.0-kb5034441-x64_%x.cab", s1)
	return testFile{data: data, f: wu.File{
		Name:   name,
		Size:   int64(size),
		SHA1:   hex.EncodeToString(s1[:]),
		SHA256: hex.EncodeToString(s256[:]),
		URL:    "http://download.windowsupdate.com/d/msdownload/update/software/secu/2024/01/" + name,
	}}
}

// serve answers like a well-behaved server: 200, or 206 for a Range.
func serve(w http.ResponseWriter, r *http.Request, data []byte) {
	w.Header().Set("Content-Type", "application/vnd.ms-cab-compressed")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// serveHalfThenCut announces the whole length, sends the first half, then closes the
// connection: a cut in the middle of a download.
func serveHalfThenCut(t *testing.T, w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data[:len(data)/2])
	w.(http.Flusher).Flush()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	_ = conn.Close()
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() == repo.TempDirName {
			continue // the repository's own work folder
		}
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func checkOnly(t *testing.T, dir string, tf testFile) {
	t.Helper()
	if got := dirNames(t, dir); len(got) != 1 || got[0] != tf.f.Name {
		t.Fatalf("folder holds %q, want only %q", got, tf.f.Name)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, tf.f.Name)), tf.data) {
		t.Fatal("downloaded bytes differ from the served file")
	}
}

// fetched is what fetchFile tells of a download into a repository folder.
type fetched struct {
	Result
	Path   string
	Cached bool
}

// fetchFile downloads f into the repository folder dir as the server's jobs do: the
// repository's writer receives the bytes, checks them and puts the file in place.
func fetchFile(ctx context.Context, c *Client, f wu.File, dir string) (fetched, error) {
	rp, err := repo.Open(dir, repo.WithLogger(discardLogger()))
	if err != nil {
		return fetched{}, err
	}
	defer rp.Close()
	name, want, err := repo.FileOf(f)
	if err != nil {
		return fetched{}, err
	}
	out := fetched{Path: filepath.Join(dir, name)}
	s, cached, err := rp.Write(name, want, func(w *repo.Writer) error {
		var ferr error
		out.Result, ferr = c.Fetch(ctx, f, w)
		return ferr
	})
	out.Cached = cached
	if cached {
		out.Size = s.Size
	}
	return out, err
}

// memDest is a Destination in memory.
type memDest struct{ bytes.Buffer }

func (m *memDest) Offset() int64 { return int64(m.Len()) }
func (m *memDest) Reset() error  { m.Buffer.Reset(); return nil }
