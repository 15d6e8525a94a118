package repo

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/openwua/waptwua/internal/wu"
)

// ErrBusy is matched when a file is asked for writing while another writer of this
// process holds it.
var ErrBusy = errors.New("file is being written")

// ErrCatalogMismatch is matched by errors about a catalog entry that contradicts itself
// (the SHA-1 in the file name differs from the catalog's SHA-1): no file can satisfy it.
var ErrCatalogMismatch = errors.New("catalog entry contradicts itself")

// Want is what a file must be to be committed. Zero fields are not checked.
type Want struct {
	Size     int64  // bytes; 0 or less: unknown
	SHA1     string // lower-case hex
	SHA256   string // lower-case hex
	NameSHA1 string // the SHA-1 the file name ends with (SHA1FromName), lower-case hex
}

// FileOf checks the catalog entry f and returns the name of its file in the
// repository (NameFromURL) and what the file must be (WantFile). f.Name, when given,
// must be that name.
func FileOf(f wu.File) (string, Want, error) {
	label := f.Name
	if label == "" {
		label = f.URL
	}
	name, err := NameFromURL(f.URL)
	if err != nil {
		return "", Want{}, fmt.Errorf("update file %q: %w", label, err)
	}
	if f.Name != "" && !strings.EqualFold(f.Name, name) {
		return "", Want{}, fmt.Errorf("update file %q: %w: the name is not the base name %q of its URL (malformed catalog entry)", f.Name, ErrInvalidName, name)
	}
	w, err := WantFile(name, f.Size, f.SHA1, f.SHA256)
	return name, w, err
}

// WantFile builds the Want of the update file name from its catalog entry, checking
// the entry first: digests well formed, the SHA-1 of the name agreeing with the
// catalog's, and at least one digest to verify the file against.
func WantFile(name string, size int64, sha1Hex, sha256Hex string) (Want, error) {
	w := Want{
		Size:     max(size, 0),
		SHA1:     strings.ToLower(strings.TrimSpace(sha1Hex)),
		SHA256:   strings.ToLower(strings.TrimSpace(sha256Hex)),
		NameSHA1: wu.SHA1FromFileName(name),
	}
	switch {
	case w.SHA1 != "" && !wu.IsHex(w.SHA1, 40):
		return Want{}, fmt.Errorf("update file %q: catalog SHA-1 %q is not 40 hex digits (malformed catalog entry)", name, sha1Hex)
	case w.SHA256 != "" && !wu.IsHex(w.SHA256, 64):
		return Want{}, fmt.Errorf("update file %q: catalog SHA-256 %q is not 64 hex digits (malformed catalog entry)", name, sha256Hex)
	case w.SHA1 != "" && w.NameSHA1 != "" && w.SHA1 != w.NameSHA1:
		return Want{}, fmt.Errorf("update file %q: %w: catalog SHA-1 %s differs from the SHA-1 in the name; no download can match both (refresh the catalog)", name, ErrCatalogMismatch, w.SHA1)
	case w.SHA1 == "" && w.SHA256 == "" && w.NameSHA1 == "":
		return Want{}, fmt.Errorf("update file %q: no SHA-1 or SHA-256 to verify it against (malformed catalog entry)", name)
	}
	return w, nil
}

// Sums are the size and digests of a written file.
type Sums struct {
	Size   int64
	SHA1   string // lower-case hex
	SHA256 string // lower-case hex
}

// DigestError says the bytes written are not the file wanted. The file was not
// committed.
type DigestError struct {
	File string // file name
	Algo string // "size", "sha1", "sha256" or "sha1 (file name)"
	Want string
	Got  string
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s: %s mismatch: want %s, got %s (corrupt download or stale catalog; the partial file was deleted, a later run downloads it again; refresh the catalog if it keeps failing)", e.File, e.Algo, e.Want, e.Got)
}

