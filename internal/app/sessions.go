package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// Sessions live in the store (store.SessionStore, both backends): the console's cookie
// and the admin API's bearer token are the same kind of token, of which the store keeps
// only a digest. Logout ends the session everywhere at once; a password or role change
// ends all the user's sessions (the store does it in the same transaction); idle and
// absolute timeouts; administrators list and end any session.

// SessionStore is what sessions need of the store.
type SessionStore interface {
	CreateSession(ctx context.Context, token string, s store.Session) (store.Session, error)
	LookupSession(ctx context.Context, token string, at time.Time) (store.Session, error)
	DeleteSession(ctx context.Context, id int64) error
	DeleteSessionToken(ctx context.Context, token string) error
	ListSessions(ctx context.Context, username string) ([]store.Session, error)
}

// DefaultSessionIdle ends a session unused for this long (WithSessionIdle).
const DefaultSessionIdle = time.Hour

// sessionPrefix marks session tokens (32 random bytes after it).
const sessionPrefix = "ws2."

func newSessionToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return sessionPrefix + base64.RawURLEncoding.EncodeToString(b)
}

type sessionKey struct{}

// ContextWithSession returns ctx carrying the session token the request authenticated
// with (Logout ends it).
func ContextWithSession(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, sessionKey{}, token)
}

func (a *App) sessions() (SessionStore, error) {
	if a.d.Sessions == nil {
		return nil, errorf(Unavailable, "", "this server keeps no sessions")
	}
	return a.d.Sessions, nil
}

// openSession stores a new session of u.
func (a *App) openSession(ctx context.Context, u User, kind store.SessionKind, remote, userAgent string) (Session, error) {
	ss, err := a.sessions()
	if err != nil {
		return Session{}, err
	}
	now := a.now()
	tok := newSessionToken()
	s, err := ss.CreateSession(ctx, tok, store.Session{Username: u.Name, Kind: kind, CreatedAt: now, LastSeen: now,
		ExpiresAt: now.Add(a.sessionTTL), IdleTimeout: a.sessionIdle, Remote: Truncate(remote, 64), UserAgent: Truncate(userAgent, 200)})
	if err != nil {
		return Session{}, fmt.Errorf("open a session: %w", err)
	}
	return Session{Token: tok, Expires: s.ExpiresAt, User: u, ID: s.ID}, nil
}

// VerifySession checks a session token and returns its user with the current role;
// ErrBadCredentials (wrapped, with the reason) when it is unknown, ended or expired.
func (a *App) VerifySession(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, sessionPrefix) || len(token) > 128 {
		return User{}, fmt.Errorf("session token: unknown format: %w", ErrBadCredentials)
	}
	ss, err := a.sessions()
	if err != nil {
		return User{}, err
	}
	s, err := ss.LookupSession(ctx, token, a.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return User{}, fmt.Errorf("session ended (log in again): %w", ErrBadCredentials)
	case errors.Is(err, store.ErrExpired):
		return User{}, fmt.Errorf("session expired (log in again): %w", ErrBadCredentials)
	case err != nil:
		return User{}, fmt.Errorf("session: %w", err)
	}
	u, err := a.d.Users.GetUser(ctx, s.Username)
	if errors.Is(err, store.ErrNotFound) {
		return User{}, fmt.Errorf("session of deleted user %q: %w", s.Username, ErrBadCredentials)
	}
	if err != nil {
		return User{}, fmt.Errorf("session: look up user %q: %w", s.Username, err)
	}
	return User{Name: u.Username, Role: u.Role}, nil
}

// Logout ends the session the request authenticated with (ContextWithSession), at once
// for every replica, and audits it (session.logout). Without a session (HTTP Basic)
// there is nothing to end.
func (a *App) Logout(ctx context.Context, via string) error {
	u, err := reader(ctx)
	if err != nil {
		return err
	}
	tok, _ := ctx.Value(sessionKey{}).(string)
	if tok == "" {
		return errorf(Invalid, "", "this request did not use a session (HTTP Basic): there is nothing to log out")
	}
	ss, err := a.sessions()
	if err != nil {
		return err
	}
	if err := ss.DeleteSessionToken(ctx, tok); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("log out: %w", err)
	}
	a.audit(ctx, u.Name, "session.logout", "user:"+u.Name, map[string]string{"via": via})
	return nil
}

// ListSessions lists the open sessions of user ("" every user): admins see everyone's,
// other users only their own.
func (a *App) ListSessions(ctx context.Context, user string) ([]store.Session, error) {
	u, err := reader(ctx)
	if err != nil {
		return nil, err
	}
	if !u.CanChange() {
		if user != "" && user != u.Name {
			return nil, errorf(Forbidden, "", "user %q may list only their own sessions", u.Name)
		}
		user = u.Name
	}
	ss, err := a.sessions()
	if err != nil {
		return nil, err
	}
	return ss.ListSessions(ctx, user)
}

// EndSession ends one session by id (session.end).
func (a *App) EndSession(ctx context.Context, id int64) error {
	who, err := admin(ctx)
	if err != nil {
		return err
	}
	ss, err := a.sessions()
	if err != nil {
		return err
	}
	if err := ss.DeleteSession(ctx, id); err != nil {
		return notFound(err, "no open session %d", id)
	}
	a.audit(ctx, who.Name, "session.end", fmt.Sprintf("session:%d", id), nil)
	return nil
}
