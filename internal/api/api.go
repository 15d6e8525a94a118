// Package api holds the wire types of the agent API (/api/v1), shared by the server and
// the agent so that both sides speak exactly the same JSON. docs/openapi.yaml documents
// them for other clients. It imports only internal/wu.
package api

import (
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// Paths of the agent API. {uuid} is the host's UUID.
const (
	PathRegister      = "/api/v1/hosts/register"             // POST, Authorization: Bearer <enrollment secret>
	PathReport        = "/api/v1/hosts/{uuid}/report"        // POST, host credential
	PathCommands      = "/api/v1/hosts/{uuid}/commands"      // GET ?wait=25s long-poll, host credential
	PathCommandResult = "/api/v1/hosts/{uuid}/commands/{id}" // POST result, host credential
	PathRules         = "/api/v1/hosts/{uuid}/rules"         // GET effective rules, host credential
	// RepoPrefix is where the repository folder (wsusscn2.cab, its .sha1 and the update
	// files) is served: repo_url "https://srv/wapt" gives "https://srv/waptwua/".
	RepoPrefix = "/waptwua/"
)

// MaxWait is the longest long-poll the server holds.
const MaxWait = 60 * time.Second

// RegisterRequest is sent once by a host, with the enrollment secret as bearer token.
type RegisterRequest struct {
	UUID         string   `json:"uuid"`
	Name         string   `json:"name"`
	OS           string   `json:"os"`
	AgentVersion string   `json:"agent_version"`
	Groups       []string `json:"groups,omitempty"`
	Maturity     string   `json:"maturity,omitempty"` // PROD when empty
	// CurrentCredential, when the host is registered already, proves it is the same host
	// (credential rotation); without it (or an administrator's reset) re-registering an
	// existing UUID is refused with 409.
	CurrentCredential string `json:"current_credential,omitempty"`
}

// RegisterResponse gives the host its own credential: send it as
// "Authorization: Bearer <Credential>" on every later call. The server keeps only a hash.
type RegisterResponse struct {
	UUID       string `json:"uuid"`
	Credential string `json:"credential"`
}

// Report is a host's scan result. With Full the list is complete (statuses of updates
// absent from it are forgotten); otherwise only the listed updates changed.
// Reports are idempotent: sending the same report twice changes nothing.
type Report struct {
	Full          bool      `json:"full"`
	ScanAt        time.Time `json:"scan_at,omitzero"`
	Name          string    `json:"name,omitempty"`
	OS            string    `json:"os,omitempty"`
	AgentVersion  string    `json:"agent_version,omitempty"`
	WUAStatus     string    `json:"wua_status"`
	RebootPending bool      `json:"reboot_pending"`
	LastError     string    `json:"last_error,omitempty"`
	CabSHA1       string    `json:"cab_sha1,omitempty"`
	// Packages are the rules packages the host applied, in the order it merged them,
	// then those it refused this cycle (with the reason). The list is complete in every
	// report: an absent list means the host applies no package.
	Packages []PackageStatus `json:"packages,omitempty"`
	Updates  []UpdateStatus  `json:"updates"`
	// Schedule is what the host's maintenance schedule does now (issue 16); absent from
	// agents without one.
	Schedule *ScheduleReport `json:"schedule,omitempty"`
	// Networks are the host's IP addresses with their prefix length ("10.1.2.3/24"),
	// at most MaxNetworks: the server assigns the host to a site by them. Absent keeps
	// the ones reported before.
	Networks []string `json:"networks,omitempty"`
	// Repository is the repository folder the agent used this cycle ("https://mirror/
	// waptwua/": a site repository of Rules.Repositories or the main server's).
	Repository string `json:"repository,omitempty"`
	// Lean says the statuses carry no description of their update (title, kb, severity,
	// classification, products) unless the server asked for it: the server answers a
	// lean report with a ReportAnswer naming the updates it does not know, whose
	// statuses it did not record; the agent sends them again, described. A server
	// accepts lean reports when its answer to a report carries the header
	// LeanReportsHeader (or is a ReportAnswer with Lean set).
	Lean bool `json:"lean,omitempty"`
	// UpdatePackages are the update packages the server offered (Rules.UpdatePackages),
	// each with its outcome: UpdatePackageInstalled, UpdatePackageRebootNeeded,
	// UpdatePackageNotApplicable, UpdatePackageError (Error: the exit code and its
	// meaning, or why it could not run) or PackageRefused (not signed, not trusted,
	// tampered). An absent list keeps the last one reported.
	UpdatePackages []PackageStatus `json:"update_packages,omitempty"`
}

// LeanReportsHeader is set ("1") on the answer to every report by a server that accepts
// lean reports.
const LeanReportsHeader = "Waptwua-Lean-Reports"

// ReportAnswer is the server's answer to a lean report (200); a report that is not
// lean is answered 204 without a body.
type ReportAnswer struct {
	Lean bool `json:"lean"` // the server accepts lean reports
	// Describe are the updates of the report the server does not know: their statuses
	// were not recorded; send them again (full: false) with their description.
	Describe []UpdateRef `json:"describe,omitempty"`
	// Unchanged says the report was the host's last one: nothing was written.
	Unchanged bool `json:"unchanged,omitempty"`
}

// UpdateRef names one revision of an update.
type UpdateRef struct {
	UpdateID       string `json:"update_id"`
	RevisionNumber int    `json:"revision_number"`
}

// Statuses of an update package in a report (besides PackageRefused).
const (
	UpdatePackageInstalled     = "installed"      // the action ran and the update is there (or was already)
	UpdatePackageRebootNeeded  = "reboot_needed"  // installed; it takes effect at the next restart
	UpdatePackageNotApplicable = "not_applicable" // Windows says the update does not apply to this host
	UpdatePackageError         = "error"          // the action failed: exit code and meaning in Error
)

// ScheduleReport is the state of the host's maintenance schedule: its next window and
// deadline, the reboot state, the refusal of an invalid policy, and the decisions taken
// since the last acknowledged report.
type ScheduleReport struct {
	NextWindowStart time.Time `json:"next_window_start,omitzero"`
	NextWindowEnd   time.Time `json:"next_window_end,omitzero"`
	NextDeadline    time.Time `json:"next_deadline,omitzero"`
	// PastDeadline counts the pending updates whose deadline has passed.
	PastDeadline int `json:"past_deadline,omitempty"`
	// Reboot is one of the Reboot* states; RebootAt the announced restart (countdown)
	// or the next look (wait); RebootSince when the reboot became required.
	Reboot      string    `json:"reboot,omitempty"`
	RebootAt    time.Time `json:"reboot_at,omitzero"`
	RebootSince time.Time `json:"reboot_since,omitzero"`
	Postponed   int       `json:"postponed,omitempty"`
	// PolicyError is the refusal of the merged policy, naming the key.
	PolicyError string `json:"policy_error,omitempty"`
	// Lines explain what installs now and why not.
	Lines  []string              `json:"lines,omitempty"`
	Events []ScheduleEventReport `json:"events,omitempty"`
}

// ScheduleEventReport is one decision of the schedule (kinds: install, held,
// reboot-needed, reboot-ask, reboot-postponed, reboot-accepted, reboot-countdown,
// restart, restart-failed, shutdown-install, shutdown-skipped).
type ScheduleEventReport struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text,omitempty"`
}

