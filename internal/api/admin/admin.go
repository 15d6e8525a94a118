// Package admin holds the wire types of the admin API (/api/v1/admin): what the API
// answers, independent of the store's types, so that renaming a storage field never
// changes the public API. internal/server converts store values to these types; the
// JSON is the API's contract (docs/openapi.yaml).
package admin

import (
	"encoding/json"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// User is a console user (never its password hash).
type User struct {
	Username  string    `json:"username"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Command is one order for one host.
type Command struct {
	ID         int64     `json:"id"`
	HostUUID   string    `json:"host_uuid"`
	Kind       string    `json:"kind"`
	Args       string    `json:"args,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	SentAt     time.Time `json:"sent_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Result     string    `json:"result,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// AuditEntry is one administrative action.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Details string    `json:"details,omitempty"`
}

// Assignment gives a rules package to a host group or a host.
type Assignment struct {
	Package   string    `json:"package"`
	Kind      string    `json:"kind"`
	Target    string    `json:"target"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// PromotionCheck is the last rollout check of a package version.
type PromotionCheck struct {
	At           time.Time `json:"at,omitzero"`
	RingHosts    int       `json:"ring_hosts"`
	SuccessHosts int       `json:"success_hosts"`
	Note         string    `json:"note,omitempty"`
}

// Rollout is where a package's ring rollout stands (absent for a PROD package).
type Rollout struct {
	Status               string    `json:"status"`
	PromoteAfterDays     int       `json:"promote_after_days,omitempty"`
	PromoteMinSuccessPct int       `json:"promote_min_success_pct,omitempty"`
	EligibleAt           time.Time `json:"eligible_at,omitzero"`
	SuccessPct           *float64  `json:"success_pct,omitempty"`
	RingHosts            int       `json:"ring_hosts"`
	SuccessHosts         int       `json:"success_hosts"`
	CheckedAt            time.Time `json:"checked_at,omitzero"`
	Note                 string    `json:"note,omitempty"`
	PromotedAt           time.Time `json:"promoted_at,omitzero"`
	PromotedBy           string    `json:"promoted_by,omitempty"`
}

// Package is one rules package version with its server-side policy, rollout and
// assignments.
type Package struct {
	Name                 string          `json:"name"`
	Version              string          `json:"version"`
	Filename             string          `json:"filename"`
	SHA256               string          `json:"sha256"`
	Size                 int64           `json:"size"`
	Maturity             string          `json:"maturity"`
	Description          string          `json:"description,omitempty"`
	Signer               string          `json:"signer,omitempty"`
	SignerFingerprint    string          `json:"signer_fingerprint,omitempty"`
	SignatureDate        time.Time       `json:"signature_date,omitzero"`
	TargetGroups         []string        `json:"target_groups,omitempty"`
	PromoteAfterDays     int             `json:"promote_after_days,omitempty"`
	PromoteMinSuccessPct int             `json:"promote_min_success_pct,omitempty"`
	Rules                json.RawMessage `json:"rules,omitempty"`
	Verified             bool            `json:"verified"`
	VerifyError          string          `json:"verify_error,omitempty"`
	UploadedAt           time.Time       `json:"uploaded_at"`
	UploadedBy           string          `json:"uploaded_by,omitempty"`
	// Server-side policy.
	Priority                   int  `json:"priority"`
	Hold                       bool `json:"hold,omitempty"`
	PolicyPromoteAfterDays     *int `json:"policy_promote_after_days,omitempty"`
	PolicyPromoteMinSuccessPct *int `json:"policy_promote_min_success_pct,omitempty"`

	PromotedAt      time.Time      `json:"promoted_at,omitzero"`
	PromotedBy      string         `json:"promoted_by,omitempty"`
	LastCheck       PromotionCheck `json:"last_check,omitzero"`
	OfferedMaturity string         `json:"offered_maturity"`
	Rollout         *Rollout       `json:"rollout,omitempty"`
	Assignments     []Assignment   `json:"assignments"`
	// Kind is "rules" or "update" (issue 15); an update package has its Actions
	// (WAPT/actions.json) and is offered to agents once PayloadComplete.
	Kind            string          `json:"kind"`
	Actions         json.RawMessage `json:"actions,omitempty"`
	PayloadComplete bool            `json:"payload_complete,omitempty"`
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

// HostPackage is a rules package as a host reported it.
type HostPackage struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Status    string    `json:"status"`
	Error     string    `json:"error,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
}

// Host is one registered host (never its credential).
type Host struct {
	UUID          string        `json:"uuid"`
	Name          string        `json:"name"`
	OS            string        `json:"os"`
	Groups        []string      `json:"groups"`
	Maturity      string        `json:"maturity"`
	AgentVersion  string        `json:"agent_version"`
	RegisteredAt  time.Time     `json:"registered_at"`
	WUAStatus     string        `json:"wua_status"`
	LastSeen      time.Time     `json:"last_seen,omitzero"`
	LastScan      time.Time     `json:"last_scan,omitzero"`
	RebootPending bool          `json:"reboot_pending"`
	LastError     string        `json:"last_error,omitempty"`
	Counts        StatusCounts  `json:"counts"`
	Packages      []HostPackage `json:"packages,omitempty"`
	// UpdatePackages are the update packages of the host's last report with their
	// outcome: installed, reboot_needed, not_applicable, error (the exit code and its
	// meaning in Error) or refused.
	UpdatePackages []HostPackage `json:"update_packages,omitempty"`
	// Pending: waits for an administrator's approval; ResetAt/ResetBy: the last reset.
	Pending bool      `json:"pending,omitempty"`
	ResetAt time.Time `json:"reset_at,omitzero"`
	ResetBy string    `json:"reset_by,omitempty"`
	// Networks the host reported last; Repository the repository folder it used last
	// (a site mirror or the main server), RepositoryAt when it said so.
	Networks     []string  `json:"networks,omitempty"`
	Repository   string    `json:"repository,omitempty"`
	RepositoryAt time.Time `json:"repository_at,omitzero"`
}

// HostPage is one page of hosts.
type HostPage struct {
	Hosts []Host `json:"hosts"`
	Total int    `json:"total"`
	Next  string `json:"next,omitempty"`
}

// HostDetail is one host with its recent commands.
type HostDetail struct {
	Host     Host      `json:"host"`
	Commands []Command `json:"commands"`
	// Schedule is the maintenance schedule of the host's last report (issue 16); absent
	// when it never reported one.
	Schedule *HostSchedule `json:"schedule,omitempty"`
}

// HostSchedule is what a host's maintenance schedule does: its next window and
// deadline, how many pending updates are past their deadline, the reboot state
// ("", needed, wait, ask, countdown), the refused policy naming the key, the
// explanation, and the last decisions, newest first.
type HostSchedule struct {
	ReportedAt      time.Time       `json:"reported_at"`
	NextWindowStart time.Time       `json:"next_window_start,omitzero"`
	NextWindowEnd   time.Time       `json:"next_window_end,omitzero"`
	NextDeadline    time.Time       `json:"next_deadline,omitzero"`
	PastDeadline    int             `json:"past_deadline"`
	Reboot          string          `json:"reboot"`
	RebootAt        time.Time       `json:"reboot_at,omitzero"`
	RebootSince     time.Time       `json:"reboot_since,omitzero"`
	Postponed       int             `json:"postponed"`
	PolicyError     string          `json:"policy_error,omitempty"`
	Lines           []string        `json:"lines"`
	Events          []ScheduleEvent `json:"events"`
}

// ScheduleEvent is one decision of a host's schedule.
type ScheduleEvent struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text,omitempty"`
}

// File is one update file and its cache state.
type File struct {
	wu.File
	DownloadedOn   time.Time `json:"downloaded_on,omitzero"`
	DownloadedSize int64     `json:"downloaded_size,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	Attempts       int       `json:"attempts"`
	LastAttempt    time.Time `json:"last_attempt,omitzero"`
	DeletedOn      time.Time `json:"deleted_on,omitzero"`
}

// Update is an update of the catalog (wu.Update, the domain type) with the server's
// counts.
type Update struct {
	wu.Update
	Source         string    `json:"source"`
	DownloadedOn   time.Time `json:"downloaded_on,omitzero"`
	Superseded     bool      `json:"superseded"`
	HostsNeeding   int       `json:"hosts_needing"`
	HostsInstalled int       `json:"hosts_installed"`
	ImportedAt     time.Time `json:"imported_at"`
	ChangedAt      time.Time `json:"changed_at"`
	FileStates     []File    `json:"file_states,omitempty"`
}

// FacetCount is one value of a facet and its number of updates.
type FacetCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Facets count matching updates per value.
type Facets struct {
	Severity       []FacetCount `json:"severity"`
	Product        []FacetCount `json:"product"`
	Classification []FacetCount `json:"classification"`
}

// UpdatePage is one page of updates.
type UpdatePage struct {
	Updates []Update `json:"updates"`
	Total   int      `json:"total"`
	Next    string   `json:"next,omitempty"`
	Facets  *Facets  `json:"facets,omitempty"`
}

// Task is one download task.
type Task struct {
	ID         int64     `json:"id"`
	FileSHA1   string    `json:"file_sha1"`
	FileName   string    `json:"file_name"`
	URL        string    `json:"url"`
	Size       int64     `json:"size"`
	Bytes      int64     `json:"bytes"`
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	Error      string    `json:"error,omitempty"`
	Worker     string    `json:"worker,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// CabSync is one synchronisation of the catalog cab.
type CabSync struct {
	ID        int64     `json:"id"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	CabDate   time.Time `json:"cab_date,omitzero"`
	Size      int64     `json:"size"`
	SHA1      string    `json:"sha1"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// Session is an open console or admin API session (never its token).
type Session struct {
	ID                 int64     `json:"id"`
	Username           string    `json:"username"`
	Kind               string    `json:"kind"` // console or api
	CreatedAt          time.Time `json:"created_at"`
	LastSeen           time.Time `json:"last_seen"`
	ExpiresAt          time.Time `json:"expires_at"`
	IdleTimeoutSeconds int64     `json:"idle_timeout_seconds"`
	Remote             string    `json:"remote,omitempty"`
	UserAgent          string    `json:"user_agent,omitempty"`
}

// EnrollmentToken is an enrollment token's record (its value is shown once, at creation).
type EnrollmentToken struct {
	ID         int64     `json:"id"`
	Label      string    `json:"label"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by,omitempty"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	MaxUses    int       `json:"max_uses,omitempty"`
	Uses       int       `json:"uses"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	RevokedBy  string    `json:"revoked_by,omitempty"`
}
