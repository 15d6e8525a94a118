package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// stateVersion is the layout of the state file.
const stateVersion = 1

// state is what a simulated host remembers between runs (the state file).
type state struct {
	Version int `json:"version"`
	// Installed: update key → when it was installed (zero: installed at start).
	Installed map[string]time.Time `json:"installed"`
	Hidden    []string             `json:"hidden"`
	// Cached: SHA-1 (hex) of each file copied into the simulated WUA cache → its path.
	Cached        map[string]string `json:"cached"`
	RebootPending bool              `json:"reboot_pending"`
	BusyLeft      int               `json:"busy_left"`
	// FailuresUsed counts the failed attempts of each profile failure (by index).
	FailuresUsed map[int]int `json:"failures_used,omitempty"`
	// KBs: KB digits → installed (true) or removed (false) by an update package (NoteKB).
	KBs map[string]bool `json:"kbs,omitempty"`
	// History lists the install attempts, newest last.
	History []attempt `json:"history,omitempty"`
}

// attempt is one update of one Install call.
type attempt struct {
	At      time.Time `json:"at"`
	Update  string    `json:"update"`
	Result  string    `json:"result"`
	HResult string    `json:"hresult,omitempty"`
}

// maxHistory bounds the history kept in the state file.
const maxHistory = 500

func newState(p Profile) *state {
	return &state{
		Version:       stateVersion,
		Installed:     map[string]time.Time{},
		Cached:        map[string]string{},
		RebootPending: p.RebootPending,
		BusyLeft:      p.Busy,
		FailuresUsed:  map[int]int{},
	}
}

// loadState reads the state file; a missing file gives the profile's initial state.
func loadState(path string, p Profile) (*state, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(p), nil
	}
	if err != nil {
		return nil, fmt.Errorf("sim state: %w", err)
	}
	st := newState(p)
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("sim state %s: %w (delete the file to start the host afresh)", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("sim state %s: version %d, want %d (delete the file to start the host afresh)", path, st.Version, stateVersion)
	}
	if st.Installed == nil {
		st.Installed = map[string]time.Time{}
	}
	if st.Cached == nil {
		st.Cached = map[string]string{}
	}
	if st.FailuresUsed == nil {
		st.FailuresUsed = map[int]int{}
	}
	return st, nil
}

func (s *state) hidden(key string) bool {
	for _, h := range s.Hidden {
		if h == key {
			return true
		}
	}
	return false
}

func (s *state) setHidden(key string, hidden bool) {
	out := s.Hidden[:0]
	for _, h := range s.Hidden {
		if h != key {
			out = append(out, h)
		}
	}
	if hidden {
		out = append(out, key)
	}
	sort.Strings(out)
	s.Hidden = out
}

func (s *state) record(a attempt) {
	s.History = append(s.History, a)
	if n := len(s.History) - maxHistory; n > 0 {
		s.History = append([]attempt(nil), s.History[n:]...)
	}
}

// save writes the state atomically: a temporary file in the same folder, synced, then
// renamed over the old one.
func (s *state) save(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("sim state: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+".tmp*")
	if err != nil {
		return fmt.Errorf("sim state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("sim state %s: %w", path, err)
	}
	return nil
}

// StatePath returns where the state of the host described by profilePath is kept:
// next to it, "host.json" giving "host.state.json".
func StatePath(profilePath string) string {
	return strings.TrimSuffix(profilePath, filepath.Ext(profilePath)) + ".state.json"
}
