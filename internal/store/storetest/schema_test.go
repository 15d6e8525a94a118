package storetest_test

// The two backends' migrations must build the same schema: the same tables, columns
// (with their types mapped to SQLite's storage classes), NOT NULL and default presence,
// primary keys, unique constraints, foreign keys, CHECK value lists, indexes and triggers.
// A migration changed in one dialect only fails TestSchemasAgree.

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/openwua/waptwua/internal/store/postgres"
	"github.com/openwua/waptwua/internal/store/postgres/pgtest"
	"github.com/openwua/waptwua/internal/store/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// schema is a database schema reduced to what both dialects can express.
type schema struct {
	Tables   map[string]*table
	Triggers []string // "table.trigger"
}

type column struct {
	Type       string // INTEGER, TEXT or BLOB
	NotNull    bool
	HasDefault bool
}

type index struct {
	Cols    string
	Unique  bool
	Partial bool
}

type table struct {
	Columns map[string]column
	PK      string
	Uniques []string // column lists of UNIQUE constraints
	FKs     []string // "col -> table(col) on delete ACTION"
	Checks  []string // "column: 'literal', ..." (the values a CHECK allows)
	Indexes map[string]index
}

func newTable() *table { return &table{Columns: map[string]column{}, Indexes: map[string]index{}} }

// Differences the dialects are allowed to have.
var (
	ignoredTables  = map[string]bool{"schema_migrations": true}
	ignoredIndexes = map[string]bool{"updates_search_trgm": true} // pg_trgm, PostgreSQL only
)

// diffSchemas lists every difference between a (SQLite) and b (PostgreSQL).
func diffSchemas(a, b schema) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for _, name := range union(a.Tables, b.Tables) {
		ta, tb := a.Tables[name], b.Tables[name]
		switch {
		case ta == nil:
			add("table %s: only in postgres", name)
			continue
		case tb == nil:
			add("table %s: only in sqlite", name)
			continue
		}
		for _, c := range union(ta.Columns, tb.Columns) {
			ca, oka := ta.Columns[c]
			cb, okb := tb.Columns[c]
			switch {
			case !oka:
				add("column %s.%s: only in postgres", name, c)
			case !okb:
				add("column %s.%s: only in sqlite", name, c)
			case ca != cb:
				add("column %s.%s: sqlite %+v, postgres %+v", name, c, ca, cb)
			}
		}
		if ta.PK != tb.PK {
			add("table %s primary key: sqlite (%s), postgres (%s)", name, ta.PK, tb.PK)
		}
		for _, l := range []struct {
			what   string
			sa, sb []string
		}{{"unique", ta.Uniques, tb.Uniques}, {"foreign key", ta.FKs, tb.FKs}, {"check", ta.Checks, tb.Checks}} {
			if !slices.Equal(l.sa, l.sb) {
				add("table %s %s constraints: sqlite %q, postgres %q", name, l.what, l.sa, l.sb)
			}
		}
		for _, ix := range union(ta.Indexes, tb.Indexes) {
			ia, oka := ta.Indexes[ix]
			ib, okb := tb.Indexes[ix]
			switch {
			case !oka:
				add("index %s on %s: only in postgres", ix, name)
			case !okb:
				add("index %s on %s: only in sqlite", ix, name)
			case ia != ib:
				add("index %s on %s: sqlite %+v, postgres %+v", ix, name, ia, ib)
			}
		}
	}
	if !slices.Equal(a.Triggers, b.Triggers) {
		add("triggers: sqlite %q, postgres %q", a.Triggers, b.Triggers)
	}
	return out
}

