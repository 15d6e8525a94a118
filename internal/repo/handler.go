package repo

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/openwua/waptwua/internal/wu"
)

// Handler serves the visible files as "/<name>", with Range, ETag, Last-Modified and
// conditional requests (http.ServeContent). The caller mounts it and strips its prefix:
//
//	mux.Handle("GET /waptwua/", http.StripPrefix("/waptwua", repo.Handler()))
//
// Anything that is not a flat visible file name answers 404: directories (no listing),
// hidden and temporary files, dot segments, encoded slashes, backslashes or NUL,
// double-encoded names, and symbolic links.
func (r *Repo) Handler() http.Handler { return http.HandlerFunc(r.serveHTTP) }

func (r *Repo) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := requestedName(req.URL)
	if !ok {
		http.NotFound(w, req)
		return
	}
	r.serveName(w, req, name)
}

// serveName serves the regular file name of the root (the repository's files and the
// update packages' payload files).
func (r *Repo) serveName(w http.ResponseWriter, req *http.Request, name string) {
	f, fi, err := r.openVisible(name)
	if err != nil {
		r.log.DebugContext(req.Context(), "repository file not served", slog.String("name", name), slog.Any("err", err))
		http.NotFound(w, req)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", contentType(name))
	h.Set("X-Content-Type-Options", "nosniff")
	sha1 := wu.SHA1FromFileName(name)
	if sha1 != "" {
		// The name is the content's digest: the file never changes under it.
		h.Set("ETag", `"`+sha1+`"`)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// wsusscn2.cab and its sidecar are replaced in place: size and mtime identify a version.
		h.Set("ETag", fmt.Sprintf(`"%x-%x"`, fi.Size(), fi.ModTime().UnixNano()))
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, req, name, fi.ModTime(), f)
}

// requestedName extracts the file name from a request path "/<name>" (after the caller
// stripped its mount point), refusing every way of naming something else.
func requestedName(u *url.URL) (string, bool) {
	raw := strings.ToLower(u.EscapedPath())
	for _, enc := range []string{"%2f", "%5c", "%00", "%25"} { // '/', '\', NUL, double encoding
		if strings.Contains(raw, enc) {
			return "", false
		}
	}
	name := strings.TrimPrefix(u.Path, "/")
	if checkName(name) != nil || hidden(name) {
		return "", false
	}
	return name, true
}

// openVisible opens a regular file of the folder. Symbolic links are refused, and os.Root
// guarantees that nothing outside the folder is reached.
func (r *Repo) openVisible(name string) (*os.File, fs.FileInfo, error) {
	lfi, err := r.root.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !lfi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file (%v)", name, lfi.Mode().Type())
	}
	f, err := r.root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || !os.SameFile(lfi, fi) {
		f.Close()
		return nil, nil, fmt.Errorf("%s: replaced while opening", name)
	}
	return f, fi, nil
}

func contentType(name string) string {
	l := strings.ToLower(name)
	switch {
	case strings.HasSuffix(l, ".cab"):
		return "application/vnd.ms-cab-compressed"
	case strings.HasSuffix(l, ".sha1"):
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}
