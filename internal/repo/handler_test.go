package repo

import (
	"bufio"
	"crypto/sha1"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const secret = "TOP-SECRET-OUTSIDE-THE-REPOSITORY"

// fixture is a repository folder inside a parent that holds a secret file, with files of
// every kind: visible, in progress, hidden, symbolic links in and out, a subfolder.
type fixture struct {
	repo    *Repo
	dir     string
	update  string // name of a visible update file
	content []byte
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	parent := t.TempDir()
	mustWrite(t, filepath.Join(parent, "secret"), []byte(secret))
	dir := filepath.Join(parent, "waptwua")
	r, err := Open(dir, WithLogger(discardLogger()))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	content := make([]byte, 1000)
	for i := range content {
		content[i] = byte(i * 7)
	}
	update := fmt.Sprintf("windows10.0-kb5034441-x64_%x.cab", sha1.Sum(content))
	mustWrite(t, filepath.Join(dir, update), content)
	mustWrite(t, filepath.Join(dir, "wsusscn2.cab"), fakeCab(200, 1))
	mustWrite(t, filepath.Join(dir, "inprogress_0123456789012345678901234567890123456789.cab.part"), content[:10])
	mustWrite(t, filepath.Join(dir, ".wsusscn2.cab.42.part"), content[:10])
	mustWrite(t, filepath.Join(dir, ".tmp", "inner"), []byte(secret))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "sub", "file"), []byte(secret))
	for link, target := range map[string]string{
		"evil":        "/etc/passwd",
		"evil2":       "../secret",
		"inside-link": update,
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return fixture{repo: r, dir: dir, update: update, content: content}
}

