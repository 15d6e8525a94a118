package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/openwua/waptwua/internal/action"
	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/schedule"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// Defaults of the options.
const (
	// DefaultMinFreeBytes is the free space below which the agent refuses to download
	// or install (REFERENCE §6).
	DefaultMinFreeBytes = 1 << 30
	// DefaultFullReportInterval is how often a full report is sent even when little
	// changed, so that the server heals from any lost state.
	DefaultFullReportInterval = 24 * time.Hour
)

// Progress is told the bytes of a download present so far and its expected total (-1
// when unknown).
type Progress func(name string, done, total int64)

// Agent runs the WAPTWUA cycle for one host. Its methods are safe for concurrent use:
// cycles run one at a time.
type Agent struct {
	cfg     *config.Agent
	wua     WUA
	client  *Client
	dataDir string

	svc         ServiceControl
	policy      Policy
	disk        DiskSpace
	direct      DirectDownloader
	clock       Clock
	log         *slog.Logger
	progress    Progress
	minFree     uint64
	fullEvery   time.Duration
	systemDrive string
	hostName    string
	osName      string
	version     string

	// trust are the certificates rules packages must chain to ([waptwua] trusted_certs);
	// nil: no package is trusted and the server's unsigned rules apply.
	trust *x509.CertPool

	// actions runs update packages (WithActionRunner); systemRoot is %SystemRoot%.
	actions    action.Runner
	systemRoot string

	// notifier tells logged-on users about reboots; rebooter restarts the host (nil:
	// never restarted).
	notifier Notifier
	rebooter Rebooter

	// networks lists the host's addresses for the report (site assignment).
	networks Networks

	mu sync.Mutex // one cycle at a time
	// liveScanKey is the scan key of the last scan made through wua by this process:
	// WUA backends act only on updates their own last scan returned.
	liveScanKey string
}

// Option configures an Agent.
type Option func(*Agent)

// WithServiceControl brings wuauserv up around WUA operations (default: nothing to do).
func WithServiceControl(s ServiceControl) Option { return func(a *Agent) { a.svc = s } }

// WithPolicy sets what applies [waptwua] enabled to Windows' policies (Serve applies it).
func WithPolicy(p Policy) Option { return func(a *Agent) { a.policy = p } }

// WithDiskSpace replaces the free-space check (default OSDiskSpace).
func WithDiskSpace(d DiskSpace) Option { return func(a *Agent) { a.disk = d } }

// WithDirectDownloader sets how files come from Microsoft with direct_download or
// allow_direct_download (default: internal/upstream through [global] http_proxy).
func WithDirectDownloader(d DirectDownloader) Option { return func(a *Agent) { a.direct = d } }

// WithClock sets the clock (default the system clock).
func WithClock(c Clock) Option { return func(a *Agent) { a.clock = c } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(a *Agent) { a.log = l } }

// WithProgress reports download progress (the CLI's progress bars).
func WithProgress(p Progress) Option { return func(a *Agent) { a.progress = p } }

// WithMinFreeBytes changes the 1 GiB free-space floor.
func WithMinFreeBytes(n uint64) Option { return func(a *Agent) { a.minFree = n } }

// WithFullReportInterval sets how often a full report is sent (default 24h).
func WithFullReportInterval(d time.Duration) Option { return func(a *Agent) { a.fullEvery = d } }

// WithSystemDrive names the folder whose volume must have room for installs (default:
// the data folder; cmd/wapt-get gives %SystemDrive%\ on Windows).
func WithSystemDrive(path string) Option { return func(a *Agent) { a.systemDrive = path } }

// WithHostInfo sets what reports say about the host.
func WithHostInfo(name, osName, version string) Option {
	return func(a *Agent) { a.hostName, a.osName, a.version = name, osName, version }
}

