package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/mirror"
)

// mirrorCredentialFile is the default credential file, under the data folder.
const mirrorCredentialFile = "mirror.credential"

type mirrorOptions struct {
	configPath string
	once       bool
	logLevel   string
	// Flags that override the ini (applied when given).
	mainURL, mainCA, name, site, url, scope, window, bandwidth, listen, data string
	tlsCert, tlsKey, credentialFile, tokenFile                               string
	interval                                                                 time.Duration
	concurrency                                                              int
}

func newMirrorCmd() *cobra.Command {
	var o mirrorOptions
	cmd := &cobra.Command{
		Use:   "mirror [--once] [--config mirror.ini]",
		Short: "Run a site repository: keep a copy of the main server's repository and serve it to the hosts of a site",
		Long: `A site repository mirrors the main server's /waptwua/ (catalog and update files) and
/wapt/ (rules packages) into its data folder and serves them like the main server does,
so that each update crosses the WAN link to the site once.

Enrollment: put an enrollment token (console, Enrollment page) in a file and pass it with
--enroll-token-file (or enrollment_token_file); the mirror enrolls once and keeps its
credential in credential_file (default <data>/mirror.credential, mode 0600). Secrets are
never given on the command line.

With --once it syncs once and exits 0 when its folder matches the main server's manifest,
1 with one line saying why otherwise (for cron and tests). Without it, it serves and syncs
on an interval and whenever the main server signals a change.

mirror.ini, section [mirror]: main_url, main_ca, name, site, url, scope (all|needed),
sync_window (20:00-06:00), bandwidth_limit (10M = 10 MiB/s), listen, data, tls_cert,
tls_key, credential_file, enrollment_token_file, interval, concurrency, delete_grace,
scrub_interval. Flags override the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMirror(cmd.Context(), cmd, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "the mirror's ini file (section [mirror])")
	f.BoolVar(&o.once, "once", false, "sync once and exit: 0 when the folder matches the main server, 1 otherwise")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error (--once: error unless given)")
	f.StringVar(&o.mainURL, "main-url", "", "the main server, e.g. https://wapt.example.com (main_url)")
	f.StringVar(&o.mainCA, "main-ca", "", "PEM certificates the main server's TLS chains to (main_ca; default: the system's)")
	f.StringVar(&o.name, "name", "", "the mirror's name when it enrolls (name; default: the host name)")
	f.StringVar(&o.site, "site", "", "the site it serves (site)")
	f.StringVar(&o.url, "url", "", "where hosts reach this mirror, e.g. http://mirror.lyon:8081 (url)")
	f.StringVar(&o.scope, "scope", "", "all, or needed: only the files the site's hosts need (scope)")
	f.StringVar(&o.window, "sync-window", "", "download only in this daily window, e.g. 20:00-06:00 (sync_window)")
	f.StringVar(&o.bandwidth, "bandwidth-limit", "", "download rate limit, e.g. 10M (bytes per second; bandwidth_limit)")
	f.StringVar(&o.listen, "listen", "", "address to serve on, host:port (listen; default "+config.DefaultMirrorListen+")")
	f.StringVar(&o.data, "data", "", "data folder holding waptwua/ and wapt/ (data; default "+config.DefaultMirrorData+")")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate chain to serve HTTPS (tls_cert, with tls_key)")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key (tls_key)")
	f.StringVar(&o.credentialFile, "credential-file", "", "file holding the mirror's credential (credential_file; default <data>/"+mirrorCredentialFile+")")
	f.StringVar(&o.tokenFile, "enroll-token-file", "", "file holding an enrollment token, used once to enroll (enrollment_token_file)")
	f.DurationVar(&o.interval, "interval", 0, "sync at least this often (interval; default 15m)")
	f.IntVar(&o.concurrency, "concurrency", 0, "parallel downloads (concurrency; default 4)")
	return cmd
}

// mirrorConfig reads the ini (when given) and applies the flags.
func (o mirrorOptions) mirrorConfig(cmd *cobra.Command) (*config.Mirror, error) {
	var cfg *config.Mirror
	var err error
	if o.configPath != "" {
		cfg, err = config.LoadMirror(o.configPath)
	} else {
		cfg, err = config.ParseMirror(nil, "(no --config)")
	}
	if err != nil {
		return nil, err
	}
	set := func(name string, dst *string, v string) {
		if cmd.Flags().Changed(name) {
			*dst = v
		}
	}
	set("main-url", &cfg.MainURL, strings.TrimRight(o.mainURL, "/"))
	set("main-ca", &cfg.MainCA, o.mainCA)
	set("name", &cfg.Name, o.name)
	set("site", &cfg.Site, o.site)
	set("url", &cfg.URL, o.url)
	set("scope", &cfg.Scope, strings.ToLower(o.scope))
	set("listen", &cfg.Listen, o.listen)
	set("data", &cfg.Data, o.data)
	set("tls-cert", &cfg.TLSCert, o.tlsCert)
	set("tls-key", &cfg.TLSKey, o.tlsKey)
	set("credential-file", &cfg.CredentialFile, o.credentialFile)
	set("enroll-token-file", &cfg.EnrollmentTokenFile, o.tokenFile)
	if cmd.Flags().Changed("sync-window") {
		w, err := config.ParseWindow(o.window)
		if err != nil {
			return nil, fmt.Errorf("--sync-window %q: %w", o.window, err)
		}
		cfg.SyncWindow = &w
	}
	if cmd.Flags().Changed("bandwidth-limit") {
		n, err := config.ParseBandwidth(o.bandwidth)
		if err != nil {
			return nil, fmt.Errorf("--bandwidth-limit %q: %w", o.bandwidth, err)
		}
		cfg.BandwidthLimit = n
	}
	if cmd.Flags().Changed("interval") {
		cfg.Interval = o.interval
	}
	if cmd.Flags().Changed("concurrency") {
		cfg.Concurrency = o.concurrency
	}
	if err := errors.Join(cfg.Check()...); err != nil {
		return nil, err
	}
	if cfg.MainURL == "" {
		return nil, errors.New("no main server: set main_url in [mirror] of the mirror's ini, or --main-url")
	}
	if cfg.CredentialFile == "" {
		cfg.CredentialFile = filepath.Join(cfg.Data, mirrorCredentialFile)
	}
	return cfg, nil
}

func runMirror(ctx context.Context, cmd *cobra.Command, o mirrorOptions, stdout, stderr io.Writer) error {
	logLevel := o.logLevel
	if o.once && !cmd.Flags().Changed("log-level") {
		logLevel = "error" // --once says what went wrong in its one line
	}
	level, err := parseLevel(logLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := o.mirrorConfig(cmd)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		log.Warn("mirror ini: unknown key ignored", slog.String("warning", w))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.MainCA != "" {
		pool, _, err := config.LoadCertPool("main_ca", cfg.MainCA)
		if err != nil {
			return err
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	client := mirror.NewClient(tr)
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	cred, err := mirrorCredential(ctx, cfg, client, log)
	if err != nil {
		return err
	}
	mc := mirror.Config{MainURL: cfg.MainURL, Credential: cred, Scope: cfg.Scope, Data: cfg.Data, Client: client,
		Concurrency: cfg.Concurrency, BandwidthLimit: cfg.BandwidthLimit, DeleteGrace: cfg.DeleteGrace,
		ScrubInterval: cfg.ScrubInterval, Interval: cfg.Interval, Log: log}
	if w := cfg.SyncWindow; w != nil {
		mc.InWindow = func(t time.Time) bool { return w.Contains(t.Local()) }
	}
	m, err := mirror.New(mc)
	if err != nil {
		return err
	}
	defer m.Close()
	if o.once {
		res, err := m.Once(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "in sync: %d files, %d bytes (%d downloaded, %d bytes; %d repaired; %d deleted)\n",
			res.FilesHeld, res.BytesHeld, res.Downloaded, res.BytesSynced, res.Repaired, res.Deleted)
		return nil
	}
	// A wrong credential, URL or scope stops the service at start instead of serving
	// a folder that will never sync.
	if err := m.Probe(ctx); err != nil {
		var ae *mirror.AnswerError
		if errors.As(err, &ae) && ae.Fatal() {
			return err
		}
		log.Warn("mirror: main server not reachable at start, serving what the folder holds and retrying", slog.Any("err", err))
	}
	return serveMirror(ctx, cfg, m, log)
}

// mirrorCredential reads the credential file, or enrolls with the enrollment token
// file and writes the credential file (0600).
func mirrorCredential(ctx context.Context, cfg *config.Mirror, client *http.Client, log *slog.Logger) (string, error) {
	cred, err := mirror.ReadSecretFile(cfg.CredentialFile)
	if err == nil {
		if !strings.HasPrefix(cred, api.MirrorCredentialPrefix) {
			return "", fmt.Errorf("credential_file %s does not hold a mirror credential (wmc_...): delete it and enroll again with enrollment_token_file", cfg.CredentialFile)
		}
		return cred, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("credential_file: %w", err)
	}
	if cfg.EnrollmentTokenFile == "" {
		return "", fmt.Errorf("no credential in %s: enroll the mirror once with --enroll-token-file FILE (a token from the console's Enrollment page)", cfg.CredentialFile)
	}
	token, err := mirror.ReadSecretFile(cfg.EnrollmentTokenFile)
	if err != nil {
		return "", fmt.Errorf("enrollment_token_file: %w", err)
	}
	name := cfg.Name
	if name == "" {
		if name, err = os.Hostname(); err != nil || name == "" {
			return "", errors.New("no mirror name: set name in [mirror] or --name")
		}
	}
	cred, err = mirror.Register(ctx, client, cfg.MainURL, token, api.MirrorRegisterRequest{Name: name, Site: cfg.Site, URL: cfg.URL})
	if err != nil {
		return "", err
	}
	if err := writePrivate(cfg.CredentialFile, []byte(cred+"\n")); err != nil {
		return "", fmt.Errorf("credential_file %s: %w (the mirror enrolled; an administrator must delete mirror %q before it enrolls again)", cfg.CredentialFile, err, name)
	}
	log.Info("mirror enrolled", slog.String("name", name), slog.String("site", cfg.Site), slog.String("credential_file", cfg.CredentialFile))
	return cred, nil
}

// writePrivate writes a file only the account can read, atomically.
func writePrivate(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func serveMirror(ctx context.Context, cfg *config.Mirror, m *mirror.Mirror, log *slog.Logger) error {
	tlsCert, err := loadTLS(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (change listen in the mirror's ini or --listen)", cfg.Listen, err)
	}
	defer ln.Close()
	hs := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	scheme := "http"
	if tlsCert != nil {
		scheme = "https"
	}
	log.Info("mirror listening", slog.String("url", scheme+"://"+ln.Addr().String()), slog.String("main_url", cfg.MainURL),
		slog.String("scope", cfg.Scope), slog.String("data", cfg.Data))
	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = m.Run(runCtx)
	}()
	err = serveHTTP(ctx, hs, ln, tlsCert, log)
	stop()
	<-runDone
	return err
}
