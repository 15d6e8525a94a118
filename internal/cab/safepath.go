package cab

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsafePath is wrapped by SafePath's errors.
var ErrUnsafePath = errors.New("unsafe member name")

// SafePath turns a member name into a relative slash path that stays inside the
// directory it is extracted to. It converts `\` to `/`, drops empty and "." segments,
// and refuses: empty names, NUL and other control characters, absolute paths and UNC
// paths (a leading separator), drive letters and Windows stream names (any ':'), ".."
// segments (also as Windows reads them: ". .", "... " and the like), and Windows
// device names (CON, NUL, COM1, ...), which would not be files on Windows.
func SafePath(name string) (string, error) {
	refuse := func(why string) (string, error) {
		return "", fmt.Errorf("member name %q %s: %w (refused so that extraction stays inside the target directory)", name, why, ErrUnsafePath)
	}
	if name == "" {
		return refuse("is empty")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7F {
			return refuse("contains a control character")
		}
	}
	p := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(p, "/") {
		return refuse("is an absolute or UNC path")
	}
	if strings.Contains(p, ":") {
		return refuse("contains ':' (a drive letter or a Windows stream name)")
	}
	segs := strings.Split(p, "/")
	out := segs[:0]
	for _, seg := range segs {
		switch {
		case seg == "" || seg == ".":
			continue
		case strings.Trim(seg, ". ") == "":
			// "..", and what Windows trims to ".." or "." (trailing dots and spaces).
			return refuse("has a '..' segment (or one of dots and spaces only, which Windows reads as such)")
		case isDeviceName(seg):
			return refuse(fmt.Sprintf("has the Windows device name %q as a segment", seg))
		}
		out = append(out, seg)
	}
	if len(out) == 0 {
		return refuse("names no file")
	}
	return strings.Join(out, "/"), nil
}

// isDeviceName reports whether Windows would open a device for this path segment:
// CON, PRN, AUX, NUL, COM0-9, LPT0-9, with or without an extension, any case, and with
// trailing dots or spaces ignored.
func isDeviceName(seg string) bool {
	base := seg
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '0' && base[3] <= '9' {
		return true
	}
	return false
}
