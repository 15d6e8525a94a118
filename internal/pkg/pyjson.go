package pkg

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The original product signs JSON made by Python's json.dumps with sort_keys=True,
// separators=(",", ":") and the default ensure_ascii=True. encoding/json differs from it
// (it escapes <, > and &, writes non-ASCII as UTF-8, leaves DEL alone), so the exact bytes
// are produced here.

const hexDigits = "0123456789abcdef"

// The characters Python escapes with a backslash and a letter, and those letters.
const (
	pyEscFrom = "\"\\\n\r\t\b\f"
	pyEscTo   = "\"\\nrtbf"
)

// appendPyString appends s as a JSON string the way Python's ensure_ascii encoder does:
// \" \\ \n \r \t \b \f, every other character outside ' '..'~' as \uXXXX (lower-case
// hex, UTF-16 surrogate pairs above U+FFFF). s must be valid UTF-8.
func appendPyString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		if i := strings.IndexRune(pyEscFrom, r); i >= 0 {
			b = append(b, '\\', pyEscTo[i])
			continue
		}
		switch {
		case r >= ' ' && r <= '~':
			b = append(b, byte(r))
		case r > 0xFFFF:
			r -= 0x10000
			b = appendU4(b, 0xD800|(r>>10)&0x3FF)
			b = appendU4(b, 0xDC00|r&0x3FF)
		default:
			b = appendU4(b, r)
		}
	}
	return append(b, '"')
}

func appendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}

// pyObject serialises a flat object of strings with sorted keys and compact separators,
// as json.dumps(obj, sort_keys=True, separators=(",", ":")).
func pyObject(obj map[string]string) []byte {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // byte order of UTF-8 is code point order, as Python sorts
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPyString(b, k)
		b = append(b, ':')
		b = appendPyString(b, obj[k])
	}
	return append(b, '}')
}

// pyPairs serialises a list of [path, digest] pairs compactly, as json.dumps of a list of
// tuples with separators=(",", ":"): the manifest format.
func pyPairs(pairs [][2]string) []byte {
	b := []byte{'['}
	for i, p := range pairs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendPyString(b, p[0])
		b = append(b, ',')
		b = appendPyString(b, p[1])
		b = append(b, ']')
	}
	return append(b, ']')
}

// quoteForError shortens and quotes a value for an error message.
func quoteForError(s string) string {
	if len(s) > 80 {
		cut := 77
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strconv.Quote(s)
}
