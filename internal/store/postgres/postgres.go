// Package postgres is the store for fleets past one machine: several server replicas
// share one PostgreSQL database (github.com/jackc/pgx/v5). Reports are applied with
// set-based statements over arrays, download tasks are claimed with FOR UPDATE SKIP
// LOCKED, and jobs elect a leader with advisory locks.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL implementation of every role of package store.
type Store struct {
	sqlq.Common
	pool    *pgxpool.Pool
	reports sqlq.Group[sqlq.HostReport] // ApplyReport's group commit
}

var _ store.Store = (*Store)(nil)
var _ store.Migrator = (*Store)(nil)

func dialect() sqlq.Dialect {
	return sqlq.Dialect{
		Param:        func(n int) string { return "$" + strconv.Itoa(n) },
		Time:         func(us int64) any { return time.UnixMicro(us).UTC() },
		True:         "true",
		False:        "false",
		ScanTime:     func(t *time.Time) any { return nt{t} },
		List:         func(ss []string) any { return list(ss) },
		ScanList:     func(p *[]string) any { return p },
		IsUnique:     func(err error) bool { return pgCode(err) == uniqueViolation },
		IsForeignKey: func(err error) bool { return pgCode(err) == foreignKeyViolation },
		LockRow:      " FOR NO KEY UPDATE",
		Greatest:     func(a, b string) string { return "GREATEST(" + a + ", " + b + ")" },
		XactLock:     `SELECT pg_advisory_xact_lock(` + strings.Replace(lockKey, "$1", "?", 1) + `)`,
	}
}

// Open connects a pool to the database at url (a postgres:// URL or key=value string;
// pool_max_conns and the other pgxpool settings may be given there). Call Migrate before
// use.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s database %s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	s := &Store{pool: pool}
	s.Common = sqlq.Common{DB: pgDB{pool}, D: dialect(), Name: "postgres"}
	s.reports.Max, s.reports.Leaders, s.reports.Write = maxGroup, reportLeaders, s.writeReports
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// lockKey is the advisory lock key of a name, distinct per schema so that several
// installations may share a database.
const lockKey = `hashtextextended('waptwua:' || current_schema() || ':' || $1::text, 0)`

// Migrate applies the embedded migrations not applied yet, each in its own transaction,
// under an advisory lock so that replicas starting together migrate once.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`, "migrate"); err != nil {
		return fmt.Errorf("postgres: migrate: take the migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must go even when ctx is cancelled.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+lockKey+`)`, "migrate"); err != nil {
			conn.Conn().Close(uctx) // closing the session frees the lock
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: create schema_migrations: %w", err)
	}
	err = sqlq.Migrate(ctx, migrations, func(ctx context.Context, fn func(sqlq.Conn) error) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return fn(pgConn{tx}) })
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// TryLock takes a session advisory lock on a connection kept out of the pool until
// release. If that connection breaks, the server frees the lock.
func (s *Store) TryLock(ctx context.Context, name string) (func(context.Context) error, bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: lock %q: %w", name, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey+`)`, name).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("postgres: lock %q: %w", name, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	released := false
	release := func(ctx context.Context) error {
		if released {
			return nil
		}
		released = true
		defer conn.Release()
		var was bool
		if err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock(`+lockKey+`)`, name).Scan(&was); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // closing the session frees the lock
			return fmt.Errorf("postgres: unlock %q: %w", name, err)
		}
		if !was {
			return fmt.Errorf("postgres: unlock %q: the lock was lost (connection reset?)", name)
		}
		return nil
	}
	return release, true, nil
}

// inTx runs fn in a transaction.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// tz is the value bound to a NOT NULL time column: the epoch for the zero time.
func tz(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t
}

// tarr is a time for a timestamptz[] argument.
func tarr(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// nt scans a time column: NULL and the epoch give the zero time, others are in UTC.
type nt struct{ t *time.Time }

func (n nt) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid || (v.InfinityModifier == pgtype.Finite && v.Time.Unix() == 0 && v.Time.Nanosecond() == 0) {
		*n.t = time.Time{}
		return nil
	}
	if v.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("time column: infinite timestamp")
	}
	*n.t = v.Time.UTC()
	return nil
}

// list returns ss, or an empty list for nil (text[] columns are NOT NULL).
func list(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

func notFound(what string) error { return sqlq.NotFound(what) }

// pgCode returns the SQLSTATE of a server error, "" for others.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// querier is what pool, conn and tx share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgDB adapts the pool to sqlq.DB.
type pgDB struct{ pool *pgxpool.Pool }

func (d pgDB) Read(ctx context.Context, fn func(sqlq.Conn) error) error {
	return pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return fn(pgConn{tx}) })
}

func (d pgDB) Write(ctx context.Context, fn func(sqlq.Conn) error) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return fn(pgConn{tx}) })
}

func (d pgDB) Reader() sqlq.Conn { return pgConn{d.pool} }

// pgConn adapts a pool, connection or transaction to sqlq.Conn: "?" placeholders become
// "$n", and pgx.ErrNoRows becomes sqlq.ErrNoRows.
type pgConn struct{ q querier }

func rebind(query string, args []any) string {
	if len(args) == 0 {
		return query
	}
	return sqlq.Rebind(query)
}

func (c pgConn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, rebind(query, args), args...)
	return tag.RowsAffected(), err
}

func (c pgConn) Query(ctx context.Context, query string, args ...any) (sqlq.Rows, error) {
	return c.q.Query(ctx, rebind(query, args), args...)
}

func (c pgConn) QueryRow(ctx context.Context, query string, args ...any) sqlq.Row {
	return pgRow{c.q.QueryRow(ctx, rebind(query, args), args...)}
}

type pgRow struct{ r pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlq.ErrNoRows
	}
	return err
}