// New returns the agent for the configuration cfg, scanning through w, talking to the
// server and repository through client, and keeping its state, catalog and downloaded
// files in dataDir.
func New(cfg *config.Agent, w WUA, client *Client, dataDir string, opts ...Option) (*Agent, error) {
	if cfg == nil || w == nil || client == nil {
		return nil, errors.New("agent: configuration, WUA port and client are required")
	}
	if dataDir == "" {
		return nil, errors.New("agent: empty data folder")
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("agent data folder %s: %w", dataDir, err)
	}
	if err := cfg.CheckTransport("server", client.server); err != nil {
		return nil, err
	}
	if err := cfg.CheckTransport("repository", client.repo); err != nil {
		return nil, err
	}
	if _, err := wua.CriteriaFromFilter(cfg.WUA.Filter); err != nil {
		return nil, fmt.Errorf("%s [waptwua] filter = %q: %w", cfg.Source, cfg.WUA.Filter, err)
	}
	a := &Agent{
		cfg: cfg, wua: w, client: client, dataDir: abs,
		svc: noService{}, policy: noPolicy{}, disk: OSDiskSpace{}, clock: wu.SystemClock{},
		log: slog.Default(), minFree: DefaultMinFreeBytes, fullEvery: DefaultFullReportInterval,
		networks: InterfaceNetworks,
	}
	for _, o := range opts {
		o(a)
	}
	if a.systemDrive == "" {
		a.systemDrive = a.dataDir
	}
	if a.hostName == "" {
		a.hostName = cfg.Global.HostName
	}
	if a.hostName == "" {
		a.hostName, _ = os.Hostname()
	}
	if a.trust, err = loadTrust(cfg.WUA.TrustedCerts, cfg.Source); err != nil {
		return nil, err
	}
	if a.direct == nil && (cfg.WUA.DirectDownload || cfg.WUA.AllowDirectDownload) {
		d, err := newUpstreamDownloader(cfg.Global.HTTPProxy, a.log, a.progress)
		if err != nil {
			return nil, fmt.Errorf("%s [global] http_proxy: %w", cfg.Source, err)
		}
		a.direct = d
	}
	return a, nil
}

// DataDir returns the agent's data folder.
func (a *Agent) DataDir() string { return a.dataDir }

// Config returns the agent's configuration.
func (a *Agent) Config() *config.Agent { return a.cfg }

// op is how far a cycle goes.
type op int

const (
	opScan op = iota
	opDownload
	opInstall
)

func (o op) String() string {
	return [...]string{"scan", "download", "install"}[o]
}

// Scan fetches the catalog and the rules, scans when something changed (always with
// force), decides every update and reports (wapt-get waptwua-scan).
func (a *Agent) Scan(ctx context.Context, force bool) (*Summary, error) {
	return a.run(ctx, opScan, force)
}

// Download does what Scan does, then downloads the files of the allowed needed
// updates and reports again (wapt-get waptwua-download).
func (a *Agent) Download(ctx context.Context, force bool) (*Summary, error) {
	return a.run(ctx, opDownload, force)
}

// Install does what Download does, then installs every pending update in one batch and
// reports the results (wapt-get waptwua-install).
func (a *Agent) Install(ctx context.Context) (*Summary, error) {
	return a.run(ctx, opInstall, false)
}

// Status returns the state of the last cycle, without any network or WUA call
// (wapt-get waptwua-status).
func (a *Agent) Status() (*Summary, error) {
	st, err := LoadState(a.dataDir)
	if err != nil {
		return nil, err
	}
	return a.summary(st, nil), nil
}

// cycle carries one run's state and problems.
type cycle struct {
	op   op
	st   *State
	errs []error
	fail string // the most serious agent-level failure status, "" when none
	busy bool   // WUA was busy: retry later
	// scanned says this cycle ran a scan; scanFailed that one failed (not retried
	// within the cycle).
	scanned    bool
	scanFailed bool
	// restore puts wuauserv back; set once prepared.
	restore  func(context.Context) error
	packages []api.PackageStatus
	// updatePackages are the outcomes of the update packages of this cycle (nil: not
	// run, the server keeps the last reported list).
	updatePackages []api.PackageStatus
	reported       bool
	noScan         bool // no catalog: nothing could be scanned
	// rules are the merged rules of this cycle.
	rules rules.Rules
	// scheduled: the service's install job, gated by the maintenance schedule.
	scheduled bool
	// shutdown: the install at shutdown (install_at_shutdown), gated by
	// schedule.AtShutdown and the user's "skip this time".
	shutdown bool
	// pol is the maintenance policy of the cycle (schedulePolicy), polErr its refusal.
	pol     *schedule.Policy
	polDone bool
	polErr  error
	// userOn: a user is logged on (asked of the Notifier for the reboot policy).
	userOn bool
	// repos are the repositories update files come from this cycle, in order: the
	// first site repository that answered, those after it, the main one last.
	repos []*Client
}

