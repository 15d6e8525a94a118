//go:build windows

package agent

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// OSDiskSpace reads free space with GetDiskFreeSpaceEx.
type OSDiskSpace struct{}

// FreeBytes returns the bytes available to the caller on path's volume.
func (OSDiskSpace) FreeBytes(path string) (uint64, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, fmt.Errorf("free space of %s: %w", path, err)
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return 0, fmt.Errorf("free space of %s: GetDiskFreeSpaceEx: %w", path, err)
	}
	return avail, nil
}
