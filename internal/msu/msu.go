// Package msu reads Windows Update standalone packages (.msu files, as downloaded from
// the Microsoft Update Catalog) with the project's cabinet reader, to fill an update
// package (internal/pkg) and to refuse a file that is not an update.
//
// An .msu is a cabinet whose members are the update itself (one or more .cab files, or
// for recent Windows 11 cumulative updates .psf/.wim files), WSUSSCAN.cab (the update's
// applicability metadata) and <name>-pkgProperties.txt: UTF-16LE text with a byte-order
// mark, one Key="value" per line, such as KB Article Number="5034441" and Processor
// Architecture="amd64".
package msu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/openwua/waptwua/internal/cab"
)

// Property keys of the properties file that this package interprets.
const (
	PropKB           = "KB Article Number"
	PropArchitecture = "Processor Architecture"
	PropAppliesTo    = "Applies to"
	PropBuildDate    = "Build Date"
	PropInstallerEng = "Installer Engine"
)

// Limits of what Read accepts (an .msu has a handful of members and a properties file
// of a few hundred bytes).
const (
	maxMembers        = 4096
	maxPropertiesSize = 64 << 10
	maxProperties     = 256
	maxValueLen       = 4096
)

// ErrNotUpdate is wrapped by every error of Read about a file that is not an update.
var ErrNotUpdate = errors.New("not a Windows update (.msu)")

// Member is one member of the .msu cabinet.
type Member struct {
	Name string // slash path, as cab.SafePath makes it
	Size int64
}

// Info is what Read learnt from an .msu.
type Info struct {
	KB           string            // digits only, e.g. "5034441"
	Architecture string            // amd64, x86 or arm64
	AppliesTo    string            // e.g. "Windows 10, version 22H2" (may be empty)
	BuildDate    string            // as written (may be empty)
	Properties   map[string]string // every Key="value" of the properties file
	// PropertiesFile is the name of the <name>-pkgProperties.txt member.
	PropertiesFile string
	// Payload are the members that carry the update (.cab other than WSUSSCAN.cab, .psf,
	// .wim), in cabinet order.
	Payload []string
	Members []Member
}

var kbPattern = regexp.MustCompile(`^[0-9]{4,10}$`)

// Read reads the .msu held by the first size bytes of r; name is the file's name for
// messages. Every error names the file and says what it is instead of an update.
func Read(r io.ReaderAt, size int64, name string) (*Info, error) {
	notUpdate := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: %s", name, ErrNotUpdate, fmt.Sprintf(format, a...))
	}
	head := make([]byte, 4)
	if n, _ := r.ReadAt(head, 0); n < 4 {
		return nil, notUpdate("the file is %d bytes long (download the .msu again from the Microsoft Update Catalog)", size)
	}
	if bytes.Equal(head, []byte("PK\x03\x04")) {
		return nil, notUpdate("it is a zip archive, not a cabinet (an .msu is a cabinet; extract the .msu from the zip first)")
	}
	c, err := cab.Open(r, size, cab.WithName(name))
	if err != nil {
		if errors.Is(err, cab.ErrNotCabinet) {
			return nil, notUpdate("it is not a cabinet (an .msu starts with MSCF; download the .msu again from the Microsoft Update Catalog)")
		}
		return nil, fmt.Errorf("%w: %w", ErrNotUpdate, err)
	}
	if len(c.Files) > maxMembers {
		return nil, notUpdate("the cabinet has %d members; an .msu has a few", len(c.Files))
	}
	info := &Info{}
	var props *cab.File
	for _, f := range c.Files {
		p, err := cab.SafePath(f.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", name, ErrNotUpdate, err)
		}
		info.Members = append(info.Members, Member{Name: p, Size: f.Size})
		lower := strings.ToLower(p)
		switch {
		case strings.HasSuffix(lower, "-pkgproperties.txt") && !strings.Contains(p, "/"):
			if props != nil {
				return nil, notUpdate("it has two properties files (%s and %s)", info.PropertiesFile, p)
			}
			props, info.PropertiesFile = f, p
		case lower == "wsusscan.cab":
		case strings.HasSuffix(lower, ".cab"), strings.HasSuffix(lower, ".psf"), strings.HasSuffix(lower, ".wim"):
			info.Payload = append(info.Payload, p)
		}
	}
	if props == nil {
		return nil, notUpdate("the cabinet has no <name>-pkgProperties.txt member, so it is not an .msu (for a .cab update use build-cab)")
	}
	if len(info.Payload) == 0 {
		return nil, notUpdate("the cabinet has no update payload (.cab, .psf or .wim member besides WSUSSCAN.cab)")
	}
	if props.Size > maxPropertiesSize {
		return nil, notUpdate("%s is %d bytes, more than %d", info.PropertiesFile, props.Size, maxPropertiesSize)
	}
	pr, err := c.OpenFile(props)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrNotUpdate, err)
	}
	raw, err := io.ReadAll(io.LimitReader(pr, maxPropertiesSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: reading %s: %w", name, ErrNotUpdate, info.PropertiesFile, err)
	}
	info.Properties, err = ParseProperties(raw)
	if err != nil {
		return nil, notUpdate("%s: %v", info.PropertiesFile, err)
	}
	kb := strings.TrimPrefix(strings.TrimPrefix(info.Properties[PropKB], "KB"), "kb")
	if !kbPattern.MatchString(kb) {
		return nil, notUpdate("%s: %q is %q, not a KB number", info.PropertiesFile, PropKB, info.Properties[PropKB])
	}
	info.KB = kb
	arch, err := NormArch(info.Properties[PropArchitecture])
	if err != nil {
		return nil, notUpdate("%s: %q: %v", info.PropertiesFile, PropArchitecture, err)
	}
	info.Architecture = arch
	info.AppliesTo = info.Properties[PropAppliesTo]
	info.BuildDate = info.Properties[PropBuildDate]
	return info, nil
}

