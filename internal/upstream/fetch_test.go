package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/wu"
)

func TestFetchFileSuccess(t *testing.T) {
	tf := newTestFile(t, 300<<10, 1)
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) { serve(w, r, tf.data) })
	var progressMu sync.Mutex
	var lastDone, lastTotal int64
	c, _ := newTestClient(t, ms.tr, WithUserAgent("waptwua-test/1"), WithProgress(func(name string, done, total int64) {
		progressMu.Lock()
		lastDone, lastTotal = done, total
		progressMu.Unlock()
	}))
	dir := t.TempDir()

	res, err := fetchFile(t.Context(), c, tf.f, dir)
	if err != nil {
		t.Fatalf("FetchFile: %v", err)
	}
	want := fetched{Path: filepath.Join(dir, tf.f.Name), Result: Result{Size: int64(len(tf.data)), Bytes: int64(len(tf.data)), Attempts: 1}}
	res.Duration = 0
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	checkOnly(t, dir, tf)
	req := ms.request(0)
	if got := req.Header.Get("User-Agent"); got != "waptwua-test/1" {
		t.Errorf("User-Agent = %q", got)
	}
	if got := req.Header.Get("Accept-Encoding"); got != "identity" {
		t.Errorf("Accept-Encoding = %q, want identity (offsets and digests refer to the raw file)", got)
	}
	if req.Header.Get("Range") != "" {
		t.Errorf("first download sent Range %q", req.Header.Get("Range"))
	}
	if lastDone != int64(len(tf.data)) || lastTotal != int64(len(tf.data)) {
		t.Errorf("last progress = %d/%d, want %d/%d", lastDone, lastTotal, len(tf.data), len(tf.data))
	}
	fi, err := os.Stat(res.Path)
	if err != nil || fi.Mode().Perm()&0o044 == 0 {
		t.Errorf("file mode %v: want readable by the web server and replication", fi.Mode())
	}
}

func TestFetchFileAlreadyThere(t *testing.T) {
	tf := newTestFile(t, 10<<10, 2)
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) { serve(w, r, tf.data) })
	c, _ := newTestClient(t, ms.tr)
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, tf.f.Name), tf.data)

	res, err := fetchFile(t.Context(), c, tf.f, dir)
	if err != nil || !res.Cached || res.Attempts != 0 {
		t.Fatalf("FetchFile = %+v, %v; want cached, no attempt", res, err)
	}
	if n := ms.requests.Load(); n != 0 {
		t.Errorf("%d upstream requests for a file already in the repository", n)
	}

	// A corrupt copy is deleted, even when the download fails.
	broken := newStandIn(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", 404) })
	cb, _ := newTestClient(t, broken.tr)
	mustWrite(t, filepath.Join(dir, tf.f.Name), make([]byte, len(tf.data)))
	if _, err := fetchFile(t.Context(), cb, tf.f, dir); err == nil {
		t.Fatal("FetchFile succeeded on a 404")
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("folder holds %q, want nothing: the corrupt copy must go, an empty .part too", got)
	}

	// A corrupt copy is replaced.
	mustWrite(t, filepath.Join(dir, tf.f.Name), make([]byte, len(tf.data)))
	res, err = fetchFile(t.Context(), c, tf.f, dir)
	if err != nil || res.Cached || res.Attempts != 1 {
		t.Fatalf("FetchFile over a corrupt copy = %+v, %v; want a fresh download", res, err)
	}
	checkOnly(t, dir, tf)
}

func TestFetchFileResumesAfterCutConnection(t *testing.T) {
	tf := newTestFile(t, 256<<10, 3)
	var calls int
	var mu sync.Mutex
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			serveHalfThenCut(t, w, tf.data)
			return
		}
		serve(w, r, tf.data)
	})
	c, sl := newTestClient(t, ms.tr)
	dir := t.TempDir()

	res, err := fetchFile(t.Context(), c, tf.f, dir)
	if err != nil {
		t.Fatalf("FetchFile: %v", err)
	}
	if res.Attempts != 2 || !res.Resumed || res.Bytes != int64(len(tf.data)) {
		t.Errorf("result = %+v, want 2 attempts, resumed, %d bytes received", res, len(tf.data))
	}
	if got, want := ms.request(1).Header.Get("Range"), fmt.Sprintf("bytes=%d-", len(tf.data)/2); got != want {
		t.Errorf("second request Range = %q, want %q", got, want)
	}
	if got := sl.get(); !slices.Equal(got, []time.Duration{time.Second}) {
		t.Errorf("backoff waits = %v, want [1s]", got)
	}
	checkOnly(t, dir, tf)
}

