package store

import (
	"context"
	"fmt"
	"time"
)

// CabStatus is the state of one wsusscn2.cab synchronisation.
type CabStatus string

// Cab synchronisation states.
const (
	CabDownloading CabStatus = "downloading"
	CabChecking    CabStatus = "checking"
	CabImporting   CabStatus = "importing"
	CabFinished    CabStatus = "finished"
	CabSkipped     CabStatus = "skipped"
	CabError       CabStatus = "error"
)

// CabReason says why a synchronisation downloaded the cab.
type CabReason string

// Cab synchronisation reasons.
const (
	CabReasonNone           CabReason = ""
	CabReasonFileMissing    CabReason = "file missing"
	CabReasonNewerAvailable CabReason = "newer available"
	CabReasonForced         CabReason = "forced"
)

// CabHistoryStore records the daily wsusscn2.cab synchronisations.
type CabHistoryStore interface {
	// AddCabSync records a new synchronisation and returns it with its id.
	AddCabSync(ctx context.Context, c CabSync) (CabSync, error)
	// UpdateCabSync rewrites the state fields of synchronisation c.ID (status, reason,
	// cab date, size, SHA-1, error, updated at).
	UpdateCabSync(ctx context.Context, c CabSync) error
	// LatestCabSyncs returns the most recent synchronisations, newest first.
	LatestCabSyncs(ctx context.Context, limit int) ([]CabSync, error)
}