func union[V any](a, b map[string]V) []string {
	var ks []string
	for k := range a {
		ks = append(ks, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

var (
	checkRE   = regexp.MustCompile(`(?i)\bCHECK\s*\(`)
	identRE   = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	literalRE = regexp.MustCompile(`'([^']*)'`)
)

// normCheck reduces a CHECK expression (SQLite "col IN ('a', 'b')", PostgreSQL
// "(col = ANY (ARRAY['a'::text, 'b'::text]))") to its column and its sorted literals.
func normCheck(expr string) string {
	col := identRE.FindString(expr)
	var lits []string
	for _, m := range literalRE.FindAllStringSubmatch(expr, -1) {
		lits = append(lits, "'"+m[1]+"'")
	}
	sort.Strings(lits)
	return col + ": " + strings.Join(lits, ", ")
}

// sqliteChecks finds the CHECK constraints of a CREATE TABLE statement.
func sqliteChecks(create string) []string {
	var out []string
	for _, loc := range checkRE.FindAllStringIndex(create, -1) {
		depth, start := 1, loc[1]
		i := start
		for ; i < len(create) && depth > 0; i++ {
			switch create[i] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		out = append(out, normCheck(create[start:i-1]))
	}
	return out
}

func sqliteSchema(ctx context.Context, t *testing.T, path string) schema {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	query := func(q string, args ...any) [][]any {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	str := func(v any) string {
		if b, ok := v.([]byte); ok {
			return string(b)
		}
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	s := schema{Tables: map[string]*table{}}
	for _, r := range query(`SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`) {
		name := str(r[0])
		if ignoredTables[name] {
			continue
		}
		tb := newTable()
		s.Tables[name] = tb
		var pk []string
		pkPos := map[string]int64{}
		for _, c := range query(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)`, name) {
			col := column{Type: strings.ToUpper(str(c[1])), NotNull: c[2].(int64) == 1, HasDefault: c[3] != nil}
			if p := c[4].(int64); p > 0 {
				col.NotNull = true
				pk = append(pk, str(c[0]))
				pkPos[str(c[0])] = p
			}
			tb.Columns[str(c[0])] = col
		}
		sort.Slice(pk, func(i, j int) bool { return pkPos[pk[i]] < pkPos[pk[j]] })
		tb.PK = strings.Join(pk, ", ")
		for _, ix := range query(`SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, name) {
			var cols []string
			for _, c := range query(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, str(ix[0])) {
				cols = append(cols, str(c[0]))
			}
			switch str(ix[2]) {
			case "pk":
			case "u":
				tb.Uniques = append(tb.Uniques, strings.Join(cols, ", "))
			default:
				tb.Indexes[str(ix[0])] = index{Cols: strings.Join(cols, ", "), Unique: ix[1].(int64) == 1, Partial: ix[3].(int64) == 1}
			}
		}
		for _, fk := range query(`SELECT "from", "table", "to", on_delete FROM pragma_foreign_key_list(?)`, name) {
			tb.FKs = append(tb.FKs, fmt.Sprintf("%s -> %s(%s) on delete %s", str(fk[0]), str(fk[1]), str(fk[2]), strings.ToUpper(str(fk[3]))))
		}
		tb.Checks = sqliteChecks(str(r[1]))
		sortLists(tb)
	}
	for _, r := range query(`SELECT tbl_name, name FROM sqlite_schema WHERE type = 'trigger' ORDER BY tbl_name, name`) {
		s.Triggers = append(s.Triggers, str(r[0])+"."+str(r[1]))
	}
	return s
}

func sortLists(tb *table) {
	sort.Strings(tb.Uniques)
	sort.Strings(tb.FKs)
	sort.Strings(tb.Checks)
}

// pgTypes maps PostgreSQL column types to the SQLite storage class the other dialect
// uses for them.
var pgTypes = map[string]string{
	"bigint": "INTEGER", "integer": "INTEGER", "smallint": "INTEGER", "boolean": "INTEGER",
	"timestamp with time zone": "INTEGER", "text": "TEXT", "ARRAY": "TEXT", "bytea": "BLOB",
}

var pgDeleteActions = map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

func pgSchema(ctx context.Context, t *testing.T, url string) schema {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rowsOf := func(q string, args ...any) [][]any {
		rows, err := conn.Query(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out [][]any
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	s := schema{Tables: map[string]*table{}}
	for _, r := range rowsOf(`SELECT table_name, column_name, data_type, is_nullable = 'NO', column_default IS NOT NULL
		FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`) {
		name := r[0].(string)
		if ignoredTables[name] {
			continue
		}
		tb := s.Tables[name]
		if tb == nil {
			tb = newTable()
			s.Tables[name] = tb
		}
		typ, ok := pgTypes[r[2].(string)]
		if !ok {
			typ = "unmapped " + r[2].(string)
		}
		tb.Columns[r[1].(string)] = column{Type: typ, NotNull: r[3].(bool), HasDefault: r[4].(bool)}
	}
	colsOf := `(SELECT string_agg(a.attname, ', ' ORDER BY k.i) FROM unnest(%s) WITH ORDINALITY AS k(n, i)
		JOIN pg_attribute a ON a.attrelid = %s AND a.attnum = k.n)`
	for _, r := range rowsOf(`SELECT cl.relname, c.contype::text, ` + fmt.Sprintf(colsOf, "c.conkey", "c.conrelid") + `,
		coalesce(fc.relname, ''), coalesce(` + fmt.Sprintf(colsOf, "c.confkey", "c.confrelid") + `, ''), c.confdeltype::text,
		pg_get_constraintdef(c.oid)
		FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid LEFT JOIN pg_class fc ON fc.oid = c.confrelid
		WHERE cl.relnamespace = current_schema()::regnamespace`) {
		tb := s.Tables[r[0].(string)]
		if tb == nil {
			continue
		}
		cols := r[2].(string)
		switch r[1].(string) {
		case "p":
			tb.PK = cols
		case "u":
			tb.Uniques = append(tb.Uniques, cols)
		case "f":
			tb.FKs = append(tb.FKs, fmt.Sprintf("%s -> %s(%s) on delete %s", cols, r[3], r[4], pgDeleteActions[r[5].(string)]))
		case "c":
			def := strings.TrimPrefix(r[6].(string), "CHECK ")
			tb.Checks = append(tb.Checks, normCheck(def))
		}
	}
	for _, r := range rowsOf(`SELECT t.relname, i.relname, ix.indisunique, ix.indpred IS NOT NULL,
		(SELECT string_agg(pg_get_indexdef(ix.indexrelid, k, true), ', ' ORDER BY k) FROM generate_series(1, ix.indnatts) k)
		FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
		WHERE t.relnamespace = current_schema()::regnamespace
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid)`) {
		tb := s.Tables[r[0].(string)]
		if tb == nil || ignoredIndexes[r[1].(string)] {
			continue
		}
		tb.Indexes[r[1].(string)] = index{Cols: r[4].(string), Unique: r[2].(bool), Partial: r[3].(bool)}
	}
	for _, tb := range s.Tables {
		sortLists(tb)
	}
	for _, r := range rowsOf(`SELECT c.relname || '.' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace ORDER BY 1`) {
		s.Triggers = append(s.Triggers, r[0].(string))
	}
	return s
}

// migrated returns the schemas both backends' migrations build.
func migrated(t *testing.T) (lite, pg schema, litePath string) {
	ctx := context.Background()
	litePath = filepath.Join(t.TempDir(), "schema.db")
	ls, err := sqlite.Open(litePath)
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	if err := ls.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	url := pgtest.Start(t)
	ps, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if err := ps.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return sqliteSchema(ctx, t, litePath), pgSchema(ctx, t, url), litePath
}

func TestSchemasAgree(t *testing.T) {
	lite, pg, _ := migrated(t)
	if len(lite.Tables) < 10 {
		t.Fatalf("read %d tables from SQLite: the introspection is broken", len(lite.Tables))
	}
	for _, d := range diffSchemas(lite, pg) {
		t.Errorf("the migrations disagree: %s", d)
	}
}

// The comparison finds each kind of difference: a doctored copy of a real schema, and
// a real migration applied to one dialect only.
func TestSchemaDiffFindsDifferences(t *testing.T) {
	lite, pg, path := migrated(t)
	clone := func(s schema) schema {
		c := schema{Tables: map[string]*table{}, Triggers: slices.Clone(s.Triggers)}
		for n, tb := range s.Tables {
			x := *tb
			x.Columns, x.Indexes = map[string]column{}, map[string]index{}
			for k, v := range tb.Columns {
				x.Columns[k] = v
			}
			for k, v := range tb.Indexes {
				x.Indexes[k] = v
			}
			x.Uniques, x.FKs, x.Checks = slices.Clone(tb.Uniques), slices.Clone(tb.FKs), slices.Clone(tb.Checks)
			c.Tables[n] = &x
		}
		return c
	}
	for _, tt := range []struct {
		name   string
		doctor func(s *schema)
		want   string
	}{
		{"dropped column", func(s *schema) { delete(s.Tables["hosts"].Columns, "os") }, "column hosts.os: only in postgres"},
		{"column type", func(s *schema) {
			c := s.Tables["hosts"].Columns["name"]
			c.Type = "BLOB"
			s.Tables["hosts"].Columns["name"] = c
		}, "column hosts.name"},
		{"nullable", func(s *schema) {
			c := s.Tables["hosts"].Columns["name"]
			c.NotNull = false
			s.Tables["hosts"].Columns["name"] = c
		}, "column hosts.name"},
		{"index", func(s *schema) { delete(s.Tables["hosts"].Indexes, "hosts_name") }, "index hosts_name on hosts: only in postgres"},
		{"check values", func(s *schema) { s.Tables["commands"].Checks[0] = "kind: 'scan'" }, "table commands check constraints"},
		{"foreign key", func(s *schema) { s.Tables["host_updates"].FKs = s.Tables["host_updates"].FKs[1:] }, "table host_updates foreign key"},
		{"unique", func(s *schema) { s.Tables["hosts"].Uniques = nil }, "table hosts unique"},
		{"trigger", func(s *schema) { s.Triggers = nil }, "triggers"},
		{"table", func(s *schema) { delete(s.Tables, "audit_log") }, "table audit_log: only in postgres"},
	} {
		d := clone(lite)
		tt.doctor(&d)
		diffs := diffSchemas(d, pg)
		if len(diffs) != 1 || !strings.Contains(diffs[0], tt.want) {
			t.Errorf("%s: differences %q, want one containing %q", tt.name, diffs, tt.want)
		}
	}

	// A migration step applied to SQLite only.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`ALTER TABLE hosts ADD COLUMN note TEXT NOT NULL DEFAULT ''; CREATE INDEX hosts_note ON hosts (note)`); err != nil {
		t.Fatal(err)
	}
	diffs := diffSchemas(sqliteSchema(context.Background(), t, path), pg)
	if len(diffs) != 2 || !strings.Contains(diffs[0], "hosts.note") || !strings.Contains(diffs[1], "hosts_note") {
		t.Errorf("a column and an index added to SQLite only: differences %q", diffs)
	}
}