func TestFetchFileResumesPartFromEarlierRun(t *testing.T) {
	tf := newTestFile(t, 100<<10, 4)
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) { serve(w, r, tf.data) })
	c, _ := newTestClient(t, ms.tr)
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, tf.f.Name+".part"), tf.data[:40000])

	res, err := fetchFile(t.Context(), c, tf.f, dir)
	if err != nil {
		t.Fatalf("FetchFile: %v", err)
	}
	if !res.Resumed || res.Bytes != int64(len(tf.data)-40000) || res.Attempts != 1 {
		t.Errorf("result = %+v, want resumed with %d bytes received", res, len(tf.data)-40000)
	}
	if got := ms.request(0).Header.Get("Range"); got != "bytes=40000-" {
		t.Errorf("Range = %q, want bytes=40000-", got)
	}
	checkOnly(t, dir, tf)

	// A complete .part (crash between the last byte and the rename) needs no request.
	if err := os.Rename(filepath.Join(dir, tf.f.Name), filepath.Join(dir, tf.f.Name+".part")); err != nil {
		t.Fatal(err)
	}
	res, err = fetchFile(t.Context(), c, tf.f, dir)
	if err != nil || res.Attempts != 0 || ms.requests.Load() != 1 {
		t.Fatalf("FetchFile over a complete .part = %+v, %v, %d requests; want no request", res, err, ms.requests.Load())
	}
	checkOnly(t, dir, tf)
}

func TestFetchFileServerIgnoresRange(t *testing.T) {
	tf := newTestFile(t, 100<<10, 5)
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(tf.data)))
		_, _ = w.Write(tf.data) // 200 with the whole file, Range or not
	})
	c, _ := newTestClient(t, ms.tr)
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, tf.f.Name+".part"), tf.data[:50000])

	res, err := fetchFile(t.Context(), c, tf.f, dir)
	if err != nil {
		t.Fatalf("FetchFile: %v", err)
	}
	if ms.request(0).Header.Get("Range") != "bytes=50000-" {
		t.Errorf("Range = %q", ms.request(0).Header.Get("Range"))
	}
	if res.Resumed || res.Bytes != int64(len(tf.data)) || res.Attempts != 1 {
		t.Errorf("result = %+v, want a restart from 0 in one attempt", res)
	}
	checkOnly(t, dir, tf)
}

func TestFetchFileRangeNotSatisfiableRestarts(t *testing.T) {
	tf := newTestFile(t, 50<<10, 6)
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(tf.data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		serve(w, r, tf.data)
	})
	c, sl := newTestClient(t, ms.tr)
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, tf.f.Name+".part"), tf.data[:1000])

	res, err := fetchFile(t.Context(), c, tf.f, dir)
	if err != nil {
		t.Fatalf("FetchFile: %v", err)
	}
	if res.Attempts != 2 || res.Resumed {
		t.Errorf("result = %+v, want 2 attempts, not resumed", res)
	}
	if got := sl.get(); !slices.Equal(got, []time.Duration{0}) {
		t.Errorf("waits = %v, want one immediate retry", got)
	}
	checkOnly(t, dir, tf)
}

