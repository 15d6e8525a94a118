// Package server is the HTTP face of waptserver: the agent API of internal/api
// (registration, reports, command long-poll, rules), the repository folder under
// /waptwua/, the admin API under /api/v1/admin/ (users, roles, audit log) and the
// operations endpoints (/healthz, /readyz, /metrics). It depends on the small roles of
// internal/store and on the Jobs hook, never on a concrete backend: cmd/waptserver wires
// those.
package server

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/edge"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
)

// Store is every storage role the handlers use. store/sqlite and store/postgres
// implement it.
//
// Deprecated-in-spirit: the handlers of the admin API go through internal/app, whose
// operations consume narrow interfaces; this bundle remains what the agent API and the
// read-only admin routes read.
type Store interface {
	store.CatalogStore
	store.HostStore
	store.ReportStore
	store.FileStore
	store.TaskStore
	store.CabHistoryStore
	store.CommandStore
	store.UserStore
	store.AuditStore
	store.PackageStore
	store.SessionStore
	store.HostApproval
	store.EnrollmentTokenStore
	store.MirrorStore
	store.ScheduleStore
	store.SiteStore
	store.Pinger
}

// Repository is what the server needs of the repository folder (*repo.Repo).
type Repository interface {
	// Handler serves the visible files as "/<name>" (mounted under /waptwua/).
	Handler() http.Handler
	// TempDir is a writable folder on the repository's file system (/readyz writes there).
	TempDir() string
	Stat(name string) (repo.FileInfo, error)
	Usage() (repo.Usage, error)
	// ServePayload serves a payload file of an update package (with Range).
	ServePayload(w http.ResponseWriter, r *http.Request, dir, file string)
}

// Defaults of the options.
const (
	DefaultMaxReportBytes      = 4 << 20
	DefaultSessionTTL          = 12 * time.Hour
	DefaultCommandPollInterval = 5 * time.Second
	// maxRegisterBytes bounds a registration body; maxAdminBodyBytes every admin body.
	maxRegisterBytes  = 64 << 10
	maxAdminBodyBytes = 1 << 20
)

// Server serves the agent, repository, admin and operations endpoints.
type Server struct {
	store   Store
	log     *slog.Logger
	now     func() time.Time
	repo    Repository
	jobs    Jobs
	metrics *Metrics
	rules   RulesSource

	pkgRoots       *x509.CertPool
	pkgRootsSource string

	enrollmentSecret string
	maxReportBytes   int64
	pollInterval     time.Duration

	app     *app.App
	appOpts []app.Option

	edge          edge.Config
	approve       bool
	writeTimeout  time.Duration
	writeIdle     time.Duration
	health        JobHealthSource
	maxCatalogAge time.Duration
	extra         []route

	mirrorPoll time.Duration
	mirrorSums digestCache

	doneOnce sync.Once
	done     chan struct{}
}

type route struct {
	pattern string
	h       http.Handler
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithClock replaces time.Now for every time the server records (reports, commands,
// audit entries, session expiry).
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

// WithRepo serves the repository folder under /waptwua/ and checks it in /readyz.
func WithRepo(r Repository) Option { return func(s *Server) { s.repo = r } }

// WithJobs connects the background jobs (cab sync, missing files, cleanup). Without it
// the admin endpoints that start a job answer 503 "jobs not running".
func WithJobs(j Jobs) Option { return func(s *Server) { s.jobs = j } }

// WithMetrics uses m for /metrics (default: a new NewMetrics with the server's clock).
func WithMetrics(m *Metrics) Option { return func(s *Server) { s.metrics = m } }

// WithRules sets where the effective rules of a host come from (default: none, every
// host gets an empty rules object).
func WithRules(r RulesSource) Option { return func(s *Server) { s.rules = r } }

// WithEnrollmentSecret sets the secret agents present to register (config
// enrollment_secret). Empty: registration is closed.
func WithEnrollmentSecret(secret string) Option {
	return func(s *Server) { s.enrollmentSecret = secret }
}

// WithMaxReportBytes bounds a report body (config max_report_bytes); larger gets 413.
func WithMaxReportBytes(n int64) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxReportBytes = n
		}
	}
}

// WithCommandPollInterval sets how often a waiting long-poll also asks the store for
// commands, so that a command queued by another replica is seen (default 5s).
func WithCommandPollInterval(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.pollInterval = d
		}
	}
}

// WithApproval makes new hosts wait for an administrator's approval (registration =
// approve of waptserver.ini).
func WithApproval(on bool) Option { return func(s *Server) { s.approve = on } }

// WithEdge says how clients reach the server (public_url, trusted_proxies): the client
// address of login throttling and logs, and HSTS when the client speaks HTTPS.
func WithEdge(e edge.Config) Option { return func(s *Server) { s.edge = e } }

