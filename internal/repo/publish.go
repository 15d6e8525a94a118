package repo

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Work files of PublishCab, all in .tmp/.
const (
	// pendingSidecar is the next wsusscn2.cab.sha1; its presence at startup means a
	// publish was interrupted and the sidecar must be checked against the cab.
	pendingSidecar = "wsusscn2.cab.sha1.pending"
	// previousCab is a hard link to the catalog being replaced, to roll back to.
	previousCab = "wsusscn2.cab.previous"
	// incomingCab receives a copy of the new catalog when it lies on another file system.
	incomingCab = "wsusscn2.cab.incoming"
	// repairedSidecar is the sidecar CleanTemp writes.
	repairedSidecar = "wsusscn2.cab.sha1.repaired"
)

// PublishCab makes the catalog at tmpPath (usually upstream.Client.FetchCab's TempPath,
// already checked by the caller) the published wsusscn2.cab, and writes its SHA-1 to
// wsusscn2.cab.sha1 ("<hex>\n"). tmpPath is moved, not copied, when it is on the same file
// system. Each file is replaced by an atomic rename, so a reader sees the old or the new
// file whole, never a mix.
//
// Ordering: the cab is renamed first, the sidecar second, so a published .sha1 never names
// a cab that is not there yet. For the instant between the two renames an agent may read the
// new cab with the old .sha1; it then refuses that cab and takes it on its next check, which
// is harmless, whereas the opposite order could make every agent that already holds the old
// cab download it again only to refuse it. An agent that is downloading when the cab is
// replaced keeps reading the old file (the rename does not touch an open file on Linux).
//
// On any failure the previous catalog stays published: nothing is renamed before all
// checks and writes succeeded, and a failure of the second rename puts the previous cab
// back. A crash between the two renames is repaired by CleanTemp at the next start.
func (r *Repo) PublishCab(tmpPath string) error {
	r.publishMu.Lock()
	defer r.publishMu.Unlock()
	fail := func(err error) error {
		return fmt.Errorf("publishing offline catalog %s: %w (the previous catalog stays published)", tmpPath, err)
	}
	cabPath := r.CabPath()
	if src, err := filepath.Abs(tmpPath); err != nil || src == cabPath {
		return fail(errors.New("the new catalog must be a temporary file, not the published one"))
	}
	sum, err := checkCab(tmpPath)
	if err != nil {
		return fail(err)
	}
	tmpDir := r.TempDir()
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return fail(fmt.Errorf("creating %s: %w (check permissions)", tmpDir, err))
	}
	pending := filepath.Join(tmpDir, pendingSidecar)
	if err := writeFileSync(pending, []byte(sum+"\n")); err != nil {
		return fail(err)
	}
	previous := filepath.Join(tmpDir, previousCab)
	_ = os.Remove(previous)
	canRollBack := os.Link(cabPath, previous) == nil
	cleanup := func() {
		_ = os.Remove(pending)
		if canRollBack {
			_ = os.Remove(previous)
		}
	}

	if err := r.moveInto(tmpPath, cabPath); err != nil {
		cleanup()
		return fail(err)
	}
	_ = syncDir(r.dir)
	if err := os.Rename(pending, filepath.Join(r.dir, CabSHA1Name)); err != nil {
		if canRollBack {
			if rerr := os.Rename(previous, cabPath); rerr == nil {
				_ = syncDir(r.dir)
				_ = os.Remove(pending)
				return fail(fmt.Errorf("writing %s: %w (check permissions; the previous cab was put back)", CabSHA1Name, err))
			}
		}
		return fmt.Errorf("publishing offline catalog: writing %s: %w (the new cab is published without a matching .sha1; agents refuse it until the server restarts or the next publish)", CabSHA1Name, err)
	}
	_ = syncDir(r.dir)
	if canRollBack {
		_ = os.Remove(previous)
	}
	r.log.Info("offline catalog published", slog.String("file", cabPath), slog.String("sha1", sum))
	return nil
}

// checkCab checks that path looks like a whole cabinet (signature "MSCF" and a header
// size field no larger than the file, which catches a truncated download) and returns its
// lower-case hex SHA-1. A signed cabinet (wsusscn2.cab is) is longer than its header
// says: the Authenticode signature is appended after the cabinet data.
func checkCab(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	var hdr [36]byte // CFHEADER without the optional fields
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return "", fmt.Errorf("not a cabinet: %d bytes", fi.Size())
	}
	if !bytes.Equal(hdr[:4], []byte("MSCF")) {
		return "", errors.New("not a cabinet: no MSCF signature (an error page or a proxy's answer?)")
	}
	n := int64(binary.LittleEndian.Uint32(hdr[8:12]))
	if n > fi.Size() {
		return "", fmt.Errorf("cabinet header says %d bytes, the file has %d (truncated download)", n, fi.Size())
	}
	const reservePresent, maxSignature = 0x0004, 4 << 20 // signed cabinets carry a header reserve
	if n < fi.Size() && (binary.LittleEndian.Uint16(hdr[30:32])&reservePresent == 0 || fi.Size()-n > maxSignature) {
		return "", fmt.Errorf("cabinet header says %d bytes, the file has %d: trailing data that is not a signature", n, fi.Size())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading: %w", err)
	}
	_ = f.Sync() // FetchCab already synced it; this covers other callers where the OS allows
	return hex.EncodeToString(h.Sum(nil)), nil
}