// check compares sums with w.
func (w Want) check(name string, s Sums) error {
	if w.Size > 0 && s.Size != w.Size {
		return &DigestError{File: name, Algo: "size", Want: strconv.FormatInt(w.Size, 10), Got: strconv.FormatInt(s.Size, 10)}
	}
	if w.SHA1 != "" && s.SHA1 != w.SHA1 {
		return &DigestError{File: name, Algo: "sha1", Want: w.SHA1, Got: s.SHA1}
	}
	if w.SHA256 != "" && s.SHA256 != w.SHA256 {
		return &DigestError{File: name, Algo: "sha256", Want: w.SHA256, Got: s.SHA256}
	}
	if w.NameSHA1 != "" && s.SHA1 != w.NameSHA1 {
		return &DigestError{File: name, Algo: "sha1 (file name)", Want: w.NameSHA1, Got: s.SHA1}
	}
	return nil
}

// Writer is a file being written into the repository: an update file (Create,
// Resume) or the next catalog (StageCab). Its bytes go to a temporary file that is
// never listed nor served; Commit checks them against the Want, syncs them and renames
// them into place atomically. A Writer is used by one goroutine; it is an io.Writer
// for upstream.Client and an io.ReaderAt of the bytes written so far.
type Writer struct {
	r      *Repo
	name   string // final name
	tmp    string // name of the temporary file in the root
	cab    bool   // the catalog: Commit publishes it with its sidecar
	want   Want
	f      *os.File
	off    int64
	sha1   hash.Hash
	sha256 hash.Hash
	sealed bool
	sums   Sums
	done   bool // committed, aborted or closed
}

// Create starts writing the update file name from scratch (an earlier partial
// download is dropped). Close or Abort it unless Commit succeeded.
func (r *Repo) Create(name string, want Want) (*Writer, error) { return r.open(name, want, false) }

// Resume starts writing the update file name after the bytes an earlier writer left in
// its partial download (Close keeps them). The bytes present are hashed; a partial file
// longer than want.Size, or as long but not matching, is emptied. Offset tells where the
// download resumes.
func (r *Repo) Resume(name string, want Want) (*Writer, error) { return r.open(name, want, true) }

func (r *Repo) open(name string, want Want, resume bool) (*Writer, error) {
	if err := CheckFileName(name); err != nil {
		return nil, err
	}
	if err := r.claim(name); err != nil {
		return nil, err
	}
	w := &Writer{r: r, name: name, tmp: name + ".part", want: want, sha1: sha1.New(), sha256: newSHA256()}
	flag := os.O_RDWR | os.O_CREATE
	if !resume {
		flag |= os.O_TRUNC
	}
	f, err := r.root.OpenFile(w.tmp, flag, 0o644)
	if err != nil {
		r.release(name)
		return nil, fmt.Errorf("%s: creating %s: %w (check that the repository folder %s exists and is writable)", name, w.tmp, err, r.dir)
	}
	w.f = f
	if resume {
		if err := w.load(); err != nil {
			_ = w.Close()
			return nil, err
		}
	}
	return w, nil
}

// load hashes the bytes already in the temporary file and positions it after them.
func (w *Writer) load() error {
	fi, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", w.tmp, err)
	}
	n := fi.Size()
	if n == 0 || (w.want.Size > 0 && n > w.want.Size) {
		return w.Reset()
	}
	if _, err := io.Copy(io.MultiWriter(w.sha1, w.sha256), io.NewSectionReader(w.f, 0, n)); err != nil {
		return fmt.Errorf("%s: reading the partial download %s: %w (delete it to start over)", w.name, w.tmp, err)
	}
	if _, err := w.f.Seek(n, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %w", w.tmp, err)
	}
	w.off = n
	if w.want.Size > 0 && n == w.want.Size {
		if err := w.want.check(w.name, w.current()); err != nil {
			w.r.log.Warn("complete partial download is corrupt, starting over", slog.String("file", w.tmp), slog.Any("err", err))
			return w.Reset()
		}
	}
	return nil
}

// Name is the final name of the file.
func (w *Writer) Name() string { return w.name }

// Offset is the number of bytes written so far (resumed ones included): where a
// download continues.
func (w *Writer) Offset() int64 { return w.off }

