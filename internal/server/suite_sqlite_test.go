package server_test

import (
	"testing"

	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/server/servertest"
	"github.com/openwua/waptwua/internal/store/sqlite/sqlitetest"
)

// The HTTP suite of internal/server (servertest) on SQLite; suite_postgres_test.go
// runs it on PostgreSQL. Tests may wire concrete backends: internal/archtest checks
// production code only.

func openSQLite(t *testing.T) server.Store { return sqlitetest.Open(t) }

func TestServerSQLite(t *testing.T) {
	servertest.Run(t, openSQLite)
}
