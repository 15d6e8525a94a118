// Package config reads the agent's wapt-get.ini ([global] and [waptwua]) and the server's
// waptserver.ini ([options]), applies the defaults of REFERENCE §3 and validates every
// value at load time, so that a mistake is reported with the file, key, value and fix
// instead of silently changing behaviour. It also holds the value syntaxes shared by
// both files: Python-style booleans, durations (no unit means days), times of day.
package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// readFile reads a configuration file, refusing anything larger than maxIniBytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIniBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

// reader reads the keys of one section, collecting every error so that one load reports
// all mistakes.
type reader struct {
	f       *iniFile
	section string
	errs    []error
}

// raw returns the trimmed value of key and whether the key is present and non-empty.
// An empty value ("key =") counts as absent: the default applies.
func (r *reader) raw(key string) (string, bool) {
	v, ok := r.f.lookup(r.section, key)
	if !ok || v.value == "" {
		return "", false
	}
	return v.value, true
}

func (r *reader) fail(key, value string, err error) {
	r.errs = append(r.errs, &ValueError{File: r.f.source, Section: r.section, Key: key, Value: value, Err: err})
}

func (r *reader) failSecret(key string, err error) {
	r.errs = append(r.errs, &ValueError{File: r.f.source, Section: r.section, Key: key, Secret: true, Err: err})
}

func (r *reader) str(key, def string) string {
	if v, ok := r.raw(key); ok {
		return v
	}
	return def
}

func (r *reader) boolean(key string, def bool) bool {
	if b := r.triBool(key); b != nil {
		return *b
	}
	return def
}

// triBool returns nil when the key is absent or empty.
func (r *reader) triBool(key string) *bool {
	v, ok := r.raw(key)
	if !ok {
		return nil
	}
	b, err := ParseBool(v)
	if err != nil {
		r.fail(key, v, ErrNotBool)
		return nil
	}
	return &b
}

func (r *reader) duration(key string, def time.Duration) time.Duration {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	d, err := parseDuration(v)
	if err != nil {
		r.fail(key, v, err)
		return def
	}
	return d
}

// integer reads a decimal integer in [min, max]; hint completes the error.
func (r *reader) integer(key string, def, min, max int, hint string) int {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail(key, v, fmt.Errorf("not a number from %d to %d (%s)", min, max, hint))
		return def
	}
	return n
}

// unknownKeys lists warnings for the keys of the section that are not in known.
func (r *reader) unknownKeys(known []string) []string {
	s := r.f.section(r.section)
	if s == nil {
		return nil
	}
	var out []string
	for _, k := range s.order {
		if contains(known, k) {
			continue
		}
		w := fmt.Sprintf("%s:%d: [%s] unknown key %q ignored", r.f.source, s.keys[k].line, r.section, k)
		if near := nearest(k, known); near != "" {
			w += fmt.Sprintf(" (did you mean %s?)", near)
		}
		out = append(out, w)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// nearest returns the first known key closest to k within two edits, or "".
func nearest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(k, c, bestD); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or limit when it is at least limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}

// isWindowsAbs recognises "C:\x", "C:/x" and "\\server\share" on every OS, so that a
// Windows path read on Linux (tests, simulation) is not joined to the ini's folder.
func isWindowsAbs(p string) bool {
	if len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') {
		c := p[0] | 0x20
		return 'a' <= c && c <= 'z'
	}
	return strings.HasPrefix(p, `\\`)
}

// resolvePath makes a relative path relative to dir (the folder of the ini file). A
// rooted path ("/etc/wapt/ca.pem", "\wapt\ca.pem": the current drive's root on
// Windows) is not relative, on any system.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || isWindowsAbs(p) || p[0] == '/' || p[0] == '\\' {
		return p
	}
	return filepath.Join(dir, p)
}
