// Package repo manages the server's repository folder waptwua/ (config waptwua_folder):
// the offline catalog with its .sha1 sidecar and the update files, which agents and
// secondary repositories download over HTTP. Only complete, verified files are ever
// visible: downloads in progress are *.part files or live in the hidden .tmp/ subfolder,
// and neither is listed nor served.
package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Names of the repository's own files (REFERENCE §1).
const (
	CabName     = "wsusscn2.cab"
	CabSHA1Name = "wsusscn2.cab.sha1"
	// TempDirName is the hidden subfolder for files being written; never served.
	TempDirName = ".tmp"
)

// ErrInvalidName is matched by errors about a name that is not a flat, visible file name.
var ErrInvalidName = errors.New("invalid repository file name")

// ErrProtected is matched when Remove is asked to delete the catalog or its sidecar.
var ErrProtected = errors.New("file is managed by the catalog sync")

// FileInfo describes one visible file.
type FileInfo struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// Usage sums the repository's disk use.
type Usage struct {
	Files     int   `json:"files"`      // visible files
	Bytes     int64 `json:"bytes"`      // their total size
	TempFiles int   `json:"temp_files"` // downloads in progress or leftovers (*.part, .tmp/)
	TempBytes int64 `json:"temp_bytes"`
}

// Repo is the repository folder. It is safe for concurrent use.
type Repo struct {
	dir       string
	root      *os.Root
	log       *slog.Logger
	now       func() time.Time
	keepParts time.Duration
	publishMu sync.Mutex // one catalog publication at a time
	snapSeq   atomic.Int64

	writingMu sync.Mutex
	writing   map[string]bool // lower-case names with an open Writer
}

// Option configures a Repo.
type Option func(*Repo)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(r *Repo) { r.log = l } }

// WithClock replaces time.Now (CleanTemp's age test).
func WithClock(now func() time.Time) Option { return func(r *Repo) { r.now = now } }

// WithKeepParts makes CleanTemp keep update-file downloads (<name>.part) modified less
// than age ago, so that a restarted server resumes them instead of starting over. The
// default, 0, removes them all: a partial file is never visible either way, and the
// digest check catches a damaged one.
func WithKeepParts(age time.Duration) Option { return func(r *Repo) { r.keepParts = age } }

// Open opens (creating when missing) the repository folder dir and its .tmp/ subfolder.
// Folders it creates, the data folder above the default waptwua/ included, are
// private to the server's account (0700); an existing folder keeps its mode. Call
// Close when done.
func Open(dir string, opts ...Option) (*Repo, error) {
	if dir == "" {
		return nil, errors.New("repository folder: no path given (set waptwua_folder in the server config)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("repository folder %s: %w (create it or fix waptwua_folder)", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("repository folder %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, TempDirName), 0o700); err != nil {
		return nil, fmt.Errorf("repository folder %s: creating %s: %w (check permissions)", abs, TempDirName, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("repository folder %s: %w", abs, err)
	}
	r := &Repo{dir: abs, root: root, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r, nil
}

// Close releases the folder handle.
func (r *Repo) Close() error { return r.root.Close() }

// Dir is the folder's absolute path (symbolic links resolved), for messages. Write
// into it only through Create, Resume, Write and StageCab.
func (r *Repo) Dir() string { return r.dir }

// TempDir is the hidden subfolder for files being written, on the same file system.
func (r *Repo) TempDir() string { return filepath.Join(r.dir, TempDirName) }

// Stat describes the visible file name. A hidden, temporary or missing file gives an
// error matching fs.ErrNotExist; a name with a path in it, ErrInvalidName.
func (r *Repo) Stat(name string) (FileInfo, error) {
	if err := checkName(name); err != nil {
		return FileInfo{}, err
	}
	if hidden(name) {
		return FileInfo{}, fmt.Errorf("repository file %s: %w (downloads in progress are not visible)", name, fs.ErrNotExist)
	}
	fi, err := r.root.Lstat(name)
	if err != nil {
		return FileInfo{}, fmt.Errorf("repository file %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return FileInfo{}, fmt.Errorf("repository file %s: %w (not a regular file)", name, fs.ErrNotExist)
	}
	return FileInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List returns the visible files, sorted by name.
func (r *Repo) List() ([]FileInfo, error) {
	var out []FileInfo
	err := r.walk(func(name string, fi fs.FileInfo, visible bool) {
		if visible {
			out = append(out, FileInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Usage sums the visible files and the temporary ones.
func (r *Repo) Usage() (Usage, error) {
	var u Usage
	err := r.walk(func(name string, fi fs.FileInfo, visible bool) {
		if visible {
			u.Files++
			u.Bytes += fi.Size()
		} else if fi.Mode().IsRegular() && isTemp(name) {
			u.TempFiles++
			u.TempBytes += fi.Size()
		}
	})
	if err != nil {
		return u, err
	}
	tmp, err := os.ReadDir(r.TempDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return u, fmt.Errorf("repository folder %s: %w", r.TempDir(), err)
	}
	for _, e := range tmp {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			u.TempFiles++
			u.TempBytes += fi.Size()
		}
	}
	return u, nil
}

// walk calls fn for each entry of the folder (not following symbolic links), telling
// whether it is a visible file.
func (r *Repo) walk(fn func(name string, fi fs.FileInfo, visible bool)) error {
	d, err := r.root.Open(".")
	if err != nil {
		return fmt.Errorf("repository folder %s: %w", r.dir, err)
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("repository folder %s: listing: %w (check permissions)", r.dir, err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		name := e.Name()
		fn(name, fi, fi.Mode().IsRegular() && checkName(name) == nil && !hidden(name))
	}
	return nil
}

// Remove deletes the visible file name (the cleanup job's "unused KB"). The catalog and
// its sidecar are refused with ErrProtected: PublishCab replaces them.
func (r *Repo) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if hidden(name) {
		return fmt.Errorf("repository file %s: %w: temporary files are removed by CleanTemp", name, ErrInvalidName)
	}
	if catalogName(name) {
		return fmt.Errorf("repository file %s: %w", name, ErrProtected)
	}
	if err := r.root.Remove(name); err != nil {
		return fmt.Errorf("repository file %s: removing: %w", name, err)
	}
	return nil
}

// CheckWritable tells whether files can be written into the folder now (readiness
// probes): it writes, syncs and removes a small file in .tmp/. The error says what failed.
func (r *Repo) CheckWritable() error {
	name := fmt.Sprintf("%s/.writable-%d", TempDirName, r.snapSeq.Add(1))
	if err := r.writeSync(name, []byte("ok")); err != nil {
		return fmt.Errorf("repository folder %s not writable: %w", r.dir, err)
	}
	if err := r.root.Remove(name); err != nil {
		return fmt.Errorf("repository folder %s: removing its write probe: %w", r.dir, err)
	}
	return nil
}
