package sqlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

const cabCols = `id, started_at, updated_at, cab_date, size, sha1, status, reason, error`

func (c *Common) scanCab(r Row) (store.CabSync, error) {
	var x store.CabSync
	err := r.Scan(&x.ID, c.D.ScanTime(&x.StartedAt), c.D.ScanTime(&x.UpdatedAt), c.D.ScanTime(&x.CabDate), &x.Size, &x.SHA1,
		&x.Status, &x.Reason, &x.Error)
	return x, err
}

// AddCabSync records a new synchronisation.
func (c *Common) AddCabSync(ctx context.Context, x store.CabSync) (store.CabSync, error) {
	if x.UpdatedAt.IsZero() {
		x.UpdatedAt = x.StartedAt
	}
	err := c.DB.Write(ctx, func(tx Conn) error {
		return tx.QueryRow(ctx, `INSERT INTO cab_history (started_at, updated_at, cab_date, size, sha1, status, reason, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, c.TimeZArg(x.StartedAt), c.TimeZArg(x.UpdatedAt), c.TimeArg(x.CabDate),
			x.Size, x.SHA1, string(x.Status), string(x.Reason), x.Error).Scan(&x.ID)
	})
	return x, c.errf(err, "add cab sync")
}

// UpdateCabSync rewrites the state of a synchronisation.
func (c *Common) UpdateCabSync(ctx context.Context, x store.CabSync) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		return Exec1(ctx, tx, fmt.Sprintf("cab sync %d", x.ID), `UPDATE cab_history SET updated_at = ?,
			cab_date = ?, size = ?, sha1 = ?, status = ?, reason = ?, error = ? WHERE id = ?`,
			c.TimeZArg(x.UpdatedAt), c.TimeArg(x.CabDate), x.Size, x.SHA1, string(x.Status), string(x.Reason), x.Error, x.ID)
	})
	return c.errf(err, "update cab sync")
}

// LatestCabSyncs returns the most recent synchronisations.
func (c *Common) LatestCabSyncs(ctx context.Context, limit int) ([]store.CabSync, error) {
	out, err := QueryAll(ctx, c.DB.Reader(), c.scanCab, `SELECT `+cabCols+` FROM cab_history ORDER BY id DESC LIMIT ?`,
		store.PageLimit(limit, 20, 1000))
	return out, c.errf(err, "list cab syncs")
}

const userCols = `username, password_hash, role, created_at, updated_at`

func (c *Common) scanUser(r Row) (store.User, error) {
	var u store.User
	err := r.Scan(&u.Username, &u.PasswordHash, &u.Role, c.D.ScanTime(&u.CreatedAt), c.D.ScanTime(&u.UpdatedAt))
	return u, err
}

// CreateUser adds a user.
func (c *Common) CreateUser(ctx context.Context, u store.User) error {
	if err := u.Validate(); err != nil {
		return c.errf(err, "create user %q", u.Username)
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	err := c.DB.Write(ctx, func(tx Conn) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?)`,
			u.Username, u.PasswordHash, string(u.Role), c.TimeZArg(u.CreatedAt), c.TimeZArg(u.UpdatedAt))
		if c.D.IsUnique(err) {
			return store.ErrConflict
		}
		return err
	})
	return c.errf(err, "create user %q", u.Username)
}

// GetUser returns a user.
func (c *Common) GetUser(ctx context.Context, username string) (store.User, error) {
	u, err := c.scanUser(c.DB.Reader().QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, username))
	if errors.Is(err, ErrNoRows) {
		err = NotFound(fmt.Sprintf("user %q", username))
	}
	return u, c.errf(err, "get user %q", username)
}

// endSessions deletes every session of a user, in the caller's transaction.
func endSessions(ctx context.Context, tx Conn, username string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE username = ?`, username); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}

// SetPassword replaces a user's password hash and ends the user's sessions.
func (c *Common) SetPassword(ctx context.Context, username, passwordHash string, at time.Time) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		if err := Exec1(ctx, tx, fmt.Sprintf("user %q", username),
			`UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?`, passwordHash, c.TimeZArg(at), username); err != nil {
			return err
		}
		return endSessions(ctx, tx, username)
	})
	return c.errf(err, "set password of %q", username)
}

// SetRole changes a user's role and ends the user's sessions.
func (c *Common) SetRole(ctx context.Context, username string, role store.Role, at time.Time) error {
	if err := role.Validate(); err != nil {
		return c.errf(err, "set role of %q", username)
	}
	err := c.DB.Write(ctx, func(tx Conn) error {
		if err := Exec1(ctx, tx, fmt.Sprintf("user %q", username),
			`UPDATE users SET role = ?, updated_at = ? WHERE username = ?`, string(role), c.TimeZArg(at), username); err != nil {
			return err
		}
		return endSessions(ctx, tx, username)
	})
	return c.errf(err, "set role of %q", username)
}

// DeleteUser removes a user and its sessions.
func (c *Common) DeleteUser(ctx context.Context, username string) error {
	err := c.DB.Write(ctx, func(tx Conn) error {
		if err := endSessions(ctx, tx, username); err != nil {
			return err
		}
		return Exec1(ctx, tx, fmt.Sprintf("user %q", username), `DELETE FROM users WHERE username = ?`, username)
	})
	return c.errf(err, "delete user")
}

// ListUsers returns every user.
func (c *Common) ListUsers(ctx context.Context) ([]store.User, error) {
	out, err := QueryAll(ctx, c.DB.Reader(), c.scanUser, `SELECT `+userCols+` FROM users ORDER BY username`)
	return out, c.errf(err, "list users")
}

// AppendAudit adds an audit entry.
func (c *Common) AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error) {
	var id int64
	err := c.DB.Write(ctx, func(tx Conn) error {
		return tx.QueryRow(ctx, `INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			c.TimeZArg(e.At), e.Actor, e.Action, e.Target, e.Details).Scan(&id)
	})
	return id, c.errf(err, "append audit entry %q", e.Action)
}

// ListAudit returns audit entries, newest first.
func (c *Common) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	q := `SELECT id, at, actor, action, target, details FROM audit_log WHERE TRUE`
	var args []any
	for _, x := range []struct{ col, v string }{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if x.v != "" {
			q += ` AND ` + x.col + ` = ?`
			args = append(args, x.v)
		}
	}
	if f.BeforeID > 0 {
		q += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, store.PageLimit(f.Limit, 100, 1000))
	out, err := QueryAll(ctx, c.DB.Reader(), func(r Row) (store.AuditEntry, error) {
		var e store.AuditEntry
		err := r.Scan(&e.ID, c.D.ScanTime(&e.At), &e.Actor, &e.Action, &e.Target, &e.Details)
		return e, err
	}, q, args...)
	return out, c.errf(err, "list audit")
}