// WithApp sets the application layer the admin API translates to (cmd/waptserver
// shares one with the console, so that both use the same sessions and the console's
// commands wake the long-polls served here). Without it the server builds its own on
// its store, with the options WithSessionTTL, WithPasswordCost and WithAppOptions.
func WithApp(a *app.App) Option { return func(s *Server) { s.app = a } }

// WithAppOptions passes options to the server's own application (without WithApp).
func WithAppOptions(opts ...app.Option) Option {
	return func(s *Server) { s.appOpts = append(s.appOpts, opts...) }
}

// WithSessionTTL sets how long a session lasts (server's own application only).
func WithSessionTTL(d time.Duration) Option {
	return func(s *Server) { s.appOpts = append(s.appOpts, app.WithSessionTTL(d)) }
}

// WithPasswordCost sets the bcrypt cost of passwords (server's own application only;
// tests use bcrypt.MinCost).
func WithPasswordCost(cost int) Option {
	return func(s *Server) { s.appOpts = append(s.appOpts, app.WithPasswordCost(cost)) }
}

// WithHandler mounts an extra handler (the web console) on the server's mux, with a
// net/http pattern such as "/" or "GET /console/".
func WithHandler(pattern string, h http.Handler) Option {
	return func(s *Server) { s.extra = append(s.extra, route{pattern, h}) }
}

// New returns a server on st.
func New(st Store, opts ...Option) *Server {
	s := &Server{
		store:          st,
		log:            slog.Default(),
		now:            time.Now,
		maxReportBytes: DefaultMaxReportBytes,
		pollInterval:   DefaultCommandPollInterval,
		mirrorPoll:     DefaultManifestPoll,
		maxCatalogAge:  DefaultMaxCatalogAge,
		writeTimeout:   DefaultWriteTimeout,
		writeIdle:      DefaultWriteIdle,
		done:           make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(s.now)
	}
	if s.rules == nil {
		s.rules = noRules{}
	}
	if s.app == nil {
		appOpts := []app.Option{app.WithClock(s.now), app.WithLogger(s.log)}
		if p, ok := s.repo.(app.PayloadFiles); ok {
			appOpts = append(appOpts, app.WithPayloads(p))
		}
		s.app = NewApp(st, s.jobs, s.metrics, s.pkgRoots, s.pkgRootsSource, append(appOpts, s.appOpts...)...)
	}
	return s
}

// NewApp builds the application layer on a store that has every role (cmd/waptserver
// and the tests use it to share one between the server and the console).
func NewApp(st Store, jobs app.Jobs, m *Metrics, roots *x509.CertPool, rootsSource string, opts ...app.Option) *app.App {
	d := app.Deps{Audit: st, Users: st, Commands: st, Packages: st, Updates: st, Sessions: st, Hosts: st, Tokens: st, Jobs: jobs, Schedules: st,
		Sites:        st,
		PackageRoots: roots, PackageRootsSource: rootsSource}
	d.Mirrors = st
	if m != nil {
		d.Metrics = m
	}
	a, err := app.New(d, opts...)
	if err != nil {
		panic(err) // only a session key shorter than 32 bytes: a programming error
	}
	return a
}

// App is the application layer the server translates to.
func (s *Server) App() *app.App { return s.app }

// Metrics returns the server's metrics, for the jobs to update.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Shutdown makes waiting long-polls answer at once (with no command), so that
// http.Server.Shutdown does not wait for them: register it with
// http.Server.RegisterOnShutdown. Safe to call several times.
func (s *Server) Shutdown() {
	s.doneOnce.Do(func() { close(s.done) })
}

// RefreshMetrics sets the metrics that come from the store: the age of the published
// catalog (latest finished or skipped synchronisation) and the queued and downloading
// task counts (counted up to 1000 each: the store has no count query). cmd/waptserver
// calls it at start and every 30 seconds, so that every replica reports them.
func (s *Server) RefreshMetrics(ctx context.Context) error {
	syncs, err := s.store.LatestCabSyncs(ctx, 50)
	if err != nil {
		return err
	}
	for _, c := range syncs {
		if (c.Status == store.CabFinished || c.Status == store.CabSkipped) && !c.CabDate.IsZero() {
			s.metrics.SetCabDate(c.CabDate)
			break
		}
	}
	counts := map[store.TaskStatus]int{}
	for _, st := range []store.TaskStatus{store.TaskQueued, store.TaskDownloading} {
		tasks, err := s.store.ListTasks(ctx, 1000, st)
		if err != nil {
			return err
		}
		counts[st] = len(tasks)
	}
	s.metrics.SetTaskCounts(counts)
	return nil
}

// Handler returns the server's root handler: every route, with request logging,
// metrics and panic recovery.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routes(mux)
	for _, r := range s.extra {
		mux.Handle(r.pattern, r.h)
	}
	return s.observe(s.jsonFallback(mux))
}
