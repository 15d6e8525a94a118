package sqlq

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// ErrNoRows is what Row.Scan returns when the query selected no row, whichever the
// driver.
var ErrNoRows = errors.New("no rows in result set")

// Row is one row of a query; Scan returns ErrNoRows when there is none.
type Row interface {
	Scan(dest ...any) error
}

// Rows is the result of a query. Close may be called more than once.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Conn runs statements written with "?" placeholders (the backend rewrites them to its
// own) on a connection or in a transaction.
type Conn interface {
	// Exec runs a statement and returns the number of rows it touched.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// DB is a backend's database as the shared code uses it.
type DB interface {
	// Read runs fn in a read-only transaction (one snapshot).
	Read(ctx context.Context, fn func(Conn) error) error
	// Write runs fn in a write transaction.
	Write(ctx context.Context, fn func(Conn) error) error
	// Reader runs single statements outside a transaction.
	Reader() Conn
}

// Collect scans every row of rows with scan, then closes rows.
func Collect[T any](rows Rows, scan func(Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// QueryAll runs a query and scans every row with scan.
func QueryAll[T any](ctx context.Context, c Conn, scan func(Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return Collect(rows, scan)
}

// Exec1 runs a statement that must touch a row; missing names the row for ErrNotFound.
func Exec1(ctx context.Context, c Conn, missing, query string, args ...any) error {
	n, err := c.Exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return NotFound(missing)
	}
	return nil
}

// NotFound is ErrNotFound naming what was looked up.
func NotFound(what string) error { return fmt.Errorf("%s: %w", what, store.ErrNotFound) }

// Rebind rewrites the "?" placeholders of query to "$1", "$2"... (PostgreSQL). The
// shared statements hold no "?" in literals or comments.
func Rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var sb strings.Builder
	sb.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(n))
			continue
		}
		sb.WriteByte(query[i])
	}
	return sb.String()
}

// In returns "(?, ?, ...)" for the values and the values (strings or ids) as arguments.
func In[T ~string | ~int64](vs []T) (string, []any) {
	args := make([]any, len(vs))
	for i, v := range vs {
		switch x := any(v).(type) {
		case int64:
			args[i] = x
		default:
			args[i] = reflect.ValueOf(v).String()
		}
	}
	return "(?" + strings.Repeat(", ?", max(len(vs)-1, 0)) + ")", args
}

// Common implements, once for both backends, the roles whose statements are the same
// in both dialects: each backend embeds it.
type Common struct {
	DB DB
	D  Dialect
	// Name prefixes the errors ("sqlite", "postgres").
	Name string
}

// errf wraps err as "<backend>: <what>: err"; nil stays nil.
func (c *Common) errf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s: %w", c.Name, fmt.Sprintf(format, args...), err)
}

// TimeArg is the argument bound to a nullable time column (NULL for the zero time).
func (c *Common) TimeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return c.D.Time(Micros(t))
}

// TimeZArg is the argument bound to a NOT NULL time column (0 or the epoch for the zero
// time, read back as the zero time).
func (c *Common) TimeZArg(t time.Time) any { return c.D.Time(Micros(t)) }
