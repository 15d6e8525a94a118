package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/edge"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// Prefix is where the console's pages live. The handler also answers "/" with a
// redirect to it; mount it with the patterns "GET /{$}" and Prefix on the server's mux.
const Prefix = "/ui/"

// Store is what the console reads and writes in the database: a composition of methods
// of the store's roles (store.CatalogStore, HostStore, ReportStore, FileStore, TaskStore,
// CabHistoryStore, CommandStore, UserStore, AuditStore). store/sqlite and store/postgres
// implement it.
type Store interface {
	ListUpdates(ctx context.Context, f store.UpdateFilter) (store.UpdatePage, error)
	GetUpdate(ctx context.Context, key wu.UpdateKey) (store.UpdateInfo, error)
	Categories(ctx context.Context) ([]wu.Category, error)
	ListHosts(ctx context.Context, f store.HostFilter) (store.HostPage, error)
	GetHost(ctx context.Context, uuid string) (store.Host, error)
	HostUpdates(ctx context.Context, hostUUID string, statuses ...wu.Status) ([]store.HostUpdate, error)
	UpdateHosts(ctx context.Context, key wu.UpdateKey, f store.UpdateHostFilter) (store.UpdateHostPage, error)
	NeededFiles(ctx context.Context) ([]store.UpdateFile, error)
	UnusedFiles(ctx context.Context) ([]store.UpdateFile, error)
	ListTasks(ctx context.Context, limit int, statuses ...store.TaskStatus) ([]store.DownloadTask, error)
	LatestCabSyncs(ctx context.Context, limit int) ([]store.CabSync, error)
	ListCommands(ctx context.Context, hostUUID string, limit int) ([]store.Command, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
	SummarizeHosts(ctx context.Context, staleBefore time.Time) (store.HostSummary, error)
}

// RulesEditor reads and replaces the server-wide rules given to every host
// (*server.FileRules), until signed rules packages are stored on the server.
type RulesEditor interface {
	ServerRules(ctx context.Context) (rules.Rules, error)
	SetServerRules(ctx context.Context, r rules.Rules) error
}

// PackageLister lists the signed rules packages uploaded to the server and their
// assignments (store.PackageStore), for the rules page.
type PackageLister interface {
	ListPackages(ctx context.Context) ([]store.RulesPackage, error)
	ListAssignments(ctx context.Context) ([]store.PackageAssignment, error)
}

// CacheUsage tells the disk use of the repository folder (*repo.Repo).
type CacheUsage interface {
	Usage() (repo.Usage, error)
}

// Deps are the console's collaborators. Store and App are required; without the jobs
// (App.HasJobs) the job buttons answer 503, without Rules the rules page says the rules are not editable,
// without Cache the dashboard shows no cache size.
type Deps struct {
	Store Store
	// App is the application layer: every action of the console is one of its
	// operations (the same as the admin API's), and the console's sessions are its
	// sessions. Required.
	App   *app.App
	Rules RulesEditor
	Cache CacheUsage
	// Packages, when set, lists the signed rules packages on the rules page and the
	// rules packages page (/ui/packages); administrators assign, promote and hold
	// packages there when App manages packages.
	Packages PackageLister
	// PackageSigning, when set, is the server-held signing key (package_signing_key of
	// waptserver.ini): the packages page then builds, signs and stores packages. Without
	// it the page prepares the rules and shows the command to sign them on the
	// administrator's workstation. Whoever controls the server can sign rules for every
	// host with it: see docs/adr/0003-rules-packages.md.
	PackageSigning *PackageSigning
	// Mirrors, when set, lists the site repositories on the Repositories page.
	Mirrors MirrorLister
}

// Option configures the console.
type Option func(*Console)

// WithClock replaces time.Now for sessions, "last seen" ages and charts.
func WithClock(now func() time.Time) Option {
	return func(c *Console) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *Console) {
		if l != nil {
			c.log = l
		}
	}
}

// WithSessionKey sets the key from which the HMAC key of CSRF tokens is derived (at least 32 bytes; the server's session key will do). Replicas
// behind one load balancer must share it; default: a random key per process (sessions
// end at restart).
func WithSessionKey(key []byte) Option {
	return func(c *Console) { c.key = append([]byte(nil), key...) }
}

