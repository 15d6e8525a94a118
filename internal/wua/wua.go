// Package wua is the agent's port to the Windows Update Agent (WUA): the interface the
// agent scans, hides, caches and installs through, the values it exchanges, and the pure
// helpers both backends share (HRESULTs in words, result codes, search criteria, the
// assignment of downloaded files to bundled updates).
//
// Two backends implement it: wua/windows (the real WUA over COM, Windows only) and
// wua/sim (a simulated host driven by the offline catalog, for other systems and tests).
// Decisions (which updates are allowed, when to install) never live here: see rules.
package wua

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/wu"
)

// Agent is what the agent needs from the Windows Update Agent. Updates are named by
// their keys; a backend acts only on updates its last Scan returned.
type Agent interface {
	// Scan runs an offline scan against the catalog at opts.CabPath.
	Scan(ctx context.Context, opts ScanOptions) ([]Update, error)
	// SetHidden hides (or shows again) updates, so that Windows' own updater leaves
	// forbidden updates alone. Every key is tried; the errors are joined.
	SetHidden(ctx context.Context, keys []wu.UpdateKey, hidden bool) error
	// CopyToCache hands the downloaded files of one update to WUA. key is the update's
	// (or one of its bundled updates'); files are local full paths, named after the
	// basename of their download URL (see AssignFiles).
	CopyToCache(ctx context.Context, key wu.UpdateKey, files []string) error
	// Install installs updates in one batch. The error is for the batch as a whole
	// (ErrRebootPending, ErrBusy, unknown keys, COM failures); per-update failures are in
	// the result (InstallResult.Err).
	Install(ctx context.Context, keys []wu.UpdateKey) (InstallResult, error)
	// RebootPending reports whether the host waits for a restart.
	RebootPending(ctx context.Context) (bool, error)
	// Close releases the backend (COM objects, scan service registration).
	Close() error
}

// ServiceControl brings the Windows Update service (wuauserv) up for one operation and
// puts it back as it was: the agent keeps it disabled between cycles (REFERENCE §6).
type ServiceControl interface {
	// Prepare notes the service's start mode and state, sets it to manual and starts it
	// (waiting at most StartTimeout). restore puts back the start mode and state; call it
	// even when the operation failed. On error, Prepare has restored what it changed.
	Prepare(ctx context.Context) (restore func(context.Context) error, err error)
}

// StartTimeout bounds the wait for wuauserv to reach the running state.
const StartTimeout = 10 * time.Second

// Policy applies the [waptwua] enabled key to Windows' own update policies.
type Policy interface {
	// Apply with true sets the Windows Update policies that stop Windows from updating on
	// its own, remembering the previous values; false restores them; nil touches nothing.
	Apply(enabled *bool) error
}

// Sentinel errors. Backends wrap them (errors.Is) with the cause in words.
var (
	// ErrBusy: another WUA client (e.g. the Microsoft Store, Windows' own updater) is
	// installing or scanning. Retry later; this is not a failure of the update.
	ErrBusy = errors.New("Windows Update Agent busy with another client (e.g. the Microsoft Store)")
	// ErrRebootPending: the host must restart before installing anything else.
	ErrRebootPending = errors.New("a restart is pending")
	// ErrServiceUnavailable: wuauserv is stopped, disabled or shutting down.
	ErrServiceUnavailable = errors.New("Windows Update service unavailable")
	// ErrUnknownUpdate: the key was not in the last scan's result.
	ErrUnknownUpdate = errors.New("update not found in the last scan (scan first)")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("Windows Update Agent port closed")
)

// DefaultFilter is the search criteria used when ScanOptions.Criteria is empty; it is
// the default of the [waptwua] filter key.
const DefaultFilter = "Type='Software' or Type='Driver'"

// ScanOptions describe one offline scan.
type ScanOptions struct {
	// CabPath is the local path of wsusscn2.cab (not a UNC path: WUA refuses those).
	CabPath string
	// Criteria is the WUA search criteria (the [waptwua] filter key); empty means
	// DefaultFilter. See CriteriaFromFilter.
	Criteria string
	// IncludeSuperseded asks for potentially superseded updates too
	// (include_potentially_superseded_updates).
	IncludeSuperseded bool
	// Locale is the LCID of titles and category names (user_locale); 0 leaves WUA's.
	Locale uint32
}

// Category is a category of an update as WUA reports it.
type Category struct {
	ID   string          `json:"id"` // lower-case GUID
	Type wu.CategoryType `json:"type"`
	Name string          `json:"name"`
}

// Download is one file WUA wants for an update.
type Download struct {
	URL string `json:"url"`
	// FileName is the basename of URL: the name the file has in the repository.
	FileName string `json:"file_name"`
}

// BundledUpdate is an update inside a bundle: the unit WUA caches files for.
type BundledUpdate struct {
	Key       wu.UpdateKey `json:"key"`
	Downloads []Download   `json:"downloads"`
}

// Update is one update as a scan reports it.
type Update struct {
	Key   wu.UpdateKey `json:"key"`
	Title string       `json:"title"`
	// KBs are digits only ("5034441").
	KBs        []string    `json:"kb"`
	Severity   wu.Severity `json:"severity"`
	Categories []Category  `json:"categories"`
	Installed  bool        `json:"installed"`
	Hidden     bool        `json:"hidden"`
	Downloaded bool        `json:"downloaded"`
	// LastDeploymentChange starts install_delay.
	LastDeploymentChange time.Time `json:"last_deployment_change"`
	// SupersededIDs are the update ids this update supersedes.
	SupersededIDs   []string       `json:"superseded_ids,omitempty"`
	MaxDownloadSize int64          `json:"max_download_size"`
	RebootBehavior  RebootBehavior `json:"reboot_behavior"`
	// Downloads are the update's own files (rare: bundles carry theirs in Bundled).
	Downloads []Download      `json:"downloads,omitempty"`
	Bundled   []BundledUpdate `json:"bundled,omitempty"`
}

// Products returns the names of the update's product categories.
func (u *Update) Products() []string { return u.categoryNames(wu.CategoryProduct) }

// Classifications returns the names of the update's classification categories.
func (u *Update) Classifications() []string { return u.categoryNames(wu.CategoryClassification) }

func (u *Update) categoryNames(t wu.CategoryType) []string {
	var out []string
	for _, c := range u.Categories {
		if c.Type == t && c.Name != "" {
			out = append(out, c.Name)
		}
	}
	return out
}

func (u *Update) categoryIDs(t wu.CategoryType) []string {
	var out []string
	for _, c := range u.Categories {
		if c.Type == t && c.ID != "" {
			out = append(out, c.ID)
		}
	}
	return out
}

// RebootBehavior is IInstallationBehavior.RebootBehavior.
type RebootBehavior int

// Reboot behaviors of an update.
const (
	NeverReboots         RebootBehavior = 0
	AlwaysRequiresReboot RebootBehavior = 1
	CanRequestReboot     RebootBehavior = 2
)

func (b RebootBehavior) String() string {
	switch b {
	case NeverReboots:
		return "NeverReboots"
	case AlwaysRequiresReboot:
		return "AlwaysRequiresReboot"
	case CanRequestReboot:
		return "CanRequestReboot"
	}
	return fmt.Sprintf("RebootBehavior(%d)", int(b))
}

// Clock gives the time to backends that record it (the sim's install dates, the
// service start timeout).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}
