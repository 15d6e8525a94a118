package wu

import "strings"

// SHA1FromFileName returns the lower-case hex SHA-1 that Microsoft puts at the end of
// update file names ("windows10.0-kb5034441-x64_<40 hex>.cab"), or "" when the name has
// none.
func SHA1FromFileName(name string) string {
	stem := name
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		stem = name[:i]
	}
	if len(stem) < 41 || stem[len(stem)-41] != '_' {
		return ""
	}
	h := strings.ToLower(stem[len(stem)-40:])
	if !IsHex(h, 40) {
		return ""
	}
	return h
}

// IsHex reports whether s is n hexadecimal digits (either case).
func IsHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
