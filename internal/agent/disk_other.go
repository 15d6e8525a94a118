//go:build !unix && !windows

package agent

import "fmt"

// OSDiskSpace cannot read free space on this system.
type OSDiskSpace struct{}

// FreeBytes always fails here: the agent then refuses to download or install.
func (OSDiskSpace) FreeBytes(path string) (uint64, error) {
	return 0, fmt.Errorf("free space of %s: not supported on this system", path)
}
