package agent

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// classify decides each scanned update: OK when installed; DISCARDED (forbidden,
// not_allowed, delayed) when the rules say no; SUPERSEDED when another update of the
// scan replaces it; ERROR when allowed and its last install failed; otherwise PENDING,
// which settleAvailability may turn into MISSING. It is pure: time is a parameter.
//
// Supersedence: rules.Decide is told whether an update of the scan that supersedes this
// one is approved (installed, or allowed by the rules, install_delay aside). Without
// decline_superseded an update superseded by any update of the scan is SUPERSEDED, as
// WUA and the original report it. With decline_superseded = true, supersedence follows
// approvals as in WSUS: an update is declined (SUPERSEDED) when a successor is approved,
// and stays PENDING when every successor is forbidden or not allowed, so that
// forbidding a bad cumulative update leaves the previous one installable.
func classify(scan []wua.Update, r rules.Rules, now time.Time, installDelay time.Duration,
	installErrors map[string]string, installedAt map[string]time.Time) []UpdateState {
	successors := map[string][]int{} // lower-case update id → the scan updates superseding it
	for i := range scan {
		for _, id := range scan[i].SupersededIDs {
			if !strings.EqualFold(id, scan[i].Key.UpdateID) {
				successors[strings.ToLower(id)] = append(successors[strings.ToLower(id)], i)
			}
		}
	}
	approved := make([]bool, len(scan))
	for i := range scan {
		if len(successors) == 0 {
			break
		}
		approved[i] = scan[i].Installed || rules.Decide(r, scan[i].Candidate(), now, 0).Allowed
	}
	decline := r.DeclineSuperseded != nil && *r.DeclineSuperseded
	out := make([]UpdateState, 0, len(scan))
	for i := range scan {
		u := &scan[i]
		key := u.Key.String()
		s := UpdateState{UpdateStatus: statusOf(u), Files: fileNames(u)}
		succ := successors[strings.ToLower(u.Key.UpdateID)]
		isSuperseded := len(succ) > 0
		switch {
		case u.Installed:
			s.Status = wu.StatusOK
			s.InstalledAt = installedAt[key]
		default:
			c := u.Candidate()
			c.SupersededByApproved = slices.ContainsFunc(succ, func(j int) bool { return approved[j] })
			d := rules.Decide(r, c, now, installDelay)
			s.Rule = d.Rule
			switch {
			case d.Status == wu.StatusDiscarded && d.Reason == wu.ReasonForbidden:
				s.Status, s.Reason = d.Status, d.Reason
			case d.Status == wu.StatusSuperseded:
				s.Status = wu.StatusSuperseded
			case isSuperseded && !decline:
				s.Status = wu.StatusSuperseded
				s.Rule = "superseded by another update of the scan (" + d.Rule + ")"
			case d.Status == wu.StatusDiscarded:
				s.Status, s.Reason = d.Status, d.Reason
			case installErrors[key] != "":
				s.Status, s.Error = wu.StatusError, installErrors[key]
			default:
				s.Status = wu.StatusPending
			}
		}
		out = append(out, s)
	}
	sortStates(out)
	return out
}

// statusOf fills the descriptive fields of a report line.
func statusOf(u *wua.Update) api.UpdateStatus {
	s := api.UpdateStatus{
		UpdateID:       u.Key.UpdateID,
		RevisionNumber: u.Key.RevisionNumber,
		Title:          truncate(u.Title, api.MaxTitleLen-3),
		Severity:       u.Severity,
		Products:       u.Products(),
	}
	for _, kb := range u.KBs {
		if d, err := wu.ParseKB(kb); err == nil {
			s.KBs = append(s.KBs, wu.FormatKB(d))
		}
	}
	if cl := u.Classifications(); len(cl) > 0 {
		s.Classification = cl[0]
	}
	return s
}

// fileNames lists the repository names of an update's files (its own and its bundled
// updates'), without duplicates.
func fileNames(u *wua.Update) []string {
	var out []string
	seen := map[string]bool{}
	add := func(ds []wua.Download) {
		for _, d := range ds {
			name := d.FileName
			if name == "" {
				name = wua.FileNameFromURL(d.URL)
			}
			if name != "" && !seen[strings.ToLower(name)] {
				seen[strings.ToLower(name)] = true
				out = append(out, name)
			}
		}
	}
	add(u.Downloads)
	for _, b := range u.Bundled {
		add(b.Downloads)
	}
	return out
}

// needsInstall reports whether a status is one the install step acts on: allowed,
// needed, not superseded.
func needsInstall(s wu.Status) bool {
	return s == wu.StatusPending || s == wu.StatusMissing || s == wu.StatusError
}

var statusOrder = map[wu.Status]int{
	wu.StatusError: 0, wu.StatusPending: 1, wu.StatusMissing: 2, wu.StatusDiscarded: 3,
	wu.StatusSuperseded: 4, wu.StatusOK: 5,
}

// sortStates orders for display: what needs attention first, then by KB and title.
func sortStates(s []UpdateState) {
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if statusOrder[a.Status] != statusOrder[b.Status] {
			return statusOrder[a.Status] < statusOrder[b.Status]
		}
		ka, kb := firstKB(a), firstKB(b)
		if ka != kb {
			return ka < kb
		}
		if a.Title != b.Title {
			return a.Title < b.Title
		}
		return a.UpdateID < b.UpdateID
	})
}

func firstKB(s UpdateState) string {
	if len(s.KBs) == 0 {
		return "~" // after every KB
	}
	d, _ := wu.ParseKB(s.KBs[0])
	return strings.Repeat("0", max(0, 10-len(d))) + d
}

// agentStatus derives the agent-level status from the update statuses.
func agentStatus(states []UpdateState) string {
	var pending, missing, errs int
	allLocal := true
	for _, s := range states {
		switch s.Status {
		case wu.StatusPending:
			pending++
			if !s.Local {
				allLocal = false
			}
		case wu.StatusMissing:
			missing++
		case wu.StatusError:
			errs++
		}
	}
	switch {
	case errs > 0:
		return StatusError
	case missing > 0:
		return StatusPendingUpdates
	case pending > 0 && allLocal:
		return StatusReady
	case pending > 0:
		return StatusPendingUpdates
	}
	return StatusOK
}

// Agent-level statuses (REFERENCE §2).
const (
	StatusScanning             = "SCANNING"
	StatusReady                = "READY"
	StatusPendingUpdates       = "PENDING_UPDATES"
	StatusOK                   = "OK"
	StatusInstall              = "INSTALL"
	StatusError                = "ERROR"
	StatusDiskSpaceError       = "DISK_SPACE_ERROR"
	StatusErrorScanning        = "ERROR SCANNING UPDATES"
	StatusErrorDownloadingScan = "ERROR DOWNLOADING WSUSSCAN"
)
