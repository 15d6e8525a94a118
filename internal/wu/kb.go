package wu

import (
	"fmt"
	"strings"
)

// ParseKB accepts a Knowledge Base article number written "KB5034441", "kb5034441" or
// "5034441" (surrounding spaces ignored) and returns its digits, "5034441", the form
// of Update.KBs. Leading zeros are dropped; anything but digits after the optional
// "KB" prefix is an error.
func ParseKB(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) >= 2 && strings.EqualFold(t[:2], "KB") {
		t = t[2:]
	}
	if t == "" || len(t) > 12 {
		return "", fmt.Errorf("KB %q: not a KB number (want KB followed by digits, e.g. KB5034441)", s)
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return "", fmt.Errorf("KB %q: not a KB number (want KB followed by digits, e.g. KB5034441)", s)
		}
	}
	t = strings.TrimLeft(t, "0")
	if t == "" {
		return "", fmt.Errorf("KB %q: not a KB number (KB0 does not exist)", s)
	}
	return t, nil
}

// FormatKB renders KB digits as "KB5034441".
func FormatKB(digits string) string { return "KB" + digits }
