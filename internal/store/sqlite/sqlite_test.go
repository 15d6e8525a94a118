package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/storetest"
)

func newStore(t *testing.T) store.Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "waptwua.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newStore)
}

func TestBulkReports(t *testing.T) {
	hosts := 1000
	if testing.Short() {
		hosts = 100
	}
	storetest.Bulk(t, newStore(t), hosts, 150, 4)
}

func TestOpenRejectsURLPath(t *testing.T) {
	if _, err := Open("db.sqlite?mode=memory"); err == nil {
		t.Fatal("Open accepted a path with a query")
	}
}

// TestLargeCatalog measures the update list on a catalog of the real size. It is slow:
// set WAPTWUA_LARGE_CATALOG to the number of updates (136000 for the real catalog).
func TestLargeCatalog(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WAPTWUA_LARGE_CATALOG"))
	if n <= 0 {
		t.Skip("set WAPTWUA_LARGE_CATALOG=136000 to run")
	}
	storetest.LargeCatalog(t, newStore(t), n)
}