func TestFetchFileDigestErrors(t *testing.T) {
	good := newTestFile(t, 20<<10, 7)
	other := newTestFile(t, 20<<10, 8)
	tests := []struct {
		desc   string
		file   func() wu.File
		served []byte
		algo   string
	}{
		{"catalog SHA-1", func() wu.File { f := good.f; f.SHA256 = ""; return f }, other.data, "sha1"},
		{"catalog SHA-256", func() wu.File { f := good.f; f.SHA256 = other.f.SHA256; return f }, good.data, "sha256"},
		{"SHA-1 in the file name", func() wu.File { f := good.f; f.SHA1, f.SHA256 = "", ""; return f }, other.data, "sha1 (file name)"},
		{"size announced", func() wu.File { return good.f }, good.data[:1000], "size"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) { serve(w, r, tt.served) })
			c, _ := newTestClient(t, ms.tr)
			dir := t.TempDir()
			_, err := fetchFile(t.Context(), c, tt.file(), dir)
			var de *repo.DigestError
			var se *SizeError
			switch {
			case errors.As(err, &se):
				if tt.algo != "size" || se.File != good.f.Name || se.Want != good.f.Size {
					t.Errorf("SizeError = %+v, want algo %q for %s", se, tt.algo, good.f.Name)
				}
			case errors.As(err, &de):
				if de.Algo != tt.algo || de.File != good.f.Name || de.Want == de.Got {
					t.Errorf("DigestError = %+v, want algo %q for %s", de, tt.algo, good.f.Name)
				}
			default:
				t.Fatalf("err = %v, want *repo.DigestError or *SizeError", err)
			}
			if n := ms.requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1: a digest mismatch is not retried", n)
			}
			if got := dirNames(t, dir); len(got) != 0 {
				t.Errorf("folder holds %q after a digest mismatch, want nothing", got)
			}
		})
	}
}

func TestFetchFileRetries(t *testing.T) {
	tf := newTestFile(t, 10<<10, 9)
	tests := []struct {
		desc      string
		failures  int // the first failures requests answer code
		code      int
		header    http.Header
		wantErr   bool
		wantCount int64
		wantWaits []time.Duration
	}{
		{desc: "500 twice then OK", failures: 2, code: 500, wantCount: 3, wantWaits: []time.Duration{time.Second, 2 * time.Second}},
		{desc: "always 500", failures: 99, code: 500, wantErr: true, wantCount: 4, wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{desc: "503 with Retry-After", failures: 1, code: 503, header: http.Header{"Retry-After": {"7"}}, wantCount: 2, wantWaits: []time.Duration{7 * time.Second}},
		{desc: "429 Retry-After capped", failures: 1, code: 429, header: http.Header{"Retry-After": {"3600"}}, wantCount: 2, wantWaits: []time.Duration{time.Minute}},
		{desc: "408", failures: 1, code: 408, wantCount: 2, wantWaits: []time.Duration{time.Second}},
		{desc: "404 not retried", failures: 99, code: 404, wantErr: true, wantCount: 1},
		{desc: "403 not retried", failures: 99, code: 403, wantErr: true, wantCount: 1},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n++
				fail := n <= tt.failures
				mu.Unlock()
				if fail {
					for k, v := range tt.header {
						w.Header()[k] = v
					}
					http.Error(w, "stand-in failure", tt.code)
					return
				}
				serve(w, r, tf.data)
			})
			c, sl := newTestClient(t, ms.tr)
			dir := t.TempDir()
			res, err := fetchFile(t.Context(), c, tf.f, dir)
			if got := ms.requests.Load(); got != tt.wantCount {
				t.Errorf("%d requests, want %d", got, tt.wantCount)
			}
			if got := sl.get(); !slices.Equal(got, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", got, tt.wantWaits)
			}
			if res.Attempts != int(tt.wantCount) {
				t.Errorf("Attempts = %d, want %d", res.Attempts, tt.wantCount)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("FetchFile: %v", err)
				}
				checkOnly(t, dir, tf)
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.code {
				t.Fatalf("err = %v, want *StatusError %d", err, tt.code)
			}
			if !strings.Contains(err.Error(), tf.f.URL) {
				t.Errorf("error %q does not name the URL", err)
			}
			if _, err := os.Stat(filepath.Join(dir, tf.f.Name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("final file exists after a failure: %v", err)
			}
		})
	}
}

