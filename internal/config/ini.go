package config

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The ini dialect is the one of Python's configparser (RawConfigParser, strict), which
// the original agent and server use, so that files written for them read the same here:
//   - "[section]" headers, section names case-sensitive;
//   - "key = value" or "key: value" (the first '=' or ':' splits), key names folded to
//     lower case, keys and values trimmed;
//   - whole-line comments starting with '#' or ';' (possibly indented); no inline
//     comments: "a = b ; c" has the value "b ; c";
//   - a line indented deeper than its key line continues the value (joined with "\n");
//     blank lines inside a value are dropped;
//   - no interpolation; keys of [DEFAULT] are defaults for every section;
//   - a repeated section or key, a key outside any section or a line that is none of
//     the above is an error with its line number.
//
// One difference: section names are trimmed ("[ waptwua ]" is [waptwua]).

// maxIniBytes bounds what ParseAgent and ParseServer accept: real files are a few KB.
const maxIniBytes = 1 << 20

type iniValue struct {
	value string
	line  int
}

type iniSection struct {
	name string
	line int
	keys map[string]*iniValue
	// order lists the keys in file order, for warnings that read like the file.
	order []string
}

type iniFile struct {
	source   string
	sections map[string]*iniSection
}

// section returns the named section as written in the file (nil when absent); lookup,
// not section, applies [DEFAULT].
func (f *iniFile) section(name string) *iniSection { return f.sections[name] }

// lookup finds key in section, falling back to [DEFAULT].
func (f *iniFile) lookup(section, key string) (*iniValue, bool) {
	if s := f.sections[section]; s != nil {
		if v, ok := s.keys[key]; ok {
			return v, true
		}
	}
	if d := f.sections["DEFAULT"]; d != nil {
		if v, ok := d.keys[key]; ok {
			return v, true
		}
	}
	return nil, false
}

// parseIni reads data in the dialect above. source names the file in errors.
func parseIni(data []byte, source string) (*iniFile, error) {
	if len(data) > maxIniBytes {
		return nil, fmt.Errorf("%s: file too large (%d bytes, at most %d)", source, len(data), maxIniBytes)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s: not UTF-8 text (save the file as UTF-8)", source)
	}
	f := &iniFile{source: source, sections: map[string]*iniSection{}}
	var (
		cur         *iniSection
		curKey      *iniValue
		keyIndent   int
		continuing  []string
		flushValues = func() {
			if curKey != nil && len(continuing) > 0 {
				curKey.value = strings.Join(append([]string{curKey.value}, continuing...), "\n")
				curKey.value = strings.TrimLeft(curKey.value, "\n")
			}
			continuing = nil
		}
	)
	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		lineNo := i + 1
		line := strings.TrimRight(raw, "\r")
		text := strings.TrimSpace(line)
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue // blank lines and comments neither end nor add to a value
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t\f\v"))
		if curKey != nil && indent > keyIndent {
			continuing = append(continuing, text)
			continue
		}
		flushValues()
		curKey = nil
		if text[0] == '[' {
			end := strings.IndexByte(text, ']')
			name := ""
			if end > 0 {
				name = strings.TrimSpace(text[1:end])
			}
			if name == "" || strings.TrimSpace(text[end+1:]) != "" {
				return nil, fmt.Errorf("%s:%d: %q is not a section header (write [section])", source, lineNo, clip(text))
			}
			if prev, ok := f.sections[name]; ok {
				return nil, fmt.Errorf("%s:%d: section [%s] repeated (first on line %d): merge the two", source, lineNo, name, prev.line)
			}
			cur = &iniSection{name: name, line: lineNo, keys: map[string]*iniValue{}}
			f.sections[name] = cur
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %q comes before any [section] header", source, lineNo, clip(text))
		}
		at := strings.IndexAny(text, "=:")
		if at < 0 {
			return nil, fmt.Errorf("%s:%d: %q is not a \"key = value\" line", source, lineNo, clip(text))
		}
		key := strings.ToLower(strings.TrimSpace(text[:at]))
		if key == "" {
			return nil, fmt.Errorf("%s:%d: %q has no key name before %q", source, lineNo, clip(text), text[at:at+1])
		}
		if prev, ok := cur.keys[key]; ok {
			return nil, fmt.Errorf("%s:%d: [%s] %s set twice (first on line %d): keep one", source, lineNo, cur.name, key, prev.line)
		}
		curKey = &iniValue{value: strings.TrimSpace(text[at+1:]), line: lineNo}
		keyIndent = indent
		cur.keys[key] = curKey
		cur.order = append(cur.order, key)
	}
	flushValues()
	return f, nil
}

// clip shortens a line quoted in an error.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