// WithSecureCookies marks the cookies Secure even on plain HTTP requests: set it when a
// reverse proxy terminates TLS. Requests that arrive over TLS always get Secure cookies.
func WithSecureCookies(on bool) Option { return func(c *Console) { c.secure = on } }

// WithEdge says how browsers reach the server (public_url, trusted_proxies): cookies are
// Secure when the browser speaks HTTPS to us, and the client address of login
// throttling is the one a trusted proxy forwards.
func WithEdge(e edge.Config) Option { return func(c *Console) { c.edge = e } }

// WithPublicURL is the server's address as agents and browsers use it (public_url); ""
// (default): the address the browser reached, given to downloaded agent installers.
func WithPublicURL(u string) Option {
	return func(c *Console) { c.publicURL = strings.TrimRight(u, "/") }
}

// WithLocation sets the time zone dates are shown in (default time.Local).
func WithLocation(loc *time.Location) Option {
	return func(c *Console) {
		if loc != nil {
			c.loc = loc
		}
	}
}

// Console is the web console handler.
type Console struct {
	deps   Deps
	now    func() time.Time
	log    *slog.Logger
	key    []byte
	secure bool
	edge   edge.Config
	loc    *time.Location
	// publicURL is public_url without its final slash ("": none).
	publicURL string

	pages  *templates
	static fs.FS
	mux    *http.ServeMux
	cop    *http.CrossOriginProtection

	facets *facetCache
	chart  chartCache
	// msuMax caps an uploaded .msu (maxMSUBytes; smaller in tests).
	msuMax int64
}

