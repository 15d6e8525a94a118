// Package sqlq holds what the SQLite and PostgreSQL backends share: the SQL of the
// update list (filters, facets, keyset pagination) written once for both dialects, the
// opaque cursors, and the values derived from an update (content hash, sort keys,
// search text), so both backends answer the same way.
package sqlq

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// Dialect is what differs between the backends in the shared statements.
type Dialect struct {
	// Param is the placeholder of the n-th argument (1-based): "?" or "$n".
	Param func(n int) string
	// Time converts unix microseconds (0 for a zero time) to the argument bound to a
	// time column.
	Time func(us int64) any
	// True is the literal of a true boolean column value.
	True string
	// False is the literal of a false one.
	False string
	// SemiJoinIn writes "needed" as u.id IN (SELECT ...) instead of EXISTS: SQLite then
	// reads the needed statuses once instead of probing them for every update.
	SemiJoinIn bool
	// ScanTime is the scan destination of a time column into *t: NULL, 0 and the epoch
	// give the zero time, others are in UTC.
	ScanTime func(t *time.Time) any
	// List is the argument bound to a list-of-strings column.
	List func(ss []string) any
	// ScanList is the scan destination of a list column into *p.
	ScanList func(p *[]string) any
	// IsUnique reports a UNIQUE or PRIMARY KEY violation; IsForeignKey a FOREIGN KEY one.
	IsUnique, IsForeignKey func(err error) bool
	// LockRow is appended to a SELECT of one row to lock it for the transaction
	// (" FOR NO KEY UPDATE"); empty where the transaction excludes other writers.
	LockRow string
	// Greatest is the SQL of the larger of two nullable times (NULL counts as older).
	Greatest func(a, b string) string
	// XactLock is a statement taking a transaction-scoped lock named by its one
	// argument; empty where the transaction excludes other writers.
	XactLock string
}

// Stmt is a statement and its arguments.
type Stmt struct {
	SQL  string
	Args []any
}

type builder struct {
	d    Dialect
	sb   strings.Builder
	args []any
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return b.d.Param(len(b.args))
}

func (b *builder) w(parts ...string) {
	for _, p := range parts {
		b.sb.WriteString(p)
	}
}

// inList writes "(?, ?, ...)" with one argument per value.
func inList[T ~string](b *builder, values []T) {
	b.w("(")
	for i, v := range values {
		if i > 0 {
			b.w(", ")
		}
		b.w(b.arg(string(v)))
	}
	b.w(")")
}

func (b *builder) stmt() Stmt { return Stmt{SQL: b.sb.String(), Args: b.args} }

// Micros converts t to unix microseconds, 0 for the zero time.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicros is the inverse of Micros, in UTC.
func FromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// ContentHash is the hex SHA-256 of everything the catalog says about u: an import
// rewrites a revision only when it changes.
func ContentHash(u *wu.Update) (string, error) {
	b, err := json.Marshal(u)
	if err != nil {
		return "", fmt.Errorf("hash update %s: %w", u.Key(), err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// KBNumber is the numeric value of the first KB, the sort key of SortKB (0 when none).
func KBNumber(kbs []string) int64 {
	for _, kb := range kbs {
		kb = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(kb)), "KB")
		if n, err := strconv.ParseInt(kb, 10, 64); err == nil {
			return n
		}
	}
	return 0
}

// SearchText is the lower-case text that UpdateFilter.Search matches: "kbNNN" for each
// KB, then the title.
func SearchText(title string, kbs []string) string {
	var sb strings.Builder
	for _, kb := range kbs {
		sb.WriteString("kb")
		sb.WriteString(strings.ToLower(strings.TrimPrefix(strings.ToUpper(kb), "KB")))
		sb.WriteByte(' ')
	}
	sb.WriteString(strings.ToLower(title))
	return sb.String()
}

// LikePattern is a LIKE pattern (with ESCAPE '\') matching s anywhere, lower-cased.
func LikePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(strings.TrimSpace(s))) + "%"
}

// CleanStrings drops empty strings and duplicates, keeping order.
func CleanStrings(in []string) []string {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// cursor is the decoded form of an opaque page cursor: the sort it belongs to, the sort
// value of the last row of the previous page and its id.
type cursor struct {
	Sort string `json:"s"`
	Desc bool   `json:"d,omitempty"`
	Val  string `json:"v"`
	ID   int64  `json:"i"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // a struct of strings and numbers always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return c, fmt.Errorf("page cursor %q: %w (pass back the cursor of the previous page unchanged)", s, store.ErrInvalid)
	}
	return c, nil
}

// HostCursor returns the cursor continuing after the host with this name and row id.
func HostCursor(name string, id int64) string {
	return encodeCursor(cursor{Sort: "host", Val: name, ID: id})
}

// DecodeHostCursor returns the name and row id of a HostCursor.
func DecodeHostCursor(s string) (string, int64, error) {
	c, err := decodeCursor(s)
	if err != nil {
		return "", 0, err
	}
	if c.Sort != "host" {
		return "", 0, fmt.Errorf("page cursor %q is not a host list cursor: %w", s, store.ErrInvalid)
	}
	return c.Val, c.ID, nil
}
