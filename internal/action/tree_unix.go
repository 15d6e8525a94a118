//go:build unix

package action

import (
	"os"
	"os/exec"
	"syscall"
)

// procTree runs the process in its own process group, so that a timeout kills it with
// every process it started.
type procTree struct{}

func (t *procTree) prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func (t *procTree) attach(*os.Process) error { return nil }

// kill sends SIGKILL to the process group.
func (t *procTree) kill(p *os.Process) error {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err == nil {
		return nil
	}
	return p.Kill()
}

func (t *procTree) release() {}
