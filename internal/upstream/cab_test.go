package upstream

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// catalogStandIn serves a wsusscn2.cab with an ETag and a Last-Modified date, honouring
// conditional and range requests as Microsoft's CDN does.
func catalogStandIn(t *testing.T, data []byte, etag string, modified time.Time, cutFirst bool) *microsoftStandIn {
	var mu sync.Mutex
	n := 0
	return newStandIn(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		w.Header().Set("ETag", etag)
		if first && cutFirst {
			w.Header().Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
			serveHalfThenCut(t, w, data)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.ms-cab-compressed")
		http.ServeContent(w, r, "", modified, strings.NewReader(string(data)))
	})
}

func TestFetchCab(t *testing.T) {
	data := []byte(strings.Repeat("MSCF catalog bytes ", 10000))
	sum := sha1.Sum(data)
	modified := time.Date(2024, 5, 14, 17, 0, 0, 0, time.UTC)
	const cabURL = DefaultCabURL

	t.Run("changed", func(t *testing.T) {
		ms := catalogStandIn(t, data, `"v2"`, modified, false)
		c, _ := newTestClient(t, ms.tr)
		dir := t.TempDir()
		dest := filepath.Join(dir, "wsusscn2.cab")
		mustWrite(t, dest, []byte("previous catalog"))
		prev := CabState{ETag: `"v1"`, LastModified: modified.Add(-24 * time.Hour)}

		res, err := c.FetchCab(t.Context(), cabURL, dest, prev)
		if err != nil {
			t.Fatalf("FetchCab: %v", err)
		}
		if res.NotModified || res.Size != int64(len(data)) || res.SHA1 != hex.EncodeToString(sum[:]) ||
			res.ETag != `"v2"` || !res.LastModified.Equal(modified) || res.Attempts != 1 {
			t.Errorf("result = %+v", res)
		}
		req := ms.request(0)
		if req.Header.Get("If-None-Match") != `"v1"` || req.Header.Get("If-Modified-Since") != prev.LastModified.Format(http.TimeFormat) {
			t.Errorf("conditional headers = %q / %q", req.Header.Get("If-None-Match"), req.Header.Get("If-Modified-Since"))
		}
		if filepath.Dir(res.TempPath) != dir || !strings.HasPrefix(filepath.Base(res.TempPath), ".") || !strings.HasSuffix(res.TempPath, ".part") {
			t.Errorf("temp path %q: want a hidden .part file next to dest", res.TempPath)
		}
		if string(readFile(t, res.TempPath)) != string(data) {
			t.Error("temp file content differs from the served catalog")
		}
		if string(readFile(t, dest)) != "previous catalog" {
			t.Error("FetchCab overwrote dest")
		}
	})

	t.Run("not modified by ETag", func(t *testing.T) {
		ms := catalogStandIn(t, data, `"v2"`, modified, false)
		c, _ := newTestClient(t, ms.tr)
		dir := t.TempDir()
		res, err := c.FetchCab(t.Context(), cabURL, filepath.Join(dir, "wsusscn2.cab"), CabState{ETag: `"v2"`, SHA1: "abc"})
		if err != nil || !res.NotModified || res.TempPath != "" || res.ETag != `"v2"` || res.SHA1 != "abc" {
			t.Fatalf("FetchCab = %+v, %v; want not modified", res, err)
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Errorf("folder holds %q after a 304", got)
		}
	})

	t.Run("not modified by date", func(t *testing.T) {
		ms := catalogStandIn(t, data, `"v2"`, modified, false)
		c, _ := newTestClient(t, ms.tr)
		dir := t.TempDir()
		res, err := c.FetchCab(t.Context(), cabURL, filepath.Join(dir, "wsusscn2.cab"), CabState{LastModified: modified})
		if err != nil || !res.NotModified {
			t.Fatalf("FetchCab = %+v, %v; want not modified", res, err)
		}
		if ms.request(0).Header.Get("If-None-Match") != "" {
			t.Error("If-None-Match sent without a previous ETag")
		}
	})

	t.Run("first download, resumed with If-Range", func(t *testing.T) {
		ms := catalogStandIn(t, data, `"v2"`, modified, true)
		c, _ := newTestClient(t, ms.tr)
		dir := t.TempDir()
		res, err := c.FetchCab(t.Context(), cabURL, filepath.Join(dir, "wsusscn2.cab"), CabState{})
		if err != nil {
			t.Fatalf("FetchCab: %v", err)
		}
		if res.Attempts != 2 || res.SHA1 != hex.EncodeToString(sum[:]) {
			t.Errorf("result = %+v", res)
		}
		if ms.request(0).Header.Get("If-None-Match") != "" || ms.request(0).Header.Get("If-Modified-Since") != "" {
			t.Error("conditional headers sent without a previous state")
		}
		second := ms.request(1)
		if second.Header.Get("Range") != fmt.Sprintf("bytes=%d-", len(data)/2) || second.Header.Get("If-Range") != `"v2"` {
			t.Errorf("resume request: Range %q, If-Range %q", second.Header.Get("Range"), second.Header.Get("If-Range"))
		}
		if got := dirNames(t, dir); len(got) != 1 {
			t.Errorf("folder holds %q, want only the temp file", got)
		}
	})

	t.Run("failure leaves nothing", func(t *testing.T) {
		ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) { serveHalfThenCut(t, w, data) })
		c, _ := newTestClient(t, ms.tr)
		dir := t.TempDir()
		_, err := c.FetchCab(t.Context(), cabURL, filepath.Join(dir, "wsusscn2.cab"), CabState{})
		if err == nil || ms.requests.Load() != 4 {
			t.Fatalf("err = %v after %d requests, want a failure after 4", err, ms.requests.Load())
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Errorf("folder holds %q after a failed download", got)
		}
	})

	t.Run("host not allowed", func(t *testing.T) {
		ms := catalogStandIn(t, data, `"v2"`, modified, false)
		c, _ := newTestClient(t, ms.tr)
		_, err := c.FetchCab(t.Context(), "http://wsus.example.com/wsusscn2.cab", filepath.Join(t.TempDir(), "wsusscn2.cab"), CabState{})
		if !errors.Is(err, ErrHostNotAllowed) || ms.requests.Load() != 0 {
			t.Fatalf("err = %v, %d requests", err, ms.requests.Load())
		}
	})
}
