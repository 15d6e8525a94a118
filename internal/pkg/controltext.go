package pkg

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
)

// ControlText returns the text of WAPT/control in a package zip, as the repository's
// Packages index shows it. It does not verify anything: call Verify first.
func ControlText(zipBytes []byte) (string, error) {
	zr, err := zip.NewReader(bytes.NewReader(zipBytes), int64(len(zipBytes)))
	if err != nil {
		return "", fmt.Errorf("not a zip: %w", err)
	}
	for _, f := range zr.File {
		if f.Name != ControlName {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return "", fmt.Errorf("%s: %w", ControlName, err)
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
		if err != nil {
			return "", fmt.Errorf("%s: %w", ControlName, err)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("%s is missing", ControlName)
}
