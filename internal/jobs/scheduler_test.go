package jobs

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/sqlite"
	"github.com/openwua/waptwua/internal/upstream"
	"github.com/openwua/waptwua/internal/wu"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openSQLite opens a migrated SQLite store in the test's temporary folder.
func openSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "waptserver.sqlite"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st
}

// stubRepo is a repository that has (or lacks) a cab and nothing else.
type stubRepo struct{ hasCab bool }

func (s stubRepo) Dir() string { return "/nonexistent" }
func (s stubRepo) Stat(name string) (repo.FileInfo, error) {
	if s.hasCab && name == repo.CabName {
		return repo.FileInfo{Name: name}, nil
	}
	return repo.FileInfo{}, fs.ErrNotExist
}
func (s stubRepo) StageCab() (*repo.Writer, error)         { return nil, errors.New("stub") }
func (s stubRepo) SnapshotCab() (*repo.CabSnapshot, error) { return nil, errors.New("stub") }
func (s stubRepo) Write(string, repo.Want, func(*repo.Writer) error) (repo.Sums, bool, error) {
	return repo.Sums{}, false, errors.New("stub")
}
func (s stubRepo) Remove(string) error { return errors.New("stub") }
func (s stubRepo) CleanTemp() error    { return nil }

type stubFetcher struct{}

func (stubFetcher) FetchCab(context.Context, string, upstream.CabState, upstream.Destination) (upstream.CabResult, error) {
	return upstream.CabResult{}, errors.New("stub")
}
func (stubFetcher) Fetch(context.Context, wu.File, upstream.Destination) (upstream.Result, error) {
	return upstream.Result{}, errors.New("stub")
}

// fired records the runs of the stubbed jobs.
type fired struct {
	mu   sync.Mutex
	runs map[string][]firedRun
}

type firedRun struct {
	At        time.Time
	Triggered string
	Deadline  time.Time
}

func (f *fired) add(name string, at time.Time, arg runArg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.runs == nil {
		f.runs = map[string][]firedRun{}
	}
	f.runs[name] = append(f.runs[name], firedRun{At: at, Triggered: arg.triggered, Deadline: arg.deadline})
}

func (f *fired) get(name string) []firedRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]firedRun(nil), f.runs[name]...)
}

// stubbedRunner is a Runner on a fake clock whose three jobs only record when they run.
type stubbedRunner struct {
	r     *Runner
	clk   *fakeClock
	st    *sqlite.Store
	fired *fired
	loops int
}

func newStubbedRunner(t *testing.T, start time.Time, s Settings, hasCab bool) *stubbedRunner {
	t.Helper()
	st := openSQLite(t)
	clk := newFakeClock(start)
	r, err := New(st, stubFetcher{}, stubRepo{hasCab: hasCab}, s, WithClock(clk), WithLogger(discardLogger()),
		WithRand(func() float64 { return 0.5 }))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f := &fired{}
	r.cab.fn = func(ctx context.Context, arg runArg) (store.CabSync, error) {
		f.add(JobCabSync, clk.Now(), arg)
		return store.CabSync{}, nil
	}
	r.missing.fn = func(ctx context.Context, arg runArg) (DownloadSummary, error) {
		f.add(JobMissingFiles, clk.Now(), arg)
		return DownloadSummary{}, nil
	}
	r.clean.fn = func(ctx context.Context, arg runArg) (CleanupSummary, error) {
		f.add(JobCleanup, clk.Now(), arg)
		return CleanupSummary{}, nil
	}
	loops := 2
	if s.CleanupKBs {
		loops = 3
	}
	return &stubbedRunner{r: r, clk: clk, st: st, fired: f, loops: loops}
}