// Write appends p. Writing past Want.Size fails with a *DigestError.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done || w.sealed {
		return 0, fmt.Errorf("%s: write after Commit, Seal, Abort or Close", w.name)
	}
	if w.want.Size > 0 && w.off+int64(len(p)) > w.want.Size {
		return 0, &DigestError{File: w.name, Algo: "size", Want: strconv.FormatInt(w.want.Size, 10), Got: "more (the server sent extra bytes)"}
	}
	n, err := w.f.Write(p)
	w.sha1.Write(p[:n])
	w.sha256.Write(p[:n])
	w.off += int64(n)
	if err != nil {
		return n, fmt.Errorf("%s: writing %s: %w (check free space and permissions of the repository folder)", w.name, w.tmp, err)
	}
	return n, nil
}

// Reset drops the bytes written: the source sends the whole file again.
func (w *Writer) Reset() error {
	if w.done || w.sealed {
		return fmt.Errorf("%s: reset after Commit, Seal, Abort or Close", w.name)
	}
	if err := w.f.Truncate(0); err != nil {
		return fmt.Errorf("%s: truncating %s: %w (check the repository folder's permissions)", w.name, w.tmp, err)
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: rewinding %s: %w", w.name, w.tmp, err)
	}
	w.off = 0
	w.sha1.Reset()
	w.sha256.Reset()
	return nil
}

// ReadAt reads the bytes written so far (the catalog is read before it is published).
func (w *Writer) ReadAt(p []byte, off int64) (int, error) {
	if w.done || w.f == nil {
		return 0, fmt.Errorf("%s: read after Commit, Abort or Close", w.name)
	}
	return w.f.ReadAt(p, off)
}

func newSHA256() hash.Hash { return sha256.New() }

func (w *Writer) current() Sums {
	return Sums{Size: w.off, SHA1: hex.EncodeToString(w.sha1.Sum(nil)), SHA256: hex.EncodeToString(w.sha256.Sum(nil))}
}

// Seal ends the writing: the bytes are checked against the Want (a *DigestError when
// they differ; for the catalog, that they look like a whole cabinet) and synced to
// disk. The writer can still be read, then committed or aborted.
func (w *Writer) Seal() (Sums, error) {
	if w.done {
		return Sums{}, fmt.Errorf("%s: Seal after Commit, Abort or Close", w.name)
	}
	if w.sealed {
		return w.sums, nil
	}
	s := w.current()
	if err := w.want.check(w.name, s); err != nil {
		return s, err
	}
	if w.cab {
		if err := checkCabShape(w.f, s.Size); err != nil {
			return s, fmt.Errorf("%s: %w", w.name, err)
		}
	}
	if err := w.f.Sync(); err != nil {
		return s, fmt.Errorf("%s: syncing %s: %w (check the disk)", w.name, w.tmp, err)
	}
	w.sealed, w.sums = true, s
	return s, nil
}

// Commit seals the file and puts it in place under its name, atomically: readers see
// the previous file or the new one whole. The catalog gets its .sha1 sidecar too (see
// StageCab). On error the file is not in place; Abort it (or Close it to resume later).
func (w *Writer) Commit() (Sums, error) {
	s, err := w.Seal()
	if err != nil {
		return s, err
	}
	if w.f != nil {
		err := w.f.Close()
		w.f = nil
		if err != nil {
			return s, fmt.Errorf("%s: closing %s: %w (check the disk)", w.name, w.tmp, err)
		}
	}
	if w.cab {
		if err := w.r.publishCab(w.tmp, s.SHA1); err != nil {
			return s, err
		}
	} else {
		if err := w.r.root.Rename(w.tmp, w.name); err != nil {
			return s, fmt.Errorf("%s: renaming %s into place: %w (check the repository folder's permissions)", w.name, w.tmp, err)
		}
		w.r.syncDir()
	}
	w.finish()
	return s, nil
}

// Abort drops the file being written. It does nothing after Commit.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.finish()
	if err := w.r.root.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: removing %s: %w", w.name, w.tmp, err)
	}
	return nil
}

// Close stops writing and keeps the partial file for Resume (the catalog's is
// dropped: a catalog download starts over). It does nothing after Commit or Abort.
func (w *Writer) Close() error {
	if w.cab {
		return w.Abort()
	}
	if w.done {
		return nil
	}
	w.finish()
	return nil
}

func (w *Writer) finish() {
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	w.done = true
	w.r.release(w.name)
}