func TestFetchFileStalledBodyTimesOut(t *testing.T) {
	tf := newTestFile(t, 128<<10, 10)
	var mu sync.Mutex
	n := 0
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if !first {
			serve(w, r, tf.data)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(tf.data)))
		_, _ = w.Write(tf.data[:len(tf.data)/2])
		w.(http.Flusher).Flush()
		select { // stall until the client gives up
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
			t.Error("the client never gave up on a stalled body")
		}
	})
	c, _ := newTestClient(t, ms.tr, WithTimeouts(Timeouts{Header: 5 * time.Second, Idle: 300 * time.Millisecond}))
	dir := t.TempDir()

	begin := time.Now()
	res, err := fetchFile(t.Context(), c, tf.f, dir)
	if err != nil {
		t.Fatalf("FetchFile: %v", err)
	}
	if res.Attempts != 2 || !res.Resumed {
		t.Errorf("result = %+v, want a second, resumed attempt", res)
	}
	if got, want := ms.request(1).Header.Get("Range"), fmt.Sprintf("bytes=%d-", len(tf.data)/2); got != want {
		t.Errorf("Range = %q, want %q", got, want)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("took %v: the idle timeout did not fire", d)
	}
	checkOnly(t, dir, tf)
}

func TestFetchFileStalledHeadersTimeOut(t *testing.T) {
	tf := newTestFile(t, 1000, 11)
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	c, _ := newTestClient(t, ms.tr, WithRetry(RetryPolicy{Attempts: 2}), WithTimeouts(Timeouts{Header: 200 * time.Millisecond}))
	_, err := fetchFile(t.Context(), c, tf.f, t.TempDir())
	if !errors.Is(err, errHeaderTimeout) || ms.requests.Load() != 2 {
		t.Fatalf("err = %v after %d requests; want a header timeout after 2", err, ms.requests.Load())
	}
}

func TestFetchFileHostNotAllowed(t *testing.T) {
	tf := newTestFile(t, 1000, 12)
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) { serve(w, r, tf.data) })
	c, _ := newTestClient(t, ms.tr)
	for _, u := range []string{
		"http://download.microsoft.com.evil.com/" + tf.f.Name,
		"http://evil.com/" + tf.f.Name,
		"ftp://download.microsoft.com/" + tf.f.Name,
		"http://download.microsoft.com@evil.com/" + tf.f.Name,
		"http://microsoft.com/" + tf.f.Name,
	} {
		f := tf.f
		f.URL = u
		dir := t.TempDir()
		_, err := fetchFile(t.Context(), c, f, dir)
		var he *HostError
		if !errors.As(err, &he) || !errors.Is(err, ErrHostNotAllowed) {
			t.Errorf("%s: err = %v, want *HostError", u, err)
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Errorf("%s: folder holds %q", u, got)
		}
	}
	if n := ms.requests.Load(); n != 0 {
		t.Errorf("%d requests reached a server for refused hosts", n)
	}
}

func TestFetchFileRedirects(t *testing.T) {
	tf := newTestFile(t, 1000, 13)
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/to-evil/"):
			http.Redirect(w, r, "http://download.microsoft.com.evil.com/"+tf.f.Name, http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/to-delivery/"):
			http.Redirect(w, r, "http://dl.delivery.mp.microsoft.com/filestreamingservice/files/"+tf.f.Name, http.StatusFound)
		default:
			serve(w, r, tf.data)
		}
	})
	c, _ := newTestClient(t, ms.tr)

	f := tf.f
	f.URL = "http://download.windowsupdate.com/to-evil/" + tf.f.Name
	dir := t.TempDir()
	_, err := fetchFile(t.Context(), c, f, dir)
	if !errors.Is(err, ErrHostNotAllowed) {
		t.Fatalf("redirect to a host outside the allow-list: err = %v, want ErrHostNotAllowed", err)
	}
	if n := ms.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1: the refused redirect must not be followed, nor retried", n)
	}
	if got := dirNames(t, dir); slices.Contains(got, tf.f.Name) {
		t.Errorf("file published after a refused redirect: %q", got)
	}

	f.URL = "http://download.windowsupdate.com/to-delivery/" + tf.f.Name
	if _, err := fetchFile(t.Context(), c, f, dir); err != nil {
		t.Fatalf("redirect to an allowed host: %v", err)
	}
	if got := ms.request(2).Host; got != "dl.delivery.mp.microsoft.com" {
		t.Errorf("redirected request went to %q", got)
	}
}

