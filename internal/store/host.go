package store

import (
	"context"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// HostStore registers hosts and finds them for authentication and the console.
type HostStore interface {
	// RegisterHost creates the host (pending approval when r.Pending). When the UUID
	// exists with a credential it is ErrHostExists, unless r.Rotate is the stored
	// credential id (the caller verified the current credential): then its facts and
	// credential are replaced. A UUID without a credential (after ResetHost) gets the new
	// credential and facts and keeps its approval state. With r.EnrollmentToken the token
	// is checked and one use counted in the same transaction (ErrNotFound, ErrExpired,
	// ErrRevoked, ErrUsedUp); a refused registration counts no use. ErrConflict when the
	// credential id belongs to another host.
	RegisterHost(ctx context.Context, r HostRegistration) (Host, error)
	// GetHost returns the host with this UUID, or ErrNotFound.
	GetHost(ctx context.Context, uuid string) (Host, error)
	// HostByCredential returns the host owning the credential id (with its hash, for the
	// server to verify), pending hosts included (Host.Pending), or ErrNotFound.
	HostByCredential(ctx context.Context, credentialID string) (Host, error)
	// TouchHost records that the host was seen (a poll without a report).
	TouchHost(ctx context.Context, uuid string, at time.Time) error
	// ListHosts returns one page of accepted hosts with their update summary, ordered by
	// name (pending hosts: HostApproval.ListPendingHosts).
	ListHosts(ctx context.Context, f HostFilter) (HostPage, error)
	// DeleteHost removes the host, its statuses and its commands.
	DeleteHost(ctx context.Context, uuid string) error
	// SummarizeHosts counts the accepted hosts by state (HostState*), from the counts
	// each host's last report left: one aggregate query, not a list of the hosts.
	SummarizeHosts(ctx context.Context, staleBefore time.Time) (HostSummary, error)
}

// Host states, each host in exactly one, the first that applies: not seen since
// staleBefore (or never), an install failed or the agent's status contains ERROR, a
// restart is pending, updates wait, never scanned, up to date.
const (
	HostStateStale   = "stale"
	HostStateError   = "error"
	HostStateReboot  = "reboot"
	HostStatePending = "pending"
	HostStateNew     = "new"
	HostStateOK      = "ok"
)

// HostSummary counts the accepted hosts.
type HostSummary struct {
	Hosts           int
	States          map[string]int // HostState* → hosts
	MissingStatuses int            // host×update statuses MISSING
	MissingHosts    int            // hosts with at least one
}

// HostRegistration is what a host sends when it registers.
type HostRegistration struct {
	UUID         string
	Name         string
	OS           string
	Groups       []string
	Maturity     string // PROD when empty
	AgentVersion string
	// CredentialID names the credential (what the agent presents); CredentialHash is the
	// server's hash of its secret, stored as given.
	CredentialID   string
	CredentialHash []byte
	At             time.Time
	// Rotate is the credential id the caller proved the host holds now (it verified the
	// presented credential against the stored hash): the credential is replaced only if
	// it is still the stored one.
	Rotate string
	// Pending stores a new host pending approval; ignored when the host exists.
	Pending bool
	// EnrollmentToken, when not empty, is checked and one use counted with the
	// registration, in one transaction.
	EnrollmentToken string
}

// Host is a registered host and the summary of its last report.
type Host struct {
	UUID           string       `json:"uuid"`
	Name           string       `json:"name"`
	OS             string       `json:"os"`
	Groups         []string     `json:"groups"`
	Maturity       string       `json:"maturity"`
	AgentVersion   string       `json:"agent_version"`
	CredentialID   string       `json:"-"`
	CredentialHash []byte       `json:"-"`
	RegisteredAt   time.Time    `json:"registered_at"`
	WUAStatus      string       `json:"wua_status"` // agent-level status (REFERENCE §2)
	LastSeen       time.Time    `json:"last_seen,omitzero"`
	LastScan       time.Time    `json:"last_scan,omitzero"`
	RebootPending  bool         `json:"reboot_pending"`
	LastError      string       `json:"last_error,omitempty"`
	Counts         StatusCounts `json:"counts"`
	// Pending says the host waits for an administrator's approval.
	Pending    bool      `json:"pending,omitempty"`
	AcceptedAt time.Time `json:"accepted_at,omitzero"`
	AcceptedBy string    `json:"accepted_by,omitempty"`
	// ResetAt and ResetBy record the last credential reset by an administrator.
	ResetAt time.Time `json:"reset_at,omitzero"`
	ResetBy string    `json:"reset_by,omitempty"`
	// Packages are the rules packages of the host's last report (GetHost only).
	Packages []HostPackage `json:"packages,omitempty"`
	// UpdatePackages are the update packages of the host's last report, with their
	// outcome (HostUpdatePackage*; GetHost only).
	UpdatePackages []HostPackage `json:"update_packages,omitempty"`
	// Networks are the addresses with prefix the host reported last ("10.1.2.3/24");
	// Repository the repository folder it used last, RepositoryAt when it said so.
	Networks     []string  `json:"networks,omitempty"`
	Repository   string    `json:"repository,omitempty"`
	RepositoryAt time.Time `json:"repository_at,omitzero"`
	// ReportDigest is Report.Digest of the host's last applied report (nil when unknown):
	// the server answers a report with the same digest without writing it.
	ReportDigest []byte `json:"-"`
}

// StatusCounts counts a host's updates per status.
type StatusCounts struct {
	OK         int `json:"ok"`
	Pending    int `json:"pending"`
	Missing    int `json:"missing"`
	Discarded  int `json:"discarded"`
	Error      int `json:"error"`
	Superseded int `json:"superseded"`
}

// Add counts one update of status s.
func (c *StatusCounts) Add(s wu.Status) {
	switch s {
	case wu.StatusOK:
		c.OK++
	case wu.StatusPending:
		c.Pending++
	case wu.StatusMissing:
		c.Missing++
	case wu.StatusDiscarded:
		c.Discarded++
	case wu.StatusError:
		c.Error++
	case wu.StatusSuperseded:
		c.Superseded++
	}
}

// Remove uncounts one update of status s.
func (c *StatusCounts) Remove(s wu.Status) {
	switch s {
	case wu.StatusOK:
		c.OK--
	case wu.StatusPending:
		c.Pending--
	case wu.StatusMissing:
		c.Missing--
	case wu.StatusDiscarded:
		c.Discarded--
	case wu.StatusError:
		c.Error--
	case wu.StatusSuperseded:
		c.Superseded--
	}
}

// HostFilter selects hosts. Zero values mean "no filter".
type HostFilter struct {
	Search    string // part of the name or the UUID, ignoring case
	WUAStatus string
	// PastDeadline keeps the hosts whose last report has updates past their deadline.
	PastDeadline bool
	// Limit is the page size: 50 when 0, at most 1000.
	Limit int
	// Cursor continues after the page that returned it; when empty Offset rows are skipped.
	Cursor string
	Offset int
}

// HostPage is one page of ListHosts.
type HostPage struct {
	Hosts []Host `json:"hosts"`
	Total int    `json:"total"`
	Next  string `json:"next,omitempty"`
}

// ReportStore records what hosts report.
type ReportStore interface {
	// ApplyReport records one report in one transaction. Idempotent: applying the same
	// report twice leaves the same state. Only statuses that changed are written.
	// Updates unknown to the catalog are added with SourceReport. ErrNotFound when the
	// host is not registered; ErrInvalid for an unknown status.
	ApplyReport(ctx context.Context, hostUUID string, r Report) error
	// RecordReport is ApplyReport, saying also what the report left out (lean reports).
	RecordReport(ctx context.Context, hostUUID string, r Report) (ReportResult, error)
	// HostUpdates lists a host's per-update statuses (all when statuses is empty),
	// ordered by update id and revision.
	HostUpdates(ctx context.Context, hostUUID string, statuses ...wu.Status) ([]HostUpdate, error)
	// UpdateHosts lists one page of the hosts having a status for the update (a key
	// with RevisionNumber 0 means its newest revision), ordered by host name.
	// ErrNotFound for an unknown update.
	UpdateHosts(ctx context.Context, key wu.UpdateKey, f UpdateHostFilter) (UpdateHostPage, error)
}

// UpdateHostFilter selects the hosts of an update.
type UpdateHostFilter struct {
	Statuses []wu.Status // any of; all when empty
	// Limit is the page size: 100 when 0, at most 1000.
	Limit int
	// Cursor continues after the page that returned it.
	Cursor string
}

// UpdateHostPage is one page of UpdateHosts.
type UpdateHostPage struct {
	Hosts []UpdateHostStatus `json:"hosts"`
	Next  string             `json:"next,omitempty"`
}

// UpdateHostStatus is one host's status for one update.
type UpdateHostStatus struct {
	HostUUID    string    `json:"host_uuid"`
	HostName    string    `json:"host_name"`
	Status      wu.Status `json:"status"`
	Reason      wu.Reason `json:"reason,omitempty"`
	InstalledAt time.Time `json:"installed_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	ChangedAt   time.Time `json:"changed_at"`
}

// Report is one report of a host. Empty host facts keep the stored value.
type Report struct {
	At            time.Time // when the server received it: the host's last seen
	ScanAt        time.Time // when the scan ran; zero keeps the previous last scan
	Name          string
	OS            string
	AgentVersion  string
	WUAStatus     string
	RebootPending bool
	LastError     string
	// Full says Updates is the host's complete list: stored statuses of updates absent
	// from it are deleted. Otherwise only the listed updates change.
	Full    bool
	Updates []ReportedUpdate
	// Packages are the rules packages the host applied and refused, in order. nil keeps
	// the stored list; an empty non-nil list clears it. Unchanged entries keep their
	// ChangedAt; the others get At.
	Packages []HostPackage
	// UpdatePackages are the update packages the host was offered, with their outcome
	// (HostUpdatePackage*), in order; nil keeps the stored list, as for Packages.
	UpdatePackages []HostPackage
	// Networks are the host's addresses with prefix; nil keeps the stored ones.
	// Repository is the repository it used; empty keeps the stored one.
	Networks   []string
	Repository string
	// Lean says the statuses may lack what the host knows of the update (Title, KBs, ...):
	// a status without a Title of an update the store does not know is then not recorded
	// but returned in ReportResult.Unknown, for the host to send again with its
	// description. Otherwise an unknown update is created from what the status says
	// (SourceReport).
	Lean bool
	// Digest identifies the report's content (the caller's hash of everything but At and
	// ScanAt), stored with the host when the whole report was recorded. A report whose
	// Digest equals the stored one changes no status: only the host's last seen and last
	// scan are written.
	Digest []byte
}

// ReportResult is what recording a report did.
type ReportResult struct {
	// Unknown are the updates of a lean report's statuses that the store does not know:
	// those statuses were not recorded.
	Unknown []wu.UpdateKey
	// Unchanged says the report's Digest was the stored one: no status was read or written.
	Unchanged bool
}

// ReportedUpdate is the status of one update on the reporting host.
type ReportedUpdate struct {
	Key         wu.UpdateKey
	Status      wu.Status
	Reason      wu.Reason // for DISCARDED
	InstalledAt time.Time
	LastError   string // for ERROR: WUA result and HRESULT in words
	// What the host knows of the update, used only to create it when the catalog does
	// not know it.
	Title          string
	KBs            []string
	Severity       wu.Severity
	Classification string
	Products       []string
}

// HostUpdate is one update's status on one host.
type HostUpdate struct {
	Key            wu.UpdateKey `json:"key"`
	Title          string       `json:"title"`
	KBs            []string     `json:"kb"`
	Severity       wu.Severity  `json:"severity"`
	Classification string       `json:"classification"`
	Status         wu.Status    `json:"status"`
	Reason         wu.Reason    `json:"reason,omitempty"`
	InstalledAt    time.Time    `json:"installed_at,omitzero"`
	LastError      string       `json:"last_error,omitempty"`
	ChangedAt      time.Time    `json:"changed_at"` // when status, reason, date or error last changed
}

// Validate checks that a registration names the host and its credential.
func (r HostRegistration) Validate() error {
	if r.UUID == "" || r.CredentialID == "" {
		return fmt.Errorf("host registration: uuid and credential id are required: %w", ErrInvalid)
	}
	return nil
}
