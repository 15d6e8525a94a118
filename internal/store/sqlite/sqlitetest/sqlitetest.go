// Package sqlitetest opens throw-away SQLite stores for tests, as pgtest does for
// PostgreSQL.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openwua/waptwua/internal/store/sqlite"
)

// Open returns a fresh, migrated SQLite store in a temporary folder, closed by the
// test's cleanup.
func Open(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "waptserver.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}
