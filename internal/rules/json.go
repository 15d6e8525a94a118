package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FileName is the name of the rules file inside a rules package
// (WAPT/persistent/waptwua_rules.json); it prefixes Parse errors.
const FileName = "waptwua_rules.json"

// ErrUnknownKey marks a key that waptwua_rules.json does not define.
var ErrUnknownKey = errors.New("unknown key")

// Parse decodes a waptwua_rules.json strictly and returns the normalized rules. Keys are
// matched exactly (snake_case, as the original writes them); an unknown or repeated key,
// a value of the wrong type, trailing data or an invalid entry is an error naming the
// key. null stands for "not set".
func Parse(data []byte) (Rules, error) {
	var r Rules
	err := decodeObject(data, "", func(key string, raw json.RawMessage) error {
		switch key {
		case "allowed_updates":
			return decodeStrings(raw, key, &r.AllowedUpdates)
		case "forbidden_updates":
			return decodeStrings(raw, key, &r.ForbiddenUpdates)
		case "allowed_kbs":
			return decodeStrings(raw, key, &r.AllowedKBs)
		case "forbidden_kbs":
			return decodeStrings(raw, key, &r.ForbiddenKBs)
		case "allowed_products":
			return decodeStrings(raw, key, &r.AllowedProducts)
		case "allowed_classifications":
			return decodeStrings(raw, key, &r.AllowedClassifications)
		case "allowed_severities":
			return decodeStrings(raw, key, &r.AllowedSeverities)
		case "default_allow":
			return decodeBool(raw, key, &r.DefaultAllow)
		case "include_potentially_superseded_updates":
			return decodeBool(raw, key, &r.IncludePotentiallySupersededUpdates)
		case "decline_superseded":
			return decodeBool(raw, key, &r.DeclineSuperseded)
		case "auto_approve":
			return decodeAutoApprove(raw, key, &r.AutoApprove)
		case "maintenance_windows":
			return decodeWindows(raw, key, &r.MaintenanceWindows)
		case "pause_until":
			return decodeByClass(raw, key, &r.PauseUntil, `a date "2027-01-15" or {"Feature Packs": "2027-01-15"}`)
		case "pause_days":
			return decodeByClass(raw, key, &r.PauseDays, `a number of days, or {"Upgrades": 30}`)
		case "install_delay_days":
			return decodeInt(raw, key, &r.InstallDelayDays)
		case "deadline_days":
			return decodeInt(raw, key, &r.DeadlineDays)
		case "grace_days":
			return decodeInt(raw, key, &r.GraceDays)
		case "max_postpone":
			return decodeInt(raw, key, &r.MaxPostpone)
		case "reboot":
			return decodeString(raw, key, &r.Reboot, "never, in_window, ask or deadline")
		case "active_hours":
			return decodeString(raw, key, &r.ActiveHours, `e.g. "Mon-Fri 08:00-18:00"`)
		case "catch_up_missed_windows":
			return decodeBool(raw, key, &r.CatchUpMissedWindows)
		case "install_at_shutdown":
			return decodeBool(raw, key, &r.InstallAtShutdown)
		case "waptexit_disable_skip_windows_updates":
			return decodeBool(raw, key, &r.WaptexitDisableSkipWindowsUpdates)
		}
		return fmt.Errorf("%w %q (known keys: %s)", ErrUnknownKey, key, strings.Join(knownKeys, ", "))
	})
	if err != nil {
		return Rules{}, fmt.Errorf("%s: %w", FileName, err)
	}
	n, err := r.Normalize()
	if err != nil {
		return Rules{}, fmt.Errorf("%s: %w", FileName, err)
	}
	return n, nil
}

var knownKeys = []string{
	"allowed_updates", "forbidden_updates", "allowed_kbs", "forbidden_kbs", "allowed_products",
	"allowed_classifications", "allowed_severities", "default_allow",
	"include_potentially_superseded_updates", "auto_approve", "decline_superseded",
	"maintenance_windows", "pause_until", "pause_days", "install_delay_days", "deadline_days", "grace_days",
	"reboot", "max_postpone", "active_hours", "catch_up_missed_windows", "install_at_shutdown",
	"waptexit_disable_skip_windows_updates",
}

var windowKeys = []string{"when", "reboot"}

var autoApproveKeys = []string{"classifications", "products", "severities"}

