package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// drainNow waits until the download queue is empty (a ForceDownload's work included).
func (e *env) drainNow() DownloadSummary {
	e.t.Helper()
	s, err := e.r.drain.do(e.ctx(), runArg{})
	if err != nil {
		e.t.Fatalf("draining the queue: %v", err)
	}
	return s
}

func (e *env) tasksOf(sha1 string) []store.DownloadTask {
	e.t.Helper()
	all, err := e.st.ListTasks(e.ctx(), 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.DownloadTask
	for _, t := range all {
		if t.FileSHA1 == sha1 {
			out = append(out, t)
		}
	}
	return out
}

// checkCached checks that f is in the repository with its exact bytes and marked
// downloaded in the store.
func (e *env) checkCached(f wu.File) {
	e.t.Helper()
	name, _ := repo.NameFromURL(f.URL)
	got, err := os.ReadFile(filepath.Join(e.dir, name))
	if err != nil {
		e.t.Errorf("%s not in the repository: %v", name, err)
		return
	}
	want, _ := io.ReadAll(catalog.SynthFileContent(f.Name, f.Size))
	if !bytes.Equal(got, want) {
		e.t.Errorf("%s: repository bytes differ from Microsoft's", name)
	}
	if st := e.fileState(f.SHA1); st.DownloadedOn.IsZero() || st.DownloadedSize != f.Size {
		e.t.Errorf("%s: store state %+v, want downloaded with %d bytes", name, st, f.Size)
	}
}

func TestMissingFilesOnlyNeededAndAllowed(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.syncCatalog(0, patchTuesday1)
	us := pickUpdates(t, c.man, 4)
	missing, pending, discarded, installed := us[0], us[1], us[2], us[3]
	e.hostReports("host-1", map[wu.UpdateKey]wu.Status{missing.Key(): wu.StatusMissing, discarded.Key(): wu.StatusDiscarded})
	e.hostReports("host-2", map[wu.UpdateKey]wu.Status{pending.Key(): wu.StatusPending, installed.Key(): wu.StatusOK})

	sum, err := e.r.DownloadMissing(e.ctx())
	if err != nil {
		t.Fatalf("DownloadMissing: %v", err)
	}
	wantFiles := len(missing.Files) + len(pending.Files)
	if sum.Needed != wantFiles || sum.Queued != wantFiles || sum.Done != wantFiles || sum.Failed != 0 {
		t.Errorf("summary %+v, want %d needed, queued and done", sum, wantFiles)
	}
	for _, u := range []wu.Update{missing, pending} {
		for _, f := range u.Files {
			e.checkCached(f)
			if n := e.ms.hitsOf(t, f.URL); n != 1 {
				t.Errorf("%s requested %d times, want 1", f.Name, n)
			}
			ts := e.tasksOf(f.SHA1)
			if len(ts) != 1 || ts[0].Status != store.TaskDone || ts[0].Bytes != f.Size || ts[0].Attempts != 1 || ts[0].Error != "" {
				t.Errorf("%s tasks %+v, want one done with %d bytes", f.Name, ts, f.Size)
			}
		}
	}
	for _, u := range []wu.Update{discarded, installed} {
		for _, f := range u.Files {
			if e.inRepo(f) || e.ms.hitsOf(t, f.URL) != 0 || len(e.tasksOf(f.SHA1)) != 0 {
				t.Errorf("%s of a %s update was downloaded", f.Name, map[bool]string{true: "discarded", false: "installed"}[u.UpdateID == discarded.UpdateID])
			}
		}
	}
	// The next pass finds nothing to do.
	before := e.ms.fileRequests()
	sum, err = e.r.DownloadMissing(e.ctx())
	if err != nil || sum.Needed != 0 || e.ms.fileRequests() != before {
		t.Errorf("second pass: %+v, %v, %d requests; want nothing", sum, err, e.ms.fileRequests()-before)
	}
	e.noPartialFiles()
}

// TestManySimultaneousNeedsOneDownload: 50 hosts need one update at the same moment and
// every trigger fires at once; each of its files is fetched from Microsoft once.
func TestManySimultaneousNeedsOneDownload(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.syncCatalog(0, patchTuesday1)
	u := pickUpdates(t, c.man, 1)[0]
	gate := make(chan struct{})
	e.ms.setGate(gate)

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.report(fmt.Sprintf("host-%02d", i), map[wu.UpdateKey]wu.Status{u.Key(): wu.StatusMissing}); err != nil {
				errs <- err
				return
			}
			var err error
			if i%2 == 0 {
				_, err = e.r.DownloadMissing(e.ctx())
			} else {
				err = e.r.ForceDownload(e.ctx(), []wu.UpdateKey{u.Key()})
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	// Let the downloads reach the stand-in, then release them.
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.drainNow()
	for _, f := range u.Files {
		if n := e.ms.hitsOf(t, f.URL); n != 1 {
			t.Errorf("%s requested %d times from Microsoft, want 1", f.Name, n)
		}
		e.checkCached(f)
		for _, tk := range e.tasksOf(f.SHA1) {
			if tk.Status != store.TaskDone {
				t.Errorf("%s task %+v, want done", f.Name, tk)
			}
		}
	}
	e.noPartialFiles()
}

func TestDownloadWrongDigest(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.syncCatalog(0, patchTuesday1)
	u := pickUpdates(t, c.man, 1)[0]
	f := u.Files[0]
	e.ms.addFaults(t, f.URL, faultWrong)
	e.hostReports("host-1", map[wu.UpdateKey]wu.Status{u.Key(): wu.StatusMissing})

	sum, err := e.r.DownloadMissing(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || sum.Done != len(u.Files)-1 {
		t.Errorf("summary %+v, want 1 failed, the other files done", sum)
	}
	ts := e.tasksOf(f.SHA1)
	if len(ts) != 1 || ts[0].Status != store.TaskFailed || !strings.Contains(ts[0].Error, "sha1") && !strings.Contains(ts[0].Error, "size") {
		t.Fatalf("tasks %+v, want one failed naming the digest", ts)
	}
	t.Logf("task error: %s", ts[0].Error)
	if st := e.fileState(f.SHA1); st.Attempts != 1 || st.LastError != ts[0].Error || !st.DownloadedOn.IsZero() {
		t.Errorf("file state %+v, want 1 failed attempt with the task's error", st)
	}
	if n := e.ms.hitsOf(t, f.URL); n != 1 {
		t.Errorf("requests = %d, want 1 (a digest mismatch is not retried at once)", n)
	}
	if e.inRepo(f) {
		t.Error("a file failing its digest check is in the repository")
	}
	e.noPartialFiles()

	// The next pass, 10 minutes later, leaves the file alone; the one after 30 minutes
	// retries it (the stand-in now serves the right bytes).
	e.clk.advance(10 * time.Minute)
	sum, _ = e.r.DownloadMissing(e.ctx())
	if sum.Deferred != 1 || e.ms.hitsOf(t, f.URL) != 1 {
		t.Errorf("pass after 10m: %+v, %d requests; want the file deferred", sum, e.ms.hitsOf(t, f.URL))
	}
	e.clk.advance(21 * time.Minute)
	sum, _ = e.r.DownloadMissing(e.ctx())
	if sum.Done != 1 || sum.Failed != 0 {
		t.Errorf("pass after 31m: %+v, want the failed file done", sum)
	}
	e.checkCached(f)
	if st := e.fileState(f.SHA1); st.Attempts != 0 || st.LastError != "" {
		t.Errorf("file state after success %+v, want the error cleared", st)
	}
}

func TestDownloadTransientFailures(t *testing.T) {
	tests := []struct {
		desc      string
		faults    []fault
		wantHits  int
		wantError string // "" when the download must succeed
	}{
		{"5xx then success", []fault{fault503, fault503}, 3, ""},
		{"truncated body resumed", []fault{faultTruncate}, 2, ""},
		{"5xx until the retries run out", []fault{fault503, fault503, fault503}, 3, "503"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			c := e.syncCatalog(0, patchTuesday1)
			u := pickUpdates(t, c.man, 1)[0]
			f := u.Files[0]
			e.ms.addFaults(t, f.URL, tt.faults...)
			e.hostReports("host-1", map[wu.UpdateKey]wu.Status{u.Key(): wu.StatusMissing})
			if _, err := e.r.DownloadMissing(e.ctx()); err != nil {
				t.Fatal(err)
			}
			if n := e.ms.hitsOf(t, f.URL); n != tt.wantHits {
				t.Errorf("requests = %d, want %d", n, tt.wantHits)
			}
			ts := e.tasksOf(f.SHA1)
			if len(ts) != 1 {
				t.Fatalf("tasks %+v, want 1", ts)
			}
			if tt.wantError == "" {
				if ts[0].Status != store.TaskDone {
					t.Errorf("task %+v, want done", ts[0])
				}
				e.checkCached(f)
			} else {
				if ts[0].Status != store.TaskFailed || !strings.Contains(ts[0].Error, tt.wantError) {
					t.Errorf("task %+v, want failed with %q", ts[0], tt.wantError)
				}
				if e.inRepo(f) {
					t.Error("failed file in the repository")
				}
			}
			e.noPartialFiles()
		})
	}
}

func TestForceDownload(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.syncCatalog(0, patchTuesday1)
	us := pickUpdates(t, c.man, 2)

	unknown := wu.UpdateKey{UpdateID: "00000000-0000-0000-0000-000000000001", RevisionNumber: 1}
	if err := e.r.ForceDownload(e.ctx(), []wu.UpdateKey{us[0].Key(), unknown}); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), unknown.String()) {
		t.Errorf("ForceDownload with an unknown update = %v, want ErrNotFound naming it", err)
	}
	if ts, _ := e.st.ListTasks(e.ctx(), 100); len(ts) != 0 {
		t.Errorf("tasks queued despite the unknown key: %+v", ts)
	}

	// No host needs us[0]: the administrator downloads it anyway.
	if err := e.r.ForceDownload(e.ctx(), []wu.UpdateKey{us[0].Key()}); err != nil {
		t.Fatal(err)
	}
	e.drainNow()
	for _, f := range us[0].Files {
		e.checkCached(f)
	}
	for _, f := range us[1].Files {
		if e.inRepo(f) {
			t.Errorf("%s downloaded without being asked", f.Name)
		}
	}
	// Forcing again a cached update does nothing.
	before := e.ms.fileRequests()
	if err := e.r.ForceDownload(e.ctx(), []wu.UpdateKey{us[0].Key()}); err != nil {
		t.Fatal(err)
	}
	e.drainNow()
	if e.ms.fileRequests() != before {
		t.Error("a cached file was downloaded again")
	}
}

