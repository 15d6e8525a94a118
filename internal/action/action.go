// Package action runs the action of a verified update package (internal/pkg): the fixed
// command line of its kind, with the kind's timeout, and the meaning of its exit code.
// The process is run through the Runner port: Process runs a real process (portable
// code; only the command lines are Windows ones), Sim records the commands and answers
// from a script (the sim host profile).
package action

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/pkg"
)

// Status is the outcome of an action, as the agent reports it per package.
type Status string

// The statuses of an action.
const (
	StatusInstalled     Status = "installed"      // done (for kb-uninstall: the KB is removed)
	StatusRebootNeeded  Status = "reboot_needed"  // done, effective after a reboot
	StatusNotApplicable Status = "not_applicable" // the update does not apply to this host
	StatusError         Status = "error"          // failed: see Result.ExitCode and Text
)

// Exit codes with a meaning of their own.
const (
	ExitSuccess            uint32 = 0
	ExitRebootRequired     uint32 = 3010       // ERROR_SUCCESS_REBOOT_REQUIRED
	ExitRebootInitiated    uint32 = 1641       // ERROR_SUCCESS_REBOOT_INITIATED
	ExitAlreadyInstalled   uint32 = 0x00240006 // WU_S_ALREADY_INSTALLED (2359302)
	ExitAlreadyUninstalled uint32 = 0x00240007 // WU_S_ALREADY_UNINSTALLED (2359303)
	ExitNotApplicable      uint32 = 0x80240017 // WU_E_NOT_APPLICABLE
	ExitCBSNotApplicable   uint32 = 0x800F081E // CBS_E_NOT_APPLICABLE (DISM)
)

// Interpret gives the status and meaning of exit code code of an action of kind k.
func Interpret(k pkg.Kind, code uint32) (Status, string) {
	switch code {
	case ExitSuccess:
		return StatusInstalled, "done"
	case ExitRebootRequired:
		return StatusRebootNeeded, "done; a reboot is required to complete it"
	case ExitRebootInitiated:
		return StatusRebootNeeded, "done; the installer started a reboot"
	case ExitAlreadyInstalled:
		return StatusInstalled, "already installed"
	case ExitNotApplicable:
		return StatusNotApplicable, "the update does not apply to this host (WU_E_NOT_APPLICABLE)"
	}
	if k == pkg.KindKBUninstall && code == ExitAlreadyUninstalled {
		return StatusInstalled, "already uninstalled"
	}
	if k == pkg.KindCab && code == ExitCBSNotApplicable {
		return StatusNotApplicable, "the package does not apply to this host (CBS_E_NOT_APPLICABLE)"
	}
	return StatusError, fmt.Sprintf("failed with exit code %d (0x%08X)%s", code, code, hint(code))
}

func hint(code uint32) string {
	switch code {
	case 0x80070005:
		return ": access denied (the agent runs as SYSTEM; check the payload folder's permissions)"
	case 0x80070002:
		return ": file not found"
	case 0x80070070:
		return ": not enough disk space"
	case 0x80240016:
		return ": another installation is in progress (WU_E_INSTALL_NOT_ALLOWED)"
	case 0x8024001E:
		return ": the installation was stopped (WU_E_SERVICE_STOP)"
	case 0x800F0922:
		return ": servicing failed (CBS_E_INSTALLERS_FAILED)"
	case 1:
		return ": incorrect function or invalid arguments"
	case 87:
		return ": invalid parameter"
	}
	return ""
}

// DefaultTimeout is the time an action of kind k may run before it is killed.
func DefaultTimeout(k pkg.Kind) time.Duration {
	switch k {
	case pkg.KindMSU, pkg.KindCab:
		return 2 * time.Hour
	case pkg.KindDriver:
		return 30 * time.Minute
	case pkg.KindKBUninstall:
		return time.Hour
	case pkg.KindFeatureUpgrade:
		return 4 * time.Hour
	}
	return time.Hour
}

// Timeout is a's timeout: its own when it sets one, else its kind's.
func Timeout(a pkg.Action) time.Duration {
	if a.TimeoutSeconds > 0 {
		return time.Duration(a.TimeoutSeconds) * time.Second
	}
	return DefaultTimeout(a.Kind)
}

// Command is a process to run.
type Command struct {
	Path string   // the program, absolute
	Args []string // its arguments, without the program
	Dir  string   // working directory ("" : the agent's)
}

// String shows the command line (for logs: it holds no secret).
func (c Command) String() string { return strings.Join(append([]string{c.Path}, c.Args...), " ") }

