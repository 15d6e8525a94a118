// Package app is the application layer of waptserver: every administrative operation
// (log in, sessions, queue commands, start jobs, ingest, assign, promote and hold rules
// packages, ...) lives here once, with its authorisation check, its validation, its
// audit entry and its notification. The admin API (internal/server) and the web console
// (internal/console) are translators over these calls (HTTP/JSON and HTTP/HTML); the
// jobs call the same operations. Each operation consumes a narrow store interface
// declared next to it; cmd/waptserver wires the concrete store.
package app

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/openwua/waptwua/internal/password"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/throttle"
)

// AuditLog is where every operation records what it changed.
type AuditLog interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error)
}

// Metrics counts what the operations do (internal/server's *Metrics implements it).
type Metrics interface {
	CommandQueued(kind store.CommandKind)
}

// Deps are the application's collaborators. Audit and Users are required; an operation
// whose collaborator is missing answers an Unavailable error.
type Deps struct {
	Audit    AuditLog
	Users    UserStore
	Commands CommandStore
	Sessions SessionStore
	Hosts    HostAdmin
	Tokens   TokenStore
	Packages PackageStore
	Updates  UpdateReader
	Jobs     Jobs
	Metrics  Metrics
	Sites    SiteStore
	// Schedules reads the hosts' maintenance schedules (nil: none shown).
	Schedules ScheduleReader
	// PackageRoots are the certificates uploaded rules packages must chain to
	// (package_trusted_certs); PackageRootsSource names them in messages. Nil: packages
	// are stored unverified and not served.
	PackageRoots       *x509.CertPool
	PackageRootsSource string
	// Payloads keeps update packages' payload files (WithPayloads; nil: not accepted).
	Payloads PayloadFiles
	// Mirrors keeps the site repositories (nil: none).
	Mirrors MirrorAdmin
}

// Option configures an App.
type Option func(*App)

// WithClock replaces time.Now for everything the application records.
func WithClock(now func() time.Time) Option {
	return func(a *App) {
		if now != nil {
			a.now = now
		}
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(a *App) {
		if l != nil {
			a.log = l
		}
	}
}

// WithSessionIdle ends a session unused for d (default DefaultSessionIdle).
func WithSessionIdle(d time.Duration) Option {
	return func(a *App) {
		if d >= time.Second {
			a.sessionIdle = d
		}
	}
}

// WithSessionTTL sets how long a session lasts at most (default DefaultSessionTTL).
func WithSessionTTL(d time.Duration) Option {
	return func(a *App) {
		if d > 0 {
			a.sessionTTL = d
		}
	}
}

// WithPasswordCost sets the bcrypt cost of new passwords and of the dummy hash (tests
// use bcrypt.MinCost; default DefaultPasswordCost).
func WithPasswordCost(cost int) Option {
	return func(a *App) {
		if cost > 0 {
			a.passwordCost = cost
		}
	}
}

// WithLoginThrottle sets the login throttle (internal/throttle; zero fields: its
// defaults, 5 free failures then 1 s doubling up to 15 min, per account and per source).
func WithLoginThrottle(c throttle.Config) Option { return func(a *App) { a.throttle = c } }

// App holds the operations.
type App struct {
	d            Deps
	now          func() time.Time
	log          *slog.Logger
	sessionTTL   time.Duration
	sessionIdle  time.Duration
	passwordCost int
	notify       *Notifier
	verifier     *password.Verifier
	throttle     throttle.Config
	limiter      *throttle.Limiter
	installers   InstallerBuilder
}

// New returns the application on d.
func New(d Deps, opts ...Option) (*App, error) {
	if d.Audit == nil || d.Users == nil {
		return nil, errors.New("app: the audit log and the user store are required")
	}
	a := &App{d: d, now: time.Now, log: slog.Default(), sessionTTL: DefaultSessionTTL, sessionIdle: DefaultSessionIdle,
		passwordCost: DefaultPasswordCost, notify: NewNotifier()}
	for _, o := range opts {
		o(a)
	}
	a.verifier = password.NewVerifier(a.now, nil)
	a.limiter = throttle.New(a.throttle, a.now)
	if a.throttle.Base <= 0 {
		a.throttle.Base = throttle.DefaultBase // loginFailed recognises the start of a lockout by it
	}
	return a, nil
}

// Now is the application's clock.
func (a *App) Now() time.Time { return a.now() }

// Notifier wakes the long-polls of the hosts a command was queued for.
func (a *App) Notifier() *Notifier { return a.notify }

// User is an authenticated console or admin API user.
type User struct {
	Name string     `json:"username"`
	Role store.Role `json:"role"`
}

// CanChange reports whether the user may change anything (role admin).
func (u User) CanChange() bool { return u.Role == store.RoleAdmin }

// System is the user the background jobs act as when no person started them.
var System = User{Name: "system", Role: store.RoleAdmin}

type userKey struct{}

// ContextWithUser returns ctx carrying u (the adapters' authentication does it).
func ContextWithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFromContext returns the user an adapter authenticated.
func UserFromContext(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok && u.Name != ""
}

// reader returns the authenticated user, or an Unauthenticated error.
func reader(ctx context.Context) (User, error) {
	u, ok := UserFromContext(ctx)
	if !ok {
		return User{}, &Error{Kind: Unauthenticated, Msg: "authentication required"}
	}
	return u, nil
}

// admin returns the authenticated user when it may change things: Unauthenticated or
// Forbidden otherwise. Every changing operation starts with it.
func admin(ctx context.Context) (User, error) {
	u, err := reader(ctx)
	if err != nil {
		return u, err
	}
	if !u.CanChange() {
		return u, &Error{Kind: Forbidden, Msg: fmt.Sprintf("user %q has role %s: only admin users may change anything", u.Name, u.Role)}
	}
	return u, nil
}

// maxAuditDetails bounds the details of one audit entry.
const maxAuditDetails = 16 << 10

// audit appends an entry to the audit log; details is a string or a value written as
// JSON. A failure is logged: the change it describes is already done.
func (a *App) audit(ctx context.Context, actor, action, target string, details any) {
	var d string
	switch v := details.(type) {
	case nil:
	case string:
		d = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			d = fmt.Sprint(v)
		} else {
			d = string(b)
		}
	}
	d = Truncate(d, maxAuditDetails)
	ctx = context.WithoutCancel(ctx) // written even when the client has gone
	if _, err := a.d.Audit.AppendAudit(ctx, store.AuditEntry{At: a.now(), Actor: actor, Action: action, Target: target, Details: d}); err != nil {
		a.log.ErrorContext(ctx, "audit log write failed", slog.String("actor", actor), slog.String("action", action),
			slog.String("target", target), slog.String("details", d), slog.Any("err", err))
	}
}

// Audit records an action an adapter performed itself (e.g. the server-wide rules file).
func (a *App) Audit(ctx context.Context, action, target string, details any) {
	u, _ := UserFromContext(ctx)
	a.audit(ctx, u.Name, action, target, details)
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Record appends an audit entry for an actor that is not a user (the agent API's
// "agent").
func (a *App) Record(ctx context.Context, actor, action, target string, details any) {
	a.audit(ctx, actor, action, target, details)
}

// HasJobs says whether the background jobs run (the job operations are available).
func (a *App) HasJobs() bool { return a.d.Jobs != nil }

// HasPackages says whether the package operations are available.
func (a *App) HasPackages() bool { return a.d.Packages != nil }

// VerifiesPackages says whether uploaded packages are verified (package_trusted_certs).
func (a *App) VerifiesPackages() bool { return a.d.PackageRoots != nil }
