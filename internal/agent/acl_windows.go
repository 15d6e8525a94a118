//go:build windows

package agent

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// Protected DACLs: full control for SYSTEM and the Administrators group only, nothing
// inherited from the parent (P). Folders pass it on to what they hold (OICI).
const (
	sddlPrivateDir  = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	sddlPrivateFile = "D:P(A;;FA;;;SY)(A;;FA;;;BA)"
)

// RestrictPath limits path to SYSTEM and Administrators: its DACL is replaced by a
// protected one granting them full control (the credential file and the data folder).
func RestrictPath(path string, dir bool) error {
	sddl := sddlPrivateFile
	if dir {
		sddl = sddlPrivateDir
	}
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return fmt.Errorf("%s: access control: %w", path, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("%s: access control: %w", path, err)
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("%s: limit access to SYSTEM and Administrators: %w (run as an administrator)", path, err)
	}
	return nil
}
