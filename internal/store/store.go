// Package store defines the server's storage by role: small interfaces (CatalogStore,
// HostStore, ReportStore, FileStore, TaskStore, CabHistoryStore, CommandStore, UserStore,
// AuditStore, PackageStore, Locker) and the types they exchange. Handlers and jobs
// depend on the one role they use; store/sqlite and store/postgres implement all of them, and
// store/storetest holds the conformance suite both backends pass.
//
// The store never reads the clock: every method that records a time takes it from the
// caller, so schedules and tests control time.
package store

import (
	"context"
	"errors"
	"io"

	"github.com/openwua/waptwua/internal/wu"
)

// Sentinel errors, checked with errors.Is. Backends wrap them with what was looked up.
var (
	// ErrNotFound: the host, update, user, file, task or command does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the row exists already (user name, credential id of another host).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the caller passed a value the store refuses (unknown status, bad cursor).
	ErrInvalid = errors.New("invalid argument")
)

// Store is every role together, for wiring in cmd/*. Handlers and jobs should take the
// one small role they need, not this.
type Store interface {
	CatalogStore
	HostStore
	ReportStore
	FileStore
	TaskStore
	CabHistoryStore
	CommandStore
	UserStore
	AuditStore
	PackageStore
	HostApproval
	EnrollmentTokenStore
	SessionStore
	MirrorStore
	ScheduleStore
	SiteStore
	Locker
	Pinger
	io.Closer
}

// Pinger checks that the database answers (for /healthz).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Migrator brings the schema to the version the binary embeds. Idempotent; safe to run
// from several replicas at once.
type Migrator interface {
	Migrate(ctx context.Context) error
}

// Locker elects one leader per job among server replicas. On PostgreSQL it is a
// session advisory lock; on SQLite (one server process) an in-process lock.
type Locker interface {
	// TryLock takes the named lock without waiting. ok is false when another holder has
	// it. release gives the lock back; call it once, when the job ends.
	TryLock(ctx context.Context, name string) (release func(context.Context) error, ok bool, err error)
}

// NeededStatuses are the per-host statuses of an update that the host needs: applicable
// and not installed (REFERENCE §2). The console's "hosts needing it" counts these.
func NeededStatuses() []wu.Status {
	return []wu.Status{wu.StatusMissing, wu.StatusPending, wu.StatusDiscarded, wu.StatusError}
}

// WantedStatuses are the statuses for which the server must have the update's files:
// needed and allowed (MISSING, PENDING). FileStore.NeededFiles and UnusedFiles use them.
func WantedStatuses() []wu.Status {
	return []wu.Status{wu.StatusMissing, wu.StatusPending}
}

// Bool returns a pointer to b, for the optional yes/no filters.
func Bool(b bool) *bool { return &b }
