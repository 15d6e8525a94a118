package sqlq

import (
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/store"
)

// PlanHostPackages compares the rules packages a host reported with the stored list:
// changed is false when they are the same (nothing to write). Entries equal to a stored
// one keep its ChangedAt; the others get at.
func PlanHostPackages(existing, reported []store.HostPackage, at time.Time) (out []store.HostPackage, changed bool, err error) {
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
		if r.Status != store.HostPackageApplied && r.Status != store.HostPackageRefused {
			return nil, false, fmt.Errorf("report: packages[%d] %s %s: status %q: %w (want applied or refused)", i, r.Name, r.Version, r.Status, store.ErrInvalid)
		}
		if r.Name == "" {
			return nil, false, fmt.Errorf("report: packages[%d]: empty package name: %w", i, store.ErrInvalid)
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
