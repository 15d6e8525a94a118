package upstream

import (
	"fmt"
	"strings"
)

// hostMatcher holds the allow-list: exact host names and "*." domain suffixes.
type hostMatcher struct {
	exact    map[string]bool
	suffixes []string // ".update.microsoft.com"
}

func newHostMatcher(patterns []string) (hostMatcher, error) {
	m := hostMatcher{exact: map[string]bool{}}
	for _, p := range patterns {
		n := normalizeHost(p)
		rest, wild := strings.CutPrefix(n, "*.")
		if rest == "" || strings.ContainsAny(rest, "*/:@ \t\\[]?#") || strings.HasPrefix(rest, ".") || strings.Contains(rest, "..") {
			return hostMatcher{}, fmt.Errorf("allowed host pattern %q: want a host name or *.domain (no scheme, port, path or inner wildcard)", p)
		}
		if wild {
			m.suffixes = append(m.suffixes, "."+rest)
		} else {
			m.exact[rest] = true
		}
	}
	return m, nil
}

// allowed reports whether host (without port, as url.URL.Hostname returns it) matches.
// A wildcard matches at a dot boundary only and never the bare domain:
// "*.update.microsoft.com" accepts "fe2.update.microsoft.com" but neither
// "update.microsoft.com" nor "evilupdate.microsoft.com".
func (m hostMatcher) allowed(host string) bool {
	h := normalizeHost(host)
	if h == "" || strings.HasPrefix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	if m.exact[h] {
		return true
	}
	for _, s := range m.suffixes {
		if len(h) > len(s) && strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// normalizeHost lower-cases and drops one trailing dot (the absolute form of a DNS name).
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	return strings.TrimSuffix(h, ".")
}
