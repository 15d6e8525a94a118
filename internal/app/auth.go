package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/password"
	"github.com/openwua/waptwua/internal/store"
)

// Sessions and passwords: one implementation for the console's cookie and the admin
// API's bearer token.

// UserStore is what logins, sessions and user management read and write.
type UserStore interface {
	GetUser(ctx context.Context, username string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	CreateUser(ctx context.Context, u store.User) error
	SetPassword(ctx context.Context, username, passwordHash string, at time.Time) error
	SetRole(ctx context.Context, username string, role store.Role, at time.Time) error
	DeleteUser(ctx context.Context, username string) error
}

// Errors of authentication.
var (
	// ErrBadCredentials: credentials were given and are wrong, expired or ended.
	ErrBadCredentials = errors.New("invalid credentials")
)

// DefaultSessionTTL is how long a session lasts unless WithSessionTTL says otherwise.
const DefaultSessionTTL = 12 * time.Hour

// DefaultPasswordCost is the bcrypt cost of stored passwords.
const DefaultPasswordCost = password.DefaultCost

// HashPassword hashes a console password (internal/password; cost 0: the default).
func HashPassword(pw string, cost int) (string, error) { return password.Hash(pw, cost) }

// ValidatePassword applies the password policy to a new password of user name
// (internal/password: at least 12 characters, not a common password, not the name).
func ValidatePassword(pw, name string) error { return password.Validate(pw, name) }

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidateUsername checks a console user name: 1 to 64 letters, digits, '.', '_', '@'
// or '-', starting with a letter or digit.
func ValidateUsername(name string) error {
	if !usernameRE.MatchString(name) {
		return fmt.Errorf("user name %q: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", Truncate(name, 80))
	}
	return nil
}

// ParseRole accepts admin or read-only (also readonly, read_only).
func ParseRole(s string) (store.Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "admin":
		return store.RoleAdmin, nil
	case "read-only", "readonly", "read_only":
		return store.RoleReadOnly, nil
	}
	return "", fmt.Errorf("role %q: want admin or read-only", Truncate(s, 40))
}

// TooManyLogins is the Kind of a login refused by the throttle; Error.RetryAfter says
// when to try again.

// loginKeys are the throttle's keys of a login attempt: the account and the source.
func loginKeys(name, source string) []string {
	return []string{"user:" + strings.ToLower(name), "ip:" + source}
}

// CheckLogin checks a user name and password (each HTTP Basic request, the console and
// admin API logins) from source (the client's address). Throttled per account and per
// source with exponential backoff: a refused attempt is TooManyRequests with
// Error.RetryAfter. A wrong password is ErrBadCredentials; an unknown user costs no
// bcrypt (the verifier waits as long as one would take). The start of a lockout is
// audited (session.lockout).
func (a *App) CheckLogin(ctx context.Context, name, pw, source string) (User, error) {
	keys := loginKeys(name, source)
	for _, k := range keys {
		if ok, after := a.limiter.Allow(k); !ok {
			return User{}, &Error{Kind: TooManyRequests, RetryAfter: after,
				Msg: fmt.Sprintf("too many failed logins: try again in %s", after)}
		}
	}
	if name == "" || pw == "" || len(name) > 64 || len(pw) > 128 {
		a.loginFailed(ctx, name, keys)
		return User{}, fmt.Errorf("user %q: %w", Truncate(name, 64), ErrBadCredentials)
	}
	hash := password.DummyHash
	u, err := a.d.Users.GetUser(ctx, name)
	switch {
	case err == nil:
		hash = u.PasswordHash
	case !errors.Is(err, store.ErrNotFound):
		return User{}, fmt.Errorf("look up user %q: %w", name, err)
	}
	if !a.verifier.Verify(ctx, hash, pw) {
		a.loginFailed(ctx, name, keys)
		return User{}, fmt.Errorf("user %q: wrong user name or password: %w", name, ErrBadCredentials)
	}
	a.limiter.Succeed(keys[0])
	return User{Name: u.Username, Role: u.Role}, nil
}

// loginFailed counts a failure on each key and audits the start of a lockout.
func (a *App) loginFailed(ctx context.Context, name string, keys []string) {
	for _, k := range keys {
		if wait := a.limiter.Fail(k); wait > 0 && wait <= a.throttle.Base {
			a.audit(ctx, Truncate(name, 64), "session.lockout", k, map[string]string{"retry_after": wait.String()})
		}
	}
}

// Session is a login: its token (the console's cookie or the admin API's bearer token),
// its id in the store and when it ends at the latest.
type Session struct {
	ID      int64
	Token   string
	Expires time.Time
	User    User
}

// Login checks the password, opens a session (kind console or api, from via) and audits
// it (session.login) with the client's address.
func (a *App) Login(ctx context.Context, name, pw, via, remote string) (Session, error) {
	u, err := a.CheckLogin(ctx, name, pw, remote)
	if err != nil {
		return Session{}, err
	}
	kind := store.SessionAPI
	if via == "console" {
		kind = store.SessionConsole
	}
	ses, err := a.openSession(ctx, u, kind, remote, "")
	if err != nil {
		return Session{}, err
	}
	a.audit(ctx, u.Name, "session.login", "user:"+u.Name, map[string]string{"remote": remote, "via": via})
	return ses, nil
}
