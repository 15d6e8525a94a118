package upstream

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openwua/waptwua/internal/wu"
)

// Result describes a FetchFile call. It is filled as far as the call went, also on error.
type Result struct {
	Path     string        // dir/<name>, the verified file
	Size     int64         // size of the verified file
	Bytes    int64         // bytes received from the network by this download
	Attempts int           // requests made (0 when nothing had to be downloaded)
	Resumed  bool          // the file was completed from a partial download (HTTP 206)
	Cached   bool          // the verified file was already there: nothing downloaded
	Shared   bool          // this call joined a download another caller had started
	Duration time.Duration // time taken by the download
}

// fileSpec is a validated catalog file.
type fileSpec struct {
	name     string
	url      string
	size     int64 // -1 when the catalog gives none
	sha1     string
	sha256   string
	nameSHA1 string // the _<sha1> at the end of the file name, or ""
}

// FetchFile downloads the update file f into dir/<name>, where name is the base name of
// f.URL. Bytes go to dir/<name>.part, resumed from an earlier attempt when that file
// exists; the result is checked against the catalog's size, SHA-1 and SHA-256 and against
// the SHA-1 ending the file name, then synced and renamed into place, so dir never holds
// an unverified file under its final name. A file already in place and matching is not
// downloaded again (Result.Cached).
//
// Concurrent calls for the same file and dir share one download. A digest mismatch
// deletes the partial file and returns a *DigestError; transient failures are retried per
// the retry policy and keep the partial file for the next call; a URL outside the
// allow-list returns a *HostError before any request.
func (c *Client) FetchFile(ctx context.Context, f wu.File, dir string) (Result, error) {
	s, err := c.spec(f)
	if err != nil {
		return Result{}, err
	}
	if dir == "" {
		return Result{}, fmt.Errorf("%s: no destination folder given (set waptwua_folder)", s.name)
	}
	key := filepath.Clean(dir) + "\x00" + s.name
	return c.flights.do(ctx, key, func(fctx context.Context) (Result, error) {
		return c.fetchFile(fctx, s, dir)
	})
}

// spec validates a catalog file before anything touches the disk or the network.
func (c *Client) spec(f wu.File) (fileSpec, error) {
	label := f.Name
	if label == "" {
		label = f.URL
	}
	u, err := url.Parse(f.URL)
	if err != nil {
		return fileSpec{}, fmt.Errorf("update file %q: URL %q: %w (malformed catalog entry)", label, f.URL, err)
	}
	if err := c.checkURL(u); err != nil {
		return fileSpec{}, fmt.Errorf("update file %q: %w", label, err)
	}
	// The base name is taken from the escaped path, then unescaped, so that an encoded
	// "/" or "\" stays inside the name, where validName refuses it.
	escaped := u.EscapedPath()
	base, err := url.PathUnescape(path.Base(escaped))
	if err != nil || strings.HasSuffix(escaped, "/") {
		base = ""
	}
	if err := validName(base); err != nil {
		return fileSpec{}, fmt.Errorf("update file %q: URL %s: %w", label, u.Redacted(), err)
	}
	if f.Name != "" && !strings.EqualFold(f.Name, base) {
		return fileSpec{}, fmt.Errorf("update file %q: %w: the name is not the base name %q of its URL %s (malformed catalog entry)", f.Name, ErrInvalidName, base, u.Redacted())
	}
	s := fileSpec{
		name:     base,
		url:      u.String(),
		size:     -1,
		sha1:     strings.ToLower(strings.TrimSpace(f.SHA1)),
		sha256:   strings.ToLower(strings.TrimSpace(f.SHA256)),
		nameSHA1: sha1FromName(base),
	}
	if f.Size > 0 {
		s.size = f.Size
	}
	if s.sha1 != "" && !isHex(s.sha1, 40) {
		return fileSpec{}, fmt.Errorf("update file %q: catalog SHA-1 %q is not 40 hex digits (malformed catalog entry)", base, f.SHA1)
	}
	if s.sha256 != "" && !isHex(s.sha256, 64) {
		return fileSpec{}, fmt.Errorf("update file %q: catalog SHA-256 %q is not 64 hex digits (malformed catalog entry)", base, f.SHA256)
	}
	if s.sha1 != "" && s.nameSHA1 != "" && s.sha1 != s.nameSHA1 {
		return fileSpec{}, fmt.Errorf("update file %q: %w: catalog SHA-1 %s differs from the SHA-1 in the name; no download can match both (refresh the catalog)", base, ErrCatalogMismatch, s.sha1)
	}
	if s.sha1 == "" && s.sha256 == "" && s.nameSHA1 == "" {
		return fileSpec{}, fmt.Errorf("update file %q: no SHA-1 or SHA-256 to verify it against (malformed catalog entry)", base)
	}
	return s, nil
}

