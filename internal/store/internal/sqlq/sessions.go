package sqlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

const sessionCols = `id, username, kind, created_at, last_seen, expires_at, idle_seconds, remote, user_agent`

func (c *Common) scanSession(r Row) (store.Session, error) {
	var s store.Session
	var idle int64
	sc := c.D.ScanTime
	err := r.Scan(&s.ID, &s.Username, &s.Kind, sc(&s.CreatedAt), sc(&s.LastSeen), sc(&s.ExpiresAt), &idle, &s.Remote, &s.UserAgent)
	s.IdleTimeout = time.Duration(idle) * time.Second
	return s, err
}

// CreateSession stores a session.
func (c *Common) CreateSession(ctx context.Context, token string, s store.Session) (store.Session, error) {
	if err := s.Validate(); err != nil {
		return s, c.errf(err, "create session")
	}
	if token == "" {
		return s, c.errf(fmt.Errorf("empty session token: %w", store.ErrInvalid), "create session")
	}
	var out store.Session
	err := c.DB.Write(ctx, func(tx Conn) error {
		var err error
		out, err = c.scanSession(tx.QueryRow(ctx, `INSERT INTO sessions (token_hash, username, kind, created_at, last_seen,
			expires_at, idle_seconds, remote, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+sessionCols,
			hashSecret(token), s.Username, string(s.Kind), c.TimeZArg(s.CreatedAt), c.TimeZArg(s.CreatedAt),
			c.TimeZArg(s.ExpiresAt), int64((s.IdleTimeout+time.Second-1)/time.Second), s.Remote, s.UserAgent))
		switch {
		case c.D.IsForeignKey(err):
			return NotFound(fmt.Sprintf("user %q", s.Username))
		case c.D.IsUnique(err):
			return fmt.Errorf("the same session token exists already: %w", store.ErrConflict)
		}
		return err
	})
	return out, c.errf(err, "create session of %q", s.Username)
}

// LookupSession returns the session of the token and records its use.
func (c *Common) LookupSession(ctx context.Context, token string, at time.Time) (store.Session, error) {
	h := hashSecret(token)
	s, err := c.scanSession(c.DB.Reader().QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE token_hash = ?`, h))
	if errors.Is(err, ErrNoRows) {
		return s, c.errf(NotFound("session"), "look up session")
	}
	if err != nil {
		return s, c.errf(err, "look up session")
	}
	if s.Expired(at) {
		err := c.DB.Write(ctx, func(tx Conn) error {
			_, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = ?`, s.ID)
			return err
		})
		if err != nil {
			return store.Session{}, c.errf(err, "end expired session %d", s.ID)
		}
		return store.Session{}, c.errf(fmt.Errorf("session %d of %q: %w", s.ID, s.Username, store.ErrExpired), "look up session")
	}
	if at.Sub(s.LastSeen) >= store.SessionTouchEvery {
		var n int64
		err := c.DB.Write(ctx, func(tx Conn) error {
			var err error
			n, err = tx.Exec(ctx, `UPDATE sessions SET last_seen = ? WHERE id = ? AND last_seen < ?`, c.TimeZArg(at), s.ID, c.TimeZArg(at))
			return err
		})
		if err != nil {
			return store.Session{}, c.errf(err, "touch session %d", s.ID)
		}
		if n > 0 {
			s.LastSeen = at.UTC()
		}
	}
	return s, nil
}

// DeleteSession ends one session.
func (c *Common) DeleteSession(ctx context.Context, id int64) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("session %d", id), `DELETE FROM sessions WHERE id = ?`, id)
	})
	return c.errf(err, "delete session")
}

// DeleteSessionToken ends the session of a token.
func (c *Common) DeleteSessionToken(ctx context.Context, token string) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, "session", `DELETE FROM sessions WHERE token_hash = ?`, hashSecret(token))
	})
	return c.errf(err, "delete session")
}

// DeleteUserSessions ends every session of a user.
func (c *Common) DeleteUserSessions(ctx context.Context, username string) (int, error) {
	var n int64
	err := c.DB.Write(ctx, func(tx Conn) error {
		var err error
		n, err = tx.Exec(ctx, `DELETE FROM sessions WHERE username = ?`, username)
		return err
	})
	return int(n), c.errf(err, "delete sessions of %q", username)
}

// ListSessions returns the sessions of a user, or of everyone.
func (c *Common) ListSessions(ctx context.Context, username string) ([]store.Session, error) {
	q, args := `SELECT `+sessionCols+` FROM sessions`, []any{}
	if username != "" {
		q += ` WHERE username = ?`
		args = append(args, username)
	}
	out, err := QueryAll(ctx, c.DB.Reader(), c.scanSession, q+` ORDER BY id DESC`, args...)
	return out, c.errf(err, "list sessions")
}

// DeleteExpiredSessions removes the sessions expired at at.
func (c *Common) DeleteExpiredSessions(ctx context.Context, at time.Time) (int, error) {
	n := 0
	err := c.DB.Write(ctx, func(tx Conn) error {
		all, err := QueryAll(ctx, tx, c.scanSession, `SELECT `+sessionCols+` FROM sessions`)
		if err != nil {
			return err
		}
		for _, s := range all {
			if !s.Expired(at) {
				continue
			}
			if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = ?`, s.ID); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, c.errf(err, "delete expired sessions")
}
