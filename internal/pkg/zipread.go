package pkg

import (
	"archive/zip"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode"
)

// Limits bound what Verify and Open read from a zip that may be hostile. Zero fields take
// the defaults below, which are far above any real rules package.
type Limits struct {
	// MaxSize is the largest zip accepted, in bytes (default 16 MiB).
	MaxSize int64
	// MaxEntries is the largest number of zip entries, directories included (default 64).
	MaxEntries int
	// MaxFileSize is the largest uncompressed size of one file (default 8 MiB).
	MaxFileSize int64
	// MaxTotalSize is the largest uncompressed size of all files together (default 32 MiB).
	MaxTotalSize int64
}

// Default limits.
const (
	DefaultMaxSize      = 16 << 20
	DefaultMaxEntries   = 64
	DefaultMaxFileSize  = 8 << 20
	DefaultMaxTotalSize = 32 << 20
)

// withDefaults replaces zero or negative limits by the defaults.
func (l Limits) withDefaults() Limits {
	l.MaxSize = cmp.Or(max(l.MaxSize, 0), DefaultMaxSize)
	l.MaxEntries = cmp.Or(max(l.MaxEntries, 0), DefaultMaxEntries)
	l.MaxFileSize = cmp.Or(max(l.MaxFileSize, 0), DefaultMaxFileSize)
	l.MaxTotalSize = cmp.Or(max(l.MaxTotalSize, 0), DefaultMaxTotalSize)
	return l
}

// Names of the files of a rules package.
const (
	RulesName       = "WAPT/persistent/waptwua_rules.json"
	CertificateName = "WAPT/certificate.crt"
	ManifestName    = "WAPT/manifest.sha256"
	SignatureName   = "WAPT/signature.sha256"
	// ControlName is WAPT/control.
	ControlName = controlName
)

// smallFileLimit caps files whose real size is tiny, before the generic limit applies.
func smallFileLimit(name string) int64 {
	switch name {
	case ControlName, CertificateName:
		return 64 << 10
	case SignatureName:
		return 8 << 10
	case ManifestName:
		return 2 << 20 // an update package lists up to MaxPayloadFiles payload files
	case ActionsName:
		return 1 << 20
	}
	return 0
}

// archive is the content of a zip read within limits.
type archive struct {
	names []string          // files (not directories), in zip order
	dirs  []string          // directory entries, without the trailing '/'
	files map[string][]byte // file contents by name
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// readZip reads every entry of a zip into memory, refusing anything hostile: too large,
// too many entries, unsafe or duplicate names, encrypted entries, sizes beyond the
// limits (counted on the bytes actually inflated, never on the headers' claims).
func readZip(data []byte, lim Limits) (*archive, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxSize {
		return nil, malformed("the package is %d bytes, more than the %d allowed (a rules package is a few KiB; check the file)", len(data), lim.MaxSize)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // insecure names are reported below, by name
		return nil, malformed("not a zip file (%v); a .wapt package is a zip made by waptserver rules build", err)
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, malformed("the zip has %d entries, more than the %d allowed (a rules package has 5 files)", len(zr.File), lim.MaxEntries)
	}
	a := &archive{files: map[string][]byte{}}
	seen := map[string]string{} // lower-case name → name: Windows would merge names that differ by case
	var total int64
	for _, f := range zr.File {
		name := f.Name
		if err := checkEntryName(name); err != nil {
			return nil, malformed("zip entry %s: %v", quoteForError(name), err)
		}
		isDir := strings.HasSuffix(name, "/")
		key := strings.ToLower(strings.TrimSuffix(name, "/"))
		if prev, dup := seen[key]; dup {
			return nil, malformed("zip entry %s appears twice (also as %s): a package must name each file once", quoteForError(name), quoteForError(prev))
		}
		seen[key] = name
		if f.Flags&0x1 != 0 {
			return nil, malformed("zip entry %s is encrypted; packages are signed, never encrypted", name)
		}
		if isDir {
			if f.UncompressedSize64 != 0 {
				return nil, malformed("zip entry %s is a directory with content", name)
			}
			a.dirs = append(a.dirs, strings.TrimSuffix(name, "/"))
			continue
		}
		limit := lim.MaxFileSize
		if s := smallFileLimit(name); s > 0 && s < limit {
			limit = s
		}
		if f.UncompressedSize64 > uint64(limit) {
			return nil, malformed("zip entry %s claims %d bytes, more than the %d allowed for it", name, f.UncompressedSize64, limit)
		}
		b, err := readEntry(f, limit)
		if err != nil {
			return nil, malformed("zip entry %s: %v", name, err)
		}
		total += int64(len(b))
		if total > lim.MaxTotalSize {
			return nil, malformed("the files of the zip add up to more than %d bytes when uncompressed (zip bomb?)", lim.MaxTotalSize)
		}
		a.names = append(a.names, name)
		a.files[name] = b
	}
	return a, nil
}

// readEntry inflates one entry, reading at most limit+1 bytes whatever its header says.
func readEntry(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("cannot open (%v)", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("inflates to more than the %d bytes allowed for it (zip bomb?)", limit)
	}
	if err != nil {
		return nil, fmt.Errorf("corrupt data (%v)", err)
	}
	return b, nil
}

// checkEntryName accepts only relative slash-separated names made of plain elements:
// no absolute path, drive letter, backslash, "." or ".." element, or control character.
func checkEntryName(name string) error {
	trimmed := strings.TrimSuffix(name, "/")
	switch {
	case trimmed == "":
		return errors.New("empty name")
	case len(name) > 255:
		return errors.New("name longer than 255 bytes")
	case strings.HasPrefix(name, "/"):
		return errors.New("absolute path")
	case strings.Contains(name, "\\"):
		return errors.New("backslash in the name (zip names use '/')")
	case strings.Contains(name, ":"):
		return errors.New("':' in the name (drive letter or alternate stream)")
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == 0xFFFD {
			return errors.New("control or invalid character in the name")
		}
	}
	for _, el := range strings.Split(trimmed, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("%q element in the path (only plain names inside the package)", el)
		}
	}
	if path.Clean(trimmed) != trimmed {
		return errors.New("name is not a clean path")
	}
	return nil
}