// claim marks name as being written by this process.
func (r *Repo) claim(name string) error {
	key := strings.ToLower(name)
	r.writingMu.Lock()
	defer r.writingMu.Unlock()
	if r.writing[key] {
		return fmt.Errorf("repository file %s: %w by another download of this server (it is fetched once)", name, ErrBusy)
	}
	if r.writing == nil {
		r.writing = map[string]bool{}
	}
	r.writing[key] = true
	return nil
}

func (r *Repo) release(name string) {
	r.writingMu.Lock()
	delete(r.writing, strings.ToLower(name))
	r.writingMu.Unlock()
}

// Write makes the update file name hold what want describes, filling it through fill:
// the one way to download into the repository. A file already in place that matches
// is kept (cached: fill is not called); one that does not match is deleted first. The
// partial download of an earlier call is resumed (see Resume). When fill fails, the
// bytes it wrote are kept for the next call, unless there are none or they fail their
// check (a *DigestError: they are deleted).
func (r *Repo) Write(name string, want Want, fill func(w *Writer) error) (s Sums, cached bool, err error) {
	if _, err := r.root.Lstat(name); err == nil {
		if s, err := r.Verify(name, want); err == nil {
			return s, true, nil
		}
	}
	w, err := r.Resume(name, want)
	if err != nil {
		return Sums{}, false, err
	}
	var de *DigestError
	if err := fill(w); err != nil {
		if w.Offset() == 0 || errors.As(err, &de) {
			_ = w.Abort()
		} else {
			_ = w.Close()
		}
		return Sums{}, false, err
	}
	s, err = w.Commit()
	if err != nil {
		if errors.As(err, &de) {
			_ = w.Abort()
		} else {
			_ = w.Close()
		}
		return s, false, err
	}
	return s, false, nil
}

// Verify reports whether the update file name is in place and matches want. A file
// that does not match is deleted (agents would refuse it) and a *DigestError returned;
// a missing file gives an error matching fs.ErrNotExist.
func (r *Repo) Verify(name string, want Want) (Sums, error) {
	if err := CheckFileName(name); err != nil {
		return Sums{}, err
	}
	f, err := r.root.Open(name)
	if err != nil {
		return Sums{}, fmt.Errorf("repository file %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return Sums{}, fmt.Errorf("repository file %s: %w (not a regular file)", name, fs.ErrNotExist)
	}
	var s Sums
	if want.Size > 0 && fi.Size() != want.Size {
		s.Size = fi.Size()
	} else if s, err = sumOf(name, f); err != nil {
		return Sums{}, err
	}
	if err := want.check(name, s); err != nil {
		r.log.Warn("file in the repository does not match the catalog, deleting it; it is downloaded again",
			slog.String("file", path.Join(r.dir, name)), slog.Any("err", err))
		if rerr := r.root.Remove(name); rerr != nil {
			r.log.Warn("cannot delete a corrupt file", slog.String("file", name), slog.Any("err", rerr))
		}
		return s, err
	}
	return s, nil
}

func sumOf(name string, f io.Reader) (Sums, error) {
	h1, h256 := sha1.New(), sha256.New()
	n, err := io.Copy(io.MultiWriter(h1, h256), f)
	if err != nil {
		return Sums{}, fmt.Errorf("repository file %s: reading: %w", name, err)
	}
	return Sums{Size: n, SHA1: hex.EncodeToString(h1.Sum(nil)), SHA256: hex.EncodeToString(h256.Sum(nil))}, nil
}

// Sum reads the visible file name (the catalog included) and returns its size, time
// and digests; it changes nothing (a site repository's manifest and scrub use it).
func (r *Repo) Sum(name string) (FileInfo, Sums, error) {
	if err := checkName(name); err != nil {
		return FileInfo{}, Sums{}, err
	}
	if hidden(name) {
		return FileInfo{}, Sums{}, fmt.Errorf("repository file %s: %w (downloads in progress are not visible)", name, fs.ErrNotExist)
	}
	f, fi, err := r.openVisible(name)
	if err != nil {
		return FileInfo{}, Sums{}, fmt.Errorf("repository file %s: %w", name, err)
	}
	defer f.Close()
	s, err := sumOf(name, f)
	return FileInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, s, err
}
