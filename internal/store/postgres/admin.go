package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openwua/waptwua/internal/store"
)

const cabCols = `id, started_at, updated_at, cab_date, size, sha1, status, reason, error`

func scanCab(row pgx.Row) (store.CabSync, error) {
	var c store.CabSync
	err := row.Scan(&c.ID, nt{&c.StartedAt}, nt{&c.UpdatedAt}, nt{&c.CabDate}, &c.Size, &c.SHA1, &c.Status, &c.Reason, &c.Error)
	return c, err
}

// AddCabSync records a new synchronisation.
func (s *Store) AddCabSync(ctx context.Context, c store.CabSync) (store.CabSync, error) {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.StartedAt
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO cab_history (started_at, updated_at, cab_date, size, sha1, status, reason, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, tz(c.StartedAt), tz(c.UpdatedAt), tv(c.CabDate), c.Size, c.SHA1,
		string(c.Status), string(c.Reason), c.Error).Scan(&c.ID)
	if err != nil {
		return c, fmt.Errorf("postgres: add cab sync: %w", err)
	}
	return c, nil
}

// UpdateCabSync rewrites the state of a synchronisation.
func (s *Store) UpdateCabSync(ctx context.Context, c store.CabSync) error {
	err := exec1(ctx, s.pool, fmt.Sprintf("cab sync %d", c.ID), `UPDATE cab_history SET updated_at = $1, cab_date = $2,
		size = $3, sha1 = $4, status = $5, reason = $6, error = $7 WHERE id = $8`,
		tz(c.UpdatedAt), tv(c.CabDate), c.Size, c.SHA1, string(c.Status), string(c.Reason), c.Error, c.ID)
	if err != nil {
		return fmt.Errorf("postgres: update cab sync: %w", err)
	}
	return nil
}

// LatestCabSyncs returns the most recent synchronisations.
func (s *Store) LatestCabSyncs(ctx context.Context, limit int) ([]store.CabSync, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+cabCols+` FROM cab_history ORDER BY id DESC LIMIT $1`, store.PageLimit(limit, 20, 1000))
	if err != nil {
		return nil, fmt.Errorf("postgres: list cab syncs: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.CabSync, error) { return scanCab(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list cab syncs: %w", err)
	}
	return out, nil
}

const commandCols = `c.id, h.uuid, c.kind, c.args, c.actor, c.status, c.created_at, c.sent_at, c.finished_at, c.result, c.error`

func scanCommand(row pgx.Row) (store.Command, error) {
	var c store.Command
	err := row.Scan(&c.ID, &c.HostUUID, &c.Kind, &c.Args, &c.Actor, &c.Status, nt{&c.CreatedAt}, nt{&c.SentAt},
		nt{&c.FinishedAt}, &c.Result, &c.Error)
	return c, err
}

// QueueCommand queues a command, or returns the same pending one.
func (s *Store) QueueCommand(ctx context.Context, c store.Command) (store.Command, error) {
	switch c.Kind {
	case store.CommandScan, store.CommandDownload, store.CommandInstall:
	default:
		return c, fmt.Errorf("postgres: queue command: kind %q: %w (want scan, download or install)", c.Kind, store.ErrInvalid)
	}
	var out store.Command
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var pk int64
		// The host row lock makes the "same pending command" check race-free.
		err := tx.QueryRow(ctx, `SELECT id FROM hosts WHERE uuid = $1 FOR NO KEY UPDATE`, c.HostUUID).Scan(&pk)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("host " + c.HostUUID)
		}
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRow(ctx, `SELECT id FROM commands WHERE host_pk = $1 AND status = 'pending' AND kind = $2 AND args = $3
			ORDER BY id LIMIT 1`, pk, string(c.Kind), c.Args).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx, `INSERT INTO commands (host_pk, kind, args, actor, status, created_at)
				VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id`, pk, string(c.Kind), c.Args, c.Actor, tz(c.CreatedAt)).Scan(&id)
		}
		if err != nil {
			return err
		}
		out, err = scanCommand(tx.QueryRow(ctx, `SELECT `+commandCols+` FROM commands c JOIN hosts h ON h.id = c.host_pk WHERE c.id = $1`, id))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("postgres: queue %s command for host %s: %w", c.Kind, c.HostUUID, err)
	}
	return out, nil
}

