package store

import (
	"sort"
	"strconv"
	"strings"
)

// PackagesFor returns the rules packages a host gets, in install order (priority, then
// name): for each package name assigned to one of its groups (compared ignoring case)
// or to it, the newest verified version offered at a maturity the host accepts.
func PackagesFor(h Host, pkgs []RulesPackage, assigns []PackageAssignment) []RulesPackage {
	assigned := map[string]bool{}
	for _, a := range assigns {
		switch a.Kind {
		case AssignHost:
			if a.Target == h.UUID {
				assigned[a.Package] = true
			}
		case AssignGroup:
			for _, g := range h.Groups {
				if strings.EqualFold(g, a.Target) {
					assigned[a.Package] = true
				}
			}
		}
	}
	best := map[string]RulesPackage{}
	for _, p := range pkgs {
		if !assigned[p.Name] || !p.Servable() || !AcceptsMaturity(h.Maturity, p.OfferedMaturity()) {
			continue
		}
		if b, ok := best[p.Name]; !ok || CompareVersions(p.Version, b.Version) > 0 {
			best[p.Name] = p
		}
	}
	out := make([]RulesPackage, 0, len(best))
	for _, p := range best {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority < out[j].Priority
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// CompareVersions orders WAPT package versions ("1.2.3-4"): dot- and dash-separated
// parts compared numerically when both are numbers, else as text; a version with more
// parts is newer when the common parts are equal.
func CompareVersions(a, b string) int {
	split := func(v string) []string {
		return strings.FieldsFunc(v, func(r rune) bool { return r == '.' || r == '-' })
	}
	pa, pb := split(a), split(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.ParseUint(pa[i], 10, 64)
		nb, eb := strconv.ParseUint(pb[i], 10, 64)
		switch {
		case ea == nil && eb == nil:
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
		case ea == nil: // numbers before text
			return -1
		case eb == nil:
			return 1
		default:
			if c := strings.Compare(pa[i], pb[i]); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(pa) < len(pb):
		return -1
	case len(pa) > len(pb):
		return 1
	}
	return strings.Compare(a, b)
}
