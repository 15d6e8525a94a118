package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/console"
	"github.com/openwua/waptwua/internal/edge"
	"github.com/openwua/waptwua/internal/jobs"
	"github.com/openwua/waptwua/internal/password"
	"github.com/openwua/waptwua/internal/pkg"
	"github.com/openwua/waptwua/internal/repo"
	"github.com/openwua/waptwua/internal/server"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/store/postgres"
	"github.com/openwua/waptwua/internal/store/sqlite"
	"github.com/openwua/waptwua/internal/upstream"
	"github.com/openwua/waptwua/internal/wu"
)

// Files the server keeps in its data folder, besides the SQLite database.
const (
	sessionKeyFile = "session.key"        // HMAC key of admin session tokens
	rulesFile      = "waptwua_rules.json" // server-wide rules given to every host
)

// serverFlags are the flags shared by serve, migrate and user: they override
// waptserver.ini.
type serverFlags struct {
	config string
	data   string
}

func (f *serverFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", "", "waptserver.ini to read (default: built-in defaults; WAPTSERVER_DB_URL still applies)")
	cmd.Flags().StringVar(&f.data, "data", "", "data folder: SQLite database, session key, rules (overrides data of waptserver.ini; default ./var)")
}

// load reads the configuration and applies the flags. The repository folder follows
// --data unless waptserver.ini names it.
func (f *serverFlags) load() (*config.Server, error) {
	var (
		cfg *config.Server
		err error
	)
	if f.config != "" {
		cfg, err = config.LoadServer(f.config)
	} else {
		cfg, err = config.ParseServer(nil, "built-in defaults")
		if err == nil {
			err = cfg.ApplyEnv(os.LookupEnv)
		}
	}
	if err != nil {
		return nil, err
	}
	if f.data != "" {
		if filepath.Clean(cfg.WaptwuaFolder) == filepath.Join(cfg.Data, "waptwua") {
			cfg.WaptwuaFolder = filepath.Join(f.data, "waptwua")
		}
		cfg.Data = f.data
	}
	return cfg, nil
}

// dbStore is a store backend: every role, migrations and Close.
type dbStore interface {
	store.Store
	store.Migrator
}

