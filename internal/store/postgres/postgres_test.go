package postgres

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/postgres/pgtest"
	"github.com/openwua/waptwua/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) store.Store {
	t.Helper()
	s := open(t, pgtest.Start(t))
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

// Replicas starting together migrate once, without errors.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.Start(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		s := open(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Migrate(context.Background())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

// Two stores (two replicas) on one database exclude each other.
func TestLockAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t)
	a, b := open(t, url), open(t, url)
	release, ok, err := a.TryLock(ctx, "cleanup")
	if err != nil || !ok {
		t.Fatalf("replica a: %v %v", ok, err)
	}
	if _, ok, err := b.TryLock(ctx, "cleanup"); err != nil || ok {
		t.Fatalf("replica b got the lock a holds: %v %v", ok, err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	rb, ok, err := b.TryLock(ctx, "cleanup")
	if err != nil || !ok {
		t.Fatalf("replica b after release: %v %v", ok, err)
	}
	if err := rb(ctx); err != nil {
		t.Fatal(err)
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