func (c *Client) fetchFile(ctx context.Context, s fileSpec, dir string) (Result, error) {
	begin := c.now()
	final := filepath.Join(dir, s.name)
	part := final + ".part"
	res := Result{Path: final}

	if ok, size := c.alreadyPresent(ctx, s, final); ok {
		res.Cached, res.Size = true, size
		return res, nil
	}
	file, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return res, fmt.Errorf("%s: creating %s: %w (check that the repository folder exists and is writable)", s.name, part, err)
	}
	defer func() {
		if file != nil {
			_ = file.Close()
		}
	}()
	discard := func() {
		_ = file.Close()
		file = nil
		if err := os.Remove(part); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.log.WarnContext(ctx, "cannot delete corrupt partial download", slog.String("file", part), slog.Any("err", err))
		}
	}

	t := &transfer{
		url: s.url, name: s.name, file: file,
		sha1: sha1.New(), sha256: sha256.New(),
		size: s.size, sizeFromCatalog: s.size >= 0,
	}
	if err := t.loadPart(); err != nil {
		return res, err
	}
	if t.offset > 0 {
		c.log.InfoContext(ctx, "resuming upstream download", slog.String("file", s.name), slog.Int64("have", t.offset), slog.Int64("size", s.size))
	}
	complete := func() bool { return s.size >= 0 && t.offset == s.size }
	if complete() { // a complete .part from an earlier run needs no request, if it is right
		if verr := s.verify(t); verr != nil {
			c.log.WarnContext(ctx, "complete partial download is corrupt, starting over", slog.String("file", part), slog.Any("err", verr))
			if err := t.restart(); err != nil {
				return res, err
			}
		}
	}
	if !complete() {
		err = c.run(ctx, t)
	}
	res.Attempts, res.Bytes, res.Resumed = t.attempts, t.bytes, t.resumed
	res.Duration = c.now().Sub(begin)
	if err == nil {
		err = s.verify(t)
	}
	if err != nil {
		var de *DigestError
		if errors.As(err, &de) || t.offset == 0 { // corrupt, or nothing to resume
			discard()
		}
		return res, err
	}
	if err := file.Sync(); err != nil {
		return res, fmt.Errorf("%s: syncing %s: %w (check the disk)", s.name, part, err)
	}
	if err := file.Close(); err != nil {
		file = nil
		return res, fmt.Errorf("%s: closing %s: %w (check the disk)", s.name, part, err)
	}
	file = nil
	if err := os.Rename(part, final); err != nil {
		return res, fmt.Errorf("%s: renaming %s into place: %w (check the repository folder's permissions)", s.name, part, err)
	}
	syncDir(dir)
	res.Size = t.offset
	c.log.InfoContext(ctx, "upstream file downloaded", slog.String("file", s.name), slog.Int64("size", t.offset),
		slog.Int64("received", t.bytes), slog.Int("attempts", t.attempts), slog.Bool("resumed", t.resumed),
		slog.Duration("took", res.Duration))
	return res, nil
}

