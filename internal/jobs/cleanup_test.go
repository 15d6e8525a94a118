package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// cleanupFixture: two updates downloaded because hosts needed them; then host-2
// installs the second, so its files are unused.
type cleanupFixture struct {
	e            *env
	used, unused wu.Update
	unusedBytes  int64
}

func newCleanupFixture(t *testing.T, o envOptions) *cleanupFixture {
	t.Helper()
	e := newEnv(t, o)
	c := e.syncCatalog(0, patchTuesday1)
	us := pickUpdates(t, c.man, 2)
	e.hostReports("host-1", map[wu.UpdateKey]wu.Status{us[0].Key(): wu.StatusMissing})
	e.hostReports("host-2", map[wu.UpdateKey]wu.Status{us[1].Key(): wu.StatusMissing})
	if sum, err := e.r.DownloadMissing(e.ctx()); err != nil || sum.Failed != 0 {
		t.Fatalf("DownloadMissing = %+v, %v", sum, err)
	}
	e.hostReports("host-2", map[wu.UpdateKey]wu.Status{us[1].Key(): wu.StatusOK})
	f := &cleanupFixture{e: e, used: us[0], unused: us[1]}
	for _, file := range us[1].Files {
		f.unusedBytes += file.Size
	}
	return f
}

func (f *cleanupFixture) checkUnusedDeleted(t *testing.T, deleted bool) {
	t.Helper()
	for _, file := range f.used.Files {
		if !f.e.inRepo(file) {
			t.Errorf("%s, still needed, was deleted", file.Name)
		}
	}
	for _, file := range f.unused.Files {
		if f.e.inRepo(file) == deleted {
			t.Errorf("%s in the repository: %v, want %v", file.Name, !deleted, !deleted)
		}
		st := f.e.fileState(file.SHA1)
		if deleted && (!st.DownloadedOn.IsZero() || st.DeletedOn.IsZero()) {
			t.Errorf("%s store state %+v, want marked deleted", file.Name, st)
		}
	}
}

func TestCleanupDeletesOnlyUnusedThenRefetchesWhenNeeded(t *testing.T) {
	f := newCleanupFixture(t, envOptions{})
	e := f.e
	n, bytes, err := e.r.UnusedSummary(e.ctx())
	if err != nil || n != len(f.unused.Files) || bytes != f.unusedBytes {
		t.Fatalf("UnusedSummary = %d, %d, %v; want %d, %d", n, bytes, err, len(f.unused.Files), f.unusedBytes)
	}
	n, bytes, err = e.r.DeleteUnused(WithActor(e.ctx(), "alice"))
	if err != nil || n != len(f.unused.Files) || bytes != f.unusedBytes {
		t.Fatalf("DeleteUnused = %d, %d, %v; want %d, %d", n, bytes, err, len(f.unused.Files), f.unusedBytes)
	}
	f.checkUnusedDeleted(t, true)
	audit, err := e.st.(interface {
		ListAudit(context.Context, store.AuditFilter) ([]store.AuditEntry, error)
	}).ListAudit(e.ctx(), store.AuditFilter{Action: AuditDeleteUnused})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != len(f.unused.Files) {
		t.Fatalf("audit entries %+v, want one per deleted file", audit)
	}
	for _, a := range audit {
		if a.Actor != "alice" || !strings.Contains(a.Details, "manual") {
			t.Errorf("audit entry %+v, want actor alice, manual", a)
		}
	}
	if n, _, _ := e.r.UnusedSummary(e.ctx()); n != 0 {
		t.Errorf("unused files after cleanup: %d", n)
	}

	// Nothing needs it: the missing-files job leaves it deleted.
	before := e.ms.fileRequests()
	if sum, _ := e.r.DownloadMissing(e.ctx()); sum.Needed != 0 || e.ms.fileRequests() != before {
		t.Errorf("deleted file fetched again while no host needs it: %+v", sum)
	}
	// A host needs it again: fetched again.
	e.hostReports("host-3", map[wu.UpdateKey]wu.Status{f.unused.Key(): wu.StatusMissing})
	if sum, err := e.r.DownloadMissing(e.ctx()); err != nil || sum.Done != len(f.unused.Files) {
		t.Fatalf("DownloadMissing after a new need = %+v, %v", sum, err)
	}
	for _, file := range f.unused.Files {
		e.checkCached(file)
		if n := e.ms.hitsOf(t, file.URL); n != 2 {
			t.Errorf("%s requested %d times, want 2 (before and after the cleanup)", file.Name, n)
		}
	}
}

