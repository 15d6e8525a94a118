package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// exec1 runs one write statement that must touch a row; notFound names it otherwise.
func (s *Store) exec1(ctx context.Context, what, missing, q string, args ...any) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return notFound(missing)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return nil
}

const cabCols = `id, started_at, updated_at, cab_date, size, sha1, status, reason, error`

func scanCab(sc scanner) (store.CabSync, error) {
	var c store.CabSync
	err := sc.Scan(&c.ID, nt{&c.StartedAt}, nt{&c.UpdatedAt}, nt{&c.CabDate}, &c.Size, &c.SHA1, &c.Status, &c.Reason, &c.Error)
	return c, err
}

// AddCabSync records a new synchronisation.
func (s *Store) AddCabSync(ctx context.Context, c store.CabSync) (store.CabSync, error) {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.StartedAt
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO cab_history (started_at, updated_at, cab_date, size, sha1, status, reason, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, tz(c.StartedAt), tz(c.UpdatedAt), tv(c.CabDate), c.Size, c.SHA1,
			string(c.Status), string(c.Reason), c.Error).Scan(&c.ID)
	})
	if err != nil {
		return c, fmt.Errorf("sqlite: add cab sync: %w", err)
	}
	return c, nil
}

// UpdateCabSync rewrites the state of a synchronisation.
func (s *Store) UpdateCabSync(ctx context.Context, c store.CabSync) error {
	return s.exec1(ctx, "update cab sync", fmt.Sprintf("cab sync %d", c.ID), `UPDATE cab_history SET updated_at = ?,
		cab_date = ?, size = ?, sha1 = ?, status = ?, reason = ?, error = ? WHERE id = ?`,
		tz(c.UpdatedAt), tv(c.CabDate), c.Size, c.SHA1, string(c.Status), string(c.Reason), c.Error, c.ID)
}

// LatestCabSyncs returns the most recent synchronisations.
func (s *Store) LatestCabSyncs(ctx context.Context, limit int) ([]store.CabSync, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+cabCols+` FROM cab_history ORDER BY id DESC LIMIT ?`, store.PageLimit(limit, 20, 1000))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list cab syncs: %w", err)
	}
	defer rows.Close()
	var out []store.CabSync
	for rows.Next() {
		c, err := scanCab(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list cab syncs: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list cab syncs: %w", err)
	}
	return out, nil
}

const commandCols = `c.id, h.uuid, c.kind, c.args, c.actor, c.status, c.created_at, c.sent_at, c.finished_at, c.result, c.error`

func scanCommand(sc scanner) (store.Command, error) {
	var c store.Command
	err := sc.Scan(&c.ID, &c.HostUUID, &c.Kind, &c.Args, &c.Actor, &c.Status, nt{&c.CreatedAt}, nt{&c.SentAt},
		nt{&c.FinishedAt}, &c.Result, &c.Error)
	return c, err
}

func queryCommands(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]store.Command, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Command
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func hostPK(ctx context.Context, tx *sql.Tx, uuid string) (int64, error) {
	var pk int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM hosts WHERE uuid = ?`, uuid).Scan(&pk)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("host " + uuid)
	}
	if err != nil {
		return 0, fmt.Errorf("look up host %s: %w", uuid, err)
	}
	return pk, nil
}

// QueueCommand queues a command, or returns the same pending one.
func (s *Store) QueueCommand(ctx context.Context, c store.Command) (store.Command, error) {
	switch c.Kind {
	case store.CommandScan, store.CommandDownload, store.CommandInstall:
	default:
		return c, fmt.Errorf("sqlite: queue command: kind %q: %w (want scan, download or install)", c.Kind, store.ErrInvalid)
	}
	var out store.Command
	err := s.write(ctx, func(tx *sql.Tx) error {
		pk, err := hostPK(ctx, tx, c.HostUUID)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM commands WHERE host_pk = ? AND status = 'pending' AND kind = ? AND args = ?
			ORDER BY id LIMIT 1`, pk, string(c.Kind), c.Args).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, `INSERT INTO commands (host_pk, kind, args, actor, status, created_at)
				VALUES (?, ?, ?, ?, 'pending', ?) RETURNING id`, pk, string(c.Kind), c.Args, c.Actor, tz(c.CreatedAt)).Scan(&id)
		}
		if err != nil {
			return err
		}
		out, err = scanCommand(tx.QueryRowContext(ctx, `SELECT `+commandCols+` FROM commands c JOIN hosts h ON h.id = c.host_pk WHERE c.id = ?`, id))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("sqlite: queue %s command for host %s: %w", c.Kind, c.HostUUID, err)
	}
	return out, nil
}

