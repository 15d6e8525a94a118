package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/edge"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
)

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// JobHealth is the health of one background job in this process.
type JobHealth struct {
	Name                string    `json:"name"`
	Running             bool      `json:"running"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastError           string    `json:"last_error,omitempty"`
}

// JobHealthSource reports the jobs' health (cmd/waptserver adapts the job runner).
type JobHealthSource interface {
	JobHealth() []JobHealth
}

// WithJobHealth makes /readyz report each job's health.
func WithJobHealth(h JobHealthSource) Option { return func(s *Server) { s.health = h } }

// WithMaxCatalogAge sets when /readyz says not ready: the last successful catalog sync
// older than d (max_catalog_age; default DefaultMaxCatalogAge).
func WithMaxCatalogAge(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.maxCatalogAge = d
		}
	}
}

// DefaultMaxCatalogAge is the default bound of the catalog's age in /readyz.
const DefaultMaxCatalogAge = 8 * 24 * time.Hour

type catalogHealth struct {
	LastSuccess   time.Time `json:"last_success,omitzero"`
	CabDate       time.Time `json:"cab_date,omitzero"`
	AgeSeconds    int64     `json:"age_seconds,omitempty"`
	MaxAgeSeconds int64     `json:"max_age_seconds"`
}

// handleReadyz answers 200 when every selected check passes, 503 otherwise (causes in
// the log, not in the answer). ?check=a,b selects the checks among store, repository,
// catalog, jobs and the job names; without it: store, repository and catalog, with
// every job's health reported but not gating. The catalog fails when the last
// successful sync (finished, or skipped because the cab did not change) is older than
// max_catalog_age; a server that never synced reports "none" and stays ready.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	var jobs []JobHealth
	if s.health != nil {
		jobs = s.health.JobHealth()
	}
	known := map[string]bool{"store": true, "repository": true, "catalog": true, "jobs": true}
	for _, j := range jobs {
		known[j.Name] = true
	}
	selected := map[string]bool{}
	if v := r.URL.Query().Get("check"); v != "" {
		for _, c := range strings.Split(v, ",") {
			c = strings.TrimSpace(c)
			if !known[c] {
				names := make([]string, 0, len(known))
				for k := range known {
					names = append(names, k)
				}
				sort.Strings(names)
				s.fail(w, r, badRequest("check", "unknown check %q: want one or more of %s, separated by commas", truncate(c, 40), strings.Join(names, ", ")))
				return
			}
			selected[c] = true
		}
	} else {
		// By default store, repository and catalog gate readiness; "jobs" (every job)
		// and a job's name gate it when ?check= names them.
		selected["store"], selected["repository"], selected["catalog"] = true, true, true
	}
	checks := map[string]string{}
	ready := true
	result := func(name string, ok bool, bad string) { // name is selected
		checks[name] = "ok"
		if !ok {
			checks[name], ready = bad, false
		}
	}
	if selected["store"] {
		err := s.store.Ping(ctx)
		if err != nil {
			s.log.WarnContext(ctx, "readiness: store", slog.Any("err", err))
		}
		result("store", err == nil, "failed")
	}
	if selected["repository"] && s.repo != nil {
		err := writable(s.repo.TempDir())
		if err != nil {
			s.log.WarnContext(ctx, "readiness: repository folder", slog.Any("err", err))
		}
		result("repository", err == nil, "failed")
	}
	out := map[string]any{}
	if selected["catalog"] {
		cat, err := s.catalogHealth(ctx)
		switch {
		case err != nil:
			s.log.WarnContext(ctx, "readiness: catalog", slog.Any("err", err))
			result("catalog", false, "failed")
		case cat.LastSuccess.IsZero():
			checks["catalog"] = "none"
		default:
			ok := cat.AgeSeconds <= cat.MaxAgeSeconds
			if !ok {
				s.log.WarnContext(ctx, "readiness: catalog too old", slog.Time("last_success", cat.LastSuccess),
					slog.Int64("max_age_seconds", cat.MaxAgeSeconds))
			}
			result("catalog", ok, "stale")
		}
		out["catalog"] = cat
	}
	for _, j := range jobs {
		ok := j.ConsecutiveFailures == 0
		gate := selected["jobs"] || selected[j.Name]
		st := "ok"
		if !ok {
			st = "failing"
		}
		checks["job:"+j.Name] = st
		if gate && !ok {
			ready = false
		}
	}
	if len(jobs) > 0 {
		out["jobs"] = jobs
	}
	status, code := "ready", http.StatusOK
	if !ready {
		status, code = "not ready", http.StatusServiceUnavailable
	}
	out["status"], out["checks"] = status, checks
	writeJSON(w, code, out)
}

// catalogHealth reads the last successful catalog sync.
func (s *Server) catalogHealth(ctx context.Context) (catalogHealth, error) {
	h := catalogHealth{MaxAgeSeconds: int64(s.maxCatalogAge / time.Second)}
	syncs, err := s.store.LatestCabSyncs(ctx, 50)
	if err != nil {
		return h, err
	}
	for _, c := range syncs {
		if c.Status == store.CabFinished || c.Status == store.CabSkipped {
			h.LastSuccess, h.CabDate = c.UpdatedAt, c.CabDate
			h.AgeSeconds = int64(s.now().Sub(c.UpdatedAt) / time.Second)
			break
		}
	}
	return h, nil
}

func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".readyz-*")
	if err != nil {
		return fmt.Errorf("repository folder not writable: %w", err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok"))
	cerr := f.Close()
	rerr := os.Remove(name)
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("repository folder not writable: %w", err)
	}
	return nil
}

// statusWriter records the status and size of an answer. Repository downloads write
// through repo.WriteDeadlines (a deadline per write) under it.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the connection's ReadFrom (sendfile) for repository downloads, which
// http.ServeContent copies through it.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(struct{ io.Writer }{w}, r)
		return n, err
	}
	n, err := rf.ReadFrom(r)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs every request, counts it in the metrics and turns a panic into a 500.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if s.edge.HTTPS(r) {
			w.Header().Set("Strict-Transport-Security", edge.HSTS)
		}
		// Write deadlines: repository downloads get one per write (they may take
		// long, but must progress); every other route one for the whole answer (the
		// long-poll waits at most api.MaxWait before it writes).
		sw := &statusWriter{ResponseWriter: w}
		if isDownload(r.URL.Path) {
			sw.ResponseWriter = repo.WriteDeadlines(w, s.writeIdle)
		} else if s.writeTimeout > 0 {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.writeTimeout))
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "handler panic", slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				if sw.status == 0 {
					writeErrorBody(sw, http.StatusInternalServerError, "", "internal error (see the server log)")
				}
			}
			d := time.Since(start)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.metrics.observeRequest(route, r.Method, status, d)
			level := slog.LevelInfo
			switch {
			case status >= 500:
				level = slog.LevelError
			case quietRoute(route) && status < 400:
				level = slog.LevelDebug
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
				slog.Int("status", status), slog.Int64("bytes", sw.bytes),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote", s.edge.ClientIP(r)),
			}
			if u, ok := app.UserFromContext(r.Context()); ok {
				attrs = append(attrs, slog.String("user", u.Name))
			}
			s.log.LogAttrs(r.Context(), level, "http request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// isDownload says whether path is a repository download (update files, packages).
func isDownload(path string) bool {
	return strings.HasPrefix(path, "/waptwua/") || strings.HasPrefix(path, api.PackagePrefix)
}

// Default write deadlines.
const (
	// DefaultWriteTimeout bounds the writing of an answer of the API routes; it exceeds
	// the longest long-poll (api.MaxWait).
	DefaultWriteTimeout = api.MaxWait + 30*time.Second
	// DefaultWriteIdle: a repository download whose client takes nothing for this long
	// is cut.
	DefaultWriteIdle = time.Minute
)

// WithWriteTimeouts sets the write deadline of API answers (whole answer) and of
// repository downloads (each write); zero keeps the default.
func WithWriteTimeouts(api, perWrite time.Duration) Option {
	return func(s *Server) {
		if api > 0 {
			s.writeTimeout = api
		}
		if perWrite > 0 {
			s.writeIdle = perWrite
		}
	}
}

// quietRoute: routes logged at debug level when they succeed (probes, scrapes and the
// agents' idle long-polls, which would flood the log).
func quietRoute(route string) bool {
	switch route {
	case "GET /healthz", "GET /readyz", "GET /metrics", "GET /api/v1/hosts/{uuid}/commands":
		return true
	}
	return false
}

// jsonFallback answers unknown API paths and wrong methods with a JSON error body
// instead of the mux's plain text.
func (s *Server) jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			mux.ServeHTTP(w, r)
			return
		}
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		cw := &captureWriter{header: http.Header{}}
		mux.ServeHTTP(cw, r) // the mux's own 404, 405 or redirect
		for k, v := range cw.header {
			if k != "Content-Type" && k != "X-Content-Type-Options" && k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		switch cw.status {
		case http.StatusMethodNotAllowed:
			writeErrorBody(w, cw.status, "", fmt.Sprintf("method %s not allowed here (allowed: %s)", r.Method, cw.header.Get("Allow")))
		case http.StatusNotFound, 0:
			writeErrorBody(w, http.StatusNotFound, "", "no such endpoint (see docs/openapi.yaml)")
		default:
			w.WriteHeader(cw.status)
			_, _ = w.Write(cw.body)
		}
	})
}

// captureWriter holds the mux's fallback answer (a few bytes) for jsonFallback.
type captureWriter struct {
	header http.Header
	status int
	body   []byte
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if len(c.body) < 4096 {
		c.body = append(c.body, b[:min(len(b), 4096-len(c.body))]...)
	}
	return len(b), nil
}
