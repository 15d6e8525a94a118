package repo

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

// Payload files of update packages (issue 15): the files an update package's signed
// manifest lists under payload/ but that travel outside the .wapt (an .msu, a driver
// folder, installation media of several GB). They live in the repository folder under
//
//	PayloadDirName/<NAME_VERSION>.payload/<path>
//
// written through a Writer like update files (a temporary <path>.part renamed into
// place once checked), never listed by List or Usage, and served by ServePayload with
// the repository handler's Range and conditional requests.

// PayloadDirName is the subfolder of the repository folder holding the payload folders.
const PayloadDirName = "payloads"

// PayloadSuffix ends the name of an update package's payload folder: NAME_VERSION.payload.
const PayloadSuffix = ".payload"

// payloadName checks the payload folder dir (a flat "NAME_VERSION.payload") and the
// slash-separated path of a file in it, and returns the file's name in the root.
func payloadName(dir, file string) (string, error) {
	if err := checkName(dir); err != nil {
		return "", err
	}
	if hidden(dir) || !strings.HasSuffix(dir, PayloadSuffix) || dir == PayloadSuffix {
		return "", fmt.Errorf("payload folder %q: %w: want NAME_VERSION%s", dir, ErrInvalidName, PayloadSuffix)
	}
	if file == "" || len(file) > 1024 {
		return "", fmt.Errorf("payload file %q of %s: %w: want a relative path of 1 to 1024 bytes", file, dir, ErrInvalidName)
	}
	for _, seg := range strings.Split(file, "/") {
		if err := checkName(seg); err != nil {
			return "", fmt.Errorf("payload file %q of %s: %w", file, dir, err)
		}
		if hidden(seg) {
			return "", fmt.Errorf("payload file %q of %s: %w: hidden, .part and .tmp names are reserved", file, dir, ErrInvalidName)
		}
	}
	return path.Join(PayloadDirName, dir, file), nil
}

// CreatePayload starts writing the payload file (slash-separated path file) of the
// payload folder dir from scratch, creating its folders. Commit checks it against want
// and puts it in place atomically; Abort drops it.
func (r *Repo) CreatePayload(dir, file string, want Want) (*Writer, error) {
	name, err := payloadName(dir, file)
	if err != nil {
		return nil, err
	}
	if err := r.root.MkdirAll(path.Dir(name), 0o700); err != nil {
		return nil, fmt.Errorf("payload folder %s: creating %s: %w (check that the repository folder %s is writable)", dir, path.Dir(name), err, r.dir)
	}
	if err := r.claim(name); err != nil {
		return nil, err
	}
	w := &Writer{r: r, name: name, tmp: name + ".part", want: want, sha1: sha1.New(), sha256: newSHA256()}
	f, err := r.root.OpenFile(w.tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		r.release(name)
		return nil, fmt.Errorf("payload file %s of %s: creating: %w (check that the repository folder %s is writable)", file, dir, err, r.dir)
	}
	w.f = f
	return w, nil
}

// StatPayload describes the payload file (a regular file in place, not a symbolic
// link); a missing one gives an error matching fs.ErrNotExist.
func (r *Repo) StatPayload(dir, file string) (FileInfo, error) {
	name, err := payloadName(dir, file)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := r.root.Lstat(name)
	if err != nil {
		return FileInfo{}, fmt.Errorf("payload file %s of %s: %w", file, dir, err)
	}
	if !fi.Mode().IsRegular() {
		return FileInfo{}, fmt.Errorf("payload file %s of %s: %w (not a regular file)", file, dir, fs.ErrNotExist)
	}
	return FileInfo{Name: file, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// RemovePayload deletes the payload folder dir and everything in it (a missing folder
// is no error).
func (r *Repo) RemovePayload(dir string) error {
	name, err := payloadName(dir, "x")
	if err != nil {
		return err
	}
	name = path.Dir(name)
	if err := r.root.RemoveAll(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("payload folder %s: removing: %w", dir, err)
	}
	return nil
}

// ServePayload serves the payload file (slash-separated path file) of the payload
// folder dir as the repository handler serves update files: Range, ETag,
// Last-Modified, conditional requests; anything else (hidden names, symbolic links,
// dot segments) is not found. The caller checks that the package may be served.
func (r *Repo) ServePayload(w http.ResponseWriter, req *http.Request, dir, file string) {
	name, err := payloadName(dir, file)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	r.serveName(w, req, name)
}

// PayloadPath splits what follows PackagePrefix in a payload URL, "NAME_VERSION.payload/<path>",
// into the folder and the file's path; ok is false for anything else.
func PayloadPath(rest string) (dir, file string, ok bool) {
	dir, file, ok = strings.Cut(rest, "/")
	if !ok || !strings.HasSuffix(dir, PayloadSuffix) {
		return "", "", false
	}
	if _, err := payloadName(dir, file); err != nil {
		return "", "", false
	}
	return dir, file, true
}
