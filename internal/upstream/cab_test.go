package upstream

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/repo"
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
	modified := time.Date(2024, 5, 14, 17, 0, 0, 0, time.UTC)
	const cabURL = "http://download.windowsupdate.com/microsoftupdate/v6/wsusscan/wsusscn2.cab"

	t.Run("changed", func(t *testing.T) {
		ms := catalogStandIn(t, data, `"v2"`, modified, false)
		c, _ := newTestClient(t, ms.tr)
		prev := CabState{ETag: `"v1"`, LastModified: modified.Add(-24 * time.Hour)}
		dst := &memDest{}
		dst.WriteString("stale bytes of an earlier attempt")

		res, err := c.FetchCab(t.Context(), cabURL, prev, dst)
		if err != nil {
			t.Fatalf("FetchCab: %v", err)
		}
		if res.NotModified || res.Size != int64(len(data)) || res.ETag != `"v2"` || !res.LastModified.Equal(modified) || res.Attempts != 1 {
			t.Errorf("result = %+v", res)
		}
		req := ms.request(0)
		if req.Header.Get("If-None-Match") != `"v1"` || req.Header.Get("If-Modified-Since") != prev.LastModified.Format(http.TimeFormat) {
			t.Errorf("conditional headers = %q / %q", req.Header.Get("If-None-Match"), req.Header.Get("If-Modified-Since"))
		}
		if req.Header.Get("Range") != "" {
			t.Errorf("a catalog download sent Range %q on its first request", req.Header.Get("Range"))
		}
		if dst.String() != string(data) {
			t.Error("destination content differs from the served catalog")
		}
	})

	t.Run("not modified by ETag", func(t *testing.T) {
		ms := catalogStandIn(t, data, `"v2"`, modified, false)
		c, _ := newTestClient(t, ms.tr)
		dst := &memDest{}
		res, err := c.FetchCab(t.Context(), cabURL, CabState{ETag: `"v2"`}, dst)
		if err != nil || !res.NotModified || res.ETag != `"v2"` {
			t.Fatalf("FetchCab = %+v, %v; want not modified", res, err)
		}
		if dst.Len() != 0 {
			t.Errorf("destination holds %d bytes after a 304", dst.Len())
		}
	})

	t.Run("not modified by date", func(t *testing.T) {
		ms := catalogStandIn(t, data, `"v2"`, modified, false)
		c, _ := newTestClient(t, ms.tr)
		res, err := c.FetchCab(t.Context(), cabURL, CabState{LastModified: modified}, &memDest{})
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
		dst := &memDest{}
		res, err := c.FetchCab(t.Context(), cabURL, CabState{}, dst)
		if err != nil {
			t.Fatalf("FetchCab: %v", err)
		}
		if res.Attempts != 2 || dst.String() != string(data) {
			t.Errorf("result = %+v, %d bytes", res, dst.Len())
		}
		if ms.request(0).Header.Get("If-None-Match") != "" || ms.request(0).Header.Get("If-Modified-Since") != "" {
			t.Error("conditional headers sent without a previous state")
		}
		second := ms.request(1)
		if second.Header.Get("Range") != fmt.Sprintf("bytes=%d-", len(data)/2) || second.Header.Get("If-Range") != `"v2"` {
			t.Errorf("resume request: Range %q, If-Range %q", second.Header.Get("Range"), second.Header.Get("If-Range"))
		}
	})

	t.Run("into the repository's staged catalog", func(t *testing.T) {
		data := append([]byte(nil), data...)
		copy(data, "MSCF\x00\x00\x00\x00")
		binary.LittleEndian.PutUint32(data[8:], uint32(len(data))) // the header's size field
		ms := catalogStandIn(t, data, `"v2"`, modified, true)
		c, _ := newTestClient(t, ms.tr)
		dir := t.TempDir()
		rp, err := repo.Open(dir, repo.WithLogger(discardLogger()))
		if err != nil {
			t.Fatal(err)
		}
		defer rp.Close()
		w, err := rp.StageCab()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		if _, err := c.FetchCab(t.Context(), cabURL, CabState{}, w); err != nil {
			t.Fatalf("FetchCab: %v", err)
		}
		sums, err := w.Seal()
		if want := sha1.Sum(data); err != nil || sums.SHA1 != hex.EncodeToString(want[:]) {
			t.Fatalf("Seal = %+v, %v", sums, err)
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Errorf("folder shows %q before the catalog is committed", got)
		}
	})

	t.Run("failure", func(t *testing.T) {
		ms := newStandIn(t, func(w http.ResponseWriter, r *http.Request) { serveHalfThenCut(t, w, data) })
		c, _ := newTestClient(t, ms.tr)
		_, err := c.FetchCab(t.Context(), cabURL, CabState{}, &memDest{})
		if err == nil || ms.requests.Load() != 4 {
			t.Fatalf("err = %v after %d requests, want a failure after 4", err, ms.requests.Load())
		}
	})

	t.Run("host not allowed", func(t *testing.T) {
		ms := catalogStandIn(t, data, `"v2"`, modified, false)
		c, _ := newTestClient(t, ms.tr)
		_, err := c.FetchCab(t.Context(), "http://wsus.example.com/wsusscn2.cab", CabState{}, &memDest{})
		if !errors.Is(err, ErrHostNotAllowed) || ms.requests.Load() != 0 {
			t.Fatalf("err = %v, %d requests", err, ms.requests.Load())
		}
	})
}
