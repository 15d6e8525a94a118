package console

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// staticHandler serves the embedded assets with a content ETag: browsers revalidate
// (no-cache) and get 304 while the binary does not change.
func (c *Console) staticHandler() http.Handler {
	etags := map[string]string{}
	_ = fs.WalkDir(c.static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(c.static, p)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(data)
		etags[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
	files := http.FileServerFS(c.static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		tag, ok := etags[name]
		if !ok {
			c.handleNotFound(w, r)
			return
		}
		w.Header().Set("ETag", tag)
		w.Header().Set("Cache-Control", "no-cache")
		if strings.HasSuffix(name, ".LICENSE") || strings.HasSuffix(name, ".VERSION") {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		files.ServeHTTP(w, r)
	})
}