func TestFetchFileThroughProxy(t *testing.T) {
	tf := newTestFile(t, 20<<10, 14)
	var mu sync.Mutex
	var proxied []string
	// A stand-in forward proxy: it receives absolute-form requests and answers them itself,
	// as if it had fetched them from Microsoft.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.RequestURI)
		mu.Unlock()
		if r.URL.Host != "download.windowsupdate.com" {
			http.Error(w, "unexpected host", http.StatusBadGateway)
			return
		}
		serve(w, r, tf.data)
	}))
	defer proxy.Close()
	// No stand-in transport: without the proxy, the client would have to resolve
	// download.windowsupdate.com, and this machine has no network.
	c, _ := newTestClient(t, nil, WithProxy(proxy.URL))
	dir := t.TempDir()

	if _, err := fetchFile(t.Context(), c, tf.f, dir); err != nil {
		t.Fatalf("FetchFile through the proxy: %v", err)
	}
	if len(proxied) != 1 || proxied[0] != tf.f.URL {
		t.Errorf("proxy saw %q, want one request for %s", proxied, tf.f.URL)
	}
	checkOnly(t, dir, tf)

	if _, err := New(WithProxy("::not a url")); err == nil {
		t.Error("New accepted a malformed proxy URL")
	}
}

func TestFetchFileRefusesBadEntries(t *testing.T) {
	tf := newTestFile(t, 1000, 17)
	other := newTestFile(t, 1000, 18)
	base := "http://download.windowsupdate.com/d/"
	tests := []struct {
		desc string
		f    wu.File
		is   error
	}{
		{"name not the URL's base name", wu.File{Name: "other.cab", URL: tf.f.URL, SHA1: tf.f.SHA1}, repo.ErrInvalidName},
		{"path in the name", wu.File{Name: "../" + tf.f.Name, URL: tf.f.URL, SHA1: tf.f.SHA1}, repo.ErrInvalidName},
		{"URL ends in a slash", wu.File{URL: base, SHA1: tf.f.SHA1}, repo.ErrInvalidName},
		{"URL base is ..", wu.File{URL: base + "x/..", SHA1: tf.f.SHA1}, repo.ErrInvalidName},
		{"encoded slash", wu.File{URL: base + "..%2fetc%2fpasswd", SHA1: tf.f.SHA1}, repo.ErrInvalidName},
		{"encoded backslash", wu.File{URL: base + "..%5cwin.ini", SHA1: tf.f.SHA1}, repo.ErrInvalidName},
		{"NUL", wu.File{URL: base + "a%00.cab", SHA1: tf.f.SHA1}, repo.ErrInvalidName},
		{"temporary name", wu.File{URL: base + "a.cab.part", SHA1: tf.f.SHA1}, repo.ErrInvalidName},
		{"hidden name", wu.File{URL: base + ".tmp", SHA1: tf.f.SHA1}, repo.ErrInvalidName},
		{"the catalog's own name", wu.File{URL: base + "wsusscn2.cab", SHA1: tf.f.SHA1}, repo.ErrInvalidName},
		{"catalog SHA-1 differs from the name's", wu.File{URL: tf.f.URL, SHA1: other.f.SHA1}, repo.ErrCatalogMismatch},
		{"no digest at all", wu.File{URL: base + "plain.cab"}, nil},
		{"bad SHA-1", wu.File{URL: base + "plain.cab", SHA1: "xyz"}, nil},
	}
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) { serve(w, r, tf.data) })
	c, _ := newTestClient(t, ms.tr)
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := t.TempDir()
			_, err := fetchFile(t.Context(), c, tt.f, dir)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if got := dirNames(t, dir); len(got) != 0 {
				t.Errorf("folder holds %q", got)
			}
		})
	}
	if n := ms.requests.Load(); n != 0 {
		t.Errorf("%d requests for refused entries", n)
	}
}

func TestFetchFileContextCanceledStopsRetries(t *testing.T) {
	tf := newTestFile(t, 1000, 19)
	ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) })
	ctx, cancel := context.WithCancel(t.Context())
	// The sleep sees the shared download's context, which ends once its only caller has gone.
	c, _ := newTestClient(t, ms.tr, WithSleep(func(ctx context.Context, d time.Duration) error {
		cancel()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("the shared download was not canceled when its caller gave up")
		}
	}))
	_, err := fetchFile(ctx, c, tf.f, t.TempDir())
	if !errors.Is(err, context.Canceled) || ms.requests.Load() != 1 {
		t.Fatalf("err = %v after %d requests, want context.Canceled after 1", err, ms.requests.Load())
	}
}
