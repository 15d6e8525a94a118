package store

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
)

// SiteStore keeps the sites: groups of hosts that download update files from their own
// ordered repositories (site mirrors, `waptserver mirror`) before the main server.
//
// A host belongs to at most one site. Precedence: a site naming the host's UUID, else a
// site naming one of its groups, else a site with a network holding one of the
// addresses the host reported; among several candidates of the same kind, the first
// site in order (Position, then creation). SiteFor is that rule.
type SiteStore interface {
	// ListSites returns every site in order.
	ListSites(ctx context.Context) ([]Site, error)
	// GetSite returns one site by name, or ErrNotFound.
	GetSite(ctx context.Context, name string) (Site, error)
	// CreateSite stores a new site (s.Normalize first: ErrInvalid with an
	// *InvalidField naming the field). Position 0 puts it last. ErrConflict when the
	// name exists.
	CreateSite(ctx context.Context, s Site) (Site, error)
	// UpdateSite replaces the site named name with s (which may rename it; Position 0
	// keeps its place). ErrNotFound, ErrConflict (the new name exists), ErrInvalid.
	UpdateSite(ctx context.Context, name string, s Site) (Site, error)
	// DeleteSite removes a site; its hosts fall to the next matching site or to none.
	DeleteSite(ctx context.Context, name string) error
	// HostSite returns the site the host belongs to; ok is false when none.
	// ErrNotFound for an unknown host.
	HostSite(ctx context.Context, uuid string) (s Site, ok bool, err error)
	// SiteHostCounts counts the accepted hosts of each site by name.
	SiteHostCounts(ctx context.Context) (map[string]int, error)
	// NeededFilesForSite lists the files of every update that a host of the site needs
	// and may install (WantedStatuses), downloaded by the main server or not (check
	// DownloadedOn), ordered by SHA-1: a site repository with scope = needed holds
	// these. ErrNotFound for an unknown site.
	NeededFilesForSite(ctx context.Context, site string) ([]UpdateFile, error)
}

