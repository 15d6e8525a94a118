package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openwua/waptwua/internal/action"
	"github.com/openwua/waptwua/internal/agent"
	"github.com/openwua/waptwua/internal/config"
	"github.com/openwua/waptwua/internal/wua/sim"
)

// globals holds the global flags and the outputs of one command line.
type globals struct {
	stdout, stderr io.Writer

	configPath string
	dataDir    string
	wuaKind    string
	profile    string
	verbose    bool
	logFile    string

	cfg *config.Agent
	log *slog.Logger
	// closers run when the command ends (log file, WUA backend).
	closers []func() error
}

func (g *globals) flags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", defaultConfigPath(), "agent configuration file (wapt-get.ini; default: the one next to this program when there is one)")
	pf.StringVar(&g.dataDir, "data-dir", "", `folder for the catalog, downloaded files and state (default: [global] data_dir, else "waptwua" next to the configuration file)`)
	pf.StringVar(&g.wuaKind, "wua", "auto", "Windows Update Agent backend: auto (windows on Windows, else sim), windows, or sim")
	pf.StringVar(&g.profile, "profile", "", "host profile (JSON) of the simulated host, with --wua sim")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "log progress on stderr")
	pf.StringVar(&g.logFile, "log-file", "", "append logs to this file instead of stderr")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return g.load(cmd) }
}

// load validates the configuration before any command runs: every error names the
// key and the value.
func (g *globals) load(cmd *cobra.Command) error {
	level := slog.LevelWarn
	if g.verbose || isServiceRun(cmd) {
		level = slog.LevelInfo
	}
	var w io.Writer = g.stderr
	if g.logFile != "" {
		f, err := os.OpenFile(g.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("--log-file %s: %w", g.logFile, err)
		}
		g.closers = append(g.closers, f.Close)
		w = f
	}
	g.log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))

	cfg, err := config.LoadAgent(g.configPath)
	if err != nil {
		return fmt.Errorf("configuration not valid, nothing done:\n%w", err)
	}
	for _, warning := range cfg.Warnings {
		g.log.Warn(warning)
	}
	g.cfg = cfg
	if g.dataDir == "" {
		g.dataDir = cfg.Global.DataDir
	}
	if g.dataDir == "" {
		g.dataDir = filepath.Join(filepath.Dir(cfg.Source), "waptwua")
	}
	switch g.wuaKind {
	case "auto", "windows", "sim":
	default:
		return fmt.Errorf("--wua %q: use auto, windows or sim", g.wuaKind)
	}
	if g.profile != "" && g.backend() != "sim" {
		return fmt.Errorf("--profile is for the simulated host: add --wua sim")
	}
	return nil
}

func isServiceRun(cmd *cobra.Command) bool {
	return cmd.Name() == "run" && cmd.Parent() != nil && cmd.Parent().Name() == "service"
}

func (g *globals) close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		_ = g.closers[i]()
	}
	g.closers = nil
}

// backend resolves --wua auto.
func (g *globals) backend() string {
	if g.wuaKind == "auto" {
		if runtime.GOOS == "windows" {
			return "windows"
		}
		return "sim"
	}
	return g.wuaKind
}

// host is what the agent needs from the WUA side: the port and its companions.
type host struct {
	wua     agent.WUA
	svc     agent.ServiceControl
	policy  agent.Policy
	name    string // host name, "" when the backend does not know better
	osName  string
	sysRoot string // the volume installs need room on
	// notifier tells logged-on users about reboots; rebooter restarts the host.
	notifier agent.Notifier
	rebooter agent.Rebooter
	// actions runs update packages' commands; winRoot is %SystemRoot% for them.
	actions action.Runner
	winRoot string
}