// Reboot states of a ScheduleReport.
const (
	RebootStateNone      = ""          // no reboot required
	RebootStateNeeded    = "needed"    // required; the policy does not restart (never, or no valid policy)
	RebootStateWait      = "wait"      // waits for a reboot window, the end of active hours or a deadline
	RebootStateAsk       = "ask"       // the logged-on user is asked and may postpone
	RebootStateCountdown = "countdown" // a restart is announced for RebootAt
)

// Limits of a ScheduleReport.
const (
	MaxScheduleLines  = 20
	MaxScheduleEvents = 50
	MaxScheduleText   = 300
	MaxEventKindLen   = 40
)

// Statuses of a rules package in a report.
const (
	PackageApplied = "applied" // verified and merged into the host's rules
	PackageRefused = "refused" // refused: bad or missing signature, untrusted signer, maturity
)

// PackageStatus is one rules package in a report.
type PackageStatus struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Status  string `json:"status"`          // PackageApplied or PackageRefused
	Error   string `json:"error,omitempty"` // why it was refused, in words
}

// UpdateStatus is one update's status on the reporting host.
type UpdateStatus struct {
	UpdateID       string      `json:"update_id"`
	RevisionNumber int         `json:"revision_number"`
	Status         wu.Status   `json:"status"`
	Reason         wu.Reason   `json:"reason,omitempty"`
	InstalledAt    time.Time   `json:"installed_at,omitzero"`
	Error          string      `json:"error,omitempty"` // for ERROR: WUA result and HRESULT in words
	Title          string      `json:"title,omitempty"`
	KBs            []string    `json:"kb,omitempty"`
	Severity       wu.Severity `json:"severity,omitempty"`
	Classification string      `json:"classification,omitempty"`
	Products       []string    `json:"products,omitempty"`
}

// Limits of a report the server accepts (a larger body gets 413).
const (
	MaxReportUpdates = 20000
	MaxTitleLen      = 1024
	MaxErrorLen      = 4096
	MaxPackages      = 100
	MaxNetworks      = 64
	MaxURLLen        = 2048
)

