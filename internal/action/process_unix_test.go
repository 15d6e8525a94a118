//go:build unix

package action_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/action"
	"github.com/openwua/waptwua/internal/pkg"
)

// linux maps the Windows command of an action to a shell script standing for the
// Windows program, then runs it with the real Process runner: the process-running code
// path is the agent's.
type linux struct {
	action.Process
	script string
}

func (l linux) Run(ctx context.Context, c action.Command, timeout time.Duration) (action.Exit, error) {
	return l.Process.Run(ctx, action.Command{Path: "/bin/sh", Args: append([]string{"-c", l.script, "sh"}, c.Args...)}, timeout)
}

func TestProcessTimeoutKills(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	a := actions()[pkg.KindMSU]
	a.TimeoutSeconds = 1
	childFile := filepath.Join(dir, "child")
	// The "installer" starts a child that outlives it unless its whole tree is killed.
	r := linux{script: "echo started; sleep 40 & echo $! > " + childFile + "; echo $$ > " + pidFile + "; exec sleep 30"}
	h := action.Host{Runner: r, SystemRoot: `C:\Windows`}
	start := time.Now()
	res, err := action.Run(context.Background(), h, a, `C:\p`)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %s", el)
	}
	if !res.TimedOut || res.Status != action.StatusError || !strings.Contains(res.Text, "killed after the 1s timeout of a msu action") || !strings.Contains(res.Output, "started") {
		t.Fatalf("%+v", res)
	}
	for _, f := range []string{pidFile, childFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		// The runner waited for its process; the child is reaped by init once killed.
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("%s: process %d still exists after the timeout", filepath.Base(f), pid)
		}
	}
}

func TestProcessExitCodesAndOutput(t *testing.T) {
	for code, want := range map[int]action.Status{0: action.StatusInstalled, 5: action.StatusError, 87: action.StatusError} {
		r := linux{script: fmt.Sprintf("echo args: \"$@\"; echo oops >&2; exit %d", code)}
		res, err := action.Run(context.Background(), action.Host{Runner: r, SystemRoot: `C:\Windows`}, actions()[pkg.KindKBUninstall], "")
		if err != nil || res.Status != want || res.ExitCode != uint32(code) {
			t.Errorf("exit %d: %+v %v", code, res, err)
		}
		if !strings.Contains(res.Output, "args: /uninstall /kb:4023057 /quiet /norestart") || !strings.Contains(res.Output, "oops") {
			t.Errorf("output %q", res.Output)
		}
	}
	// Output is bounded.
	r := linux{Process: action.Process{MaxOutput: 1000}, script: "head -c 100000 /dev/zero | tr '\\0' x"}
	res, err := action.Run(context.Background(), action.Host{Runner: r, SystemRoot: `C:\Windows`}, actions()[pkg.KindKBUninstall], "")
	if err != nil || len(res.Output) > 1100 || !strings.Contains(res.Output, "[99000 more bytes of output not kept]") {
		t.Errorf("bounded output: %d bytes %v: %q", len(res.Output), err, res.Output[len(res.Output)-60:])
	}
	// A program that cannot start is an error result.
	res, err = action.Run(context.Background(), action.Host{Runner: action.Process{}, SystemRoot: `/nonexistent`}, actions()[pkg.KindKBUninstall], "")
	if err == nil || res.Status != action.StatusError || !strings.Contains(res.Text, "could not run") {
		t.Errorf("missing program: %+v %v", res, err)
	}
	// The agent stopping is not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	res, err = action.Run(ctx, action.Host{Runner: linux{script: "exec sleep 30"}, SystemRoot: `C:\Windows`}, actions()[pkg.KindKBUninstall], "")
	if !errors.Is(err, context.Canceled) || res.TimedOut {
		t.Errorf("cancelled: %+v %v", res, err)
	}
}