// NormArch maps a processor architecture as written by Microsoft (amd64, x64, x86, arm64)
// to amd64, x86 or arm64.
func NormArch(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "amd64", "x64":
		return "amd64", nil
	case "x86", "i386":
		return "x86", nil
	case "arm64":
		return "arm64", nil
	}
	return "", fmt.Errorf("%q is not amd64, x86 or arm64", s)
}

// ParseProperties reads a properties file: UTF-16LE with a byte-order mark (as Microsoft
// writes it) or UTF-8, one Key="value" per line; blank lines are skipped. A key given
// twice, a line of another shape or a value with a control character is an error.
func ParseProperties(raw []byte) (map[string]string, error) {
	var text string
	switch {
	case bytes.HasPrefix(raw, []byte{0xFF, 0xFE}):
		b := raw[2:]
		if len(b)%2 != 0 {
			return nil, errors.New("UTF-16 text with an odd number of bytes")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
		text = string(utf16.Decode(u))
	case bytes.HasPrefix(raw, []byte{0xFE, 0xFF}):
		return nil, errors.New("big-endian UTF-16; Microsoft writes UTF-16LE")
	default:
		raw = bytes.TrimPrefix(raw, []byte{0xEF, 0xBB, 0xBF})
		if !utf8.Valid(raw) || bytes.IndexByte(raw, 0) >= 0 {
			return nil, errors.New("neither UTF-16LE with a byte-order mark nor UTF-8 text")
		}
		text = string(raw)
	}
	props := map[string]string{}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		value = strings.TrimSpace(value)
		if !ok || key == "" || len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
			return nil, fmt.Errorf("line %d is not Key=\"value\"", i+1)
		}
		value = value[1 : len(value)-1]
		if len(value) > maxValueLen {
			return nil, fmt.Errorf("line %d: the value of %q is longer than %d bytes", i+1, key, maxValueLen)
		}
		for _, r := range key + value {
			if r < 0x20 || r == 0x7F || r == utf8.RuneError {
				return nil, fmt.Errorf("line %d: control or invalid character", i+1)
			}
		}
		if _, dup := props[key]; dup {
			return nil, fmt.Errorf("%q appears twice", key)
		}
		if len(props) == maxProperties {
			return nil, fmt.Errorf("more than %d properties", maxProperties)
		}
		props[key] = value
	}
	if len(props) == 0 {
		return nil, errors.New("no Key=\"value\" line")
	}
	return props, nil
}

// EncodeProperties writes props as Microsoft does: UTF-16LE with a byte-order mark,
// Key="value" lines ended by CRLF, keys sorted. Tests and tools use it to make .msu files.
func EncodeProperties(props map[string]string) []byte {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=\"%s\"\r\n", k, props[k])
	}
	u := utf16.Encode([]rune(sb.String()))
	out := make([]byte, 2, 2+2*len(u))
	out[0], out[1] = 0xFF, 0xFE
	for _, c := range u {
		out = append(out, byte(c), byte(c>>8))
	}
	return out
}
