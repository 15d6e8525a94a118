// Package rules decides which Windows updates a host may install: the rules model of
// waptwua_rules.json and of the [waptwua] section of wapt-get.ini, the merge of several
// rules packages, and the decision for one update (REFERENCE §4). It is pure: no I/O,
// no clock (time is a parameter).
//
// # Entries
//
//   - allowed_updates, forbidden_updates: update keys "<guid>_<rev>" naming one revision,
//     or a bare "<guid>" naming every revision of that update. GUIDs compare
//     case-insensitively; Normalize writes them in lower case.
//   - allowed_kbs, forbidden_kbs: "KB5034441", "kb5034441" or "5034441"; Normalize writes
//     "KB5034441".
//   - allowed_products, allowed_classifications: category names ("Windows 10",
//     "Security Updates"), compared case-insensitively, or category GUIDs.
//   - allowed_severities: Critical, Important, Moderate, Low (any letter case).
//   - default_allow, include_potentially_superseded_updates, decline_superseded:
//     tri-state booleans; nil means "this source does not say".
//   - auto_approve (ours): WSUS-like automatic approval rules. Inside one entry the
//     non-empty lists must all match (AND; an empty list matches anything); entries are
//     alternatives (OR). An entry whose lists are all empty is refused by Normalize and
//     never matches in Decide (it would approve everything: say default_allow instead).
//   - decline_superseded (ours): an allowed update that is superseded by an approved
//     update gets the status SUPERSEDED instead of PENDING.
//
// # Merge precedence
//
// Merge starts from the [waptwua] section of wapt-get.ini and applies the rules packages
// in install order:
//   - lists are unioned: de-duplicated (comparing as the decision does), first spelling
//     and order kept;
//   - include_potentially_superseded_updates and decline_superseded: the last source that
//     sets the key wins (a later package overrides the ini and earlier packages);
//   - default_allow (ours, REFERENCE §3): the ini value wins when the ini sets the key;
//     otherwise the last package that sets it; otherwise false. The original let the ini
//     value override every package even when the ini did not set it.
//
// # Decision order
//
// Decide applies the first matching step: forbidden_updates, forbidden_kbs (both give
// DISCARDED/forbidden), allowed_updates, allowed_kbs, allowed_products,
// allowed_severities, allowed_classifications, auto_approve, default_allow (not allowed
// gives DISCARDED/not_allowed). An allowed update superseded by an approved one becomes
// SUPERSEDED when decline_superseded is on; one still inside install_delay becomes
// DISCARDED/delayed.
package rules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/openwua/waptwua/internal/wu"
)

// Rules is one set of rules: the contents of a waptwua_rules.json, the rules keys of the
// [waptwua] ini section, or the result of Merge.
type Rules struct {
	AllowedUpdates         []string `json:"allowed_updates,omitempty"`
	ForbiddenUpdates       []string `json:"forbidden_updates,omitempty"`
	AllowedKBs             []string `json:"allowed_kbs,omitempty"`
	ForbiddenKBs           []string `json:"forbidden_kbs,omitempty"`
	AllowedProducts        []string `json:"allowed_products,omitempty"`
	AllowedClassifications []string `json:"allowed_classifications,omitempty"`
	AllowedSeverities      []string `json:"allowed_severities,omitempty"`

	DefaultAllow                        *bool `json:"default_allow,omitempty"`
	IncludePotentiallySupersededUpdates *bool `json:"include_potentially_superseded_updates,omitempty"`

	// AutoApprove and DeclineSuperseded are our extensions (see the package doc).
	AutoApprove       []AutoApprove `json:"auto_approve,omitempty"`
	DeclineSuperseded *bool         `json:"decline_superseded,omitempty"`

	// When updates install and hosts reboot (ours, see policy.go and the README).
	MaintenanceWindows                []Window          `json:"maintenance_windows,omitempty"`
	PauseUntil                        map[string]string `json:"pause_until,omitempty"` // classification or "*" -> YYYY-MM-DD[THH:MM]
	PauseDays                         map[string]int    `json:"pause_days,omitempty"`  // classification or "*" -> days after approval
	InstallDelayDays                  *int              `json:"install_delay_days,omitempty"`
	DeadlineDays                      *int              `json:"deadline_days,omitempty"`
	GraceDays                         *int              `json:"grace_days,omitempty"`
	Reboot                            string            `json:"reboot,omitempty"`
	MaxPostpone                       *int              `json:"max_postpone,omitempty"`
	ActiveHours                       string            `json:"active_hours,omitempty"`
	CatchUpMissedWindows              *bool             `json:"catch_up_missed_windows,omitempty"`
	InstallAtShutdown                 *bool             `json:"install_at_shutdown,omitempty"`
	WaptexitDisableSkipWindowsUpdates *bool             `json:"waptexit_disable_skip_windows_updates,omitempty"`
}

// AutoApprove is one automatic approval rule: an update matches when each non-empty list
// names one of its classifications, products and its severity.
type AutoApprove struct {
	Classifications []string `json:"classifications,omitempty"`
	Products        []string `json:"products,omitempty"`
	Severities      []string `json:"severities,omitempty"`
}

func (a AutoApprove) empty() bool {
	return len(a.Classifications) == 0 && len(a.Products) == 0 && len(a.Severities) == 0
}