// rawGet sends request line path unmodified (no client-side cleaning or escaping) and
// returns the response with its body read.
func rawGet(t *testing.T, srv *httptest.Server, method, path string, header ...string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := method + " " + path + " HTTP/1.1\r\nHost: repo.test\r\nConnection: close\r\n"
	for _, h := range header {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// servers mounts the handler as the server does (ServeMux + StripPrefix) and bare
// (StripPrefix only, so that the handler's own checks meet the raw paths).
func servers(t *testing.T, r *Repo) (withMux, bare *httptest.Server) {
	mux := http.NewServeMux()
	mux.Handle("GET /waptwua/", http.StripPrefix("/waptwua", r.Handler()))
	withMux = httptest.NewServer(mux)
	bare = httptest.NewServer(http.StripPrefix("/waptwua", r.Handler()))
	t.Cleanup(withMux.Close)
	t.Cleanup(bare.Close)
	return withMux, bare
}

func TestHandlerServesFiles(t *testing.T) {
	fx := newFixture(t)
	withMux, _ := servers(t, fx.repo)
	path := "/waptwua/" + fx.update
	sha := strings.TrimSuffix(strings.TrimPrefix(fx.update, "windows10.0-kb5034441-x64_"), ".cab")

	resp, body := rawGet(t, withMux, "GET", path)
	if resp.StatusCode != 200 || body != string(fx.content) {
		t.Fatalf("GET = %d, %d bytes", resp.StatusCode, len(body))
	}
	for k, want := range map[string]string{
		"Content-Type":  "application/vnd.ms-cab-compressed",
		"ETag":          `"` + sha + `"`,
		"Accept-Ranges": "bytes",
		"Cache-Control": "public, max-age=31536000, immutable",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	lastMod := resp.Header.Get("Last-Modified")
	if lastMod == "" {
		t.Error("no Last-Modified")
	}

	resp, body = rawGet(t, withMux, "HEAD", path)
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len(fx.content)) {
		t.Errorf("HEAD = %d, body %q, length %d", resp.StatusCode, body, resp.ContentLength)
	}

	resp, _ = rawGet(t, withMux, "GET", "/waptwua/wsusscn2.cab")
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" || !strings.HasPrefix(resp.Header.Get("ETag"), `"c8-`) {
		t.Errorf("wsusscn2.cab: %d, Cache-Control %q, ETag %q", resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
	}

	tests := []struct {
		desc      string
		header    []string
		code      int
		body      string
		wantRange string
	}{
		{"single range", []string{"Range: bytes=10-19"}, 206, string(fx.content[10:20]), "bytes 10-19/1000"},
		{"open range", []string{"Range: bytes=990-"}, 206, string(fx.content[990:]), "bytes 990-999/1000"},
		{"suffix range", []string{"Range: bytes=-5"}, 206, string(fx.content[995:]), "bytes 995-999/1000"},
		{"unsatisfiable", []string{"Range: bytes=5000-"}, 416, "", "bytes */1000"},
		{"If-None-Match", []string{`If-None-Match: "` + sha + `"`}, 304, "", ""},
		{"If-None-Match other", []string{`If-None-Match: "other"`}, 200, string(fx.content), ""},
		{"If-Modified-Since", []string{"If-Modified-Since: " + lastMod}, 304, "", ""},
		{"If-Range matching", []string{"Range: bytes=0-1", `If-Range: "` + sha + `"`}, 206, string(fx.content[:2]), "bytes 0-1/1000"},
		{"If-Range stale", []string{"Range: bytes=0-1", `If-Range: "old"`}, 200, string(fx.content), ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			resp, body := rawGet(t, withMux, "GET", path, tt.header...)
			if resp.StatusCode != tt.code {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.code)
			}
			if tt.code != 416 && body != tt.body {
				t.Errorf("body = %d bytes, want %d", len(body), len(tt.body))
			}
			if got := resp.Header.Get("Content-Range"); got != tt.wantRange {
				t.Errorf("Content-Range = %q, want %q", got, tt.wantRange)
			}
		})
	}

	plain := httptest.NewServer(fx.repo.Handler())
	defer plain.Close()
	resp, _ = rawGet(t, plain, "POST", "/"+fx.update)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST = %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestHandlerRefusesEscapes(t *testing.T) {
	fx := newFixture(t)
	withMux, bare := servers(t, fx.repo)
	paths := []string{
		"/waptwua/../secret",
		"/waptwua/../waptwua/../secret",
		"/waptwua/%2e%2e/secret",
		"/waptwua/%2E%2E/secret",
		"/waptwua/..%2fsecret",
		"/waptwua/..%2Fsecret",
		"/waptwua/%2e%2e%2fsecret",
		`/waptwua/..\secret`,
		"/waptwua/..%5csecret",
		"/waptwua/%252e%252e%252fsecret",
		"/waptwua/%252e%252e/secret",
		"/waptwua/..%252fsecret",
		"/waptwua/%2e%2e",
		"/waptwua/..",
		"/waptwua//etc/passwd",
		"/waptwua/%2fetc%2fpasswd",
		"/waptwua/C:%5cWindows%5cwin.ini",
		"/waptwua/secret%00.cab",
		"/waptwua/evil",        // symlink to /etc/passwd
		"/waptwua/evil2",       // symlink to ../secret
		"/waptwua/inside-link", // symlink inside: not a file we published
		"/waptwua/sub/file",
		"/waptwua/sub",
		"/waptwua/.tmp/inner",
		"/waptwua/.tmp",
		"/waptwua/%2etmp/inner",
		"/waptwua/inprogress_0123456789012345678901234567890123456789.cab.part",
		"/waptwua/.wsusscn2.cab.42.part",
		"/waptwua/",
		"/waptwua",
		"/waptwua/.",
	}
	for _, p := range paths {
		for _, s := range []struct {
			name string
			srv  *httptest.Server
		}{{"mux", withMux}, {"bare", bare}} {
			resp, body := rawGet(t, s.srv, "GET", p)
			if strings.Contains(body, secret) || strings.Contains(body, "root:") {
				t.Errorf("%s %s: served a file outside the repository or a hidden one (%d)", s.name, p, resp.StatusCode)
			}
			switch {
			case s.name == "bare" && resp.StatusCode != 404 && resp.StatusCode != 400:
				t.Errorf("bare %s: status %d, want 404 or 400", p, resp.StatusCode)
			case s.name == "mux" && resp.StatusCode < 300:
				// The mux may redirect a path it cleans; it must not serve it.
				t.Errorf("mux %s: status %d, want an error or a redirect", p, resp.StatusCode)
			}
		}
	}
}