// FieldError names the offending field of a request: the server answers 400 with it.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"error"`
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Validate checks a report field by field.
func (r *Report) Validate() error {
	if err := r.validateSite(); err != nil {
		return err
	}
	if len(r.Updates) > MaxReportUpdates {
		return &FieldError{"updates", fmt.Sprintf("%d updates, at most %d per report", len(r.Updates), MaxReportUpdates)}
	}
	if len(r.LastError) > MaxErrorLen {
		return &FieldError{"last_error", "too long"}
	}
	if len(r.Packages) > MaxPackages {
		return &FieldError{"packages", fmt.Sprintf("%d packages, at most %d per report", len(r.Packages), MaxPackages)}
	}
	for i, p := range r.Packages {
		f := func(name string) string { return fmt.Sprintf("packages[%d].%s", i, name) }
		if p.Name == "" || len(p.Name) > 128 {
			return &FieldError{f("name"), "a package name of 1 to 128 characters is required"}
		}
		if len(p.Version) > 64 {
			return &FieldError{f("version"), "too long"}
		}
		if p.Status != PackageApplied && p.Status != PackageRefused {
			return &FieldError{f("status"), fmt.Sprintf("%q is not one of applied, refused", p.Status)}
		}
		if len(p.Error) > MaxErrorLen {
			return &FieldError{f("error"), "too long"}
		}
	}
	if r.Schedule != nil {
		if err := r.Schedule.Validate(); err != nil {
			return err
		}
	}
	if len(r.UpdatePackages) > MaxPackages {
		return &FieldError{"update_packages", fmt.Sprintf("%d update packages, at most %d per report", len(r.UpdatePackages), MaxPackages)}
	}
	for i, p := range r.UpdatePackages {
		f := func(name string) string { return fmt.Sprintf("update_packages[%d].%s", i, name) }
		if p.Name == "" || len(p.Name) > 128 {
			return &FieldError{f("name"), "a package name of 1 to 128 characters is required"}
		}
		if len(p.Version) > 64 {
			return &FieldError{f("version"), "too long"}
		}
		switch p.Status {
		case UpdatePackageInstalled, UpdatePackageRebootNeeded, UpdatePackageNotApplicable, UpdatePackageError, PackageRefused:
		default:
			return &FieldError{f("status"), fmt.Sprintf("%q is not one of installed, reboot_needed, not_applicable, error, refused", p.Status)}
		}
		if len(p.Error) > MaxErrorLen {
			return &FieldError{f("error"), "too long"}
		}
	}
	for i, u := range r.Updates {
		f := func(name string) string { return fmt.Sprintf("updates[%d].%s", i, name) }
		if !wu.IsGUID(u.UpdateID) {
			return &FieldError{f("update_id"), fmt.Sprintf("%q is not a GUID", u.UpdateID)}
		}
		if u.RevisionNumber < 0 {
			return &FieldError{f("revision_number"), "negative"}
		}
		if !u.Status.Valid() {
			return &FieldError{f("status"), fmt.Sprintf("%q is not one of OK, PENDING, MISSING, DISCARDED, ERROR, SUPERSEDED", u.Status)}
		}
		switch u.Reason {
		case "", wu.ReasonForbidden, wu.ReasonNotAllowed, wu.ReasonDelayed:
		default:
			return &FieldError{f("reason"), fmt.Sprintf("%q is not one of forbidden, not_allowed, delayed", u.Reason)}
		}
		if len(u.Title) > MaxTitleLen {
			return &FieldError{f("title"), "too long"}
		}
		if len(u.Error) > MaxErrorLen {
			return &FieldError{f("error"), "too long"}
		}
	}
	return nil
}

