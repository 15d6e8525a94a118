package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/schedule"
	"github.com/openwua/waptwua/internal/wua"
)

// Names of the files in the agent's data folder.
const (
	StateFileName = "waptwua-state.json"
	CabFileName   = "wsusscn2.cab"
	// CacheDirName holds the downloaded update files, named as in the repository.
	CacheDirName = "cache"
)

// stateVersion is written in the state file; a file of another version is ignored
// (the next cycle rescans and sends a full report).
const stateVersion = 1

// State is what the agent keeps between cycles, in <data>/waptwua-state.json.
type State struct {
	Version int `json:"version"`

	Cab CabState `json:"cab"`

	// ServerRules is the last rules answer of the server and RulesETag its ETag: used
	// again when the server is unreachable or answers 304.
	ServerRules *api.Rules `json:"server_rules,omitempty"`
	RulesETag   string     `json:"rules_etag,omitempty"`
	// RulesHash is the hash of the merged rules of the last cycle.
	RulesHash string `json:"rules_hash,omitempty"`
	// Packages are the signed rules packages in force, in install order: the last good
	// verified version of each package the server assigns (copies in packages/).
	Packages []PackageState `json:"packages,omitempty"`
	// PackageStatuses are the packages of the last cycle, applied then refused, as
	// reported.
	PackageStatuses []api.PackageStatus `json:"package_statuses,omitempty"`

	// LastInstall is the end of the last install that changed something: the install
	// history, one of the reasons to scan again.
	LastInstall time.Time `json:"last_install,omitzero"`
	// LastScan is when the stored scan ran; ScanKey what it depended on.
	LastScan time.Time    `json:"last_scan,omitzero"`
	ScanKey  string       `json:"scan_key,omitempty"`
	Scan     []wua.Update `json:"scan,omitempty"`
	Scanned  bool         `json:"scanned"`

	// Updates are the statuses of the last cycle, in display order.
	Updates []UpdateState `json:"updates,omitempty"`
	// Status is the agent-level status; LastError the problem of the last cycle in words.
	Status    string `json:"status"`
	LastError string `json:"last_error,omitempty"`
	// RebootRequired: an install asked for a restart, or WUA says one is pending.
	RebootRequired bool `json:"reboot_required"`

	// InstallErrors holds the last failed install of each update ("<guid>_<rev>": the
	// WUA error in words); InstalledAt when we installed it.
	InstallErrors map[string]string    `json:"install_errors,omitempty"`
	InstalledAt   map[string]time.Time `json:"installed_at,omitempty"`

	Report ReportState `json:"report"`
	// Repository is the repository folder update files came from last (a site
	// repository or the main one), reported to the server.
	Repository string `json:"repository,omitempty"`

	// LastDownloadRun and LastInstallRun are when the scheduled jobs last ran.
	LastDownloadRun time.Time `json:"last_download_run,omitzero"`
	LastInstallRun  time.Time `json:"last_install_run,omitzero"`

	// Schedule explains what the maintenance schedule does with the updates waiting for
	// install (schedule.Decision lines of the last cycle); ScheduleNext is when it
	// changes next.
	Schedule     []string  `json:"schedule,omitempty"`
	ScheduleNext time.Time `json:"schedule_next,omitzero"`

	// Off are the periods the service was not running (host off, service stopped), for
	// the schedule's grace and catch-up; LastAlive is the service's last heartbeat.
	Off       []schedule.Interval `json:"off,omitempty"`
	LastAlive time.Time           `json:"last_alive,omitzero"`

	// Reboot is what the reboot policy did about the required reboot; Events the last
	// decisions of the schedule the agent acted on (at most MaxScheduleEvents).
	Reboot RebootState     `json:"reboot,omitzero"`
	Events []ScheduleEvent `json:"events,omitempty"`
	// EventSeq numbers the events: the last of Events is the EventSeq-th ever recorded
	// (ReportState.EventsAcked says which the server has).
	EventSeq int64 `json:"event_seq,omitempty"`
	// Sched is the schedule's state of the last cycle, as the report gives it (without
	// lines, postponements and events).
	Sched api.ScheduleReport `json:"sched,omitzero"`
	// AtShutdown: the merged rules (or the ini) ask for the install at shutdown.
	AtShutdown bool `json:"at_shutdown,omitempty"`
	// GoodPolicy holds the schedule keys of the last merged rules whose policy was valid:
	// it stays in force while newer rules make the policy invalid.
	GoodPolicy *rules.Rules `json:"good_policy,omitempty"`

	// Commands are the last commands run (at most MaxCommandRecords, oldest first): the
	// server delivers a command at least once, and one already run is not run again,
	// its result is posted again.
	Commands []CommandRecord `json:"commands,omitempty"`
}