func (g *globals) openHost() (*host, error) {
	switch g.backend() {
	case "sim":
		if g.profile == "" {
			return nil, fmt.Errorf("the simulated host needs a profile: add --profile FILE (see internal/wua/sim for its format)")
		}
		h, err := sim.Open(g.profile)
		if err != nil {
			return nil, fmt.Errorf("simulated host: %w", err)
		}
		g.closers = append(g.closers, h.Close)
		// Nobody is logged on to a simulated host; its restarts do its pending restart.
		d := sim.NewDesktop(h)
		// Update packages' commands are recorded by the simulated host, which answers
		// the exit codes of its profile's "actions".
		runner := &action.Sim{Answer: func(c action.Command) (action.Exit, error) {
			code, err := h.RunCommand(context.Background(), c.String())
			return action.Exit{Code: code}, err
		}}
		return &host{wua: h, name: h.HostName(), osName: "Windows (simulated by wapt-get --wua sim)", notifier: d, rebooter: d,
			actions: runner, winRoot: `C:\Windows`}, nil
	default:
		return openNativeHost(g)
	}
}

// credential reads the credential file; nil when the agent is not registered yet.
// At the first start after an installation, it registers with the enrollment token the
// installer left (enrollment_token_file).
func (g *globals) credential(ctx context.Context) (*agent.Credential, error) {
	c, err := agent.LoadCredential(g.cfg.Global.CredentialFile)
	if errors.Is(err, agent.ErrNotRegistered) {
		if c, rerr := g.registerFromTokenFile(ctx); rerr != nil || c != nil {
			return c, rerr
		}
		g.log.Warn("not registered: scanning with the ini rules only, nothing reported", slog.Any("hint", err))
		return nil, nil
	}
	return c, err
}

// openAgent builds the agent for a command.
func (g *globals) openAgent(ctx context.Context, progress agent.Progress) (*agent.Agent, error) {
	cred, err := g.credential(ctx)
	if err != nil {
		return nil, err
	}
	server := g.cfg.Global.WaptServer
	if cred != nil {
		server = cred.Server // the credential belongs to the server that issued it
	}
	repo, err := g.cfg.WUARepoURL()
	if err != nil {
		if server == "" {
			return nil, err
		}
		repo = strings.TrimRight(server, "/") + "/waptwua/"
	}
	hc, err := agent.NewHTTPClient(g.cfg)
	if err != nil {
		return nil, err
	}
	h, err := g.openHost()
	if err != nil {
		return nil, err
	}
	name := g.cfg.Global.HostName
	if name == "" {
		name = h.name
	}
	if name == "" {
		name, _ = os.Hostname()
	}
	opts := []agent.Option{
		agent.WithLogger(g.log),
		agent.WithHostInfo(name, h.osName, version()),
	}
	if h.svc != nil {
		opts = append(opts, agent.WithServiceControl(h.svc))
	}
	if h.policy != nil {
		opts = append(opts, agent.WithPolicy(h.policy))
	}
	if h.sysRoot != "" {
		opts = append(opts, agent.WithSystemDrive(h.sysRoot))
	}
	if progress != nil {
		opts = append(opts, agent.WithProgress(progress))
	}
	if h.notifier != nil {
		opts = append(opts, agent.WithNotifier(h.notifier))
	}
	if h.rebooter != nil {
		opts = append(opts, agent.WithRebooter(h.rebooter))
	}
	if h.actions != nil {
		opts = append(opts, agent.WithActionRunner(h.actions, h.winRoot))
	}
	client := agent.NewClient(hc, server, repo, cred, "wapt-get/"+version())
	return agent.New(g.cfg, h.wua, client, g.dataDir, opts...)
}

// version is the module version this binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// signalContext is the command's context (cancelled by Ctrl-C / SIGTERM).
func signalContext(cmd *cobra.Command) context.Context {
	if c := cmd.Context(); c != nil {
		return c
	}
	return context.Background()
}

// defaultConfigPath is the wapt-get.ini next to this program when there is one (the
// installer puts it there), else the system's default place.
func defaultConfigPath() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "wapt-get.ini")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return config.DefaultAgentPath(runtime.GOOS)
}
