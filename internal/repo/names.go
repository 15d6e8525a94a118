package repo

import (
	"fmt"
	"net/url"
	"path"
	"runtime"
	"strings"
	"unicode/utf8"
)

// The name rules of the repository folder, in one place: which names a file may have,
// which are hidden (never listed nor served), which are reserved, and what an update
// file's name says about its content.

// checkName accepts a flat file name that cannot reach outside the folder on Linux or
// Windows.
func checkName(name string) error {
	bad := func(why string) error { return fmt.Errorf("repository file %q: %w: %s", name, ErrInvalidName, why) }
	switch {
	case name == "" || name == "." || name == "..":
		return bad("empty or a directory")
	case len(name) > 255:
		return bad("longer than 255 bytes")
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return bad("ends with a dot or a space (ambiguous on Windows)")
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(`/\:*?"<>|`, c) {
			return bad("contains a path separator or a character not allowed in file names")
		}
	}
	return nil
}

// CheckFileName accepts the name of an update file: a flat, visible name that is not
// one of the catalog's own files. It is the rule Create, Resume and NameFromURL apply.
func CheckFileName(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("repository file %q: %w: hidden names are reserved for temporary files", name, ErrInvalidName)
	case isTemp(name):
		return fmt.Errorf("repository file %q: %w: .part and .tmp names are reserved for downloads in progress", name, ErrInvalidName)
	case catalogName(name):
		return fmt.Errorf("repository file %q: %w: reserved for the offline catalog", name, ErrInvalidName)
	}
	return nil
}

// catalogName reports the catalog and its sidecar, which only the catalog sync writes.
func catalogName(name string) bool {
	return strings.EqualFold(name, CabName) || strings.EqualFold(name, CabSHA1Name)
}

// hidden reports names that are never listed nor served: dot files (.tmp/) and
// downloads in progress.
func hidden(name string) bool { return strings.HasPrefix(name, ".") || isTemp(name) }

func isTemp(name string) bool {
	l := strings.ToLower(name)
	return strings.HasSuffix(l, ".part") || strings.HasSuffix(l, ".tmp")
}

// NameFromURL is the name of an update file in the repository: the base name of its
// Microsoft URL (REFERENCE §1), which ends in the SHA-1 of the content. The base name
// is taken from the escaped path, then unescaped, so that an encoded "/" or "\" stays
// inside the name, where CheckFileName refuses it.
func NameFromURL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("URL %q: %w (malformed catalog entry)", rawURL, err)
	}
	escaped := u.EscapedPath()
	base, err := url.PathUnescape(path.Base(escaped))
	if err != nil || strings.HasSuffix(escaped, "/") || base == "/" {
		base = ""
	}
	if err := CheckFileName(base); err != nil {
		return "", fmt.Errorf("URL %s: %w", u.Redacted(), err)
	}
	return base, nil
}

// syncDir makes renames in the folder durable. Windows cannot sync a directory; NTFS's
// journal covers the rename there.
func (r *Repo) syncDir() {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := r.root.Open("."); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
