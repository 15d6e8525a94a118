package console

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Query strings come from anyone: every reader here answers a sane value for garbage
// (bad numbers, huge numbers, unknown words, repeated or oversized values) instead of
// failing.

const (
	maxParamLen    = 200 // longer values are cut
	maxParamValues = 100 // more values of one key are dropped
)

// intParam reads a whole number in [lo, hi]: def when absent or unreadable, clamped when
// out of range.
func intParam(q url.Values, name string, def, lo, hi int) int {
	v := strings.TrimSpace(q.Get(name))
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
			return hi
		}
		return def
	}
	return int(min(max(n, int64(lo)), int64(hi)))
}

// strParam reads one text value, trimmed, valid UTF-8, at most maxParamLen bytes.
func strParam(q url.Values, name string) string {
	return clean(q.Get(name))
}

func clean(v string) string {
	v = strings.TrimSpace(strings.ToValidUTF8(v, ""))
	if len(v) > maxParamLen {
		v = v[:maxParamLen]
		for !utf8.ValidString(v) {
			v = v[:len(v)-1]
		}
	}
	return v
}

// listParam reads the distinct non-empty values of a repeated key, in order.
func listParam(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		v = clean(v)
		if v == "" || slices.Contains(out, v) {
			continue
		}
		out = append(out, v)
		if len(out) == maxParamValues {
			break
		}
	}
	return out
}

// triParam reads "yes" / "no" (also true/false, 1/0); anything else means "any".
func triParam(q url.Values, name string) string {
	switch strings.ToLower(strings.TrimSpace(q.Get(name))) {
	case "yes", "true", "1", "on":
		return "yes"
	case "no", "false", "0", "off":
		return "no"
	}
	return ""
}

func triBool(v string) *bool {
	switch v {
	case "yes":
		b := true
		return &b
	case "no":
		b := false
		return &b
	}
	return nil
}

// oneOf returns v when it is one of allowed, else def.
func oneOf(v string, def string, allowed ...string) string {
	if slices.Contains(allowed, v) {
		return v
	}
	return def
}
