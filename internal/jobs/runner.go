package jobs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/upstream"
	"github.com/openwua/waptwua/internal/wu"
)

// Job names. Each is also the name of the store lock a run of the job holds.
const (
	JobCabSync      = "cab-sync"
	JobMissingFiles = "missing-files"
	JobCleanup      = "cleanup"
)

var (
	// ErrBusy: another server replica holds the job's lock and is running it now.
	ErrBusy = errors.New("job is running on another server replica")
	// ErrClosed: the runner has stopped (Run returned or Close was called).
	ErrClosed = errors.New("job runner stopped")
)

// Store is what the jobs need from the database: the catalog (import, update files),
// the file cache state, download tasks, the cab history, the audit log and the
// leader lock.
type Store interface {
	ImportCatalog(ctx context.Context, imp store.CatalogImport) (store.ImportResult, error)
	GetUpdate(ctx context.Context, key wu.UpdateKey) (store.UpdateInfo, error)
	store.FileStore
	store.TaskStore
	store.CabHistoryStore
	AppendAudit(ctx context.Context, e store.AuditEntry) (int64, error)
	store.Locker
}

// Fetcher downloads from Microsoft: *upstream.Client.
type Fetcher interface {
	FetchCab(ctx context.Context, rawURL string, prev upstream.CabState, dst upstream.Destination) (upstream.CabResult, error)
	Fetch(ctx context.Context, f wu.File, dst upstream.Destination) (upstream.Result, error)
}

// Repository is the waptwua/ folder: *repo.Repo. The jobs write it only through it.
type Repository interface {
	Dir() string
	Stat(name string) (repo.FileInfo, error)
	StageCab() (*repo.Writer, error)
	SnapshotCab() (*repo.CabSnapshot, error)
	Write(name string, want repo.Want, fill func(*repo.Writer) error) (repo.Sums, bool, error)
	Remove(name string) error
	CleanTemp() error
}

// Settings are the jobs' part of the server configuration. SettingsFrom builds them
// from waptserver.ini; zero fields take the defaults of package config.
type Settings struct {
	// CabURL is where wsusscn2.cab comes from (wsusscn2_url).
	CabURL string
	// CabSyncTime and CabSyncJitter: the daily sync starts at CabSyncTime plus a random
	// delay of up to CabSyncJitter, drawn anew each day. The zero value is midnight
	// (config's default is 03:00).
	CabSyncTime   config.TimeOfDay
	CabSyncJitter time.Duration
	// CabRoots are the roots trusted for the cab's Authenticode signature
	// (cab_trusted_roots). Nil: Microsoft's code-signing roots, built in.
	CabRoots *x509.CertPool
	// NoCabSignatureCheck (cab_signature_check = False) imports the cab without
	// checking its signature; every sync logs a warning.
	NoCabSignatureCheck bool
	// CatalogLanguage is the language of update titles read from the cab; "" = English.
	CatalogLanguage string
	// MissingFilesInterval is the period of the missing-files job.
	MissingFilesInterval time.Duration
	// DownloadConcurrency bounds the update files fetched at once by this process.
	DownloadConcurrency int
	// CleanupKBs enables the nightly cleanup inside CleanupWindow. The manual cleanup
	// (DeleteUnused) works whatever its value: the option disables the automatic
	// deletion only, as the original documents.
	CleanupKBs bool
	// CleanupWindow is when the nightly cleanup runs; the zero value means 02:30-03:30.
	CleanupWindow config.Window
	// Instance names this server process in download tasks (their worker). It must
	// stay the same across restarts and differ between replicas: at start the runner
	// re-queues the tasks its previous life left downloading. Default: the host name.
	Instance string
	// ProgressEvery is how often a running download records its progress (which is
	// also its heartbeat). Default 15s.
	ProgressEvery time.Duration
	// StaleTaskAge: a task downloading without heartbeat for that long belonged to a
	// replica that died; the missing-files job puts it back in the queue. Default 10m.
	StaleTaskAge time.Duration
	// PromotionInterval is the period of the promotion check (WithPackages). Default
	// DefaultPromotionInterval (a day).
	PromotionInterval time.Duration
	// RetryAfter is the wait before the scheduled job tries again a file whose last
	// download failed; it doubles with each failed attempt, up to a day. A forced
	// download ignores it. Default: MissingFilesInterval.
	RetryAfter time.Duration
}

// SettingsFrom takes the jobs' settings from the server configuration. It reads the
// cab_trusted_roots PEM file when one is set.
func SettingsFrom(c *config.Server) (Settings, error) {
	s := Settings{
		CabURL:               c.Wsusscn2URL,
		CabSyncTime:          c.CabSyncTime,
		CabSyncJitter:        c.CabSyncJitter,
		MissingFilesInterval: c.MissingFilesInterval,
		DownloadConcurrency:  c.DownloadConcurrency,
		CleanupKBs:           c.CleanupKBs,
		CleanupWindow:        c.CleanupWindow,
		NoCabSignatureCheck:  !c.CabSignatureCheck,
	}
	if c.CabTrustedRoots != "" {
		pool, err := LoadRoots(c.CabTrustedRoots)
		if err != nil {
			return s, err
		}
		s.CabRoots = pool
	}
	return s, nil
}