// openStore opens the database the configuration names and applies the migrations.
// The description names it for messages, without a password.
func openStore(ctx context.Context, cfg *config.Server) (dbStore, string, error) {
	kind, dsn := cfg.Database()
	var (
		st   dbStore
		desc string
		err  error
	)
	switch kind {
	case config.DBPostgres:
		desc = "PostgreSQL " + redactURL(dsn)
		st, err = postgres.Open(ctx, dsn)
	default:
		desc = "SQLite " + dsn
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, desc, fmt.Errorf("database folder: %w", err)
		}
		st, err = sqlite.Open(dsn)
	}
	if err != nil {
		return nil, desc, fmt.Errorf("open database (%s): %w", desc, err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, desc, fmt.Errorf("migrate database (%s): %w", desc, err)
	}
	return st, desc, nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

type serveOptions struct {
	serverFlags
	listen   string
	logLevel string
	noJobs   bool
	// agentExeDir holds windows-<arch>/wapt-get.exe for the console's agent installers.
	agentExeDir string
}

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: agent API, repository folder, admin API, background jobs",
		Long: `Run the server: the agent API (/api/v1/hosts/...), the repository folder
(/waptwua/), the admin API (/api/v1/admin/...), /healthz, /readyz and /metrics, and the
background jobs (daily catalog sync, missing files every 30 minutes, nightly cleanup).

The database is SQLite under the data folder unless db_url (or WAPTSERVER_DB_URL) names
a PostgreSQL database; migrations run at start. With tls_cert and tls_key the server
speaks HTTPS. SIGINT or SIGTERM stops it gracefully.

No console user is created automatically: on first start the server prints how to create
one ("waptserver user add NAME --role admin"). Agents register with the
enrollment_secret of waptserver.ini; without one, registration is closed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	o.register(cmd)
	cmd.Flags().StringVar(&o.listen, "listen", "", "address to listen on, host:port (overrides listen of waptserver.ini; default "+config.DefaultListen+")")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().BoolVar(&o.noJobs, "no-jobs", false, "do not run the background jobs (no download from Microsoft; for tests and read-only replicas)")
	cmd.Flags().StringVar(&o.agentExeDir, "agent-exe-dir", "", "folder holding windows-amd64/wapt-get.exe and windows-arm64/wapt-get.exe for the console's agent installers (default: the folder of waptserver, where `make build cross` puts them)")
	return cmd
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func runServe(ctx context.Context, o serveOptions, stderr io.Writer) error {
	level, err := parseLevel(o.logLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := o.load()
	if err != nil {
		return err
	}
	if o.listen != "" {
		cfg.Listen = o.listen
	}
	for _, k := range cfg.Warnings {
		log.Warn("waptserver.ini: unknown key ignored", slog.String("key", k), slog.String("file", cfg.Source))
	}
	if cfg.EnrollmentSecret != "" {
		// A weak secret (or an example from the docs) lets anyone enroll a host.
		if err := password.CheckSecret(cfg.Source+" [options] enrollment_secret", cfg.EnrollmentSecret); err != nil {
			return err
		}
	}
	edgeCfg, err := edge.Parse(cfg.PublicURL, cfg.TrustedProxies)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Source, err)
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	st, desc, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	// Keep partial downloads for a day so a restarted server resumes them (they are never served).
	rp, err := repo.Open(cfg.WaptwuaFolder, repo.WithLogger(log), repo.WithKeepParts(24*time.Hour))
	if err != nil {
		return fmt.Errorf("repository folder (waptwua_folder): %w", err)
	}
	defer rp.Close()
	key, err := loadSessionKey(filepath.Join(cfg.Data, sessionKeyFile))
	if err != nil {
		return err
	}
	tlsCert, err := loadTLS(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (change listen in waptserver.ini or --listen)", cfg.Listen, err)
	}
	defer ln.Close() // Serve closes it too; this covers the early returns

	metrics := server.NewMetrics(time.Now)
	var pkgOpts []server.Option
	var pkgRoots *x509.CertPool // for the console's server-signed packages
	if cfg.PackageTrustedCerts != "" {
		roots, certs, err := config.LoadCertPool("package_trusted_certs", cfg.PackageTrustedCerts)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.Source, err)
		}
		pkgRoots = roots
		pkgOpts = append(pkgOpts, server.WithPackageRoots(roots, cfg.PackageTrustedCerts))
		log.Info("rules packages: uploads are verified", slog.String("package_trusted_certs", cfg.PackageTrustedCerts), slog.Int("certificates", len(certs)))
	} else {
		log.Warn("rules packages: package_trusted_certs is not set: uploaded packages are stored unverified and not served to agents")
	}
	fileRules := &server.FileRules{Path: filepath.Join(cfg.Data, rulesFile)}
	opts := []server.Option{
		server.WithLogger(log),
		server.WithRepo(rp),
		server.WithMetrics(metrics),
		server.WithEnrollmentSecret(cfg.EnrollmentSecret),
		server.WithMaxReportBytes(cfg.MaxReportBytes),
		server.WithMaxCatalogAge(cfg.MaxCatalogAge),
		server.WithEdge(edgeCfg),
		server.WithApproval(cfg.ApproveHosts),
		server.WithRules(fileRules),
	}
	opts = append(opts, pkgOpts...)
	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	var jobsDone sync.WaitGroup
	// One application layer for the admin API, the console and the jobs' promotions: the
	// jobs reach it through the adapter, filled once the runner exists.
	adapter := &jobsAdapter{}
	var appJobs app.Jobs // nil without the jobs: the job actions answer 503
	if !o.noJobs {
		appJobs = adapter
	}
	application := server.NewApp(st, appJobs, metrics, pkgRoots, cfg.PackageTrustedCerts,
		app.WithLogger(log), app.WithInstallers(msiBuilder{exeDir: o.agentExeDir}), app.WithPayloads(rp))
	opts = append(opts, server.WithApp(application))
	if !o.noJobs {
		runner, err := newJobs(cfg, st, rp, log, metrics, application)
		if err != nil {
			return err
		}
		defer runner.Close()
		adapter.r = runner
		opts = append(opts, server.WithJobs(adapter), server.WithJobHealth(adapter))
		jobsDone.Go(func() {
			if err := runner.Run(jobsCtx); err != nil {
				log.Error("background jobs stopped", slog.Any("err", err))
			}
		})
	}
	// The web console: pages under /ui/, "/" redirects there.
	signing, err := loadPackageSigning(cfg)
	if err != nil {
		return err
	}
	if signing != nil {
		log.Warn("rules packages: the console signs packages with the server-held key package_signing_key: whoever controls this server can sign rules for every host",
			slog.String("package_signing_cert", cfg.PackageSigningCert), slog.String("signer", signing.Chain[0].Subject.CommonName))
	}
	con, err := console.New(console.Deps{Store: st, App: application, Rules: fileRules, Cache: rp, Packages: st, PackageSigning: signing, Mirrors: st},
		console.WithLogger(log), console.WithSessionKey(key), console.WithSecureCookies(tlsCert != nil), console.WithEdge(edgeCfg),
		console.WithPublicURL(cfg.PublicURL))
	if err != nil {
		return err
	}
	opts = append(opts, server.WithHandler("GET /{$}", con), server.WithHandler(console.Prefix, con))
	srv := server.New(st, opts...)
	// Stop the jobs before the store and the repository close (deferred calls run last first).
	defer func() {
		stopJobs()
		jobsDone.Wait()
	}()
	if err := srv.RefreshMetrics(ctx); err != nil {
		log.Warn("metrics from the store", slog.Any("err", err))
	}
	jobsDone.Go(func() { refreshMetrics(jobsCtx, srv, log) })
	jobsDone.Go(func() { purgeSessions(jobsCtx, st, log) })

	if err := firstStartNotice(ctx, st, cfg, o.serverFlags, stderr); err != nil {
		return err
	}
	if cfg.EnrollmentSecret == "" {
		log.Warn("agent registration is closed: set enrollment_secret in [options] of waptserver.ini (e.g. `openssl rand -hex 24`) and restart")
	}

	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // reports; downloads are not bounded (WriteTimeout 0)
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	hs.RegisterOnShutdown(srv.Shutdown)
	scheme := "http"
	if tlsCert != nil {
		scheme = "https"
	}
	log.Info("waptserver listening", slog.String("url", scheme+"://"+ln.Addr().String()), slog.String("database", desc),
		slog.String("repository", rp.Dir()), slog.String("data", cfg.Data), slog.Bool("jobs", !o.noJobs))
	err = serveHTTP(ctx, hs, ln, tlsCert, log)
	stopJobs()
	jobsDone.Wait()
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// loadSessionKey reads the session key of the data folder, creating it on first start.
// Replicas behind one load balancer must share the file.
func loadSessionKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		key, derr := hex.DecodeString(strings.TrimSpace(string(data)))
		if derr != nil || len(key) < 32 {
			return nil, fmt.Errorf("session key %s: want 64 hexadecimal digits (delete the file to make a new one; sessions end)", path)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("session key: %w", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it meanwhile
		return loadSessionKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	if _, err := fmt.Fprintln(f, hex.EncodeToString(key)); err != nil {
		f.Close()
		return nil, fmt.Errorf("session key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("session key %s: %w", path, err)
	}
	return key, nil
}

// firstStartNotice tells how to create the first console user when there is none.
func firstStartNotice(ctx context.Context, st store.UserStore, cfg *config.Server, f serverFlags, w io.Writer) error {
	users, err := st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list console users: %w", err)
	}
	if len(users) > 0 {
		return nil
	}
	where := ""
	switch {
	case f.config != "":
		where = " --config " + f.config
	case f.data != "":
		where = " --data " + f.data
	}
	fmt.Fprintf(w, `
waptserver: no console user exists yet. Create the first administrator with

    waptserver user add admin --role admin%s

(the password is asked on the terminal; or pipe it in with --password-stdin).
The admin API (/api/v1/admin/...) refuses every request until then.

`, where)
	return nil
}

// every calls fn each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// purgeSessions deletes the expired sessions every hour until ctx ends (a lookup
// deletes an expired session too; this catches the ones never used again).
func purgeSessions(ctx context.Context, st store.SessionStore, log *slog.Logger) {
	every(ctx, time.Hour, func(ctx context.Context) {
		if n, err := st.DeleteExpiredSessions(ctx, time.Now()); err != nil && ctx.Err() == nil {
			log.Warn("delete expired sessions", slog.Any("err", err))
		} else if n > 0 {
			log.Info("expired sessions deleted", slog.Int("sessions", n))
		}
	})
}

// refreshMetrics keeps the store-derived metrics current until ctx ends.
func refreshMetrics(ctx context.Context, srv *server.Server, log *slog.Logger) {
	every(ctx, 30*time.Second, func(ctx context.Context) {
		if err := srv.RefreshMetrics(ctx); err != nil && ctx.Err() == nil {
			log.Warn("metrics from the store", slog.Any("err", err))
		}
	})
}

// newJobs builds the background jobs on the store, the repository and a Microsoft
// client.
func newJobs(cfg *config.Server, st dbStore, rp *repo.Repo, log *slog.Logger, metrics *server.Metrics, promoter jobs.Promoter) (*jobs.Runner, error) {
	settings, err := jobs.SettingsFrom(cfg)
	if err != nil {
		return nil, err
	}
	var runner *jobs.Runner
	progress := func(name string, done, total int64) {
		if runner != nil {
			runner.Progress(name, done, total)
		}
	}
	upOpts := []upstream.Option{
		upstream.WithLogger(log),
		upstream.WithAllowedHosts(cfg.AllowedUpstreamHosts...),
		upstream.WithProgress(progress),
	}
	if cfg.HTTPProxy != "" {
		upOpts = append(upOpts, upstream.WithProxy(cfg.HTTPProxy))
	}
	up, err := upstream.New(upOpts...)
	if err != nil {
		return nil, fmt.Errorf("Microsoft client: %w", err)
	}
	runner, err = jobs.New(st, up, rp, settings, jobs.WithLogger(log), jobs.WithMetrics(metrics), jobs.WithPackages(st, promoter))
	if err != nil {
		return nil, fmt.Errorf("background jobs: %w", err)
	}
	return runner, nil
}

// jobsAdapter gives the application's Jobs hook the job runner: the user becomes the
// actor of the jobs' audit entries, and "another replica runs it" becomes Busy.
type jobsAdapter struct{ r *jobs.Runner }

func withActor(ctx context.Context) context.Context {
	if u, ok := app.UserFromContext(ctx); ok {
		return jobs.WithActor(ctx, u.Name)
	}
	return ctx
}

func jobErr(err error) error {
	if errors.Is(err, jobs.ErrBusy) {
		return fmt.Errorf("%w: %w", app.ErrJobRunning, err)
	}
	return err
}

func (a *jobsAdapter) ForceCabSync(ctx context.Context) error {
	return jobErr(a.r.ForceCabSync(withActor(ctx)))
}

// ForceDownload of no update runs the missing-files job in the background.
func (a *jobsAdapter) ForceDownload(ctx context.Context, keys []wu.UpdateKey) error {
	if len(keys) > 0 {
		return jobErr(a.r.ForceDownload(withActor(ctx), keys))
	}
	go func() {
		_, _ = a.r.DownloadMissing(context.WithoutCancel(withActor(ctx))) // the job logs its own errors
	}()
	return nil
}

func (a *jobsAdapter) DeleteUnused(ctx context.Context) (int, int64, error) {
	n, b, err := a.r.DeleteUnused(withActor(ctx))
	return n, b, jobErr(err)
}

// JobHealth reports the jobs' health for /readyz.
func (a *jobsAdapter) JobHealth() []server.JobHealth {
	st := a.r.Status()
	out := make([]server.JobHealth, len(st))
	for i, j := range st {
		out[i] = server.JobHealth{Name: j.Name, Running: j.Running, LastSuccess: j.LastSuccess,
			ConsecutiveFailures: j.ConsecutiveFailures, LastError: j.LastError}
	}
	return out
}

// CheckPromotions runs the rollout check now (POST /api/v1/admin/promotions/check).
func (a *jobsAdapter) CheckPromotions(ctx context.Context) ([]string, error) {
	sum, err := a.r.CheckPromotions(withActor(ctx))
	return sum.Promoted, jobErr(err)
}

// loadPackageSigning reads the server-held signing key of rules packages
// (package_signing_key, package_signing_cert, package_signing_key_password_file); nil
// when waptserver.ini sets none.
func loadPackageSigning(cfg *config.Server) (*console.PackageSigning, error) {
	if cfg.PackageSigningKey == "" {
		return nil, nil
	}
	var password []byte
	if cfg.PackageSigningKeyPasswordFile != "" {
		b, err := os.ReadFile(cfg.PackageSigningKeyPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("%s: package_signing_key_password_file: %w", cfg.Source, err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		password = []byte(strings.TrimSuffix(line, "\r"))
		if len(password) == 0 {
			return nil, fmt.Errorf("%s: package_signing_key_password_file %s: the first line is empty (write the key's password on it)",
				cfg.Source, cfg.PackageSigningKeyPasswordFile)
		}
	}
	keyPEM, err := os.ReadFile(cfg.PackageSigningKey)
	if err != nil {
		return nil, fmt.Errorf("%s: package_signing_key: %w", cfg.Source, err)
	}
	key, err := pkg.ParsePrivateKey(keyPEM, password)
	if err != nil {
		return nil, fmt.Errorf("%s: package_signing_key %s: %w", cfg.Source, cfg.PackageSigningKey, err)
	}
	certPEM, err := os.ReadFile(cfg.PackageSigningCert)
	if err != nil {
		return nil, fmt.Errorf("%s: package_signing_cert: %w", cfg.Source, err)
	}
	chain, err := pkg.ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: package_signing_cert %s: %w", cfg.Source, cfg.PackageSigningCert, err)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%s: package_signing_cert %s holds no certificate", cfg.Source, cfg.PackageSigningCert)
	}
	return &console.PackageSigning{Key: key, Chain: chain, Source: cfg.PackageSigningKey}, nil
}
