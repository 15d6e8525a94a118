package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/catalog"
	"github.com/openwua/waptwua/internal/console"
	"github.com/openwua/waptwua/internal/jobs"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/sqlite"
	"github.com/openwua/waptwua/internal/upstream"
)

// demoOptions shape `waptserver demo`.
type demoOptions struct {
	listen   string
	data     string
	hosts    int
	updates  int
	seed     int64
	logLevel string
	// mirrors is the number of site repositories started next to the server.
	mirrors int
	// quick shortens the agents' schedules (tests).
	quick bool
}

const (
	demoListen    = "127.0.0.1:8080"
	demoAdmin     = "demo"
	demoViewer    = "viewer"
	demoCabPath   = "/microsoftupdate/v6/wsusscan/wsusscn2.cab"
	demoAgentName = "demo"
)

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a self-contained demo: server, console, a stand-in for Microsoft and a fleet of simulated hosts",
		Long: `Run a self-contained demo on this machine, in one command:

  - a stand-in for Microsoft's update servers, serving a synthetic wsusscn2.cab and its
    update files (nothing is fetched from the Internet);
  - a real waptserver (SQLite in a temporary data folder, background jobs, web console);
  - a few dozen simulated Windows hosts (the real agent over the simulated Windows Update
    Agent) with varied products, rules and schedules, some install failures and pending
    restarts, two hosts left unscanned (trigger their scan from the console) and two
    hosts not seen for days;
  - an admin user "demo" and a read-only user "viewer" with random passwords.

It prints the console's URL and the logins, and runs until Ctrl+C. The data folder is
removed at exit unless --data names one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), o, cmd.Flags().Changed("listen"), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&o.listen, "listen", demoListen, "address of the server and console, host:port (another free port is taken when the default is busy)")
	cmd.Flags().StringVar(&o.data, "data", "", "data folder to use and keep (default: a temporary folder removed at exit)")
	cmd.Flags().IntVar(&o.hosts, "hosts", 36, "number of simulated hosts (1 to 500)")
	cmd.Flags().IntVar(&o.updates, "updates", 4000, "size of the synthetic catalog, in package.xml rows (100 to 200000)")
	cmd.Flags().Int64Var(&o.seed, "seed", 1, "seed of the synthetic catalog")
	cmd.Flags().IntVar(&o.mirrors, "mirrors", 0, "number of site repositories (waptserver mirror) to start next to the server, 0 to 4; the hosts are spread over their sites by network")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "error", "log level of the server and the agents: debug, info, warn or error")
	return cmd
}

func (o demoOptions) validate() error {
	if o.hosts < 1 || o.hosts > 500 {
		return fmt.Errorf("--hosts %d: want 1 to 500", o.hosts)
	}
	if o.updates < 100 || o.updates > 200_000 {
		return fmt.Errorf("--updates %d: want 100 to 200000", o.updates)
	}
	if o.mirrors < 0 || o.mirrors > maxDemoMirrors {
		return fmt.Errorf("--mirrors %d: want 0 to %d", o.mirrors, maxDemoMirrors)
	}
	return nil
}

func runDemo(ctx context.Context, o demoOptions, listenSet bool, stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	level, err := parseLevel(o.logLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	fmt.Fprintln(stdout, "waptserver demo: building the synthetic catalog and starting the fleet…")
	d, err := startDemo(ctx, o, !listenSet, log)
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(stdout, `
WAPTWUA demo is running.

  Console:    %s
  Admin:      %s / %s
  Read-only:  %s / %s

  %d simulated hosts, scanning within a minute%s
  %d updates in a synthetic catalog, served by a stand-in for Microsoft at %s
  Data folder: %s%s