// String describes the entry for logs: "classifications=Security Updates; severities=Critical".
func (a AutoApprove) String() string {
	var parts []string
	add := func(name string, l []string) {
		if len(l) > 0 {
			parts = append(parts, name+"="+strings.Join(l, ", "))
		}
	}
	add("classifications", a.Classifications)
	add("products", a.Products)
	add("severities", a.Severities)
	if len(parts) == 0 {
		return "(empty)"
	}
	return strings.Join(parts, "; ")
}

// FieldError reports an invalid entry of a rules list, naming the JSON key.
type FieldError struct {
	Key   string // JSON key, with an index: "forbidden_kbs[2]", "auto_approve[0].severities[1]"
	Value string
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s = %q: %v", e.Key, e.Value, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Normalize checks every entry and returns a copy in canonical form: update keys in lower
// case, KBs as "KB<digits>", severities capitalised, category GUIDs in lower case, names
// trimmed, duplicates removed (first kept). The error names the key and the value.
func (r Rules) Normalize() (Rules, error) {
	var out Rules
	var err error
	lists := []struct {
		key  string
		in   []string
		out  *[]string
		norm func(string) (string, error)
	}{
		{"allowed_updates", r.AllowedUpdates, &out.AllowedUpdates, normUpdate},
		{"forbidden_updates", r.ForbiddenUpdates, &out.ForbiddenUpdates, normUpdate},
		{"allowed_kbs", r.AllowedKBs, &out.AllowedKBs, normKB},
		{"forbidden_kbs", r.ForbiddenKBs, &out.ForbiddenKBs, normKB},
		{"allowed_products", r.AllowedProducts, &out.AllowedProducts, normCategory},
		{"allowed_classifications", r.AllowedClassifications, &out.AllowedClassifications, normCategory},
		{"allowed_severities", r.AllowedSeverities, &out.AllowedSeverities, normSeverity},
	}
	for _, l := range lists {
		if *l.out, err = normList(l.key, l.in, l.norm); err != nil {
			return Rules{}, err
		}
	}
	for i, a := range r.AutoApprove {
		key := fmt.Sprintf("auto_approve[%d]", i)
		var n AutoApprove
		if n.Classifications, err = normList(key+".classifications", a.Classifications, normCategory); err != nil {
			return Rules{}, err
		}
		if n.Products, err = normList(key+".products", a.Products, normCategory); err != nil {
			return Rules{}, err
		}
		if n.Severities, err = normList(key+".severities", a.Severities, normSeverity); err != nil {
			return Rules{}, err
		}
		if n.empty() {
			return Rules{}, &FieldError{Key: key, Value: "{}", Err: errEmptyAutoApprove}
		}
		if !containsEntry(out.AutoApprove, n) {
			out.AutoApprove = append(out.AutoApprove, n)
		}
	}
	out.DefaultAllow = cloneBool(r.DefaultAllow)
	out.IncludePotentiallySupersededUpdates = cloneBool(r.IncludePotentiallySupersededUpdates)
	out.DeclineSuperseded = cloneBool(r.DeclineSuperseded)
	if err := normalizePolicy(r, &out); err != nil {
		return Rules{}, err
	}
	return out, nil
}

// Validate reports the first invalid entry, as Normalize does.
func (r Rules) Validate() error {
	_, err := r.Normalize()
	return err
}

var errEmptyAutoApprove = errors.New("an auto_approve entry with no classifications, products or severities would approve every update (set default_allow instead)")

func normList(key string, in []string, norm func(string) (string, error)) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for i, v := range in {
		n, err := norm(v)
		if err != nil {
			return nil, &FieldError{Key: fmt.Sprintf("%s[%d]", key, i), Value: v, Err: err}
		}
		k := strings.ToLower(n)
		if !seen[k] {
			seen[k] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func normUpdate(s string) (string, error) {
	t := strings.TrimSpace(s)
	if !strings.Contains(t, "_") {
		if !wu.IsGUID(t) {
			return "", fmt.Errorf("not an update key (want <guid>_<revision>, or a bare <guid> for every revision)")
		}
		return strings.ToLower(t), nil
	}
	k, err := wu.ParseUpdateKey(t)
	if err != nil {
		return "", fmt.Errorf("not an update key (want <guid>_<revision>, or a bare <guid> for every revision)")
	}
	return k.String(), nil
}

func normKB(s string) (string, error) {
	d, err := wu.ParseKB(s)
	if err != nil {
		return "", fmt.Errorf("not a KB number (want KB followed by digits, e.g. KB5034441)")
	}
	return wu.FormatKB(d), nil
}

func normCategory(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", fmt.Errorf("empty name (want a category name such as \"Security Updates\" or its GUID)")
	}
	if wu.IsGUID(t) {
		return strings.ToLower(t), nil
	}
	return t, nil
}

func normSeverity(s string) (string, error) {
	v, err := wu.ParseSeverity(s)
	if err != nil {
		return "", fmt.Errorf("not a severity (want Critical, Important, Moderate or Low)")
	}
	return string(v), nil
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

func containsEntry(list []AutoApprove, a AutoApprove) bool {
	for _, b := range list {
		if equalFoldList(a.Classifications, b.Classifications) && equalFoldList(a.Products, b.Products) && equalFoldList(a.Severities, b.Severities) {
			return true
		}
	}
	return false
}

func equalFoldList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}