// CabSync is one synchronisation of the catalog cab.
type CabSync struct {
	ID        int64     `json:"id"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	CabDate   time.Time `json:"cab_date,omitzero"` // Last-Modified of the cab
	Size      int64     `json:"size"`
	SHA1      string    `json:"sha1"`
	Status    CabStatus `json:"status"`
	Reason    CabReason `json:"reason,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// CommandKind is what a command asks a host to do.
type CommandKind string

// Command kinds (the console's "Trigger the scan/download/install").
const (
	CommandScan     CommandKind = "scan"
	CommandDownload CommandKind = "download"
	CommandInstall  CommandKind = "install"
)

// CommandStatus is the state of a command.
type CommandStatus string

// Command states: pending until the host fetches it, sent until it reports the result
// (a sent command not acknowledged, AckedAt zero, is delivered again).
const (
	CommandPending CommandStatus = "pending"
	CommandSent    CommandStatus = "sent"
	CommandDone    CommandStatus = "done"
	CommandFailed  CommandStatus = "failed"
)

// CommandStore queues commands for hosts.
type CommandStore interface {
	// QueueCommand queues c for c.HostUUID. When a pending command of the same kind and
	// arguments exists it is returned instead (clicking twice queues once).
	// ErrNotFound for an unknown host.
	QueueCommand(ctx context.Context, c Command) (Command, error)
	// FetchCommands returns the host's commands to deliver, oldest first: the pending
	// ones, and the sent ones neither acknowledged nor finished that were last sent at or
	// before at-redeliverAfter (DefaultRedeliverAfter when <= 0). It marks them sent at
	// at and counts one more delivery.
	FetchCommands(ctx context.Context, hostUUID string, at time.Time, redeliverAfter time.Duration) ([]Command, error)
	// AckCommand records that the host received the command: it is not delivered again.
	// Idempotent (the first acknowledgement time stays). ErrNotFound when the host has no
	// such command.
	AckCommand(ctx context.Context, hostUUID string, id int64, at time.Time) error
	// CompleteCommand records the result of a command of that host (which acknowledges
	// it): done when errText is empty, failed otherwise. Idempotent: a finished command
	// keeps its first result and nil is returned. ErrNotFound when the host has no such
	// command.
	CompleteCommand(ctx context.Context, hostUUID string, id int64, at time.Time, result, errText string) error
	// ListCommands returns a host's most recent commands, newest first.
	ListCommands(ctx context.Context, hostUUID string, limit int) ([]Command, error)
}

// Command is one order for one host.
type Command struct {
	ID         int64         `json:"id"`
	HostUUID   string        `json:"host_uuid"`
	Kind       CommandKind   `json:"kind"`
	Args       string        `json:"args,omitempty"` // opaque to the store (JSON)
	Actor      string        `json:"actor,omitempty"`
	Status     CommandStatus `json:"status"`
	CreatedAt  time.Time     `json:"created_at"`
	SentAt     time.Time     `json:"sent_at,omitzero"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	Result     string        `json:"result,omitempty"`
	Error      string        `json:"error,omitempty"`
	AckedAt    time.Time     `json:"acked_at,omitzero"` // when the host acknowledged it
	Deliveries int           `json:"deliveries"`        // times fetched
}

// Due says FetchCommands(at, redeliverAfter) would deliver the command: it is pending,
// or sent but neither acknowledged nor finished and last sent redeliverAfter or longer
// before at (DefaultRedeliverAfter when <= 0).
func (c Command) Due(at time.Time, redeliverAfter time.Duration) bool {
	if redeliverAfter <= 0 {
		redeliverAfter = DefaultRedeliverAfter
	}
	return c.Status == CommandPending ||
		(c.Status == CommandSent && c.AckedAt.IsZero() && !c.SentAt.After(at.Add(-redeliverAfter)))
}

// Role is what a console user may do.
type Role string

// User roles.
const (
	RoleAdmin    Role = "admin"
	RoleReadOnly Role = "read-only"
)

// UserStore holds console users. Password hashes are computed by the caller and stored
// as given.
type UserStore interface {
	// CreateUser adds u; ErrConflict when the name is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user or ErrNotFound.
	GetUser(ctx context.Context, username string) (User, error)
	// SetPassword replaces the user's hash and ends all of the user's sessions.
	SetPassword(ctx context.Context, username, passwordHash string, at time.Time) error
	// SetRole changes the user's role and ends all of the user's sessions.
	SetRole(ctx context.Context, username string, role Role, at time.Time) error
	// DeleteUser removes the user and its sessions.
	DeleteUser(ctx context.Context, username string) error
	// ListUsers returns every user ordered by name.
	ListUsers(ctx context.Context) ([]User, error)
}

// User is a console user.
type User struct {
	Username     string    `json:"username"`
	PasswordHash string    `json:"-"`
	Role         Role      `json:"role"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// AuditStore is the append-only log of administrative actions.
type AuditStore interface {
	// AppendAudit adds e and returns its id.
	AppendAudit(ctx context.Context, e AuditEntry) (int64, error)
	// ListAudit returns entries newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
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

// AuditFilter selects audit entries. Zero values mean "no filter".
type AuditFilter struct {
	Actor    string
	Action   string
	Target   string
	BeforeID int64 // entries older than this id (the last id of the previous page)
	Limit    int   // 100 when 0, at most 1000
}

// PageLimit clamps a requested page size: def when n <= 0, at most max.
func PageLimit(n, def, max int) int {
	if n <= 0 {
		return def
	}
	return min(n, max)
}

// Validate checks that r is a known role (ErrInvalid otherwise).
func (r Role) Validate() error {
	if r != RoleAdmin && r != RoleReadOnly {
		return fmt.Errorf("role %q: %w (want admin or read-only)", r, ErrInvalid)
	}
	return nil
}

// Validate checks a new user: a name and a known role.
func (u User) Validate() error {
	if u.Username == "" {
		return fmt.Errorf("user: empty name: %w", ErrInvalid)
	}
	return u.Role.Validate()
}

// Validate checks that k is a known command kind.
func (k CommandKind) Validate() error {
	switch k {
	case CommandScan, CommandDownload, CommandInstall:
		return nil
	}
	return fmt.Errorf("command kind %q: %w (want scan, download or install)", k, ErrInvalid)
}