// LoadRoots reads a PEM file of root certificates for the cab signature check.
func LoadRoots(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cab_trusted_roots %s: %w (set it to a readable PEM file of root certificates)", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("cab_trusted_roots %s: no PEM certificate found (the file must hold -----BEGIN CERTIFICATE----- blocks)", path)
	}
	return pool, nil
}

func (s Settings) withDefaults() (Settings, error) {
	if s.CabURL == "" {
		s.CabURL = config.DefaultWsusscn2URL
	}
	if s.CabSyncJitter < 0 || s.CabSyncJitter >= 24*time.Hour {
		return s, fmt.Errorf("jobs: cab_sync_jitter %v: must be between 0 and 24h", s.CabSyncJitter)
	}
	if s.MissingFilesInterval == 0 {
		s.MissingFilesInterval = config.DefaultMissingFilesInterval
	}
	if s.MissingFilesInterval < 0 {
		return s, fmt.Errorf("jobs: missing_files_interval %v: must be positive (e.g. 30m)", s.MissingFilesInterval)
	}
	if s.DownloadConcurrency <= 0 {
		s.DownloadConcurrency = config.DefaultDownloadConcurrency
	}
	if s.CleanupWindow == (config.Window{}) {
		s.CleanupWindow = config.Window{Start: config.TimeOfDay{Hour: 2, Minute: 30}, End: config.TimeOfDay{Hour: 3, Minute: 30}}
	}
	if s.Instance == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "waptserver"
		}
		s.Instance = h
	}
	if s.ProgressEvery <= 0 {
		s.ProgressEvery = 15 * time.Second
	}
	if s.StaleTaskAge <= 0 {
		s.StaleTaskAge = 10 * time.Minute
	}
	if s.StaleTaskAge < 2*s.ProgressEvery {
		return s, fmt.Errorf("jobs: stale task age %v must be at least twice the progress period %v", s.StaleTaskAge, s.ProgressEvery)
	}
	if s.PromotionInterval <= 0 {
		s.PromotionInterval = DefaultPromotionInterval
	}
	if s.RetryAfter <= 0 {
		s.RetryAfter = s.MissingFilesInterval
	}
	return s, nil
}

// Metrics receives the jobs' measurements: *server.Metrics (whose methods accept a nil
// receiver). Without WithMetrics nothing is measured.
type Metrics interface {
	// AddDownloadedBytes counts bytes received from Microsoft (cab and update files).
	AddDownloadedBytes(n int64)
	// DownloadFinished counts one update file download, successful or not.
	DownloadFinished(ok bool)
	// SetTaskCounts publishes the number of download tasks per state given.
	SetTaskCounts(counts map[store.TaskStatus]int)
	// SetCabDate records the Last-Modified date of the published cab.
	SetCabDate(t time.Time)
	// CabSyncFinished counts one cab sync ended with status.
	CabSyncFinished(status store.CabStatus)
	// UnusedDeleted counts files removed by the cleanup.
	UnusedDeleted(n int, bytes int64)
}

type noMetrics struct{}

func (noMetrics) AddDownloadedBytes(int64)               {}
func (noMetrics) DownloadFinished(bool)                  {}
func (noMetrics) SetTaskCounts(map[store.TaskStatus]int) {}
func (noMetrics) SetCabDate(time.Time)                   {}
func (noMetrics) CabSyncFinished(store.CabStatus)        {}
func (noMetrics) UnusedDeleted(int, int64)               {}

// Option configures a Runner.
type Option func(*Runner)

// WithClock replaces the system clock.
func WithClock(c Clock) Option { return func(r *Runner) { r.clock = c } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(r *Runner) { r.log = l } }

// WithMetrics sends the jobs' measurements to m.
func WithMetrics(m Metrics) Option {
	return func(r *Runner) {
		if m != nil {
			r.metrics = m
		}
	}
}

// WithRand replaces the source of the daily sync's random delay: a function returning
// values in [0,1).
func WithRand(f func() float64) Option { return func(r *Runner) { r.rand = f } }