// runNight runs the scheduler from 02:00 to 04:00 on the fixture's store.
func runNight(t *testing.T, f *cleanupFixture, cleanupKBs bool) {
	t.Helper()
	e := f.e
	e.r.Close()
	set := e.set
	set.CleanupKBs = cleanupKBs
	clk := newFakeClock(at(13, 2, 0))
	e2 := newEnv(t, envOptions{store: e.st, ms: e.ms, repoDir: e.dir, clk: clk, settings: &set})
	s := &stubbedRunner{r: e2.r, clk: clk, loops: 2}
	if cleanupKBs {
		s.loops = 3
	}
	s.runUntil(t, at(13, 4, 0), nil)
}

func TestNightlyCleanup(t *testing.T) {
	f := newCleanupFixture(t, envOptions{})
	runNight(t, f, true)
	f.checkUnusedDeleted(t, true)
}

// cleanup_kbs = False disables the automatic deletion only: the nightly run does not
// happen, "Delete unused KBs" still works.
func TestNightlyCleanupDisabled(t *testing.T) {
	f := newCleanupFixture(t, envOptions{})
	runNight(t, f, false)
	f.checkUnusedDeleted(t, false)
	e := f.e
	set := e.set
	set.CleanupKBs = false
	e2 := newEnv(t, envOptions{store: e.st, ms: e.ms, repoDir: e.dir, settings: &set})
	n, _, err := e2.r.DeleteUnused(e2.ctx())
	if err != nil || n != len(f.unused.Files) {
		t.Fatalf("DeleteUnused with cleanup_kbs = False = %d, %v; want %d", n, err, len(f.unused.Files))
	}
	f.checkUnusedDeleted(t, true)
}

func TestNightlyCleanupStopsAtWindowEnd(t *testing.T) {
	f := newCleanupFixture(t, envOptions{})
	e := f.e
	sum, err := e.r.clean.do(e.ctx(), runArg{deadline: e.clk.Now(), actor: "system", triggered: "schedule"})
	if err != nil || sum.Files != 0 || sum.Deferred != len(f.unused.Files) {
		t.Errorf("cleanup after its window = %+v, %v; want everything deferred", sum, err)
	}
	f.checkUnusedDeleted(t, false)
}

// failingRemove is a repository whose Remove fails.
type failingRemove struct{ Repository }

func (failingRemove) Remove(string) error { return errors.New("permission denied") }

func TestCleanupRemoveFailureKeepsState(t *testing.T) {
	f := newCleanupFixture(t, envOptions{})
	e := f.e
	r, err := New(e.st, stubFetcher{}, failingRemove{e.repo}, e.set, WithClock(e.clk), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n, _, err := r.DeleteUnused(e.ctx())
	if err == nil || n != 0 || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("DeleteUnused = %d, %v; want the removal error", n, err)
	}
	f.checkUnusedDeleted(t, false)
	for _, file := range f.unused.Files {
		if st := e.fileState(file.SHA1); st.DownloadedOn.IsZero() {
			t.Errorf("%s: store says not cached while the file is still there: %+v", file.Name, st)
		}
	}
	if n, _, _ := e.r.UnusedSummary(e.ctx()); n != len(f.unused.Files) {
		t.Errorf("unused files after the failed cleanup: %d, want %d", n, len(f.unused.Files))
	}
}