// FetchCommands returns the pending commands of a host and marks them sent, in one
// statement: two concurrent polls never get the same command.
func (s *Store) FetchCommands(ctx context.Context, hostUUID string, at time.Time) ([]store.Command, error) {
	var pk int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM hosts WHERE uuid = $1`, hostUUID).Scan(&pk)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("postgres: fetch commands: host " + hostUUID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: fetch commands of host %s: %w", hostUUID, err)
	}
	rows, err := s.pool.Query(ctx, `WITH c AS (
		UPDATE commands SET status = 'sent', sent_at = $2
		WHERE id IN (SELECT id FROM commands WHERE host_pk = $1 AND status = 'pending' FOR UPDATE SKIP LOCKED)
		RETURNING *)
		SELECT `+commandCols+` FROM c JOIN hosts h ON h.id = c.host_pk`, pk, tv(at))
	if err != nil {
		return nil, fmt.Errorf("postgres: fetch commands of host %s: %w", hostUUID, err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.Command, error) { return scanCommand(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: fetch commands of host %s: %w", hostUUID, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// CompleteCommand records the result of a command.
func (s *Store) CompleteCommand(ctx context.Context, hostUUID string, id int64, at time.Time, result, errText string) error {
	status := store.CommandDone
	if errText != "" {
		status = store.CommandFailed
	}
	err := exec1(ctx, s.pool, fmt.Sprintf("command %d of host %s", id, hostUUID),
		`UPDATE commands SET status = $1, finished_at = $2, result = $3, error = $4
		WHERE id = $5 AND host_pk = (SELECT id FROM hosts WHERE uuid = $6)`,
		string(status), tv(at), result, errText, id, hostUUID)
	if err != nil {
		return fmt.Errorf("postgres: complete command: %w", err)
	}
	return nil
}

// ListCommands returns a host's most recent commands.
func (s *Store) ListCommands(ctx context.Context, hostUUID string, limit int) ([]store.Command, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+commandCols+` FROM commands c JOIN hosts h ON h.id = c.host_pk
		WHERE h.uuid = $1 ORDER BY c.id DESC LIMIT $2`, hostUUID, store.PageLimit(limit, 50, 1000))
	if err != nil {
		return nil, fmt.Errorf("postgres: list commands of host %s: %w", hostUUID, err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.Command, error) { return scanCommand(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list commands of host %s: %w", hostUUID, err)
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
		return fmt.Errorf("postgres: create user %q: %w", u.Username, err)
	}
	if u.Username == "" {
		return fmt.Errorf("postgres: create user: empty name: %w", store.ErrInvalid)
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
		u.Username, u.PasswordHash, string(u.Role), tz(u.CreatedAt), tz(u.UpdatedAt))
	if pgCode(err) == uniqueViolation {
		return fmt.Errorf("postgres: create user %q: %w", u.Username, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create user %q: %w", u.Username, err)
	}
	return nil
}

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	err := row.Scan(&u.Username, &u.PasswordHash, &u.Role, nt{&u.CreatedAt}, nt{&u.UpdatedAt})
	return u, err
}

// GetUser returns a user.
func (s *Store) GetUser(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT username, password_hash, role, created_at, updated_at FROM users WHERE username = $1`, username))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, notFound(fmt.Sprintf("postgres: user %q", username))
	}
	if err != nil {
		return u, fmt.Errorf("postgres: get user %q: %w", username, err)
	}
	return u, nil
}

// SetPassword replaces a user's password hash.
func (s *Store) SetPassword(ctx context.Context, username, passwordHash string, at time.Time) error {
	err := exec1(ctx, s.pool, fmt.Sprintf("user %q", username),
		`UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3`, passwordHash, tz(at), username)
	if err != nil {
		return fmt.Errorf("postgres: set password: %w", err)
	}
	return nil
}

// SetRole changes a user's role.
func (s *Store) SetRole(ctx context.Context, username string, role store.Role, at time.Time) error {
	if err := validRole(role); err != nil {
		return fmt.Errorf("postgres: set role of %q: %w", username, err)
	}
	err := exec1(ctx, s.pool, fmt.Sprintf("user %q", username),
		`UPDATE users SET role = $1, updated_at = $2 WHERE username = $3`, string(role), tz(at), username)
	if err != nil {
		return fmt.Errorf("postgres: set role: %w", err)
	}
	return nil
}

// DeleteUser removes a user.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	if err := exec1(ctx, s.pool, fmt.Sprintf("user %q", username), `DELETE FROM users WHERE username = $1`, username); err != nil {
		return fmt.Errorf("postgres: delete user: %w", err)
	}
	return nil
}

// ListUsers returns every user.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT username, password_hash, role, created_at, updated_at FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return out, nil
}

// AppendAudit adds an audit entry.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO audit_log (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		tz(e.At), e.Actor, e.Action, e.Target, e.Details).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("postgres: append audit entry %q: %w", e.Action, err)
	}
	return id, nil
}

// ListAudit returns audit entries, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	q := `SELECT id, at, actor, action, target, details FROM audit_log WHERE TRUE`
	args := []any{}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	for _, c := range []struct{ col, v string }{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if c.v != "" {
			q += ` AND ` + c.col + ` = ` + arg(c.v)
		}
	}
	if f.BeforeID > 0 {
		q += ` AND id < ` + arg(f.BeforeID)
	}
	q += ` ORDER BY id DESC LIMIT ` + arg(store.PageLimit(f.Limit, 100, 1000))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.AuditEntry, error) {
		var e store.AuditEntry
		err := r.Scan(&e.ID, nt{&e.At}, &e.Actor, &e.Action, &e.Target, &e.Details)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	return out, nil
}