func TestRestartWithTaskLeftDownloading(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "waptwua")
	st := openSQLite(t)
	ms := newStandIn(t)
	clk := newFakeClock(at(12, 10, 0))
	e1 := newEnv(t, envOptions{store: st, ms: ms, repoDir: dir, clk: clk})
	c := e1.syncCatalog(0, patchTuesday1)
	u := pickUpdates(t, c.man, 1)[0]
	f := u.Files[0]
	e1.hostReports("host-1", map[wu.UpdateKey]wu.Status{u.Key(): wu.StatusMissing})

	// The server was killed in the middle of the download: the task says downloading,
	// half of the file sits in <name>.part.
	ctx := context.Background()
	for _, uf := range u.Files {
		if _, _, err := st.EnqueueDownload(ctx, uf.SHA1, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var claimed []store.DownloadTask
	for range u.Files {
		tk, err := st.ClaimTask(ctx, e1.set.Instance, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		claimed = append(claimed, tk)
	}
	name, _ := repo.NameFromURL(f.URL)
	data, _ := io.ReadAll(catalog.SynthFileContent(f.Name, f.Size))
	if err := os.WriteFile(filepath.Join(dir, name+".part"), data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	e1.r.Close()

	// The restarted server (same instance name) runs.
	clk.advance(time.Minute)
	e2 := newEnv(t, envOptions{store: st, ms: ms, repoDir: dir, clk: clk})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e2.r.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	finished := func() bool {
		for _, uf := range u.Files {
			ts := e2.tasksOf(uf.SHA1)
			if len(ts) < 2 || ts[0].Status != store.TaskDone {
				return false
			}
		}
		return true
	}
	for !finished() {
		if time.Now().After(deadline) {
			t.Fatalf("download not finished after restart: tasks %+v", e2.tasksOf(f.SHA1))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, uf := range u.Files {
		e2.checkCached(uf)
		ts := e2.tasksOf(uf.SHA1) // newest first
		if len(ts) != 2 || ts[0].Status != store.TaskDone || ts[1].Status != store.TaskFailed || !strings.Contains(ts[1].Error, "interrupted") {
			t.Errorf("%s tasks %+v, want the interrupted one failed and a new one done", uf.Name, ts)
		}
	}
	if claimed[0].Status != store.TaskDownloading {
		t.Errorf("claimed task %+v", claimed[0])
	}
	e2.noPartialFiles()
}

// TestStaleTaskOfDeadReplica: a task downloading on a replica that stopped sending its
// heartbeat is queued again once it is StaleTaskAge old.
func TestStaleTaskOfDeadReplica(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.syncCatalog(0, patchTuesday1)
	u := pickUpdates(t, c.man, 1)[0]
	e.hostReports("host-1", map[wu.UpdateKey]wu.Status{u.Key(): wu.StatusMissing})
	for _, f := range u.Files {
		if _, _, err := e.st.EnqueueDownload(e.ctx(), f.SHA1, e.clk.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.ClaimTask(e.ctx(), "dead-replica", e.clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.advance(5 * time.Minute)
	sum, err := e.r.DownloadMissing(e.ctx())
	if err != nil || sum.Requeued != 0 || sum.Done != 0 {
		t.Errorf("pass after 5m: %+v, %v; want the other replica's tasks left alone", sum, err)
	}
	e.clk.advance(6 * time.Minute)
	sum, err = e.r.DownloadMissing(e.ctx())
	if err != nil || sum.Requeued != len(u.Files) || sum.Done != len(u.Files) {
		t.Errorf("pass after 11m: %+v, %v; want the stale tasks requeued and done", sum, err)
	}
	for _, f := range u.Files {
		e.checkCached(f)
	}
}
