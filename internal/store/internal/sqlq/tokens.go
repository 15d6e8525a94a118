package sqlq

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// hashSecret is what the store keeps of a token or session secret. The secrets are
// random (128 bits or more), so a plain SHA-256 cannot be reversed and can be looked up.
func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

const tokenCols = `id, label, created_at, created_by, expires_at, max_uses, uses, last_used_at, revoked_at, revoked_by`

func (c *Common) scanToken(r Row) (store.EnrollmentToken, error) {
	var t store.EnrollmentToken
	sc := c.D.ScanTime
	err := r.Scan(&t.ID, &t.Label, sc(&t.CreatedAt), &t.CreatedBy, sc(&t.ExpiresAt), &t.MaxUses, &t.Uses,
		sc(&t.LastUsedAt), sc(&t.RevokedAt), &t.RevokedBy)
	return t, err
}

// CreateEnrollmentToken stores a new token.
func (c *Common) CreateEnrollmentToken(ctx context.Context, token string, t store.EnrollmentToken) (store.EnrollmentToken, error) {
	if token == "" || t.MaxUses < 0 {
		return t, c.errf(fmt.Errorf("enrollment token %q: empty token or negative maximum uses: %w", t.Label, store.ErrInvalid), "create enrollment token")
	}
	var out store.EnrollmentToken
	err := c.DB.Write(ctx, func(tx Conn) error {
		var err error
		out, err = c.scanToken(tx.QueryRow(ctx, `INSERT INTO enrollment_tokens (token_hash, label, created_at, created_by,
			expires_at, max_uses) VALUES (?, ?, ?, ?, ?, ?) RETURNING `+tokenCols,
			hashSecret(token), t.Label, c.TimeZArg(t.CreatedAt), t.CreatedBy, c.TimeArg(t.ExpiresAt), t.MaxUses))
		if c.D.IsUnique(err) {
			return fmt.Errorf("the same token exists already: %w", store.ErrConflict)
		}
		return err
	})
	return out, c.errf(err, "create enrollment token %q", t.Label)
}

// ListEnrollmentTokens returns every token, newest first.
func (c *Common) ListEnrollmentTokens(ctx context.Context) ([]store.EnrollmentToken, error) {
	out, err := QueryAll(ctx, c.DB.Reader(), c.scanToken, `SELECT `+tokenCols+` FROM enrollment_tokens ORDER BY id DESC`)
	return out, c.errf(err, "list enrollment tokens")
}

// RevokeEnrollmentToken revokes a token.
func (c *Common) RevokeEnrollmentToken(ctx context.Context, id int64, at time.Time, actor string) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("enrollment token %d", id), `UPDATE enrollment_tokens SET
			revoked_by = CASE WHEN revoked_at IS NULL THEN ? ELSE revoked_by END, revoked_at = coalesce(revoked_at, ?)
			WHERE id = ?`, actor, c.TimeZArg(at), id)
	})
	return c.errf(err, "revoke enrollment token")
}

// UseEnrollmentToken checks the token and counts one use.
func (c *Common) UseEnrollmentToken(ctx context.Context, token string, at time.Time) (store.EnrollmentToken, error) {
	var t store.EnrollmentToken
	err := c.DB.Write(ctx, func(tx Conn) error {
		var err error
		t, err = c.useToken(ctx, tx, token, at)
		return err
	})
	return t, c.errf(err, "use enrollment token")
}

// useToken counts one use of the token in one statement that also checks it; when it
// may not be used, it reads the token to say why.
func (c *Common) useToken(ctx context.Context, tx Conn, token string, at time.Time) (store.EnrollmentToken, error) {
	h := hashSecret(token)
	t, err := c.scanToken(tx.QueryRow(ctx, `UPDATE enrollment_tokens SET uses = uses + 1, last_used_at = ?
		WHERE token_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
		AND (max_uses = 0 OR uses < max_uses) RETURNING `+tokenCols, c.TimeZArg(at), h, c.TimeZArg(at)))
	if !errors.Is(err, ErrNoRows) {
		return t, err
	}
	t, err = c.scanToken(tx.QueryRow(ctx, `SELECT `+tokenCols+` FROM enrollment_tokens WHERE token_hash = ?`, h))
	if errors.Is(err, ErrNoRows) {
		return t, NotFound("enrollment token")
	}
	if err != nil {
		return t, err
	}
	if err := t.Usable(at); err != nil {
		return t, err
	}
	return t, fmt.Errorf("enrollment token %d refused: %w", t.ID, store.ErrUsedUp) // changed meanwhile
}