// runUntil runs the scheduler, moving the fake clock from waiter to waiter until end;
// before each move it calls step (when not nil) with the time about to be reached.
func (s *stubbedRunner) runUntil(t *testing.T, end time.Time, step func(next time.Time)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.r.Run(ctx) }()
	for {
		s.clk.blockUntil(t, s.loops)
		next, _ := s.clk.nextAt()
		if next.After(end) {
			break
		}
		if step != nil {
			step(next)
		}
		s.clk.set(next)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func times(runs []firedRun) []time.Time {
	out := make([]time.Time, len(runs))
	for i, r := range runs {
		out[i] = r.At
	}
	return out
}

func schedSettings() Settings {
	return Settings{
		CabSyncTime:          config.TimeOfDay{Hour: 3},
		CabSyncJitter:        30 * time.Minute,
		MissingFilesInterval: 30 * time.Minute,
		CleanupKBs:           true,
		CleanupWindow:        config.Window{Start: config.TimeOfDay{Hour: 2, Minute: 30}, End: config.TimeOfDay{Hour: 3, Minute: 30}},
		Instance:             "test",
	}
}

func at(day, hour, minute int) time.Time {
	return time.Date(2024, 3, day, hour, minute, 0, 0, time.UTC)
}

func TestSchedulerFiresAtTheRightTimes(t *testing.T) {
	s := newStubbedRunner(t, at(11, 12, 0), schedSettings(), true)
	s.runUntil(t, at(13, 12, 0), nil)

	// Daily sync: 03:00 plus half of the 30-minute jitter (rand = 0.5).
	if diff := cmp.Diff([]time.Time{at(12, 3, 15), at(13, 3, 15)}, times(s.fired.get(JobCabSync))); diff != "" {
		t.Errorf("cab sync times (-want +got):\n%s", diff)
	}
	// Missing files: at start, then every 30 minutes.
	var want []time.Time
	for tm := at(11, 12, 0); !tm.After(at(13, 12, 0)); tm = tm.Add(30 * time.Minute) {
		want = append(want, tm)
	}
	if diff := cmp.Diff(want, times(s.fired.get(JobMissingFiles))); diff != "" {
		t.Errorf("missing-files times (-want +got):\n%s", diff)
	}
	// Cleanup: at the window's start only, told to stop at its end.
	wantClean := []firedRun{
		{At: at(12, 2, 30), Triggered: "schedule", Deadline: at(12, 3, 30)},
		{At: at(13, 2, 30), Triggered: "schedule", Deadline: at(13, 3, 30)},
	}
	if diff := cmp.Diff(wantClean, s.fired.get(JobCleanup)); diff != "" {
		t.Errorf("cleanup runs (-want +got):\n%s", diff)
	}
}

func TestSchedulerJitterIsDrawnEachDay(t *testing.T) {
	st := schedSettings()
	s := newStubbedRunner(t, at(11, 12, 0), st, true)
	draws := []float64{0, 0.9, 0.25}
	i := 0
	var mu sync.Mutex
	s.r.rand = func() float64 {
		mu.Lock()
		defer mu.Unlock()
		v := draws[i%len(draws)]
		i++
		return v
	}
	s.runUntil(t, at(14, 12, 0), nil)
	// Day 11: draw 0 gives 03:00, already past at 12:00: skipped. Then 0.9, 0.25, 0.
	want := []time.Time{at(12, 3, 27), at(13, 3, 7).Add(30 * time.Second), at(14, 3, 0)}
	if diff := cmp.Diff(want, times(s.fired.get(JobCabSync))); diff != "" {
		t.Errorf("cab sync times (-want +got):\n%s", diff)
	}
}

func TestSchedulerStartInsideCleanupWindow(t *testing.T) {
	s := newStubbedRunner(t, at(12, 2, 45), schedSettings(), true)
	s.runUntil(t, at(13, 12, 0), nil)
	want := []firedRun{
		{At: at(12, 2, 45), Triggered: "schedule", Deadline: at(12, 3, 30)},
		{At: at(13, 2, 30), Triggered: "schedule", Deadline: at(13, 3, 30)},
	}
	if diff := cmp.Diff(want, s.fired.get(JobCleanup)); diff != "" {
		t.Errorf("cleanup runs (-want +got):\n%s", diff)
	}
}

func TestSchedulerWindowAcrossMidnight(t *testing.T) {
	set := schedSettings()
	set.CleanupWindow = config.Window{Start: config.TimeOfDay{Hour: 23}, End: config.TimeOfDay{Hour: 1}}
	s := newStubbedRunner(t, at(12, 0, 30), set, true)
	s.runUntil(t, at(13, 12, 0), nil)
	want := []firedRun{
		{At: at(12, 0, 30), Triggered: "schedule", Deadline: at(12, 1, 0)}, // yesterday's window, still open
		{At: at(12, 23, 0), Triggered: "schedule", Deadline: at(13, 1, 0)},
	}
	if diff := cmp.Diff(want, s.fired.get(JobCleanup)); diff != "" {
		t.Errorf("cleanup runs (-want +got):\n%s", diff)
	}
}

func TestSchedulerCleanupKBsFalse(t *testing.T) {
	set := schedSettings()
	set.CleanupKBs = false
	s := newStubbedRunner(t, at(11, 12, 0), set, true)
	s.runUntil(t, at(13, 12, 0), nil)
	if got := s.fired.get(JobCleanup); len(got) != 0 {
		t.Errorf("cleanup_kbs = False: nightly cleanup ran %v", got)
	}
	if got := len(s.fired.get(JobCabSync)); got != 2 {
		t.Errorf("cab sync ran %d times, want 2", got)
	}
}

func TestSchedulerRespectsTheLock(t *testing.T) {
	s := newStubbedRunner(t, at(11, 12, 0), schedSettings(), true)
	ctx := context.Background()
	// Another replica holds the cab-sync and cleanup locks during day 12.
	var releases []func(context.Context) error
	for _, name := range []string{JobCabSync, JobCleanup} {
		rel, ok, err := s.st.TryLock(ctx, name)
		if err != nil || !ok {
			t.Fatalf("TryLock(%s) = %v, %v", name, ok, err)
		}
		releases = append(releases, rel)
	}
	s.runUntil(t, at(13, 12, 0), func(next time.Time) {
		if releases != nil && !next.Before(at(12, 12, 0)) {
			for _, rel := range releases {
				rel(ctx)
			}
			releases = nil
		}
	})
	if diff := cmp.Diff([]time.Time{at(13, 3, 15)}, times(s.fired.get(JobCabSync))); diff != "" {
		t.Errorf("cab sync times (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Time{at(13, 2, 30)}, times(s.fired.get(JobCleanup))); diff != "" {
		t.Errorf("cleanup times (-want +got):\n%s", diff)
	}
	for _, js := range s.r.Status() {
		switch js.Name {
		case JobCabSync, JobCleanup:
			if js.Skipped != 1 || js.Runs != 1 {
				t.Errorf("%s status: %+v, want 1 skipped and 1 run", js.Name, js)
			}
		}
	}
}

func TestRunSyncsAtOnceWithoutCab(t *testing.T) {
	s := newStubbedRunner(t, at(11, 12, 0), schedSettings(), false)
	s.runUntil(t, at(11, 13, 0), nil)
	runs := s.fired.get(JobCabSync)
	if len(runs) != 1 || runs[0].Triggered != "startup" {
		t.Errorf("cab sync runs = %+v, want one at start", runs)
	}
	// The run itself goes on in its goroutine while the test moves the clock: its
	// start time is taken when it is launched.
	if st := s.r.cab.status(); !st.LastStart.Equal(at(11, 12, 0)) {
		t.Errorf("cab sync started at %v, want at once", st.LastStart)
	}
}

func TestForcedRunWhileLockedElsewhere(t *testing.T) {
	s := newStubbedRunner(t, at(11, 12, 0), schedSettings(), true)
	ctx := context.Background()
	rel, ok, err := s.st.TryLock(ctx, JobCabSync)
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	// The job runs elsewhere: not an error for the console's button, an ErrBusy for
	// those who wait for the result.
	if err := s.r.ForceCabSync(ctx); err != nil {
		t.Errorf("ForceCabSync with the lock held elsewhere = %v, want nil", err)
	}
	_, err = s.r.SyncCab(ctx, true)
	var busy interface{ Busy() bool }
	if !errors.Is(err, ErrBusy) || !errors.As(err, &busy) || !busy.Busy() {
		t.Errorf("SyncCab with the lock held elsewhere = %v, want ErrBusy", err)
	}
	if got := len(s.fired.get(JobCabSync)); got != 0 {
		t.Errorf("cab sync ran %d times while locked elsewhere", got)
	}
	rel(ctx)
	if _, err := s.r.SyncCab(ctx, true); err != nil {
		t.Errorf("SyncCab after release: %v", err)
	}
	if _, _, err := s.r.DeleteUnused(ctx); err != nil {
		t.Errorf("DeleteUnused: %v", err)
	}
	s.r.Close()
	if err := s.r.ForceCabSync(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("ForceCabSync after Close = %v, want ErrClosed", err)
	}
}

// TestCoalescing checks that a trigger arriving during a run joins it (cab sync) or is
// folded into one more run (download queue), and that the lock is held meanwhile.
func TestCoalescing(t *testing.T) {
	s := newStubbedRunner(t, at(11, 12, 0), schedSettings(), true)
	ctx := context.Background()
	gate := make(chan struct{})
	var mu sync.Mutex
	cabRuns, drainRuns := 0, 0
	s.r.cab.fn = func(ctx context.Context, arg runArg) (store.CabSync, error) {
		mu.Lock()
		cabRuns++
		mu.Unlock()
		<-gate
		return store.CabSync{ID: 7}, nil
	}
	s.r.drain.fn = func(ctx context.Context, arg runArg) (DownloadSummary, error) {
		mu.Lock()
		drainRuns++
		n := drainRuns
		mu.Unlock()
		if n == 1 {
			<-gate
		}
		return DownloadSummary{Done: n}, nil
	}
	if err := s.r.ForceCabSync(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := s.r.drain.start(ctx, runArg{})
	if err != nil {
		t.Fatal(err)
	}
	// The cab lock is held by the running sync.
	if _, ok, _ := s.st.TryLock(ctx, JobCabSync); ok {
		t.Error("cab-sync lock free while the sync runs")
	}
	var wg sync.WaitGroup
	results := make([]int64, 5)
	drains := make([]int, 5)
	for i := range 5 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			c, _ := s.r.SyncCab(ctx, false)
			results[i] = c.ID
		}()
		go func() {
			defer wg.Done()
			d, _ := s.r.drain.do(ctx, runArg{})
			drains[i] = d.Done
		}()
	}
	// Wait until the five queue callers are coalesced behind the running drain.
	for {
		s.r.drain.mu.Lock()
		queued := s.r.drain.next != nil
		s.r.drain.mu.Unlock()
		if queued {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	close(gate)
	wg.Wait()
	if _, err := s.r.drain.wait(ctx, first); err != nil {
		t.Fatal(err)
	}
	if cabRuns != 1 {
		t.Errorf("cab sync ran %d times, want 1 (joined)", cabRuns)
	}
	for i := range 5 {
		if results[i] != 7 {
			t.Errorf("caller %d got sync %d, want the joined run's 7", i, results[i])
		}
	}
	// The running drain, then one for all the callers (a caller slower than the 10ms
	// above may come after that one started and cause a third).
	if drainRuns != 2 && drainRuns != 3 {
		t.Errorf("download queue drained %d times, want 2", drainRuns)
	}
	for i := range 5 {
		if drains[i] < 2 {
			t.Errorf("queue caller %d got the result of drain %d, want a run started after its call", i, drains[i])
		}
	}
	if _, ok, _ := s.st.TryLock(ctx, JobCabSync); !ok {
		t.Error("cab-sync lock not given back after the run")
	}
}
