package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of host identity, enrollment tokens and sessions. The server should
// answer an enrollment or a session refused for any of these reasons alike (401).
var (
	// ErrHostExists: the UUID is registered with a credential; registering it again
	// needs the current credential (HostRegistration.Rotate) or an administrator's
	// ResetHost. Not an ErrConflict.
	ErrHostExists = errors.New("host exists with a credential")
	// ErrExpired: an enrollment token past its expiry, a session past its idle or
	// absolute timeout.
	ErrExpired = errors.New("expired")
	// ErrRevoked: an enrollment token an administrator revoked.
	ErrRevoked = errors.New("revoked")
	// ErrUsedUp: an enrollment token that reached its maximum number of uses.
	ErrUsedUp = errors.New("used up")
)

// HostApproval is a store role of registration approval (registration = approve): new
// hosts wait in a pending list until an administrator accepts or rejects them.
type HostApproval interface {
	// ResetHost clears the host's credential: it gets 401 until it registers again, and
	// the next RegisterHost of its UUID succeeds. Records ResetAt and ResetBy.
	// ErrNotFound for an unknown host.
	ResetHost(ctx context.Context, uuid string, at time.Time, actor string) (Host, error)
	// ListPendingHosts returns the hosts waiting for approval, oldest registration first.
	ListPendingHosts(ctx context.Context) ([]Host, error)
	// AcceptHost accepts a pending host. ErrNotFound unless the host is pending.
	AcceptHost(ctx context.Context, uuid string, at time.Time, actor string) (Host, error)
	// RejectHost deletes a pending host. ErrNotFound unless the host is pending.
	RejectHost(ctx context.Context, uuid string) error
}

// EnrollmentTokenStore keeps the tokens hosts register with. The store keeps only the
// SHA-256 of a token: methods take the token itself.
type EnrollmentTokenStore interface {
	// CreateEnrollmentToken stores a new token (t gives its label, creation, expiry and
	// maximum uses) and returns it with its id. ErrConflict when the same token exists
	// (the ini enrollment_secret seeded at every start: ignore ErrConflict); ErrInvalid
	// for an empty token or negative MaxUses.
	CreateEnrollmentToken(ctx context.Context, token string, t EnrollmentToken) (EnrollmentToken, error)
	// ListEnrollmentTokens returns every token, newest first, whatever its state.
	ListEnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error)
	// RevokeEnrollmentToken revokes a token; revoking it again keeps the first
	// revocation. ErrNotFound for an unknown id.
	RevokeEnrollmentToken(ctx context.Context, id int64, at time.Time, actor string) error
	// UseEnrollmentToken checks the token and counts one use, atomically: ErrNotFound,
	// ErrExpired, ErrRevoked or ErrUsedUp when it may not be used.
	UseEnrollmentToken(ctx context.Context, token string, at time.Time) (EnrollmentToken, error)
}

// EnrollmentToken is one enrollment token (never its secret).
type EnrollmentToken struct {
	ID         int64     `json:"id"`
	Label      string    `json:"label"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by,omitempty"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"` // zero: never
	MaxUses    int       `json:"max_uses,omitempty"`  // 0: unlimited
	Uses       int       `json:"uses"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	RevokedBy  string    `json:"revoked_by,omitempty"`
}

// Usable says why the token may not be used at at (ErrExpired, ErrRevoked, ErrUsedUp),
// nil when it may.
func (t EnrollmentToken) Usable(at time.Time) error {
	switch {
	case !t.RevokedAt.IsZero():
		return fmt.Errorf("enrollment token %d (%s): %w", t.ID, t.Label, ErrRevoked)
	case !t.ExpiresAt.IsZero() && !at.Before(t.ExpiresAt):
		return fmt.Errorf("enrollment token %d (%s): %w on %s", t.ID, t.Label, ErrExpired, t.ExpiresAt.UTC().Format(time.RFC3339))
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return fmt.Errorf("enrollment token %d (%s): %w (%d of %d)", t.ID, t.Label, ErrUsedUp, t.Uses, t.MaxUses)
	}
	return nil
}

// SessionKind says what a session authenticates.
type SessionKind string

// Session kinds.
const (
	SessionConsole SessionKind = "console" // a console cookie
	SessionAPI     SessionKind = "api"     // an admin API bearer token
)

// SessionTouchEvery is how often LookupSession records the last use of a session: the
// idle timeout is exact to this much.
const SessionTouchEvery = time.Minute

// SessionStore keeps server-side sessions: console sessions and admin API tokens. The
// store keeps only the SHA-256 of a session token: methods take the token itself.
type SessionStore interface {
	// CreateSession stores a session for s.Username (s gives kind, creation time,
	// absolute expiry, idle timeout, remote address and user agent) and returns it with
	// its id. ErrNotFound for an unknown user; ErrInvalid for an empty token, an unknown
	// kind, a non-positive idle timeout or an expiry not after the creation.
	CreateSession(ctx context.Context, token string, s Session) (Session, error)
	// LookupSession returns the session of the token and records its use at at (at most
	// every SessionTouchEvery). ErrNotFound for an unknown token; ErrExpired (and the
	// session is deleted) when at is past ExpiresAt or past LastSeen+IdleTimeout.
	LookupSession(ctx context.Context, token string, at time.Time) (Session, error)
	// DeleteSession ends one session by id. ErrNotFound.
	DeleteSession(ctx context.Context, id int64) error
	// DeleteSessionToken ends the session of a token (logout). ErrNotFound.
	DeleteSessionToken(ctx context.Context, token string) error
	// DeleteUserSessions ends every session of a user and returns how many.
	DeleteUserSessions(ctx context.Context, username string) (int, error)
	// ListSessions returns the sessions of a user ("" for every user), newest first.
	ListSessions(ctx context.Context, username string) ([]Session, error)
	// DeleteExpiredSessions removes the sessions expired at at and returns how many.
	DeleteExpiredSessions(ctx context.Context, at time.Time) (int, error)
}

// Session is one server-side session (never its token).
type Session struct {
	ID          int64         `json:"id"`
	Username    string        `json:"username"`
	Kind        SessionKind   `json:"kind"`
	CreatedAt   time.Time     `json:"created_at"`
	LastSeen    time.Time     `json:"last_seen"`
	ExpiresAt   time.Time     `json:"expires_at"`   // absolute end
	IdleTimeout time.Duration `json:"idle_timeout"` // ends after this long unused
	Remote      string        `json:"remote,omitempty"`
	UserAgent   string        `json:"user_agent,omitempty"`
}

// Validate checks a new session.
func (s Session) Validate() error {
	switch {
	case s.Username == "":
		return fmt.Errorf("session: no user: %w", ErrInvalid)
	case s.Kind != SessionConsole && s.Kind != SessionAPI:
		return fmt.Errorf("session kind %q: %w (want console or api)", s.Kind, ErrInvalid)
	case s.IdleTimeout < time.Second:
		return fmt.Errorf("session idle timeout %s: %w (want at least 1s)", s.IdleTimeout, ErrInvalid)
	case !s.ExpiresAt.After(s.CreatedAt):
		return fmt.Errorf("session expiry %s not after its creation: %w", s.ExpiresAt, ErrInvalid)
	}
	return nil
}

// Expired says whether the session has ended at at (absolute or idle timeout).
func (s Session) Expired(at time.Time) bool {
	return !at.Before(s.ExpiresAt) || !at.Before(s.LastSeen.Add(s.IdleTimeout))
}

// DefaultRedeliverAfter is a suggested delay after which a command fetched but neither
// acknowledged nor finished is delivered again.
const DefaultRedeliverAfter = 2 * time.Minute