// FetchCommands returns the pending commands of a host and marks them sent.
func (s *Store) FetchCommands(ctx context.Context, hostUUID string, at time.Time) ([]store.Command, error) {
	var out []store.Command
	err := s.write(ctx, func(tx *sql.Tx) error {
		pk, err := hostPK(ctx, tx, hostUUID)
		if err != nil {
			return err
		}
		out, err = queryCommands(ctx, tx, `SELECT `+commandCols+` FROM commands c JOIN hosts h ON h.id = c.host_pk
			WHERE c.host_pk = ? AND c.status = 'pending' ORDER BY c.id`, pk)
		if err != nil || len(out) == 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE commands SET status = 'sent', sent_at = ? WHERE host_pk = ? AND status = 'pending' AND id <= ?`,
			tv(at), pk, out[len(out)-1].ID); err != nil {
			return err
		}
		for i := range out {
			out[i].Status, out[i].SentAt = store.CommandSent, at.UTC()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: fetch commands of host %s: %w", hostUUID, err)
	}
	return out, nil
}

// CompleteCommand records the result of a command.
func (s *Store) CompleteCommand(ctx context.Context, hostUUID string, id int64, at time.Time, result, errText string) error {
	status := store.CommandDone
	if errText != "" {
		status = store.CommandFailed
	}
	return s.exec1(ctx, "complete command", fmt.Sprintf("command %d of host %s", id, hostUUID),
		`UPDATE commands SET status = ?, finished_at = ?, result = ?, error = ?
		WHERE id = ? AND host_pk = (SELECT id FROM hosts WHERE uuid = ?)`,
		string(status), tv(at), result, errText, id, hostUUID)
}

// ListCommands returns a host's most recent commands.
func (s *Store) ListCommands(ctx context.Context, hostUUID string, limit int) ([]store.Command, error) {
	out, err := queryCommands(ctx, s.r, `SELECT `+commandCols+` FROM commands c JOIN hosts h ON h.id = c.host_pk
		WHERE h.uuid = ? ORDER BY c.id DESC LIMIT ?`, hostUUID, store.PageLimit(limit, 50, 1000))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list commands of host %s: %w", hostUUID, err)
	}
	return out, nil
}

func validRole(r store.Role) error {
	if r != store.RoleAdmin && r != store.RoleReadOnly {
		return fmt.Errorf("role %q: %w (want admin or read-only)", r, store.ErrInvalid)
	}
	return nil
}

// CreateUser adds a user.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := validRole(u.Role); err != nil {
		return fmt.Errorf("sqlite: create user %q: %w", u.Username, err)
	}
	if u.Username == "" {
		return fmt.Errorf("sqlite: create user: empty name: %w", store.ErrInvalid)
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			u.Username, u.PasswordHash, string(u.Role), tz(u.CreatedAt), tz(u.UpdatedAt))
		if isUnique(err) {
			return store.ErrConflict
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create user %q: %w", u.Username, err)
	}
	return nil
}

// GetUser returns a user.
func (s *Store) GetUser(ctx context.Context, username string) (store.User, error) {
	var u store.User
	err := s.r.QueryRowContext(ctx, `SELECT username, password_hash, role, created_at, updated_at FROM users WHERE username = ?`, username).
		Scan(&u.Username, &u.PasswordHash, &u.Role, nt{&u.CreatedAt}, nt{&u.UpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return u, notFound(fmt.Sprintf("sqlite: user %q", username))
	}
	if err != nil {
		return u, fmt.Errorf("sqlite: get user %q: %w", username, err)
	}
	return u, nil
}

// SetPassword replaces a user's password hash.
func (s *Store) SetPassword(ctx context.Context, username, passwordHash string, at time.Time) error {
	return s.exec1(ctx, "set password", fmt.Sprintf("user %q", username),
		`UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?`, passwordHash, tz(at), username)
}

// SetRole changes a user's role.
func (s *Store) SetRole(ctx context.Context, username string, role store.Role, at time.Time) error {
	if err := validRole(role); err != nil {
		return fmt.Errorf("sqlite: set role of %q: %w", username, err)
	}
	return s.exec1(ctx, "set role", fmt.Sprintf("user %q", username),
		`UPDATE users SET role = ?, updated_at = ? WHERE username = ?`, string(role), tz(at), username)
}

// DeleteUser removes a user.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	return s.exec1(ctx, "delete user", fmt.Sprintf("user %q", username), `DELETE FROM users WHERE username = ?`, username)
}

// ListUsers returns every user.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT username, password_hash, role, created_at, updated_at FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		var u store.User
		if err := rows.Scan(&u.Username, &u.PasswordHash, &u.Role, nt{&u.CreatedAt}, nt{&u.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return out, nil
}

// AppendAudit adds an audit entry.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			tz(e.At), e.Actor, e.Action, e.Target, e.Details).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: append audit entry %q: %w", e.Action, err)
	}
	return id, nil
}

// ListAudit returns audit entries, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	q := `SELECT id, at, actor, action, target, details FROM audit_log WHERE TRUE`
	var args []any
	for _, c := range []struct{ col, v string }{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if c.v != "" {
			q += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	if f.BeforeID > 0 {
		q += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, store.PageLimit(f.Limit, 100, 1000))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		if err := rows.Scan(&e.ID, nt{&e.At}, &e.Actor, &e.Action, &e.Target, &e.Details); err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}