// decodeObject walks one JSON object, calling field for each key in order. It refuses
// anything but an object, repeated keys and trailing data. where prefixes key names in
// errors ("auto_approve[0].").
func decodeObject(data []byte, where string, field func(key string, raw json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%snot JSON: %w", whereOrTop(where), err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%swant a JSON object, found %s", whereOrTop(where), describeToken(tok))
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%snot JSON: %w", whereOrTop(where), err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("%snot JSON: key is %s", whereOrTop(where), describeToken(tok))
		}
		if seen[key] {
			return fmt.Errorf("%s%s: key repeated (keep one)", where, key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%s%s: not JSON: %w", where, key, err)
		}
		if err := field(key, raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("%snot JSON: %w", whereOrTop(where), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%sdata after the JSON object", whereOrTop(where))
	}
	return nil
}

func whereOrTop(where string) string {
	if where == "" {
		return ""
	}
	return strings.TrimSuffix(where, ".") + ": "
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return string(v)
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	default:
		return "a number"
	}
}

func decodeStrings(raw json.RawMessage, key string, out *[]string) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		*out = nil
		return nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return fmt.Errorf("%s: want a list of strings, e.g. [\"KB5034441\"]", key)
	}
	*out = l
	return nil
}

func decodeBool(raw json.RawMessage, key string, out **bool) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		*out = nil
		return nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("%s = %s: want true, false or null", key, abbreviate(raw))
	}
	*out = &b
	return nil
}

func decodeAutoApprove(raw json.RawMessage, key string, out *[]AutoApprove) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		*out = nil
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("%s: want a list of objects with classifications, products and severities", key)
	}
	list := make([]AutoApprove, 0, len(items))
	for i, item := range items {
		where := fmt.Sprintf("%s[%d].", key, i)
		var a AutoApprove
		err := decodeObject(item, where, func(k string, raw json.RawMessage) error {
			switch k {
			case "classifications":
				return decodeStrings(raw, where+k, &a.Classifications)
			case "products":
				return decodeStrings(raw, where+k, &a.Products)
			case "severities":
				return decodeStrings(raw, where+k, &a.Severities)
			}
			return fmt.Errorf("%s: %w %q (known keys: %s)", strings.TrimSuffix(where, "."), ErrUnknownKey, k, strings.Join(autoApproveKeys, ", "))
		})
		if err != nil {
			return err
		}
		list = append(list, a)
	}
	*out = list
	return nil
}

func abbreviate(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// Marshal encodes rules as an indented waptwua_rules.json that Parse reads back; unset
// tri-state keys and empty lists are left out.
func Marshal(r Rules) ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FileName, err)
	}
	return append(b, '\n'), nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func decodeInt(raw json.RawMessage, key string, out **int) error {
	if isNull(raw) {
		*out = nil
		return nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return fmt.Errorf("%s = %s: want a whole number or null", key, abbreviate(raw))
	}
	*out = &n
	return nil
}

func decodeString(raw json.RawMessage, key string, out *string, want string) error {
	if isNull(raw) {
		*out = ""
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s = %s: want a string, %s", key, abbreviate(raw), want)
	}
	return nil
}

// decodeByClass reads a value for every update (stored under PauseAll) or an object of
// values by classification.
func decodeByClass[V any](raw json.RawMessage, key string, out *map[string]V, want string) error {
	if isNull(raw) {
		*out = nil
		return nil
	}
	var one V
	if err := json.Unmarshal(raw, &one); err == nil {
		*out = map[string]V{PauseAll: one}
		return nil
	}
	m := map[string]V{}
	err := decodeObject(raw, key+".", func(k string, v json.RawMessage) error {
		var val V
		if err := json.Unmarshal(v, &val); err != nil {
			return fmt.Errorf("%s.%s = %s: want %s", key, k, abbreviate(v), want)
		}
		m[k] = val
		return nil
	})
	if err != nil {
		if strings.Contains(err.Error(), "want a JSON object") {
			return fmt.Errorf("%s = %s: want %s", key, abbreviate(raw), want)
		}
		return err
	}
	*out = m
	return nil
}

func decodeWindows(raw json.RawMessage, key string, out *[]Window) error {
	if isNull(raw) {
		*out = nil
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf(`%s: want a list of windows, e.g. [{"when": "Tue,Thu 22:00-04:00", "reboot": true}]`, key)
	}
	list := make([]Window, 0, len(items))
	for i, item := range items {
		var w Window
		if err := json.Unmarshal(item, &w.When); err == nil {
			list = append(list, w)
			continue
		}
		where := fmt.Sprintf("%s[%d].", key, i)
		err := decodeObject(item, where, func(k string, raw json.RawMessage) error {
			switch k {
			case "when":
				return decodeString(raw, where+k, &w.When, `e.g. "Tue,Thu 22:00-04:00"`)
			case "reboot":
				var b *bool
				if err := decodeBool(raw, where+k, &b); err != nil {
					return err
				}
				w.Reboot = b != nil && *b
				return nil
			}
			return fmt.Errorf("%s: %w %q (known keys: %s)", strings.TrimSuffix(where, "."), ErrUnknownKey, k, strings.Join(windowKeys, ", "))
		})
		if err != nil {
			return err
		}
		list = append(list, w)
	}
	*out = list
	return nil
}
