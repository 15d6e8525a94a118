package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestStart(t *testing.T) {
	ctx := context.Background()
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two Start calls gave the same schema %s", a)
	}
	for _, u := range []string{a, b} {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Errorf("create a table in the test schema: %v", err)
		}
		var fsync, user string
		if err := conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_user").Scan(&fsync, &user); err != nil {
			t.Fatal(err)
		}
		if fsync != "off" {
			t.Errorf("fsync = %s, want off", fsync)
		}
		conn.Close(ctx)
	}
}

func TestFindBinaries(t *testing.T) {
	i, p, err := FindBinaries()
	if err != nil {
		t.Skip(err)
	}
	t.Logf("initdb %s, postgres %s", i, p)
}