// Site is one site and its assignment rules.
type Site struct {
	Name string `json:"name"`
	// Position orders the sites (lower first); ties keep the creation order.
	Position int `json:"position"`
	// Repositories are the base URLs of the site's repositories, tried in order
	// (http or https; "https://mirror" or "https://mirror/wapt" both serve /waptwua/).
	// The main server is the implicit last one.
	Repositories []string `json:"repositories"`
	// Networks are CIDR networks ("10.1.0.0/16"): a host reporting an address in one
	// of them belongs to the site (unless a host or group rule puts it elsewhere).
	Networks []string `json:"networks"`
	// Groups are host groups whose hosts belong to the site.
	Groups []string `json:"groups"`
	// Hosts are host UUIDs that belong to the site whatever their groups and networks.
	Hosts     []string  `json:"hosts"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// Limits of a site.
const (
	MaxSiteNameLen     = 100
	MaxSiteRepos       = 16
	MaxSiteRules       = 1000 // networks, groups and hosts, each
	MaxRepoURLLen      = 2048
	MaxHostNetworks    = 64 // addresses a host may report
	maxSiteRuleItemLen = 128
)

// InvalidField is a value the store refuses, naming the field ("repositories[1]") and
// the fix. It matches ErrInvalid.
type InvalidField struct {
	Field  string
	Reason string
}

func (e *InvalidField) Error() string        { return e.Field + ": " + e.Reason }
func (e *InvalidField) Is(target error) bool { return target == ErrInvalid }

// Normalize checks a site field by field and puts its values in canonical form:
// trimmed, networks masked ("10.1.2.3/16" gives "10.1.0.0/16", a bare address a /32 or
// /128), repository URLs without a final slash, duplicates dropped. The error is an
// *InvalidField.
func (s *Site) Normalize() error {
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" || len(s.Name) > MaxSiteNameLen || strings.ContainsFunc(s.Name, unicode.IsControl) {
		return &InvalidField{"name", fmt.Sprintf("name the site (1 to %d characters, no control characters), e.g. its town", MaxSiteNameLen)}
	}
	if s.Position < 0 {
		return &InvalidField{"position", "negative: give 0 (last) or a positive rank"}
	}
	if len(s.Repositories) > MaxSiteRepos {
		return &InvalidField{"repositories", fmt.Sprintf("%d repositories, at most %d", len(s.Repositories), MaxSiteRepos)}
	}
	repos := make([]string, 0, len(s.Repositories))
	for i, r := range s.Repositories {
		u, err := NormalizeRepoURL(r)
		if err != nil {
			return &InvalidField{fmt.Sprintf("repositories[%d]", i), err.Error()}
		}
		repos = append(repos, u)
	}
	s.Repositories = dedupe(repos)
	for _, l := range []struct {
		field string
		list  *[]string
		norm  func(string) (string, error)
	}{{"networks", &s.Networks, NormalizeNetwork}, {"groups", &s.Groups, normalizeRuleItem("a group name")},
		{"hosts", &s.Hosts, normalizeRuleItem("a host UUID")}} {
		if len(*l.list) > MaxSiteRules {
			return &InvalidField{l.field, fmt.Sprintf("%d entries, at most %d", len(*l.list), MaxSiteRules)}
		}
		out := make([]string, 0, len(*l.list))
		for i, v := range *l.list {
			n, err := l.norm(v)
			if err != nil {
				return &InvalidField{fmt.Sprintf("%s[%d]", l.field, i), err.Error()}
			}
			out = append(out, n)
		}
		*l.list = dedupe(out)
	}
	return nil
}

func normalizeRuleItem(what string) func(string) (string, error) {
	return func(v string) (string, error) {
		v = strings.TrimSpace(v)
		if v == "" || len(v) > maxSiteRuleItemLen || strings.ContainsFunc(v, unicode.IsControl) {
			return "", fmt.Errorf("%q: want %s of 1 to %d characters", truncateRunes(v, 40), what, maxSiteRuleItemLen)
		}
		return v, nil
	}
}

// NormalizeRepoURL checks a repository base URL (http or https, a host, no user
// information, query or fragment) and returns it without its final slash.
func NormalizeRepoURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxRepoURLLen {
		return "", fmt.Errorf("longer than %d characters", MaxRepoURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an http:// or https:// URL of a repository, e.g. https://mirror.example.org", truncateRunes(s, 80))
	}
	if u.User != nil {
		return "", fmt.Errorf("%q carries a user name or password: repositories are public, remove it", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
		return "", fmt.Errorf("%q has a query or a fragment: give the base URL only", truncateRunes(s, 80))
	}
	return strings.TrimRight(s, "/"), nil
}

// NormalizeNetwork parses a CIDR network or a bare address and returns it masked.
func NormalizeNetwork(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("%q is not a CIDR network such as 10.1.0.0/16 or 2001:db8::/48", truncateRunes(s, 60))
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String(), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a CIDR network such as 10.1.0.0/16 or 2001:db8::/48", truncateRunes(s, 60))
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked().String(), nil
}

// SiteFor returns the index in sites (in order) of the site a host belongs to, -1 when
// none: a site naming its UUID, else one naming one of its groups (ignoring case), else
// one whose networks hold one of its addresses (networks as the agent reports them,
// "10.1.2.3/24"; unparsable ones are ignored).
func SiteFor(sites []Site, uuid string, groups, networks []string) int {
	for i := range sites {
		if slices.ContainsFunc(sites[i].Hosts, func(h string) bool { return strings.EqualFold(h, uuid) }) {
			return i
		}
	}
	for i := range sites {
		for _, g := range sites[i].Groups {
			if slices.ContainsFunc(groups, func(hg string) bool { return strings.EqualFold(hg, g) }) {
				return i
			}
		}
	}
	var addrs []netip.Addr
	for _, n := range networks {
		if p, err := netip.ParsePrefix(strings.TrimSpace(n)); err == nil {
			addrs = append(addrs, p.Addr().Unmap())
		} else if a, err := netip.ParseAddr(strings.TrimSpace(n)); err == nil {
			addrs = append(addrs, a.Unmap())
		}
	}
	if len(addrs) == 0 {
		return -1
	}
	for i := range sites {
		for _, n := range sites[i].Networks {
			p, err := netip.ParsePrefix(n)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if p.Contains(a) {
					return i
				}
			}
		}
	}
	return -1
}

func dedupe(in []string) []string {
	out := in[:0]
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		if k := strings.ToLower(s); !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
