//go:build !unix

package pgtest

import "os/exec"

// unprivileged changes nothing where there is no root to drop.
func unprivileged(string) (func(*exec.Cmd), error) {
	return func(*exec.Cmd) {}, nil
}
