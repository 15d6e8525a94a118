//go:build windows

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/openwua/waptwua/internal/agent"
)

// preshutdownTimeout is how long Windows waits for the pre-shutdown install
// (install_at_shutdown) before going down anyway.
const preshutdownTimeout = 30 * time.Minute

// serviceEnv forces the service mode, like --as-service, where the detection of the
// service control manager fails (Wine runs services in session 1).
const serviceEnv = "WAPTWUA_SERVICE"

// runService runs under the service manager when it started us (detected, or said by
// --as-service / WAPTWUA_SERVICE=1: "service install" puts the flag in the service's
// command line, so the mode never depends on the detection), else in the foreground
// until Ctrl-C.
func runService(ctx context.Context, g *globals, asService bool) error {
	isService := asService || os.Getenv(serviceEnv) == "1"
	if !isService {
		detected, err := svc.IsWindowsService()
		if err != nil {
			return fmt.Errorf("detect the service manager: %w (say --as-service when the service manager starts wapt-get)", err)
		}
		isService = detected
	}
	if !isService {
		a, err := g.openAgent(ctx, nil)
		if err != nil {
			return err
		}
		return serve(ctx, a)
	}
	// A service has no console: log next to the data, and tee the important records
	// into the event log (source waptwua, registered by service install).
	var handler slog.Handler = g.log.Handler()
	if g.logFile == "" {
		if err := os.MkdirAll(g.dataDir, 0o700); err == nil {
			path := filepath.Join(g.dataDir, "waptwua-service.log")
			if f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
				g.closers = append(g.closers, f.Close)
				handler = slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})
			}
		}
	}
	if el, err := eventlog.Open(eventSource); err == nil {
		g.closers = append(g.closers, el.Close)
		handler = newEventHandler(handler, el)
	}
	g.log = slog.New(handler)
	g.log.Info("running as the " + serviceName + " service of the service control manager")
	// The agent opens after the service reports running (an unreachable server at the
	// first registration must not fail the start, nor the installation that starts it).
	h := &serviceHandler{open: func(ctx context.Context) (*agent.Agent, error) { return g.openAgent(ctx, nil) }, log: g.log}
	if err := svc.Run(serviceName, h); err != nil {
		err = fmt.Errorf("run as the %s service: %w", serviceName, err)
		g.log.Error("service", slog.Any("err", err))
		return err
	}
	return h.err
}

// serviceHandler answers the service manager. It accepts the pre-shutdown notification
// so that install_at_shutdown installs pending updates before the machine goes down,
// reporting progress (checkpoints) meanwhile so that Windows keeps waiting.
type serviceHandler struct {
	open func(context.Context) (*agent.Agent, error)
	log  *slog.Logger
	err  error

	mu    sync.Mutex
	agent *agent.Agent // nil until open succeeded
}

// Retry delays of the agent's opening (first registration, configuration).
const (
	openRetryFirst = time.Minute
	openRetryMax   = 15 * time.Minute
)

// run opens the agent, retrying until it opens or ctx ends, then serves.
func (h *serviceHandler) run(ctx context.Context) error {
	delay := openRetryFirst
	for {
		a, err := h.open(ctx)
		if err == nil {
			h.mu.Lock()
			h.agent = a
			h.mu.Unlock()
			return serve(ctx, a)
		}
		h.log.Error("agent not started, retrying", slog.Any("err", err), slog.Duration("retry_in", delay))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, openRetryMax)
	}
}

func (h *serviceHandler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	accepts := svc.AcceptStop | svc.AcceptPreShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	stop := func(checkpoint uint32) (bool, uint32) {
		status <- svc.Status{State: svc.StopPending, CheckPoint: checkpoint, WaitHint: 30000}
		cancel()
		select {
		case err := <-done:
			h.err = err
		case <-time.After(25 * time.Second):
			h.log.Warn("service loop did not stop in time")
		}
		return false, 0
	}
	for {
		select {
		case err := <-done:
			h.err = err
			if err != nil {
				h.log.Error("service loop ended", slog.Any("err", err))
				return true, 1
			}
			return false, 0
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				return stop(1)
			case svc.PreShutdown:
				return stop(h.installAtShutdown(status))
			}
		}
	}
}

