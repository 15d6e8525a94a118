package api

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// validateSite checks the site facts of a report: the networks and the repository.
func (r *Report) validateSite() error {
	if len(r.Networks) > MaxNetworks {
		return &FieldError{"networks", fmt.Sprintf("%d networks, at most %d", len(r.Networks), MaxNetworks)}
	}
	for i, n := range r.Networks {
		if _, err := netip.ParsePrefix(n); err != nil || len(n) > 64 {
			return &FieldError{fmt.Sprintf("networks[%d]", i), fmt.Sprintf("%q is not an address with its prefix length, e.g. 10.1.2.3/24", truncate(n, 64))}
		}
	}
	if r.Repository != "" {
		if _, err := ParseRepoURL(r.Repository); err != nil {
			return &FieldError{"repository", err.Error()}
		}
	}
	return nil
}

// ParseRepoURL checks a repository URL: http or https, a host, no user information,
// at most MaxURLLen bytes.
func ParseRepoURL(s string) (*url.URL, error) {
	if len(s) > MaxURLLen {
		return nil, fmt.Errorf("longer than %d bytes", MaxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL without user information", truncate(s, 80))
	}
	return u, nil
}

// RepoFolder is the update folder of a repository base URL, with its final slash:
// "https://mirror" and "https://mirror/" give "https://mirror/waptwua/", a repo_url
// style "https://mirror/wapt" gives "https://mirror/waptwua/", and a URL naming the
// folder itself ("https://mirror/waptwua") is kept.
func RepoFolder(base string) string {
	b := strings.TrimRight(base, "/")
	switch {
	case strings.HasSuffix(b, "/waptwua"):
		return b + "/"
	case strings.HasSuffix(b, "/wapt"):
		return b + "wua/"
	}
	return b + RepoPrefix
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
