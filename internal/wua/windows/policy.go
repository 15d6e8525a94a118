package windows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Registry keys (under HKEY_LOCAL_MACHINE) of the Windows Update policies, and ours
// where the values found before enabled = True are kept.
const (
	wuPolicyKey    = `SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate`
	auPolicyKey    = wuPolicyKey + `\AU`
	savedPolicyKey = `SOFTWARE\openwua\waptwua\SavedPolicies`
	savedMarker    = "Saved"
)

// DefaultDummyServer is the WSUS address the policies point Windows at while WAPTWUA
// manages updates: nothing listens there, so Windows' own updater finds nothing.
const DefaultDummyServer = "http://127.0.0.1:8088"

// regValue is a registry value of the two kinds the policies use.
type regValue struct {
	isString bool
	str      string // REG_SZ
	dword    uint32 // REG_DWORD
}

func sz(s string) regValue    { return regValue{isString: true, str: s} }
func dword(n uint32) regValue { return regValue{dword: n} }

func (v regValue) String() string {
	if v.isString {
		return strconv.Quote(v.str)
	}
	return strconv.FormatUint(uint64(v.dword), 10)
}

// policySetting is one value enabled = True writes.
type policySetting struct {
	key, name string
	value     regValue
}

// policySettings are the values that stop Windows from updating on its own
// (REFERENCE §6): a dummy WSUS server, no Windows Update internet locations, no OS
// upgrade, no automatic updates.
func policySettings(dummyServer string) []policySetting {
	return []policySetting{
		{wuPolicyKey, "WUServer", sz(dummyServer)},
		{wuPolicyKey, "WUStatusServer", sz(dummyServer)},
		{wuPolicyKey, "DoNotConnectToWindowsUpdateInternetLocations", dword(1)},
		{wuPolicyKey, "DisableOSUpgrade", dword(1)},
		{auPolicyKey, "UseWUServer", dword(1)},
		{auPolicyKey, "NoAutoUpdate", dword(1)},
	}
}

// policyStore reads and writes values under HKEY_LOCAL_MACHINE.
type policyStore interface {
	// get returns found = false when the key or the value does not exist.
	get(key, name string) (v regValue, found bool, err error)
	// set creates the key when needed.
	set(key, name string, v regValue) error
	// remove deletes the value; a missing key or value is not an error.
	remove(key, name string) error
}

// policy implements wua.Policy over a policyStore.
type policy struct {
	reg   policyStore
	dummy string
}

// Apply: true sets the policies (saving what was there the first time), false restores
// the saved values, nil does nothing.
func (p *policy) Apply(enabled *bool) error {
	if enabled == nil {
		return nil
	}
	var err error
	if *enabled {
		err = p.enable()
	} else {
		err = p.disable()
	}
	if err != nil {
		return fmt.Errorf("Windows Update policies (enabled = %t): %w", *enabled, err)
	}
	return nil
}

// savedName names the saved copy of a setting: "WindowsUpdate|WUServer", "AU|NoAutoUpdate".
func savedName(s policySetting) string {
	return s.key[strings.LastIndexByte(s.key, '\\')+1:] + "|" + s.name
}

// The saved copy of a value: "absent", "dword:<n>" or "sz:<text>".
func encodeSaved(v regValue, found bool) string {
	switch {
	case !found:
		return "absent"
	case v.isString:
		return "sz:" + v.str
	}
	return "dword:" + strconv.FormatUint(uint64(v.dword), 10)
}

func decodeSaved(s string) (v regValue, found bool, err error) {
	switch {
	case s == "absent":
		return regValue{}, false, nil
	case strings.HasPrefix(s, "sz:"):
		return sz(s[3:]), true, nil
	case strings.HasPrefix(s, "dword:"):
		n, err := strconv.ParseUint(s[6:], 10, 32)
		if err == nil {
			return dword(uint32(n)), true, nil
		}
	}
	return regValue{}, false, fmt.Errorf("saved value %q is not absent, dword:<n> or sz:<text>", s)
}

func (p *policy) enable() error {
	settings := policySettings(p.dummy)
	_, saved, err := p.reg.get(savedPolicyKey, savedMarker)
	if err != nil {
		return err
	}
	if !saved {
		// Save first, mark saved, then write: an interruption never loses the originals.
		for _, s := range settings {
			v, found, err := p.reg.get(s.key, s.name)
			if err != nil {
				return err
			}
			if err := p.reg.set(savedPolicyKey, savedName(s), sz(encodeSaved(v, found))); err != nil {
				return err
			}
		}
		if err := p.reg.set(savedPolicyKey, savedMarker, dword(1)); err != nil {
			return err
		}
	}
	var errs []error
	for _, s := range settings {
		if err := p.reg.set(s.key, s.name, s.value); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *policy) disable() error {
	settings := policySettings(p.dummy)
	_, saved, err := p.reg.get(savedPolicyKey, savedMarker)
	if err != nil {
		return err
	}
	var errs []error
	if !saved {
		// Nothing saved (never enabled, or the record was lost): remove only the values
		// that are exactly ours, leave an administrator's own policies alone.
		for _, s := range settings {
			v, found, err := p.reg.get(s.key, s.name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if found && v == s.value {
				if err := p.reg.remove(s.key, s.name); err != nil {
					errs = append(errs, err)
				}
			}
		}
		return errors.Join(errs...)
	}
	for _, s := range settings {
		raw, found, err := p.reg.get(savedPolicyKey, savedName(s))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !found || !raw.isString {
			errs = append(errs, fmt.Errorf("HKLM\\%s\\%s: saved value missing, %s\\%s left as it is", savedPolicyKey, savedName(s), s.key, s.name))
			continue
		}
		v, wasThere, err := decodeSaved(raw.str)
		if err != nil {
			errs = append(errs, fmt.Errorf("HKLM\\%s\\%s: %w", savedPolicyKey, savedName(s), err))
			continue
		}
		if wasThere {
			err = p.reg.set(s.key, s.name, v)
		} else {
			err = p.reg.remove(s.key, s.name)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // keep the saved values for the next attempt
	}
	for _, s := range settings {
		if err := p.reg.remove(savedPolicyKey, savedName(s)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.reg.remove(savedPolicyKey, savedMarker); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