// MaxCommandRecords bounds State.Commands.
const MaxCommandRecords = 100

// CommandRecord is a command the agent ran and the result it posted.
type CommandRecord struct {
	ID     string            `json:"id"`
	Kind   api.CommandKind   `json:"kind"`
	At     time.Time         `json:"at"`
	Result api.CommandResult `json:"result"`
}

// CabState describes the local copy of wsusscn2.cab.
type CabState struct {
	SHA1         string    `json:"sha1,omitempty"`
	Size         int64     `json:"size,omitempty"`
	ETag         string    `json:"etag,omitempty"`
	LastModified time.Time `json:"last_modified,omitzero"`
	// Fetched is when the local copy was last confirmed current.
	Fetched time.Time `json:"fetched,omitzero"`
	// PartETag is the ETag of the partial download wsusscn2.cab.part, for resuming.
	PartETag string `json:"part_etag,omitempty"`
}

// ReportState is what the server acknowledged.
type ReportState struct {
	// Acked maps each reported update key to the fingerprint of its acknowledged status.
	Acked map[string]string `json:"acked,omitempty"`
	// Agent is the fingerprint of the acknowledged host-level fields.
	Agent string `json:"agent,omitempty"`
	// LastFull is when the server last acknowledged a full report.
	LastFull time.Time `json:"last_full,omitzero"`
	// Credential identifies the registration the acknowledgements belong to: a new
	// registration makes the next report full.
	Credential string `json:"credential,omitempty"`
	// EventsAcked is the number (State.EventSeq) of the last schedule event the server
	// acknowledged.
	EventsAcked int64 `json:"events_acked,omitempty"`
	// Lean says the server accepts lean reports (api.Report.Lean): statuses are then
	// sent without the description of their update unless the server asks for it.
	Lean bool `json:"lean,omitempty"`
}

// UpdateState is one update's status on this host, as reported and displayed.
type UpdateState struct {
	api.UpdateStatus
	// Rule says which rule decided, in words.
	Rule string `json:"rule,omitempty"`
	// Files are the update's file names in the repository; Local says they are all in
	// the local cache.
	Files []string `json:"files,omitempty"`
	Local bool     `json:"local,omitempty"`
}

// LoadState reads the state file of dir; a missing or unreadable-version file gives an
// empty state.
func LoadState(dir string) (*State, error) {
	path := filepath.Join(dir, StateFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Version: stateVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent state %s: %w (check the permissions of the data folder)", path, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil || st.Version != stateVersion {
		// A damaged or foreign state only costs a rescan and a full report.
		return &State{Version: stateVersion}, nil
	}
	return &st, nil
}

// saveState writes the state atomically (temporary file, sync, rename).
func saveState(dir string, st *State) error {
	st.Version = stateVersion
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("agent state: encode: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, StateFileName), data, 0o600)
}

// writeFileAtomic replaces path with data so that readers see the old or the new file,
// never a mix.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s: create folder: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("%s: %w (check the permissions of %s)", path, err, dir)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	// Windows only knows the read-only bit there: the folder's ACL protects the file.
	_ = f.Chmod(mode)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("%s: write: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%s: replace: %w", path, err)
	}
	return nil
}
