package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/server/servertest"
	"github.com/openwua/waptwua/internal/store/postgres"
	"github.com/openwua/waptwua/internal/store/postgres/pgtest"
)

// TestServerPostgres runs the HTTP suite on PostgreSQL: one private cluster (or the
// server of WAPTWUA_TEST_POSTGRES_URL) for the whole test, a fresh schema per subtest.
// Skipped when PostgreSQL is not installed, unless WAPTWUA_REQUIRE_POSTGRES=1.
func TestServerPostgres(t *testing.T) {
	base := pgtest.Start(t)
	servertest.Run(t, func(t *testing.T) server.Store {
		t.Helper()
		ctx := context.Background()
		u, err := pgtest.NewSchema(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := pgtest.DropSchema(ctx, u); err != nil {
				t.Errorf("drop schema: %v", err)
			}
		})
		st, err := postgres.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return st
	})
}