// Validate checks a schedule report field by field (field names under "schedule.").
func (s *ScheduleReport) Validate() error {
	f := func(name string) string { return "schedule." + name }
	switch s.Reboot {
	case RebootStateNone, RebootStateNeeded, RebootStateWait, RebootStateAsk, RebootStateCountdown:
	default:
		return &FieldError{f("reboot"), fmt.Sprintf("%q is not one of needed, wait, ask, countdown (or empty)", s.Reboot)}
	}
	if s.PastDeadline < 0 || s.PastDeadline > MaxReportUpdates {
		return &FieldError{f("past_deadline"), fmt.Sprintf("%d is not a number of updates (0 to %d)", s.PastDeadline, MaxReportUpdates)}
	}
	if s.Postponed < 0 || s.Postponed > 10000 {
		return &FieldError{f("postponed"), fmt.Sprintf("%d is not a number of postponements (0 to 10000)", s.Postponed)}
	}
	if !s.NextWindowEnd.IsZero() && s.NextWindowEnd.Before(s.NextWindowStart) {
		return &FieldError{f("next_window_end"), "before next_window_start"}
	}
	if len(s.PolicyError) > MaxErrorLen {
		return &FieldError{f("policy_error"), "too long"}
	}
	if len(s.Lines) > MaxScheduleLines {
		return &FieldError{f("lines"), fmt.Sprintf("%d lines, at most %d", len(s.Lines), MaxScheduleLines)}
	}
	for i, l := range s.Lines {
		if len(l) > MaxScheduleText {
			return &FieldError{fmt.Sprintf("schedule.lines[%d]", i), fmt.Sprintf("too long (at most %d bytes)", MaxScheduleText)}
		}
	}
	if len(s.Events) > MaxScheduleEvents {
		return &FieldError{f("events"), fmt.Sprintf("%d events, at most %d per report", len(s.Events), MaxScheduleEvents)}
	}
	for i, e := range s.Events {
		g := func(name string) string { return fmt.Sprintf("schedule.events[%d].%s", i, name) }
		if e.At.IsZero() {
			return &FieldError{g("at"), "a time is required"}
		}
		if !validKind(e.Kind) {
			return &FieldError{g("kind"), fmt.Sprintf("%q is not an event kind (1 to %d characters a-z and -)", e.Kind, MaxEventKindLen)}
		}
		if len(e.Text) > MaxScheduleText {
			return &FieldError{g("text"), fmt.Sprintf("too long (at most %d bytes)", MaxScheduleText)}
		}
	}
	return nil
}

func validKind(k string) bool {
	if k == "" || len(k) > MaxEventKindLen {
		return false
	}
	for _, c := range k {
		if (c < 'a' || c > 'z') && c != '-' {
			return false
		}
	}
	return true
}

// CommandKind is what the console asks a host to do.
type CommandKind string

// Commands pushed from the console (the seeds' three "Trigger ..." buttons).
const (
	CommandScan     CommandKind = "scan"
	CommandDownload CommandKind = "download"
	CommandInstall  CommandKind = "install"
)

// Command is one pending command for a host.
type Command struct {
	ID      string      `json:"id"`
	Kind    CommandKind `json:"kind"`
	Created time.Time   `json:"created"`
}

// Commands is the long-poll answer: empty after the wait when nothing is pending.
type Commands struct {
	Commands []Command `json:"commands"`
}

// CommandResult reports how a command ended.
type CommandResult struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
	// Ack only acknowledges receipt (a long command): the server stops redelivering it
	// and waits for the result. A result acknowledges too. Commands not acknowledged
	// are delivered again after a timeout: the agent ignores an id it already ran.
	Ack bool `json:"ack,omitempty"`
}

// Rules is the effective rules answer: the server-wide rules JSON of REFERENCE §4 (as
// internal/rules reads it; an unsigned layer that agents with trusted package
// certificates ignore) and the signed rules packages assigned to the host, in install
// order. The agent downloads each package, verifies its signature itself and merges
// them after its ini section.
type Rules struct {
	Rules    RawJSON   `json:"rules"`
	Packages []Package `json:"packages,omitempty"`
	// Repositories are the base URLs of the site repositories of the host's site, in
	// the order to try them (RepoFolder gives each one's update folder); the main
	// server is the implicit last. Empty: the host downloads from the main server.
	Repositories []string `json:"repositories,omitempty"`
	// UpdatePackages are the update packages assigned to the host (issue 15), in
	// install order, listed apart from the rules packages; the agent verifies each
	// (pkg.VerifyUpdate), fetches its payload from PackagePrefix+"NAME_VERSION.payload/<path>"
	// and runs its action.
	UpdatePackages []Package `json:"update_packages,omitempty"`
}

// PackagePrefix is where the server's package repository is served: repo_url
// "https://srv/wapt" gives "https://srv/wapt/<filename>" and the index
// "https://srv/wapt/Packages".
const PackagePrefix = "/wapt/"

// Package is one rules package assigned to a host: the newest verified version of an
// assigned package name that the host's maturity accepts.
type Package struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Filename string `json:"filename"` // under PackagePrefix (and under the agent's repo_url)
	SHA256   string `json:"sha256"`   // of the .wapt, lower-case hex
	Size     int64  `json:"size"`
	// Maturity is the maturity in the signed control; OfferedMaturity the one the server
	// offers it at: PROD for a PREPROD package promoted by the rollout (the signature
	// still says PREPROD).
	Maturity        string `json:"maturity"`
	OfferedMaturity string `json:"offered_maturity"`
	Priority        int    `json:"priority"`
}

// RawJSON is a JSON value kept as bytes.
type RawJSON []byte

// MarshalJSON returns the raw bytes ("null" when empty).
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON keeps a copy of the bytes.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}
