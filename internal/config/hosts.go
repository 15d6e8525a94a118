package config

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// HostAllowed reports whether host, the Host of a download URL ("download.microsoft.com",
// "download.microsoft.com:443", "[2001:db8::1]:8080"), is allowed by one of patterns:
//   - "name" matches that name exactly (any letter case, one trailing dot ignored);
//   - "*.name" matches any subdomain of name at any depth, not name itself, so
//     "*.update.microsoft.com" matches "fe2.update.microsoft.com" but neither
//     "update.microsoft.com" nor "evilupdate.microsoft.com";
//   - an IP literal matches only itself; wildcards never match IP addresses;
//   - a pattern without a port allows the default ports only (none, 80, 443); a pattern
//     with a port ("127.0.0.1:8081", "[::1]:8081") allows exactly that port.
//
// Anything that is not a clean host name or IP literal (user info, a path, a zone, an
// empty label, a bad port) is refused.
func HostAllowed(host string, patterns []string) bool {
	name, port, ok := splitHost(host)
	if !ok || strings.HasPrefix(name, "*") {
		return false
	}
	_, isIP := parseIP(name)
	for _, p := range patterns {
		pname, pport, ok := splitHost(strings.TrimSpace(p))
		wild := false
		if ok && strings.HasPrefix(pname, "*.") {
			pname, wild = pname[2:], true
			ok = validName(pname)
		}
		if !ok {
			continue
		}
		if pport == "" {
			if port != "" && port != "80" && port != "443" {
				continue
			}
		} else if port != pport {
			continue
		}
		if wild {
			if !isIP && strings.HasSuffix(name, "."+pname) {
				return true
			}
			continue
		}
		if name == pname {
			return true
		}
		if a, ok := parseIP(pname); ok && isIP {
			if b, _ := parseIP(name); a == b {
				return true
			}
		}
	}
	return false
}

// splitHost splits "name", "name:port", "[v6]", "[v6]:port" or a bare IPv6 address into
// a lower-case name (brackets removed, trailing dot dropped) and a port ("" for none).
// A "*." prefix is kept on the name for patterns.
func splitHost(h string) (name, port string, ok bool) {
	if h == "" || len(h) > 300 {
		return "", "", false
	}
	switch {
	case strings.HasPrefix(h, "["):
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", "", false
		}
		name, rest := h[1:end], h[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", "", false
			}
			port = rest[1:]
			if !validPort(port) {
				return "", "", false
			}
		}
		a, err := netip.ParseAddr(name)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "", false
		}
		return a.String(), port, true
	case strings.Count(h, ":") > 1:
		a, err := netip.ParseAddr(h)
		if err != nil || a.Zone() != "" {
			return "", "", false
		}
		return a.String(), "", true
	}
	name, port, hasPort := strings.Cut(h, ":")
	if hasPort && !validPort(port) {
		return "", "", false
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if a, ok := parseIP(name); ok {
		return a.String(), port, true
	}
	check := strings.TrimPrefix(name, "*.")
	if !validName(check) {
		return "", "", false
	}
	return name, port, true
}

// parseIP accepts a canonical IPv4 or IPv6 literal without zone.
func parseIP(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 || !isDigits(p) {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// validName accepts a DNS name of letters, digits and hyphens, labels of 1 to 63
// characters not starting or ending with a hyphen. A name made only of digits and dots
// (a malformed IPv4 address) is refused.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	allDigits := true
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c == '-':
				allDigits = false
			case c >= '0' && c <= '9':
			default:
				return false
			}
		}
	}
	return !allDigits
}

// normalizeHostPattern checks one allowed_upstream_hosts entry and writes it in the form
// HostAllowed compares.
func normalizeHostPattern(p string) (string, error) {
	const hint = " (use a host name like download.microsoft.com, *.update.microsoft.com, or an IP address, optionally with :port)"
	if strings.Contains(p, "://") || strings.ContainsAny(p, "/@ ") {
		return "", errors.New("not a host pattern: write the host only" + hint)
	}
	name, port, ok := splitHost(p)
	if !ok {
		return "", errors.New("not a host pattern" + hint)
	}
	if strings.Contains(strings.TrimPrefix(name, "*."), "*") {
		return "", errors.New("a wildcard is allowed only as a leading *." + hint)
	}
	if strings.HasPrefix(name, "*.") && strings.Count(name, ".") < 2 {
		return "", errors.New("wildcard too wide (write at least two labels after *., e.g. *.update.microsoft.com)")
	}
	out := name
	if a, ok := parseIP(name); ok && a.Is6() && port != "" {
		out = "[" + name + "]"
	}
	if port != "" {
		out += ":" + port
	}
	return out, nil
}
