package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/server/servertest"
	"github.com/openwua/waptwua/internal/store/sqlite"
)

// The HTTP suite of internal/server runs here because only cmd/* may import concrete
// store backends (internal/archtest reads test files too).

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