%s
Press Ctrl+C to stop.
`, d.ConsoleURL, d.Admin, d.AdminPassword, d.Viewer, d.ViewerPassword,
		len(d.Hosts), d.manualNote(), len(d.Manifest.Updates), d.standin.url, d.Data, d.removeNote(), d.mirrorLines())
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nwaptserver demo: stopping…")
	return nil
}

// demoFleet is a running demo: server, console, stand-in, agents.
type demoFleet struct {
	URL            string // the server's base URL
	ConsoleURL     string
	Admin          string
	AdminPassword  string
	Viewer         string
	ViewerPassword string
	Data           string
	Manifest       *catalog.SynthManifest
	Hosts          []*demoHost
	Store          store.Store
	RulesPath      string
	Mirrors        []*demoMirror

	removeData bool
	standin    *standin
	runner     *jobs.Runner
	srv        *server.Server
	hs         *http.Server
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	closers    []func() error
	closeOnce  sync.Once
}

// mirrorLines prints each site repository on a line of its own.
func (d *demoFleet) mirrorLines() string {
	if len(d.Mirrors) == 0 {
		return ""
	}
	s := "\n"
	for i, m := range d.Mirrors {
		s += fmt.Sprintf("  Mirror %d: %s\n", i+1, m.URL)
	}
	return s + "  (site repositories; the Repositories page shows their state)\n"
}

func (d *demoFleet) removeNote() string {
	if d.removeData {
		return " (removed at exit)"
	}
	return ""
}

// manualNote names the hosts without a schedule, which wait for the console.
func (d *demoFleet) manualNote() string {
	var names []string
	for _, h := range d.Hosts {
		if h.Manual {
			names = append(names, h.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, " and ") + " wait for you: open them in Hosts and trigger their scan)"
}

func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startDemo builds and starts everything; Close stops it. tryOtherPort takes a free port
// when o.listen is busy.
func startDemo(ctx context.Context, o demoOptions, tryOtherPort bool, log *slog.Logger) (_ *demoFleet, err error) {
	d := &demoFleet{Admin: demoAdmin, Viewer: demoViewer, AdminPassword: randomSecret(8), ViewerPassword: randomSecret(8)}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel

	d.Data = o.data
	if d.Data == "" {
		if d.Data, err = os.MkdirTemp("", "waptwua-demo-"); err != nil {
			return nil, fmt.Errorf("demo data folder: %w", err)
		}
		d.removeData = true
	} else if err := os.MkdirAll(d.Data, 0o750); err != nil {
		return nil, fmt.Errorf("demo data folder: %w", err)
	}

	// 1. The synthetic catalog and the stand-in for Microsoft.
	cabPath := filepath.Join(d.Data, "standin-wsusscn2.cab")
	if d.Manifest, err = synthesizeDemoCatalog(cabPath, o); err != nil {
		return nil, err
	}
	if d.standin, err = newStandin(cabPath, d.Manifest, log); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, d.standin.Close)

	// 2. Store, users, repository, rules.
	st, err := sqlite.Open(filepath.Join(d.Data, "waptserver.sqlite"))
	if err != nil {
		return nil, fmt.Errorf("demo database: %w", err)
	}
	d.closers = append(d.closers, st.Close)
	d.Store = st
	if err := st.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("demo database: %w", err)
	}
	if err := createDemoUser(ctx, st, d.Admin, d.AdminPassword, store.RoleAdmin); err != nil {
		return nil, err
	}
	if err := createDemoUser(ctx, st, d.Viewer, d.ViewerPassword, store.RoleReadOnly); err != nil {
		return nil, err
	}
	rp, err := repo.Open(filepath.Join(d.Data, "waptwua"), repo.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("demo repository folder: %w", err)
	}
	d.closers = append(d.closers, rp.Close)
	d.RulesPath = filepath.Join(d.Data, rulesFile)
	fileRules := &server.FileRules{Path: d.RulesPath}
	if err := fileRules.SetServerRules(ctx, demoServerRules()); err != nil {
		return nil, fmt.Errorf("demo rules: %w", err)
	}

	// 3. Jobs: Microsoft is the stand-in.
	metrics := server.NewMetrics(time.Now)
	var runner *jobs.Runner
	up, err := upstream.New(
		upstream.WithLogger(log),
		upstream.WithTransport(d.standin.transport()),
		upstream.WithAllowedHosts(append(upstream.DefaultAllowedHosts(), "127.0.0.1")...),
		upstream.WithProgress(func(name string, done, total int64) {
			if runner != nil {
				runner.Progress(name, done, total)
			}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("demo Microsoft client: %w", err)
	}
	runner, err = jobs.New(st, up, rp, jobs.Settings{
		CabURL:               d.standin.url + demoCabPath,
		CabRoots:             d.standin.roots, // the stand-in signs its catalog with a root of its own
		MissingFilesInterval: time.Minute,
		DownloadConcurrency:  4,
		Instance:             "demo",
		ProgressEvery:        time.Second,
	}, jobs.WithLogger(log), jobs.WithMetrics(metrics))
	if err != nil {
		return nil, fmt.Errorf("demo jobs: %w", err)
	}
	d.runner = runner
	d.closers = append(d.closers, runner.Close)
	if sync, err := runner.SyncCab(ctx, true); err != nil || sync.Status != store.CabFinished {
		return nil, fmt.Errorf("demo catalog sync from the stand-in: %+v: %w", sync, err)
	}

	// 4. Server and console.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	adapter := &jobsAdapter{r: runner}
	application := server.NewApp(st, adapter, metrics, nil, "", app.WithLogger(log))
	con, err := console.New(console.Deps{Store: st, App: application, Rules: fileRules, Cache: rp, Packages: st, Mirrors: st},
		console.WithLogger(log), console.WithSessionKey(key))
	if err != nil {
		return nil, err
	}
	secret := randomSecret(16)
	d.srv = server.New(st,
		server.WithLogger(log),
		server.WithRepo(rp),
		server.WithMetrics(metrics),
		server.WithEnrollmentSecret(secret),
		server.WithRules(fileRules),
		server.WithApp(application),
		server.WithJobs(adapter),
		server.WithCommandPollInterval(time.Second),
		server.WithHandler("GET /{$}", con),
		server.WithHandler(console.Prefix, con),
	)
	ln, err := net.Listen("tcp", o.listen)
	if err != nil && tryOtherPort && errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(o.listen)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (choose another address with --listen)", o.listen, err)
	}
	d.URL = "http://" + ln.Addr().String()
	d.ConsoleURL = d.URL + console.Prefix
	d.hs = &http.Server{Handler: d.srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	d.hs.RegisterOnShutdown(d.srv.Shutdown)
	d.wg.Go(func() {
		if err := d.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo server stopped", slog.Any("err", err))
		}
	})
	d.wg.Go(func() {
		if err := runner.Run(runCtx); err != nil {
			log.Error("demo jobs stopped", slog.Any("err", err))
		}
	})

	// 5. The site repositories, then the fleet.
	if err := d.startMirrors(ctx, runCtx, o, secret, log); err != nil {
		return nil, err
	}
	if err := d.startFleet(ctx, runCtx, o, secret, log); err != nil {
		return nil, err
	}
	return d, nil
}

func synthesizeDemoCatalog(path string, o demoOptions) (*catalog.SynthManifest, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("synthetic catalog: %w", err)
	}
	man, err := catalog.Synthesize(f, catalog.SynthOptions{
		Updates: o.updates, Seed: o.seed, MinFileSize: 4 << 10, MaxFileSize: 96 << 10, PatchBytes: -1, CoreBytes: 300,
		Workers: 2, TempDir: filepath.Dir(path),
		// Recent dates, so that the dashboard's 30 days have something to show.
		Created: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour),
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("synthetic catalog: %w", err)
	}
	return man, nil
}

func createDemoUser(ctx context.Context, st store.UserStore, name, password string, role store.Role) error {
	hash, err := app.HashPassword(password, 0)
	if err != nil {
		return fmt.Errorf("demo user %s: %w", name, err)
	}
	now := time.Now()
	if err := st.CreateUser(ctx, store.User{Username: name, PasswordHash: hash, Role: role, CreatedAt: now, UpdatedAt: now}); err != nil &&
		!errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("demo user %s: %w", name, err)
	} else if err != nil {
		return st.SetPassword(ctx, name, hash, now)
	}
	return nil
}

// demoServerRules are the demo's server-wide rules: security and critical updates of
// the two highest severities are allowed, the rest waits for an administrator (hosts
// whose wapt-get.ini says default_allow = True take everything).
func demoServerRules() rules.Rules {
	f := false
	return rules.Rules{
		AllowedSeverities:      []string{"Critical", "Important"},
		AllowedClassifications: []string{"Security Updates", "Critical Updates"},
		DefaultAllow:           &f,
	}
}

// Close stops the agents, the server and the jobs, and removes the temporary data.
func (d *demoFleet) Close() {
	d.closeOnce.Do(func() {
		if d.cancel != nil {
			d.cancel()
		}
		if d.hs != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = d.hs.Shutdown(sctx)
			cancel()
		}
		d.wg.Wait()
		for i := len(d.closers) - 1; i >= 0; i-- {
			_ = d.closers[i]()
		}
		if d.removeData && d.Data != "" {
			_ = os.RemoveAll(d.Data)
		}
	})
}
