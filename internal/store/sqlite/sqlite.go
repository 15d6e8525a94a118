// Package sqlite is the embedded store (modernc.org/sqlite, pure Go): the default for a
// server on one machine. One writer connection serialises writes (so concurrent writers
// queue instead of failing with SQLITE_BUSY); a pool of read-only connections reads in
// parallel under WAL.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/internal/sqlq"

	msqlite "modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of every role of package store.
type Store struct {
	sqlq.Common
	path string
	w    *sql.DB // one connection: all writes
	r    *sql.DB // read-only connections

	mu    sync.Mutex
	locks map[string]bool // held Locker names

	reports sqlq.Group[sqlq.HostReport] // ApplyReport's group commit
}

var _ store.Store = (*Store)(nil)
var _ store.Migrator = (*Store)(nil)

// dialect is SQLite's flavour of the shared statements.
func dialect() sqlq.Dialect {
	return sqlq.Dialect{
		Param:        func(int) string { return "?" },
		Time:         func(us int64) any { return us },
		True:         "1",
		False:        "0",
		SemiJoinIn:   true,
		ScanTime:     func(t *time.Time) any { return nt{t} },
		List:         func(ss []string) any { return jl(ss) },
		ScanList:     func(p *[]string) any { return sl{p} },
		IsUnique:     isUnique,
		IsForeignKey: isForeignKey,
		Greatest:     func(a, b string) string { return "max(coalesce(" + a + ", 0), coalesce(" + b + ", 0))" },
	}
}

// Open opens (creating it if needed) the database file at path. Call Migrate before use.
func Open(path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: database path %q: want a file path without '?' or '#'", path)
	}
	if err := privateFile(path); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		for _, p := range extra {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("journal_mode(WAL)", "synchronous(NORMAL)", "cache_size(-65536)", "temp_store(MEMORY)")+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer creates the file and switches it to WAL before any reader opens it.
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	n := max(2, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s := &Store{path: path, w: w, r: r, locks: map[string]bool{}}
	s.Common = sqlq.Common{DB: db{s}, D: dialect(), Name: "sqlite"}
	s.reports.Max, s.reports.Leaders, s.reports.Write = maxGroup, 1, s.writeReports
	return s, nil
}

// privateFile creates the database file readable by its owner only (SQLite gives its
// -wal and -shm files the mode of the database file), or tightens an existing database
// and its -wal and -shm files that others could read to 0600.
func privateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create database file: %w", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("database file: %w", err)
		}
		if st.Mode().IsRegular() && st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, st.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("make %s private (mode %o): %w", p, st.Mode().Perm(), err)
			}
		}
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite %s: ping: %w", s.path, err)
	}
	return nil
}

// Migrate applies the embedded migrations not applied yet, each in its own transaction.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		return fmt.Errorf("sqlite %s: create schema_migrations: %w", s.path, err)
	}
	if err := sqlq.Migrate(ctx, migrations, s.DB.Write); err != nil {
		return fmt.Errorf("sqlite %s: %w", s.path, err)
	}
	return nil
}

// write runs fn in a transaction on the writer connection.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// TryLock takes an in-process lock: SQLite serves one server process.
func (s *Store) TryLock(ctx context.Context, name string) (func(context.Context) error, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("lock %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[name] {
		return nil, false, nil
	}
	s.locks[name] = true
	var once sync.Once
	release := func(context.Context) error {
		once.Do(func() {
			s.mu.Lock()
			delete(s.locks, name)
			s.mu.Unlock()
		})
		return nil
	}
	return release, true, nil
}

type scanner interface {
	Scan(dest ...any) error
}

// tv is the value stored for a time column: unix microseconds, NULL for the zero time.
func tv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// tz is the value stored for a NOT NULL time column: unix microseconds, 0 for the zero
// time (read back as the zero time).
func tz(t time.Time) int64 { return sqlq.Micros(t) }

// nt scans a time column.
type nt struct{ t *time.Time }

func (n nt) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n.t = time.Time{}
	case int64:
		*n.t = sqlq.FromMicros(x)
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

// jl encodes a string list for a JSON column.
func jl(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ss) // strings always encode
	return string(b)
}

// sl scans a JSON list column.
type sl struct{ p *[]string }

func (l sl) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	case nil:
		*l.p = nil
		return nil
	default:
		return fmt.Errorf("list column: unexpected %T", v)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	if len(out) == 0 {
		out = nil
	}
	*l.p = out
	return nil
}

func notFound(what string) error { return sqlq.NotFound(what) }

// isUnique reports a UNIQUE or PRIMARY KEY constraint failure.
func isUnique(err error) bool {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isForeignKey reports a FOREIGN KEY constraint failure.
func isForeignKey(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// db adapts the store to sqlq.DB: writes on the writer connection, reads on the readers.
type db struct{ s *Store }

func (d db) Read(ctx context.Context, fn func(sqlq.Conn) error) error {
	tx, err := d.s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	return fn(conn{tx})
}

func (d db) Write(ctx context.Context, fn func(sqlq.Conn) error) error {
	return d.s.write(ctx, func(tx *sql.Tx) error { return fn(conn{tx}) })
}

func (d db) Reader() sqlq.Conn { return conn{d.s.r} }

// conn adapts a *sql.DB or *sql.Tx to sqlq.Conn.
type conn struct {
	q interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	r, err := c.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlq.Rows, error) {
	rows, err := c.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlq.Row {
	return sqlRow{c.q.QueryRowContext(ctx, query, args...)}
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return sqlq.ErrNoRows
	}
	return err
}
