package sqlq

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// PlanHostPackages compares the rules packages a host reported with the stored list:
// changed is false when they are the same (nothing to write). Entries equal to a stored
// one keep its ChangedAt; the others get at.
func PlanHostPackages(existing, reported []store.HostPackage, at time.Time) (out []store.HostPackage, changed bool, err error) {
	return planHostList(existing, reported, at, "packages", rulesStatuses)
}

// PlanHostUpdatePackages is PlanHostPackages for the update packages a host reported.
func PlanHostUpdatePackages(existing, reported []store.HostPackage, at time.Time) (out []store.HostPackage, changed bool, err error) {
	return planHostList(existing, reported, at, "update_packages", updateStatuses)
}

// The statuses a host may report, with the wording of the error that lists them.
var (
	rulesStatuses  = []string{store.HostPackageApplied, store.HostPackageRefused}
	updateStatuses = []string{store.HostUpdatePackageInstalled, store.HostUpdatePackageRebootNeeded,
		store.HostUpdatePackageNotApplicable, store.HostUpdatePackageError, store.HostUpdatePackageRefused}
)

func planHostList(existing, reported []store.HostPackage, at time.Time, field string, statuses []string) (out []store.HostPackage, changed bool, err error) {
	same := len(existing) == len(reported)
	prev := make(map[store.HostPackage]time.Time, len(existing))
	for i, e := range existing {
		k := e
		k.ChangedAt = time.Time{}
		prev[k] = e.ChangedAt
		if same {
			r := reported[i]
			same = r.Name == e.Name && r.Version == e.Version && r.Status == e.Status && r.Error == e.Error
		}
	}
	if same {
		return existing, false, nil
	}
	out = make([]store.HostPackage, 0, len(reported))
	for i, r := range reported {
		if !slices.Contains(statuses, r.Status) {
			return nil, false, fmt.Errorf("report: %s[%d] %s %s: status %q: %w (want %s)", field, i, r.Name, r.Version, r.Status, store.ErrInvalid, strings.Join(statuses, ", "))
		}
		if r.Name == "" {
			return nil, false, fmt.Errorf("report: %s[%d]: empty package name: %w", field, i, store.ErrInvalid)
		}
		k := r
		k.ChangedAt = time.Time{}
		if t, ok := prev[k]; ok {
			r.ChangedAt = t
		} else {
			r.ChangedAt = at
		}
		out = append(out, r)
	}
	return out, true, nil
}