// installAtShutdown runs the pre-shutdown install, sending StopPending checkpoints every
// 20 s while it runs; it returns the next checkpoint.
func (h *serviceHandler) installAtShutdown(status chan<- svc.Status) uint32 {
	checkpoint := uint32(1)
	status <- svc.Status{State: svc.StopPending, CheckPoint: checkpoint, WaitHint: 60000}
	h.mu.Lock()
	a := h.agent
	h.mu.Unlock()
	if a == nil {
		h.log.Warn("install at shutdown: the agent never started, nothing installed")
		return checkpoint + 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), preshutdownTimeout-time.Minute)
	defer cancel()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sum, err := a.Shutdown(ctx)
		switch {
		case err != nil:
			h.log.Error("install at shutdown", slog.Any("err", err))
		case sum != nil:
			h.log.Info("install at shutdown done", slog.String("summary", sum.Line()))
		}
	}()
	tick := time.NewTicker(20 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-finished:
			return checkpoint + 1
		case <-tick.C:
			checkpoint++
			status <- svc.Status{State: svc.StopPending, CheckPoint: checkpoint, WaitHint: 60000}
		}
	}
}

// servicePreshutdownInfo is SERVICE_PRESHUTDOWN_INFO.
type servicePreshutdownInfo struct {
	Timeout uint32 // milliseconds
}

func installService(g *globals) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("service install: find this program: %w", err)
	}
	cfgPath, err := filepath.Abs(g.configPath)
	if err != nil {
		return fmt.Errorf("service install: --config %s: %w", g.configPath, err)
	}
	dataDir, err := filepath.Abs(g.dataDir)
	if err != nil {
		return fmt.Errorf("service install: --data-dir %s: %w", g.dataDir, err)
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service install: connect to the service manager: %w (run as an administrator)", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return fmt.Errorf("service %s is already installed (run wapt-get service uninstall first)", serviceName)
	}
	args := []string{"service", "run", "--as-service", "--config", cfgPath, "--data-dir", dataDir}
	if g.wuaKind != "auto" {
		args = append(args, "--wua", g.wuaKind)
	}
	if g.profile != "" {
		p, _ := filepath.Abs(g.profile)
		args = append(args, "--profile", p)
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName: "WAPT Windows Update Agent",
		Description: "Scans, downloads and installs Windows updates under the WAPTWUA rules (wapt-get).",
		StartType:   mgr.StartAutomatic,
	}, args...)
	if err != nil {
		return fmt.Errorf("service install: create %s: %w", serviceName, err)
	}
	defer s.Close()
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: time.Minute},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Minute},
		{Type: mgr.NoAction},
	}, uint32((24 * time.Hour).Seconds())); err != nil {
		g.log.Warn("service recovery actions not set", slog.Any("err", err))
	}
	info := servicePreshutdownInfo{Timeout: uint32(preshutdownTimeout.Milliseconds())}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_PRESHUTDOWN_INFO, (*byte)(unsafe.Pointer(&info))); err != nil {
		g.log.Warn("pre-shutdown timeout not set: install_at_shutdown may be cut short", slog.Any("err", err))
	}
	if err := eventlog.InstallAsEventCreate(eventSource, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil && !strings.Contains(err.Error(), "already exists") {
		g.log.Warn("event log source not registered: the service logs to its file only", slog.String("source", eventSource), slog.Any("err", err))
	}
	fmt.Fprintf(g.stdout, "service %s installed (automatic start): %s %v\n", serviceName, exe, args)
	return nil
}

func uninstallService(g *globals) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service uninstall: connect to the service manager: %w (run as an administrator)", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("service %s is not installed: %w", serviceName, err)
	}
	defer s.Close()
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		if _, err := s.Control(svc.Stop); err != nil {
			g.log.Warn("stop the service", slog.Any("err", err))
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			if st, err := s.Query(); err != nil || st.State == svc.Stopped {
				break
			}
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("service uninstall: delete %s: %w", serviceName, err)
	}
	if err := eventlog.Remove(eventSource); err != nil {
		g.log.Warn("event log source not removed", slog.String("source", eventSource), slog.Any("err", err))
	}
	fmt.Fprintf(g.stdout, "service %s removed\n", serviceName)
	return nil
}
