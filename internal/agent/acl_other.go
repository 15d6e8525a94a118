//go:build !windows

package agent

import (
	"fmt"
	"os"
)

// RestrictPath limits path to its owner: 0700 for a folder, 0600 for a file (on
// Windows: SYSTEM and Administrators only).
func RestrictPath(path string, dir bool) error {
	mode := os.FileMode(0o600)
	if dir {
		mode = 0o700
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("%s: limit access to the owner: %w", path, err)
	}
	return nil
}
