package agent

import (
	"fmt"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/wu"
)

// Summary is the outcome of a cycle (or the stored state, for Status): what wapt-get
// prints, as a table or as JSON.
type Summary struct {
	Host           string    `json:"host,omitempty"`
	Status         string    `json:"status"`
	LastError      string    `json:"last_error,omitempty"`
	Installed      int       `json:"installed"`
	Pending        int       `json:"pending"`
	Missing        int       `json:"missing"`
	Discarded      int       `json:"discarded"`
	Errors         int       `json:"errors"`
	Superseded     int       `json:"superseded"`
	RebootRequired bool      `json:"reboot_required"`
	LastInstall    time.Time `json:"last_install,omitzero"`
	LastScan       time.Time `json:"last_scan,omitzero"`
	// CabDate is the Last-Modified date of the local wsusscn2.cab; CabSHA1 its SHA-1.
	CabDate time.Time `json:"cab_date,omitzero"`
	CabSHA1 string    `json:"cab_sha1,omitempty"`
	// Scanned: this run scanned; Reported: the server acknowledged a report this run;
	// Busy: WUA was busy with another client (retried later).
	Scanned  bool `json:"scanned"`
	Reported bool `json:"reported"`
	Busy     bool `json:"busy,omitempty"`
	// Packages are the rules packages of the last cycle: applied, then refused.
	Packages []api.PackageStatus `json:"packages,omitempty"`
	// Schedule says what the maintenance schedule does with the updates waiting for
	// install; ScheduleNext when that changes.
	Schedule     []string  `json:"schedule,omitempty"`
	ScheduleNext time.Time `json:"schedule_next,omitzero"`
	// Reboot is the state of a required reboot; Events the schedule's last decisions.
	Reboot  RebootState     `json:"reboot,omitzero"`
	Events  []ScheduleEvent `json:"events,omitempty"`
	Updates []UpdateState   `json:"updates"`
}

func (a *Agent) summary(st *State, c *cycle) *Summary {
	s := SummaryOf(st, a.hostName)
	if c != nil {
		s.Scanned, s.Reported, s.Busy = c.scanned, c.reported, c.busy
	}
	return s
}

// SummaryOf summarizes a stored state (wapt-get waptwua-status reads it without
// opening WUA).
func SummaryOf(st *State, host string) *Summary {
	s := &Summary{
		Host:           host,
		Status:         st.Status,
		LastError:      st.LastError,
		RebootRequired: st.RebootRequired,
		LastInstall:    st.LastInstall,
		LastScan:       st.LastScan,
		CabDate:        st.Cab.LastModified,
		CabSHA1:        st.Cab.SHA1,
		Updates:        append([]UpdateState{}, st.Updates...),
		Packages:       append([]api.PackageStatus(nil), st.PackageStatuses...),
		Schedule:       append([]string(nil), st.Schedule...),
		ScheduleNext:   st.ScheduleNext,
		Reboot:         st.Reboot,
		Events:         append([]ScheduleEvent(nil), st.Events...),
	}
	if s.Status == "" {
		s.Status = "NEVER SCANNED"
	}
	for _, u := range st.Updates {
		switch u.Status {
		case wu.StatusOK:
			s.Installed++
		case wu.StatusPending:
			s.Pending++
		case wu.StatusMissing:
			s.Missing++
		case wu.StatusDiscarded:
			s.Discarded++
		case wu.StatusError:
			s.Errors++
		case wu.StatusSuperseded:
			s.Superseded++
		}
	}
	return s
}

// Line is the one-line summary, as the original prints it: "status PENDING_UPDATES,
// 12 installed, 3 pending, 1 missing, 40 discarded, 0 errors, reboot required: no,
// last install: never, cab date: 2024-01-09".
func (s *Summary) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %s, %d installed, %d pending, %d missing, %d discarded, %d errors",
		s.Status, s.Installed, s.Pending, s.Missing, s.Discarded, s.Errors)
	if s.Superseded > 0 {
		fmt.Fprintf(&b, ", %d superseded", s.Superseded)
	}
	fmt.Fprintf(&b, ", reboot required: %s, last install: %s, cab date: %s",
		yesNo(s.RebootRequired), dateOr(s.LastInstall, "never"), dateOr(s.CabDate, "none"))
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dateOr(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.Local().Format("2006-01-02 15:04")
}