// Runner owns the three jobs: it schedules them (Run) and runs them on demand
// (ForceCabSync, ForceDownload, DeleteUnused). It is safe for concurrent use.
type Runner struct {
	st      Store
	up      Fetcher
	repo    Repository
	set     Settings
	clock   Clock
	log     *slog.Logger
	rand    func() float64
	metrics Metrics

	// life bounds every run: Run's end or Close cancels it.
	life    context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	runMu   sync.Mutex
	started bool

	cab      *job[store.CabSync]
	missing  *job[DownloadSummary]
	drain    *job[DownloadSummary]
	clean    *job[CleanupSummary]
	promo    *job[PromotionSummary]
	pkgs     PackageStore
	promoter Promoter

	progMu   sync.Mutex
	progress map[string]*taskProgress // by file name, for the running downloads
}

// New builds a Runner. Nothing runs until Run or one of the on-demand methods is
// called.
func New(st Store, up Fetcher, rp Repository, s Settings, opts ...Option) (*Runner, error) {
	if st == nil || up == nil || rp == nil {
		return nil, errors.New("jobs: New needs a store, an upstream client and a repository")
	}
	s, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Runner{st: st, up: up, repo: rp, set: s, clock: wu.SystemClock{}, log: slog.Default(),
		rand: rand.Float64, metrics: noMetrics{}, progress: map[string]*taskProgress{}}
	for _, o := range opts {
		o(r)
	}
	r.log = r.log.With("component", "jobs")
	r.life, r.stop = context.WithCancel(context.Background())
	r.cab = newJob(r, JobCabSync, true, false, r.syncCab)
	r.missing = newJob(r, JobMissingFiles, true, false, r.missingFiles)
	r.drain = newJob(r, "downloads", false, true, func(ctx context.Context, _ runArg) (DownloadSummary, error) {
		return r.drainQueue(ctx)
	})
	r.clean = newJob(r, JobCleanup, true, false, r.cleanup)
	r.promo = newJob(r, JobPromotion, true, false, r.promote)
	return r, nil
}

// Run starts the server's background work and blocks until ctx ends: it re-queues the
// downloads a killed server left behind (Recover), syncs the cab at once when the
// repository has none, then runs each job on its schedule. When ctx ends it cancels the
// running jobs, waits for them and returns nil. Run may be called once.
func (r *Runner) Run(ctx context.Context) error {
	r.runMu.Lock()
	if r.started {
		r.runMu.Unlock()
		return errors.New("jobs: Run called twice (build a new Runner)")
	}
	r.started = true
	r.runMu.Unlock()
	if r.life.Err() != nil {
		return ErrClosed
	}
	defer r.Close()

	if err := r.Recover(ctx); err != nil {
		r.log.Error("recovery at start failed; the scheduled jobs will retry", "err", err)
	}
	if prev, ok, err := r.lastGood(ctx); err == nil && ok {
		r.metrics.SetCabDate(prev.CabDate)
	}
	if _, err := r.repo.Stat(repo.CabName); err != nil {
		r.log.Info("no wsusscn2.cab in the repository yet: syncing it now")
		if _, err := r.cab.start(ctx, runArg{triggered: "startup"}); isBusy(err) {
			r.log.Info("initial cab sync: another replica is syncing")
		} else if err != nil {
			r.log.Warn("initial cab sync not started", "err", err)
		}
	}
	loops := []func(context.Context){r.cabLoop, r.missingLoop}
	if r.pkgs != nil {
		loops = append(loops, r.promotionLoop)
	}
	if r.set.CleanupKBs {
		loops = append(loops, r.cleanupLoop)
	} else {
		r.log.Info("cleanup_kbs = False: unused update files are not deleted automatically (Delete unused KBs still works)")
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.life.Done():
			cancel()
		case <-lctx.Done():
		}
	}()
	var wg sync.WaitGroup
	for _, loop := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(lctx)
		}()
	}
	<-lctx.Done()
	wg.Wait()
	return nil
}

// Close cancels the running jobs and waits for them to end. The runner cannot be used
// afterwards.
func (r *Runner) Close() error {
	r.stop()
	r.wg.Wait()
	return nil
}

// JobStatus describes one job for the console and the metrics.
type JobStatus struct {
	Name      string    `json:"name"`
	Running   bool      `json:"running"`
	Runs      int64     `json:"runs"`   // runs ended since start
	Errors    int64     `json:"errors"` // of which failed
	Skipped   int64     `json:"skipped"`
	LastStart time.Time `json:"last_start,omitzero"`
	LastEnd   time.Time `json:"last_end,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// LastSuccess is when a run last ended without error (zero: none since start);
	// ConsecutiveFailures counts the runs that failed since then (/readyz reads both).
	LastSuccess         time.Time `json:"last_success,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
}

// Status returns the state of the jobs in this process (the promotion check only with
// WithPackages).
func (r *Runner) Status() []JobStatus {
	out := []JobStatus{r.cab.status(), r.missing.status(), r.clean.status()}
	if r.pkgs != nil {
		out = append(out, r.promo.status())
	}
	return out
}

// releaseCtx is for the writes that must happen even when the job's context ended
// (recording an error, giving a lock back).
func (r *Runner) releaseCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}
