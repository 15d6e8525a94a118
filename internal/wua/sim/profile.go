package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/openwua/waptwua/internal/wu"
	"github.com/openwua/waptwua/internal/wua"
)

// Profile describes a simulated host (a JSON file):
//
//	{
//	  "host_name": "pc-042",
//	  "products": ["Windows 10", "Office 2016"],
//	  "installed": ["KB5034441", "0a1b2c3d-...-333344445555_201"],
//	  "failures": [{"kb": "5034441", "hresult": "0x80240022"}],
//	  "reboot_required_after_install": true,
//	  "busy": 2,
//	  "reboot_pending": false
//	}
//
// installed, failures, busy and reboot_pending describe the host when its state file
// does not exist yet; afterwards the state file is the truth.
type Profile struct {
	HostName string `json:"host_name"`
	// Products are the host's products: catalog product names (any letter case) or
	// product category GUIDs. An update applies when one of its products is here.
	Products []string `json:"products"`
	// Installed lists what is installed at start: update keys ("<guid>_<rev>"), update
	// ids (a bare GUID: every revision) or KBs ("KB5034441" or "5034441").
	Installed []string `json:"installed,omitempty"`
	// Failures are injected install failures.
	Failures []Failure `json:"failures,omitempty"`
	// RebootRequiredAfterInstall: true (every update), false, or a list of update keys,
	// ids or KBs whose installation asks for a restart.
	RebootRequiredAfterInstall RebootSpec `json:"reboot_required_after_install"`
	// Busy makes the next Busy scans or installs fail with wua.ErrBusy, as when the
	// Microsoft Store or Windows' own updater holds WUA.
	Busy int `json:"busy,omitempty"`
	// RebootPending: a restart is pending at start; Install refuses until Reboot.
	RebootPending bool `json:"reboot_pending,omitempty"`
	// Actions are the exit codes of update packages' commands (see RunCommand).
	Actions []ActionExit `json:"actions,omitempty"`
}

// Failure makes the install of the matching update fail with HResult.
type Failure struct {
	KB      string `json:"kb,omitempty"`     // a KB ...
	Update  string `json:"update,omitempty"` // ... or an update key or id
	HResult string `json:"hresult"`          // "0x80240022", as WUA reports it
	// Times is how many attempts fail before the install succeeds; 0 = all attempts.
	Times int `json:"times,omitempty"`
}

// RebootSpec is true, false, or a list of update keys, ids or KBs.
type RebootSpec struct {
	All   bool
	Match []string
}

// UnmarshalJSON accepts a boolean or a list of strings.
func (r *RebootSpec) UnmarshalJSON(data []byte) error {
	var b bool
	if err := json.Unmarshal(data, &b); err == nil {
		*r = RebootSpec{All: b}
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return errors.New("want true, false or a list of KBs and update keys")
	}
	*r = RebootSpec{Match: list}
	return nil
}

// MarshalJSON writes the form UnmarshalJSON reads.
func (r RebootSpec) MarshalJSON() ([]byte, error) {
	if r.Match != nil {
		return json.Marshal(r.Match)
	}
	return json.Marshal(r.All)
}

// LoadProfile reads and checks a profile file.
func LoadProfile(path string) (Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Profile{}, fmt.Errorf("sim profile: %w", err)
	}
	return ParseProfile(data, path)
}

// ParseProfile reads a profile; source names it in errors.
func ParseProfile(data []byte, source string) (Profile, error) {
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("sim profile %s: %w", source, err)
	}
	if _, err := p.compile(); err != nil {
		return Profile{}, fmt.Errorf("sim profile %s: %w", source, err)
	}
	return p, nil
}

// selector matches updates by key, id or KB.
type selector struct {
	keys map[wu.UpdateKey]bool
	ids  map[string]bool
	kbs  map[string]bool
}

func newSelector(field string, entries []string) (selector, error) {
	s := selector{keys: map[wu.UpdateKey]bool{}, ids: map[string]bool{}, kbs: map[string]bool{}}
	for _, e := range entries {
		if err := s.add(e); err != nil {
			return s, fmt.Errorf("%s: %w", field, err)
		}
	}
	return s, nil
}

func (s selector) add(e string) error {
	t := strings.TrimSpace(e)
	if kb, err := wu.ParseKB(t); err == nil {
		s.kbs[kb] = true
		return nil
	}
	k, err := wu.ParseUpdateKey(t)
	if err != nil {
		return fmt.Errorf("%q is neither a KB (KB5034441) nor an update key (<guid>_<rev>) or id (<guid>)", e)
	}
	if strings.Contains(t, "_") {
		s.keys[k] = true
	} else {
		s.ids[k.UpdateID] = true
	}
	return nil
}

func (s selector) match(u *wu.Update) bool {
	if s.keys[u.Key()] || s.ids[strings.ToLower(u.UpdateID)] {
		return true
	}
	for _, kb := range u.KBs {
		if d, err := wu.ParseKB(kb); err == nil && s.kbs[d] {
			return true
		}
	}
	return false
}

// failure is a compiled Failure.
type failure struct {
	sel   selector
	code  wua.HResult
	times int
}

// compiled is a checked profile.
type compiled struct {
	products  map[string]bool // lower-case names and GUIDs
	installed selector
	failures  []failure
	reboot    selector
	rebootAll bool
}

func (p Profile) compile() (*compiled, error) {
	c := &compiled{products: map[string]bool{}, rebootAll: p.RebootRequiredAfterInstall.All}
	if len(p.Products) == 0 {
		return nil, errors.New(`products: empty: name the host's products (e.g. "products": ["Windows 10"])`)
	}
	for _, prod := range p.Products {
		t := strings.ToLower(strings.TrimSpace(prod))
		if t == "" {
			return nil, errors.New("products: empty product name")
		}
		c.products[t] = true
	}
	var err error
	if c.installed, err = newSelector("installed", p.Installed); err != nil {
		return nil, err
	}
	if c.reboot, err = newSelector("reboot_required_after_install", p.RebootRequiredAfterInstall.Match); err != nil {
		return nil, err
	}
	for i, f := range p.Failures {
		where := fmt.Sprintf("failures[%d]", i)
		if (f.KB == "") == (f.Update == "") {
			return nil, fmt.Errorf("%s: give either kb or update", where)
		}
		sel, err := newSelector(where, []string{f.KB + f.Update})
		if err != nil {
			return nil, err
		}
		code, err := wua.ParseHResult(f.HResult)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if !code.Failed() {
			return nil, fmt.Errorf("%s: hresult %s is not an error code (want e.g. 0x80240022)", where, code)
		}
		if f.Times < 0 {
			return nil, fmt.Errorf("%s: times %d: want 0 (always) or more", where, f.Times)
		}
		c.failures = append(c.failures, failure{sel: sel, code: code, times: f.Times})
	}
	if p.Busy < 0 {
		return nil, fmt.Errorf("busy %d: want 0 or more", p.Busy)
	}
	return c, nil
}
