package config

import (
	"fmt"
	"strings"
)

// KeyValue is one key of an ini section, as written.
type KeyValue struct {
	Key, Value string
}

// AgentPreset reads the [waptwua] section of a preset.ini for the agent installer
// ("these options can be set when generating the WAPT Agent"): the keys in file order,
// after checking that a wapt-get.ini holding them is valid (every bad value named).
// Other sections are refused: the installer writes [global] itself. Unknown [waptwua]
// keys are refused too, as a typo would silently do nothing on every host.
func AgentPreset(data []byte, source string) ([]KeyValue, error) {
	f, err := parseIni(data, source)
	if err != nil {
		return nil, err
	}
	for name, s := range f.sections {
		if name != "waptwua" {
			return nil, fmt.Errorf("%s:%d: section [%s]: a preset holds only [waptwua] options (the installer writes [global])", source, s.line, name)
		}
	}
	a, err := ParseAgent(data, source)
	if err != nil {
		return nil, err
	}
	if len(a.Warnings) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(a.Warnings, "; "))
	}
	s := f.section("waptwua")
	if s == nil {
		return nil, nil
	}
	out := make([]KeyValue, 0, len(s.order))
	for _, k := range s.order {
		v := s.keys[k].value
		if strings.ContainsAny(v, "\n[]{}") {
			// Continuation lines cannot be written by an installer's ini action, and
			// brackets would be read as installer properties.
			return nil, fmt.Errorf("%s: [waptwua] %s: a multi-line value or one with [ ] { } cannot go into the installer (write it on one line)", source, k)
		}
		out = append(out, KeyValue{Key: k, Value: v})
	}
	return out, nil
}
