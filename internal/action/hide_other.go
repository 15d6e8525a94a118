//go:build !windows

package action

import "os/exec"

// hideWindow does nothing: only Windows opens console windows.
func hideWindow(*exec.Cmd) {}