// moveInto renames src to dst, or copies it through .tmp/ when src is on another file
// system, then removes src.
func (r *Repo) moveInto(src, dst string) error {
	_ = os.Chmod(src, 0o644) // temporary files are 0600; web servers and replication read it
	err := os.Rename(src, dst)
	if err == nil {
		return nil
	}
	incoming := filepath.Join(r.TempDir(), incomingCab)
	if cerr := copyFileSync(src, incoming); cerr != nil {
		_ = os.Remove(incoming)
		return fmt.Errorf("moving into %s: %w; copying: %w", dst, err, cerr)
	}
	if rerr := os.Rename(incoming, dst); rerr != nil {
		_ = os.Remove(incoming)
		return fmt.Errorf("moving into %s: %w (check the repository folder's permissions)", dst, rerr)
	}
	_ = os.Remove(src)
	return nil
}

// CleanTemp removes what a crash (even SIGKILL) can leave behind: everything in .tmp/,
// the catalog being downloaded (.wsusscn2.cab.*.part) and update-file downloads
// (<name>.part, see WithKeepParts). It also finishes a PublishCab interrupted between its
// two renames, by writing the .sha1 of the cab actually published. Call it at startup,
// before any download job runs.
func (r *Repo) CleanTemp() error {
	var errs []error
	tmpDir := r.TempDir()
	if _, err := os.Stat(filepath.Join(tmpDir, pendingSidecar)); err == nil {
		errs = append(errs, r.repairSidecar("a catalog publish was interrupted"))
	} else if b, err := os.ReadFile(filepath.Join(r.dir, CabSHA1Name)); err != nil || !validSidecar(b) {
		if _, err := os.Stat(r.CabPath()); err == nil {
			errs = append(errs, r.repairSidecar("the .sha1 sidecar is missing or malformed"))
		}
	}

	removed, freed := 0, int64(0)
	ents, err := os.ReadDir(tmpDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("cleaning %s: %w", tmpDir, err))
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			freed += fi.Size()
		}
		if err := os.RemoveAll(filepath.Join(tmpDir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("cleaning %s: %w", tmpDir, err))
			continue
		}
		removed++
	}
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		errs = append(errs, fmt.Errorf("creating %s: %w", tmpDir, err))
	}

	kept := 0
	now := r.now()
	errs = append(errs, r.walk(func(name string, fi fs.FileInfo, visible bool) {
		if visible || !fi.Mode().IsRegular() || !isTemp(name) {
			return
		}
		if r.keepParts > 0 && !strings.HasPrefix(name, ".") && now.Sub(fi.ModTime()) < r.keepParts {
			kept++
			return
		}
		if err := r.root.Remove(name); err != nil {
			errs = append(errs, fmt.Errorf("cleaning %s: %w", filepath.Join(r.dir, name), err))
			return
		}
		removed++
		freed += fi.Size()
	}))
	if removed > 0 || kept > 0 {
		r.log.Info("repository temporary files cleaned", slog.String("folder", r.dir),
			slog.Int("removed", removed), slog.Int64("bytes", freed), slog.Int("kept_for_resume", kept))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("repository folder %s: %w (check permissions)", r.dir, err)
	}
	return nil
}

// repairSidecar rewrites wsusscn2.cab.sha1 from the published cab when they differ.
func (r *Repo) repairSidecar(why string) error {
	sum, err := fileSHA1(r.CabPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", CabName, err)
	}
	sidecar := filepath.Join(r.dir, CabSHA1Name)
	if b, err := os.ReadFile(sidecar); err == nil && strings.TrimSpace(string(b)) == sum {
		return nil
	}
	tmp := filepath.Join(r.TempDir(), repairedSidecar)
	if err := writeFileSync(tmp, []byte(sum+"\n")); err != nil {
		return err
	}
	if err := os.Rename(tmp, sidecar); err != nil {
		return fmt.Errorf("writing %s: %w", sidecar, err)
	}
	_ = syncDir(r.dir)
	r.log.Warn("offline catalog .sha1 repaired", slog.String("reason", why), slog.String("sha1", sum))
	return nil
}

func validSidecar(b []byte) bool {
	s := strings.TrimSpace(string(b))
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func fileSHA1(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeFileSync writes data to path (mode 0644) and syncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w (check permissions)", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w (check free space)", path, err)
	}
	return nil
}

func copyFileSync(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
