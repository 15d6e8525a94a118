//go:build unix

package agent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// OSDiskSpace reads free space with statfs(2).
type OSDiskSpace struct{}

// FreeBytes returns the bytes available to an unprivileged user on path's file system.
func (OSDiskSpace) FreeBytes(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: statfs: %w", path, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil //nolint:unconvert // field types vary by OS
}