// failWith records a problem; status (when not "") is an agent-level failure status,
// kept when more serious than one already recorded.
func (c *cycle) failWith(status string, err error) {
	c.errs = append(c.errs, err)
	if errors.Is(err, wua.ErrBusy) {
		c.busy = true
	}
	if status != "" && severity(status) > severity(c.fail) {
		c.fail = status
	}
}

func severity(status string) int {
	switch status {
	case StatusDiskSpaceError:
		return 4
	case StatusErrorScanning:
		return 3
	case StatusErrorDownloadingScan:
		return 2
	case StatusError:
		return 1
	}
	return 0
}

func (a *Agent) run(ctx context.Context, o op, force bool) (*Summary, error) {
	return a.runCycle(ctx, o, force, false)
}

// runCycle runs a cycle; scheduled says it is the service's install job, which installs
// only what the maintenance schedule allows now (see planInstall).
func (a *Agent) runCycle(ctx context.Context, o op, force, scheduled bool) (*Summary, error) {
	return a.runCycleAs(ctx, &cycle{op: o, scheduled: scheduled}, force)
}

// runCycleAs runs the cycle c (its op and kind set).
func (a *Agent) runCycleAs(ctx context.Context, c *cycle, force bool) (*Summary, error) {
	o := c.op
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(a.dataDir, CacheDirName), 0o700); err != nil {
		return nil, fmt.Errorf("agent data folder %s: %w (run as the agent's account or choose another --data-dir)", a.dataDir, err)
	}
	if err := RestrictPath(a.dataDir, true); err != nil {
		return nil, fmt.Errorf("agent data folder: %w", err)
	}
	st, err := LoadState(a.dataDir)
	if err != nil {
		return nil, err
	}
	c.st = st
	defer func() {
		if c.restore != nil {
			if err := c.restore(context.WithoutCancel(ctx)); err != nil {
				a.log.Warn("restore the Windows Update service", slog.Any("err", err))
			}
		}
	}()
	a.log.Info("waptwua cycle", slog.String("op", o.String()), slog.Bool("force", force))

	a.refresh(ctx, c, force)
	if o >= opDownload && ctx.Err() == nil {
		a.download(ctx, c)
	}
	if o == opInstall && ctx.Err() == nil {
		a.install(ctx, c)
	}
	if o == opInstall && ctx.Err() == nil {
		a.updatePackagesOfCycle(ctx, c)
	}
	if c.scheduled && a.managed() && ctx.Err() == nil {
		a.reboot(ctx, c)
	}
	if err := ctx.Err(); err != nil {
		c.errs = append(c.errs, fmt.Errorf("%s interrupted: %w", o, err))
	}
	a.noteSchedule(c)
	a.finish(ctx, c)
	sum := a.summary(st, c)
	return sum, errors.Join(c.errs...)
}

// prepare brings wuauserv up once per cycle, before the first WUA operation that needs it.
func (a *Agent) prepare(ctx context.Context, c *cycle) error {
	if c.restore != nil {
		return nil
	}
	restore, err := a.svc.Prepare(ctx)
	if err != nil {
		return fmt.Errorf("start the Windows Update service: %w", err)
	}
	c.restore = restore
	return nil
}

// finish settles the agent-level status, saves the state and reports.
func (a *Agent) finish(ctx context.Context, c *cycle) {
	st := c.st
	status := agentStatus(st.Updates)
	if c.noScan && !st.Scanned {
		status = StatusErrorScanning
	}
	if c.fail != "" {
		status = c.fail
	}
	st.Status = status
	st.LastError = errorText(c.errs)
	if err := saveState(a.dataDir, st); err != nil {
		c.errs = append(c.errs, err)
	}
	if ctx.Err() != nil {
		return
	}
	if err := a.report(ctx, c); err != nil {
		c.errs = append(c.errs, err)
	}
	if err := saveState(a.dataDir, st); err != nil {
		c.errs = append(c.errs, err)
	}
}

// errorText joins problems into one line for the report and the status.
func errorText(errs []error) string {
	var parts []string
	for _, e := range errs {
		if e != nil {
			parts = append(parts, e.Error())
		}
	}
	return truncate(strings.Join(parts, "; "), 4000)
}