// winJoin joins a Windows directory and a package's slash path.
func winJoin(dir, rel string) string {
	return strings.TrimRight(dir, `\`) + `\` + strings.ReplaceAll(rel, "/", `\`)
}

// CommandFor is the fixed command line of a: systemRoot is %SystemRoot% (C:\Windows),
// payloadDir the Windows folder holding its verified payload files.
func CommandFor(a pkg.Action, systemRoot, payloadDir string) (Command, error) {
	sys32 := winJoin(systemRoot, "System32")
	switch a.Kind {
	case pkg.KindMSU:
		return Command{Path: winJoin(sys32, "wusa.exe"), Args: []string{winJoin(payloadDir, a.Target), "/quiet", "/norestart"}}, nil
	case pkg.KindKBUninstall:
		return Command{Path: winJoin(sys32, "wusa.exe"), Args: []string{"/uninstall", "/kb:" + a.KB, "/quiet", "/norestart"}}, nil
	case pkg.KindCab:
		return Command{Path: winJoin(sys32, "Dism.exe"), Args: []string{"/online", "/add-package", "/packagepath:" + winJoin(payloadDir, a.Target), "/quiet", "/norestart"}}, nil
	case pkg.KindDriver:
		return Command{Path: winJoin(sys32, "pnputil.exe"), Args: []string{"/add-driver", winJoin(payloadDir, a.Target), "/install"}}, nil
	case pkg.KindFeatureUpgrade:
		return Command{Path: winJoin(payloadDir, a.Target), Args: []string{"/auto", "upgrade", "/quiet", "/noreboot", "/dynamicupdate", "disable"}, Dir: payloadDir}, nil
	}
	return Command{}, fmt.Errorf("action kind %q: no command (the kinds are msu, cab, driver, kb-uninstall, feature-upgrade)", a.Kind)
}

// Exit is what a Runner observed of a process.
type Exit struct {
	Code     uint32 // the process's exit code (Windows codes are 32-bit unsigned)
	Output   string // standard output and error, at most the runner's limit
	TimedOut bool   // the process was killed at the timeout
}

// Runner runs a command, killing it after timeout.
type Runner interface {
	Run(ctx context.Context, cmd Command, timeout time.Duration) (Exit, error)
}

// DiskSpace reads free space (the agent's OSDiskSpace is one).
type DiskSpace interface {
	FreeBytes(path string) (uint64, error)
}

// Result is the outcome of Run.
type Result struct {
	Status   Status
	ExitCode uint32
	Text     string // the exit code's meaning, or why nothing ran
	Output   string
	Command  string
	TimedOut bool
	Duration time.Duration
}

// Host is what Run needs of the machine.
type Host struct {
	Runner     Runner
	Disk       DiskSpace // needed by feature-upgrade actions
	SystemRoot string    // %SystemRoot%, e.g. C:\Windows
	// SystemDrive is the volume whose free space a feature upgrade needs (e.g. C:\).
	SystemDrive string
	Now         func() time.Time
}

// ErrNotEnoughSpace: a feature upgrade was not started for lack of free space.
var ErrNotEnoughSpace = errors.New("not enough free disk space")

// Run runs the action a whose payload files (already checked with pkg.CheckPayloadDir)
// are in payloadDir, and interprets the result. A run that cannot start (no space, no
// runner, the process cannot be created) is a StatusError result with the reason; the
// error is returned too.
func Run(ctx context.Context, h Host, a pkg.Action, payloadDir string) (Result, error) {
	now := h.Now
	if now == nil {
		now = time.Now
	}
	fail := func(err error) (Result, error) {
		return Result{Status: StatusError, Text: err.Error()}, err
	}
	if err := a.Check(); err != nil {
		return fail(fmt.Errorf("action: %w", err))
	}
	if h.Runner == nil {
		return fail(errors.New("action: no runner"))
	}
	if a.Kind == pkg.KindFeatureUpgrade {
		if h.Disk == nil {
			return fail(errors.New("action: feature upgrade: no free-space reader"))
		}
		free, err := h.Disk.FreeBytes(h.SystemDrive)
		if err != nil {
			return fail(fmt.Errorf("action: feature upgrade: %w", err))
		}
		if free < uint64(a.MinFreeBytes) {
			return fail(fmt.Errorf("action: feature upgrade: %w on %s: %d MiB free, the package needs %d MiB (free some space and the agent will try again)",
				ErrNotEnoughSpace, h.SystemDrive, free>>20, a.MinFreeBytes>>20))
		}
	}
	cmd, err := CommandFor(a, h.SystemRoot, payloadDir)
	if err != nil {
		return fail(err)
	}
	timeout := Timeout(a)
	start := now()
	ex, err := h.Runner.Run(ctx, cmd, timeout)
	res := Result{Command: cmd.String(), Output: ex.Output, Duration: now().Sub(start)}
	switch {
	case err != nil:
		res.Status, res.Text = StatusError, fmt.Sprintf("could not run %s: %v", cmd.Path, err)
		return res, fmt.Errorf("action %s: %w", a.Kind, err)
	case ex.TimedOut:
		res.Status, res.TimedOut = StatusError, true
		res.Text = fmt.Sprintf("killed after the %s timeout of a %s action", timeout, a.Kind)
		return res, nil
	}
	res.ExitCode = ex.Code
	res.Status, res.Text = Interpret(a.Kind, ex.Code)
	return res, nil
}
