//go:build !unix && !windows

package action

import (
	"os"
	"os/exec"
)

// procTree kills the process alone on systems without process groups or job objects.
type procTree struct{}

func (t *procTree) prepare(*exec.Cmd) {}

func (t *procTree) attach(*os.Process) error { return nil }

func (t *procTree) kill(p *os.Process) error { return p.Kill() }

func (t *procTree) release() {}