// New returns the console's handler. Mount it on the server's mux for "GET /{$}" and
// Prefix ("/ui/").
func New(deps Deps, opts ...Option) (http.Handler, error) {
	c, err := newConsole(deps, opts...)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func newConsole(deps Deps, opts ...Option) (*Console, error) {
	if deps.Store == nil || deps.App == nil {
		return nil, errors.New("console: no store or no application")
	}
	c := &Console{
		deps:   deps,
		now:    time.Now,
		log:    slog.Default(),
		loc:    time.Local,
		cop:    http.NewCrossOriginProtection(),
		msuMax: maxMSUBytes,
	}
	for _, o := range opts {
		o(c)
	}
	if len(c.key) == 0 {
		c.key = make([]byte, 32)
		if _, err := rand.Read(c.key); err != nil {
			return nil, fmt.Errorf("console: session key: %w", err)
		}
	} else if len(c.key) < 32 {
		return nil, fmt.Errorf("console: session key of %d bytes, want at least 32", len(c.key))
	}
	// The key may be the server's own session key: the console MACs with a key of its own
	// derived from it, so that no token of one is valid for the other.
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("waptwua console sessions v1"))
	c.key = m.Sum(nil)
	var err error
	if c.pages, err = parseTemplates(c.funcs()); err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	if c.static, err = fs.Sub(staticFS, "static"); err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	c.facets = newFacetCache(facetCacheSize, facetCacheTTL)
	c.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, http.StatusForbidden, "Cross-origin request refused",
			"This form was sent from another site. Reload the console page and try again.")
	}))
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	c.mux = m
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", c.staticHandler()))
	m.HandleFunc("GET /ui/login", c.handleLoginForm)
	m.HandleFunc("POST /ui/login", c.handleLogin)

	page := func(pattern string, h http.HandlerFunc) { m.Handle(pattern, c.requireUser(h)) }
	action := func(pattern string, h http.HandlerFunc) { m.Handle(pattern, c.requireUser(c.requireAdmin(h))) }

	page("POST /ui/logout", c.handleLogout)
	page("GET /ui/{$}", c.handleDashboard)
	page("GET /ui/updates", c.handleUpdates)
	page("GET /ui/updates/facets", c.handleUpdateFacets)
	page("GET /ui/updates.csv", c.handleUpdatesCSV)
	page("GET /ui/updates/{key}", c.handleUpdate)
	action("POST /ui/updates/download", c.handleForceDownload)
	action("POST /ui/updates/rules", c.handleUpdateRules)
	action("POST /ui/cab/sync", c.handleCabSync)
	action("POST /ui/files/download-missing", c.handleDownloadMissing)
	page("GET /ui/tasks", c.handleTasks)
	page("GET /ui/tasks.csv", c.handleTasksCSV)
	page("GET /ui/cleanup", c.handleCleanupConfirm)
	action("POST /ui/cleanup", c.handleCleanup)
	page("GET /ui/hosts", c.handleHosts)
	page("GET /ui/hosts.csv", c.handleHostsCSV)
	action("POST /ui/hosts/commands", c.handleBulkCommand)
	page("GET /ui/hosts/{uuid}", c.handleHost)
	page("GET /ui/hosts/{uuid}/live", c.handleHostLive)
	page("GET /ui/hosts/{uuid}/updates.csv", c.handleHostUpdatesCSV)
	action("POST /ui/hosts/{uuid}/commands", c.handleHostCommand)
	action("POST /ui/hosts/{uuid}/reset", c.handleResetHost)
	page("GET /ui/enrollment", c.handleEnrollment)
	action("POST /ui/enrollment/tokens", c.handleCreateToken)
	action("POST /ui/enrollment/tokens/{id}/revoke", c.handleRevokeToken)
	action("POST /ui/enrollment/pending/{uuid}", c.handlePendingDecision)
	action("POST /ui/enrollment/installer", c.handleAgentInstaller)
	page("GET /ui/rules", c.handleRules)
	action("POST /ui/rules", c.handleSaveRules)
	action("POST /ui/rules/json", c.handleSaveRulesJSON)
	page("GET /ui/packages", c.handlePackages)
	page("GET /ui/schedule", c.handleSchedule)
	action("POST /ui/packages", c.handleCreatePackage)
	action("POST /ui/packages/from-updates", c.handlePackageFromUpdates)
	action("POST /ui/packages/rules.json", c.handlePackageRulesJSON)
	action("POST /ui/packages/assign", c.handleAssignPackage)
	action("POST /ui/packages/unassign", c.handleUnassignPackage)
	action("POST /ui/packages/promote", c.handlePromotePackage)
	action("POST /ui/packages/hold", c.handleHoldPackage)
	page("GET /ui/packages/msu", c.handleMSUForm)
	m.Handle("POST /ui/packages/msu", c.requireUserStreamed(c.requireAdmin(http.HandlerFunc(c.handleMSUUpload))))
	action("POST /ui/packages/msu/build", c.handleMSUBuild)
	page("GET /ui/repositories", c.handleRepositories)
	action("POST /ui/repositories/sites", c.handleCreateSite)
	action("POST /ui/repositories/sites/{name}", c.handleUpdateSite)
	action("POST /ui/repositories/sites/{name}/delete", c.handleDeleteSite)
	page("GET /ui/audit", c.handleAudit)
	page("GET /ui/audit.csv", c.handleAuditCSV)
	m.HandleFunc("/", c.handleNotFound)
}

// ServeHTTP serves the console: security headers, panic recovery, cross-origin
// protection, then the routes.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			c.log.ErrorContext(r.Context(), "console: panic", slog.String("path", r.URL.Path), slog.Any("panic", v))
			c.errorPage(w, r, http.StatusInternalServerError, "Internal error",
				"The console failed to build this page. The details are in the server log.")
		}
	}()
	c.cop.Handler(c.mux).ServeHTTP(w, r)
}

func (c *Console) handleNotFound(w http.ResponseWriter, r *http.Request) {
	// Show the navigation to a logged-in user.
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if u, err := c.verifySession(r, ck.Value); err == nil {
			r = r.WithContext(contextWith(r.Context(), u, c.csrfToken(ck.Value)))
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		c.errorPage(w, r, http.StatusMethodNotAllowed, "Method not allowed",
			fmt.Sprintf("%s is not accepted at %s.", r.Method, r.URL.Path))
		return
	}
	c.errorPage(w, r, http.StatusNotFound, "Page not found",
		fmt.Sprintf("There is no console page at %s.", r.URL.Path))
}
