package mirror

import (
	"io"
	"net/http"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/repo"
)

// Handler serves the mirror's folders as the main server does: /waptwua/ and /wapt/
// through the repository handler of internal/repo (the same code as the main
// server's /waptwua/), and GET /healthz.
func (m *Mirror) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+api.RepoPrefix, http.StripPrefix("/"+api.MirrorFolderUpdates, m.updates.Handler()))
	mux.Handle("GET "+api.PackagePrefix, http.StripPrefix("/"+api.MirrorFolderPackages, m.packages.Handler()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		// As on the main server: a client that takes nothing for WriteIdle is cut.
		mux.ServeHTTP(&countingWriter{ResponseWriter: repo.WriteDeadlines(w, m.cfg.WriteIdle), n: &m.bytesServed}, r)
	})
}

// countingWriter counts the body bytes written, keeping the sendfile path
// (io.ReaderFrom) of the underlying writer.
type countingWriter struct {
	http.ResponseWriter
	n interface{ Add(int64) int64 }
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(c.ResponseWriter, r)
	}
	c.n.Add(n)
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Counters are what the mirror served and synced since it started.
type Counters struct {
	Requests, BytesServed, BytesSynced int64
}

// Counters returns the mirror's counters.
func (m *Mirror) Counters() Counters {
	return Counters{Requests: m.requests.Load(), BytesServed: m.bytesServed.Load(), BytesSynced: m.bytesSynced.Load()}
}
