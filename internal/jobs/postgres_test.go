package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/postgres"
	"github.com/openwua/waptwua/internal/store/postgres/pgtest"
	"github.com/openwua/waptwua/internal/store/sqlite"
	"github.com/openwua/waptwua/internal/wu"
)

// Both backends implement what the jobs need.
var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*postgres.Store)(nil)
)

func openPostgres(t *testing.T, url string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st
}

// TestReplicasOnPostgres: two server replicas (two connection pools, two upstream
// clients, one shared repository folder) on one PostgreSQL database. Fifty hosts need
// one update at the same moment and every trigger of both replicas fires: each file
// is fetched from Microsoft once. The job lock keeps a job to one replica.
func TestReplicasOnPostgres(t *testing.T) {
	url := pgtest.Start(t)
	stA, stB := openPostgres(t, url), openPostgres(t, url)
	ms := newStandIn(t)
	dir := filepath.Join(t.TempDir(), "waptwua")
	clk := newFakeClock(at(12, 10, 0))
	setA := Settings{Instance: "replica-a", DownloadConcurrency: 4}
	setB := Settings{Instance: "replica-b", DownloadConcurrency: 4}
	a := newEnv(t, envOptions{store: stA, ms: ms, repoDir: dir, clk: clk, settings: &setA})
	b := newEnv(t, envOptions{store: stB, ms: ms, repoDir: dir, clk: clk, settings: &setB})
	c := a.syncCatalog(0, patchTuesday1)
	u := pickUpdates(t, c.man, 1)[0]

	// The lock: while replica B holds cab-sync, replica A cannot run it.
	ctx := context.Background()
	release, ok, err := stB.TryLock(ctx, JobCabSync)
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	if _, err := a.r.SyncCab(ctx, true); !errors.Is(err, ErrBusy) {
		t.Errorf("SyncCab while the other replica holds the lock = %v, want ErrBusy", err)
	}
	if err := a.r.ForceCabSync(ctx); err != nil {
		t.Errorf("ForceCabSync while the other replica holds the lock = %v, want nil (it runs there)", err)
	}
	if n := len(a.history()); n != 1 {
		t.Errorf("cab history has %d rows, want 1 (no sync while locked elsewhere)", n)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}

	gate := make(chan struct{})
	ms.setGate(gate)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := a
			if i%2 == 1 {
				e = b
			}
			if err := e.report(fmt.Sprintf("host-%02d", i), map[wu.UpdateKey]wu.Status{u.Key(): wu.StatusMissing}); err != nil {
				errs <- err
				return
			}
			var err error
			if i%4 < 2 {
				_, err = e.r.DownloadMissing(ctx)
			} else {
				err = e.r.ForceDownload(ctx, []wu.UpdateKey{u.Key()})
			}
			if err != nil && !errors.Is(err, ErrBusy) {
				errs <- err
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	a.drainNow()
	b.drainNow()
	if _, err := a.r.DownloadMissing(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range u.Files {
		if n := ms.hitsOf(t, f.URL); n != 1 {
			t.Errorf("%s requested %d times from Microsoft, want 1", f.Name, n)
		}
		a.checkCached(f)
		for _, tk := range a.tasksOf(f.SHA1) {
			if tk.Status != store.TaskDone {
				t.Errorf("%s task %+v, want done", f.Name, tk)
			}
		}
	}
	a.noPartialFiles()
}
