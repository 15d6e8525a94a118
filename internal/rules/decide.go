package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// Candidate is what Decide needs to know about one update needed by a host.
type Candidate struct {
	Key wu.UpdateKey
	// KBs in any accepted form ("5034441", "KB5034441").
	KBs []string
	// Products and Classifications are category names; ProductIDs and ClassificationIDs
	// their GUIDs. Rules may name either.
	Products          []string
	ProductIDs        []string
	Classifications   []string
	ClassificationIDs []string
	Severity          wu.Severity
	// LastDeploymentChangeTime starts install_delay. The zero time means unknown: no delay
	// is applied (holding an update forever is the original's defect we avoid).
	LastDeploymentChangeTime time.Time
	// SupersededByApproved says that an update superseding this one is itself approved
	// (allowed) for the host; the caller works it out from the supersedence links.
	SupersededByApproved bool
}

// CandidateOf fills a Candidate from a catalog update. The caller adds
// LastDeploymentChangeTime and SupersededByApproved, which the catalog does not know.
func CandidateOf(u *wu.Update) Candidate {
	c := Candidate{
		Key:        u.Key(),
		KBs:        u.KBs,
		Products:   u.Products,
		ProductIDs: u.ProductIDs,
		Severity:   u.Severity,
	}
	if u.Classification != "" {
		c.Classifications = []string{u.Classification}
	}
	if u.ClassificationID != "" {
		c.ClassificationIDs = []string{u.ClassificationID}
	}
	return c
}

// Decision is the verdict for one update.
type Decision struct {
	// Allowed is true when the host may install the update now. Status is then PENDING;
	// the caller turns it into MISSING while the update's files are not available.
	Allowed bool
	Status  wu.Status
	// Reason is set for DISCARDED: forbidden, not_allowed or delayed.
	Reason wu.Reason
	// Rule says in words which step decided, for the console and logs:
	// "forbidden_kbs: KB5034441", "default_allow: false".
	Rule string
}

// Decide applies the rules to one update: the first matching step of the package doc's
// order wins, then decline_superseded, then install_delay (now >= LastDeploymentChangeTime
// + installDelay releases the update). r need not be normalized: entries are compared in
// the same tolerant way Normalize accepts them.
func Decide(r Rules, u Candidate, now time.Time, installDelay time.Duration) Decision {
	allowed, forbidden, rule := match(r, u)
	if forbidden {
		return Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonForbidden, Rule: rule}
	}
	if !allowed {
		return Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonNotAllowed, Rule: rule}
	}
	if r.DeclineSuperseded != nil && *r.DeclineSuperseded && u.SupersededByApproved {
		return Decision{Status: wu.StatusSuperseded,
			Rule: "decline_superseded: superseded by an approved update (allowed by " + rule + ")"}
	}
	if installDelay > 0 && !u.LastDeploymentChangeTime.IsZero() {
		until := u.LastDeploymentChangeTime.Add(installDelay)
		if now.Before(until) {
			return Decision{Status: wu.StatusDiscarded, Reason: wu.ReasonDelayed,
				Rule: fmt.Sprintf("install_delay: %s, until %s (allowed by %s)",
					formatDelay(installDelay), until.UTC().Format(time.RFC3339), rule)}
		}
	}
	return Decision{Allowed: true, Status: wu.StatusPending, Rule: rule}
}

// match runs steps 1 to 9 and says whether the update is allowed, whether it is
// forbidden (steps 1 and 2) and which step decided.
func match(r Rules, u Candidate) (allowed, forbidden bool, rule string) {
	if e, ok := matchUpdate(r.ForbiddenUpdates, u.Key); ok {
		return false, true, "forbidden_updates: " + e
	}
	if e, ok := matchKB(r.ForbiddenKBs, u.KBs); ok {
		return false, true, "forbidden_kbs: " + e
	}
	if e, ok := matchUpdate(r.AllowedUpdates, u.Key); ok {
		return true, false, "allowed_updates: " + e
	}
	if e, ok := matchKB(r.AllowedKBs, u.KBs); ok {
		return true, false, "allowed_kbs: " + e
	}
	if e, ok := matchCategory(r.AllowedProducts, u.Products, u.ProductIDs); ok {
		return true, false, "allowed_products: " + e
	}
	if e, ok := matchSeverity(r.AllowedSeverities, u.Severity); ok {
		return true, false, "allowed_severities: " + e
	}
	if e, ok := matchCategory(r.AllowedClassifications, u.Classifications, u.ClassificationIDs); ok {
		return true, false, "allowed_classifications: " + e
	}
	for i, a := range r.AutoApprove {
		if autoApproves(a, u) {
			return true, false, fmt.Sprintf("auto_approve[%d]: %s", i, a)
		}
	}
	if r.DefaultAllow == nil {
		return false, false, "default_allow: not set (false)"
	}
	return *r.DefaultAllow, false, fmt.Sprintf("default_allow: %t", *r.DefaultAllow)
}

// matchUpdate finds an entry naming this revision ("<guid>_<rev>") or every revision
// ("<guid>").
func matchUpdate(entries []string, k wu.UpdateKey) (string, bool) {
	if k.UpdateID == "" {
		return "", false
	}
	full := k.String()
	for _, e := range entries {
		t := strings.TrimSpace(e)
		if strings.EqualFold(t, full) || strings.EqualFold(t, k.UpdateID) {
			return t, true
		}
	}
	return "", false
}

func matchKB(entries, kbs []string) (string, bool) {
	for _, e := range entries {
		want, err := wu.ParseKB(e)
		if err != nil {
			continue
		}
		for _, kb := range kbs {
			if got, err := wu.ParseKB(kb); err == nil && got == want {
				return wu.FormatKB(want), true
			}
		}
	}
	return "", false
}

func matchCategory(entries, names, ids []string) (string, bool) {
	for _, e := range entries {
		t := strings.TrimSpace(e)
		if t == "" {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(t, strings.TrimSpace(n)) {
				return t, true
			}
		}
		if wu.IsGUID(t) {
			for _, id := range ids {
				if strings.EqualFold(t, strings.TrimSpace(id)) {
					return t, true
				}
			}
		}
	}
	return "", false
}

func matchSeverity(entries []string, s wu.Severity) (string, bool) {
	if s == wu.SeverityNone {
		return "", false
	}
	for _, e := range entries {
		if strings.EqualFold(strings.TrimSpace(e), string(s)) {
			return string(s), true
		}
	}
	return "", false
}

// autoApproves reports whether every non-empty list of a names the update. An entry with
// no list at all never matches (fail closed: Normalize refuses it).
func autoApproves(a AutoApprove, u Candidate) bool {
	if a.empty() {
		return false
	}
	if len(a.Classifications) > 0 {
		if _, ok := matchCategory(a.Classifications, u.Classifications, u.ClassificationIDs); !ok {
			return false
		}
	}
	if len(a.Products) > 0 {
		if _, ok := matchCategory(a.Products, u.Products, u.ProductIDs); !ok {
			return false
		}
	}
	if len(a.Severities) > 0 {
		if _, ok := matchSeverity(a.Severities, u.Severity); !ok {
			return false
		}
	}
	return true
}

// formatDelay writes whole days as "7d", anything else as time.Duration does.
func formatDelay(d time.Duration) string {
	const day = 24 * time.Hour
	if d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}
