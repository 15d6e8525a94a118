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
}

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
