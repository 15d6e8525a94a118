package server_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/server/servertest"
	"github.com/openwua/waptwua/internal/store/sqlite"
)

// The HTTP suite of internal/server (servertest) on SQLite; suite_postgres_test.go
// runs it on PostgreSQL. Tests may wire concrete backends: internal/archtest checks
// production code only.

func openSQLite(t *testing.T) server.Store {
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

func TestServerSQLite(t *testing.T) {
	servertest.Run(t, openSQLite)
}