// alreadyPresent reports whether dir/<name> exists and matches the catalog. A mismatching
// file is deleted: agents would refuse it, and the folder shows only verified files.
func (c *Client) alreadyPresent(ctx context.Context, s fileSpec, final string) (bool, int64) {
	f, err := os.Open(final)
	if err != nil {
		return false, 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false, 0
	}
	if s.size >= 0 && fi.Size() != s.size {
		c.log.WarnContext(ctx, "file in the repository has the wrong size, deleting it and downloading it again",
			slog.String("file", final), slog.Int64("size", fi.Size()), slog.Int64("want", s.size))
		_ = os.Remove(final)
		return false, 0
	}
	t := &transfer{name: s.name, sha1: sha1.New(), sha256: sha256.New(), size: s.size}
	n, err := io.Copy(io.MultiWriter(t.sha1, t.sha256), f)
	if err != nil {
		return false, 0
	}
	t.offset = n
	if err := s.verify(t); err != nil {
		c.log.WarnContext(ctx, "file in the repository does not match the catalog, deleting it and downloading it again",
			slog.String("file", final), slog.Any("err", err))
		if err := os.Remove(final); err != nil {
			c.log.WarnContext(ctx, "cannot delete corrupt file", slog.String("file", final), slog.Any("err", err))
		}
		return false, 0
	}
	return true, n
}

// verify checks the complete download against the catalog and the name.
func (s fileSpec) verify(t *transfer) error {
	if s.size >= 0 && t.offset != s.size {
		return &DigestError{File: s.name, Algo: "size", Want: strconv.FormatInt(s.size, 10), Got: strconv.FormatInt(t.offset, 10)}
	}
	got1 := t.sha1Hex()
	if s.sha1 != "" && got1 != s.sha1 {
		return &DigestError{File: s.name, Algo: "sha1", Want: s.sha1, Got: got1}
	}
	if s.sha256 != "" {
		if got := hex.EncodeToString(t.sha256.Sum(nil)); got != s.sha256 {
			return &DigestError{File: s.name, Algo: "sha256", Want: s.sha256, Got: got}
		}
	}
	if s.nameSHA1 != "" && got1 != s.nameSHA1 {
		return &DigestError{File: s.name, Algo: "sha1 (file name)", Want: s.nameSHA1, Got: got1}
	}
	return nil
}

// validName accepts a flat file name that is safe to create in the repository folder on
// Linux and Windows and that does not collide with the repository's own files.
func validName(name string) error {
	bad := func(why string) error { return fmt.Errorf("file name %q: %w: %s", name, ErrInvalidName, why) }
	lower := strings.ToLower(name)
	switch {
	case name == "" || name == "." || name == ".." || name == "/":
		return bad("empty or a directory")
	case len(name) > 255:
		return bad("longer than 255 bytes")
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case strings.HasPrefix(name, "."):
		return bad("hidden names are reserved for temporary files")
	case strings.HasSuffix(lower, ".part") || strings.HasSuffix(lower, ".tmp"):
		return bad(".part and .tmp names are reserved for downloads in progress")
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return bad("ends with a dot or a space (ambiguous on Windows)")
	case lower == "wsusscn2.cab" || lower == "wsusscn2.cab.sha1":
		return bad("reserved for the offline catalog")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|`, r) {
			return bad("contains a path separator or a character not allowed in file names")
		}
	}
	return nil
}

// sha1FromName returns the lower-case hex SHA-1 that Microsoft puts at the end of update
// file names ("windows10.0-kb5034441-x64_<sha1>.cab"), or "".
func sha1FromName(name string) string {
	stem := name
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		stem = name[:i]
	}
	if len(stem) < 41 || stem[len(stem)-41] != '_' {
		return ""
	}
	h := strings.ToLower(stem[len(stem)-40:])
	if !isHex(h, 40) {
		return ""
	}
	return h
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// syncDir makes a rename durable. Windows cannot sync a directory; there NTFS's journal
// covers the rename.
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
