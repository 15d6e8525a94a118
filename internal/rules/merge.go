package rules

import (
	"strings"

	"github.com/openwua/waptwua/internal/wu"
)

// Merge combines the rules of the [waptwua] ini section with the rules packages installed
// on the host, in install order (see the package doc for the precedence). The result
// shares no slice or pointer with its inputs and always has DefaultAllow set.
func Merge(ini Rules, packages ...Rules) Rules {
	all := append([]Rules{ini}, packages...)
	var out Rules
	for _, r := range all {
		out.AllowedUpdates = union(out.AllowedUpdates, r.AllowedUpdates, updateFold)
		out.ForbiddenUpdates = union(out.ForbiddenUpdates, r.ForbiddenUpdates, updateFold)
		out.AllowedKBs = union(out.AllowedKBs, r.AllowedKBs, kbFold)
		out.ForbiddenKBs = union(out.ForbiddenKBs, r.ForbiddenKBs, kbFold)
		out.AllowedProducts = union(out.AllowedProducts, r.AllowedProducts, nameFold)
		out.AllowedClassifications = union(out.AllowedClassifications, r.AllowedClassifications, nameFold)
		out.AllowedSeverities = union(out.AllowedSeverities, r.AllowedSeverities, nameFold)
		for _, a := range r.AutoApprove {
			if !containsEntry(out.AutoApprove, a) {
				out.AutoApprove = append(out.AutoApprove, AutoApprove{
					Classifications: append([]string(nil), a.Classifications...),
					Products:        append([]string(nil), a.Products...),
					Severities:      append([]string(nil), a.Severities...),
				})
			}
		}
		if r.IncludePotentiallySupersededUpdates != nil {
			out.IncludePotentiallySupersededUpdates = cloneBool(r.IncludePotentiallySupersededUpdates)
		}
		if r.DeclineSuperseded != nil {
			out.DeclineSuperseded = cloneBool(r.DeclineSuperseded)
		}
		mergePolicy(&out, r)
	}

	// default_allow (ours): the ini when it says, else the last package that says, else false.
	allow := false
	if ini.DefaultAllow != nil {
		allow = *ini.DefaultAllow
	} else {
		for _, p := range packages {
			if p.DefaultAllow != nil {
				allow = *p.DefaultAllow
			}
		}
	}
	out.DefaultAllow = &allow
	return out
}

// union appends the entries of add that are not yet in list, comparing fold(entry).
func union(list, add []string, fold func(string) string) []string {
	if len(add) == 0 {
		return list
	}
	seen := make(map[string]bool, len(list)+len(add))
	for _, w := range list {
		seen[fold(w)] = true
	}
	for _, v := range add {
		if k := fold(v); !seen[k] {
			seen[k] = true
			list = append(list, v)
		}
	}
	return list
}

func nameFold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func updateFold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func kbFold(s string) string {
	if d, err := wu.ParseKB(s); err == nil {
		return d
	}
	return nameFold(s)
}
