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
	"path"
	"strings"

	"github.com/openwua/waptwua/internal/wu"
)

// Work files of the catalog publication, all in .tmp/.
const (
	// stagedCab receives the next catalog while it is downloaded and checked.
	stagedCab = TempDirName + "/wsusscn2.cab.part"
	// pendingSidecar is the next wsusscn2.cab.sha1; its presence at startup means a
	// publish was interrupted and the sidecar must be checked against the cab.
	pendingSidecar = TempDirName + "/wsusscn2.cab.sha1.pending"
	// previousCab is a hard link to the catalog being replaced, to roll back to.
	previousCab = TempDirName + "/wsusscn2.cab.previous"
	// repairedSidecar is the sidecar CleanTemp writes.
	repairedSidecar = TempDirName + "/wsusscn2.cab.sha1.repaired"
	// snapshotPrefix names the copies SnapshotCab keeps.
	snapshotPrefix = TempDirName + "/wsusscn2.cab.snapshot-"
)

// StageCab starts writing the next offline catalog. Its bytes go to the hidden .tmp/
// folder, where they can be read (ReadAt) and checked once sealed; Commit then
// publishes them as wsusscn2.cab with its wsusscn2.cab.sha1 sidecar ("<hex>\n"). One
// catalog is staged at a time (ErrBusy). Close and Abort drop it.
//
// Commit's ordering: the cab is renamed first, the sidecar second, so a published .sha1
// never names a cab that is not there yet. For the instant between the two renames an
// agent may read the new cab with the old .sha1; it then refuses that cab and takes it
// on its next check, which is harmless, whereas the opposite order could make every
// agent that already holds the old cab download it again only to refuse it. An agent
// that is downloading when the cab is replaced keeps reading the old file (the rename
// does not touch an open file on Linux). On any failure the previous catalog stays
// published: a failure of the second rename puts the previous cab back, and a crash
// between the two renames is repaired by CleanTemp at the next start.
func (r *Repo) StageCab() (*Writer, error) {
	if err := r.claim(CabName); err != nil {
		return nil, err
	}
	if err := r.root.MkdirAll(TempDirName, 0o700); err != nil {
		r.release(CabName)
		return nil, fmt.Errorf("offline catalog: creating %s in %s: %w (check permissions)", TempDirName, r.dir, err)
	}
	f, err := r.root.OpenFile(stagedCab, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		r.release(CabName)
		return nil, fmt.Errorf("offline catalog: creating %s in %s: %w (check that the repository folder exists and is writable)", stagedCab, r.dir, err)
	}
	return &Writer{r: r, name: CabName, tmp: stagedCab, cab: true, f: f, sha1: sha1.New(), sha256: newSHA256()}, nil
}

// publishCab makes the file tmp of the root, whose SHA-1 is sum, the published catalog.
func (r *Repo) publishCab(tmp, sum string) error {
	r.publishMu.Lock()
	defer r.publishMu.Unlock()
	fail := func(err error) error {
		return fmt.Errorf("publishing offline catalog: %w (the previous catalog stays published)", err)
	}
	if err := r.writeSync(pendingSidecar, []byte(sum+"\n")); err != nil {
		return fail(err)
	}
	_ = r.root.Remove(previousCab)
	canRollBack := r.root.Link(CabName, previousCab) == nil
	if err := r.root.Rename(tmp, CabName); err != nil {
		_ = r.root.Remove(pendingSidecar)
		_ = r.root.Remove(previousCab)
		return fail(fmt.Errorf("renaming %s into place: %w (check the repository folder's permissions)", tmp, err))
	}
	r.syncDir()
	if err := r.root.Rename(pendingSidecar, CabSHA1Name); err != nil {
		if canRollBack {
			if rerr := r.root.Rename(previousCab, CabName); rerr == nil {
				r.syncDir()
				_ = r.root.Remove(pendingSidecar)
				return fail(fmt.Errorf("writing %s: %w (check permissions; the previous cab was put back)", CabSHA1Name, err))
			}
		}
		return fmt.Errorf("publishing offline catalog: writing %s: %w (the new cab is published without a matching .sha1; agents refuse it until the server restarts or the next publish)", CabSHA1Name, err)
	}
	r.syncDir()
	_ = r.root.Remove(previousCab)
	r.log.Info("offline catalog published", slog.String("file", path.Join(r.dir, CabName)), slog.String("sha1", sum))
	return nil
}

// CabSnapshot keeps the catalog published when it was taken, so that it can be
// published again (a sync whose import failed puts the previous catalog back).
type CabSnapshot struct {
	r    *Repo
	name string
}

// SnapshotCab keeps the published catalog (a hard link in .tmp/, no copy). It returns
// nil and no error when no catalog is published. Release the snapshot when done.
func (r *Repo) SnapshotCab() (*CabSnapshot, error) {
	if _, err := r.root.Lstat(CabName); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	name := fmt.Sprintf("%s%d", snapshotPrefix, r.snapSeq.Add(1))
	_ = r.root.Remove(name)
	if err := r.root.Link(CabName, name); err != nil {
		return nil, fmt.Errorf("keeping the published catalog: linking %s: %w", CabName, err)
	}
	return &CabSnapshot{r: r, name: name}, nil
}

// Restore publishes the snapshot again, with its sidecar; the snapshot is used up.
func (s *CabSnapshot) Restore() error {
	if s == nil || s.name == "" {
		return errors.New("no previous catalog to put back")
	}
	sum, err := s.r.sha1Of(s.name)
	if err != nil {
		return fmt.Errorf("putting the previous catalog back: %w", err)
	}
	if err := s.r.publishCab(s.name, sum); err != nil {
		return err
	}
	s.name = ""
	return nil
}

// Release drops the snapshot (nil-safe).
func (s *CabSnapshot) Release() {
	if s != nil && s.name != "" {
		_ = s.r.root.Remove(s.name)
		s.name = ""
	}
}

// checkCabShape checks that the size bytes at f look like a whole cabinet (signature
// "MSCF" and a header size field no larger than the file, which catches a truncated
// download). A signed cabinet (wsusscn2.cab is) is longer than its header says: the
// Authenticode signature is appended after the cabinet data.
func checkCabShape(f io.ReaderAt, size int64) error {
	var hdr [36]byte // CFHEADER without the optional fields
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("not a cabinet: %d bytes", size)
	}
	if !bytes.Equal(hdr[:4], []byte("MSCF")) {
		return errors.New("not a cabinet: no MSCF signature (an error page or a proxy's answer?)")
	}
	n := int64(binary.LittleEndian.Uint32(hdr[8:12]))
	if n > size {
		return fmt.Errorf("cabinet header says %d bytes, the file has %d (truncated download)", n, size)
	}
	const reservePresent, maxSignature = 0x0004, 4 << 20 // signed cabinets carry a header reserve
	if n < size && (binary.LittleEndian.Uint16(hdr[30:32])&reservePresent == 0 || size-n > maxSignature) {
		return fmt.Errorf("cabinet header says %d bytes, the file has %d: trailing data that is not a signature", n, size)
	}
	return nil
}

// CleanTemp removes what a crash (even SIGKILL) can leave behind: everything in .tmp/
// (the catalog being downloaded, snapshots) and update-file downloads (<name>.part,
// see WithKeepParts). It also finishes a catalog publication interrupted between its
// two renames, by writing the .sha1 of the cab actually published. Call it at startup,
// before any download job runs.
func (r *Repo) CleanTemp() error {
	var errs []error
	if _, err := r.root.Lstat(pendingSidecar); err == nil {
		errs = append(errs, r.repairSidecar("a catalog publish was interrupted"))
	} else if b, err := r.root.ReadFile(CabSHA1Name); err != nil || !validSidecar(b) {
		if _, err := r.root.Lstat(CabName); err == nil {
			errs = append(errs, r.repairSidecar("the .sha1 sidecar is missing or malformed"))
		}
	}

	removed, freed := 0, int64(0)
	if d, err := r.root.Open(TempDirName); err == nil {
		ents, err := d.ReadDir(-1)
		_ = d.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("cleaning %s: %w", TempDirName, err))
		}
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
				freed += fi.Size()
			}
			if err := r.root.RemoveAll(path.Join(TempDirName, e.Name())); err != nil {
				errs = append(errs, fmt.Errorf("cleaning %s: %w", TempDirName, err))
				continue
			}
			removed++
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("cleaning %s: %w", TempDirName, err))
	}
	if err := r.root.MkdirAll(TempDirName, 0o700); err != nil {
		errs = append(errs, fmt.Errorf("creating %s: %w", TempDirName, err))
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
			errs = append(errs, fmt.Errorf("cleaning %s: %w", path.Join(r.dir, name), err))
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
	sum, err := r.sha1Of(CabName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", CabName, err)
	}
	if b, err := r.root.ReadFile(CabSHA1Name); err == nil && strings.TrimSpace(string(b)) == sum {
		return nil
	}
	if err := r.writeSync(repairedSidecar, []byte(sum+"\n")); err != nil {
		return err
	}
	if err := r.root.Rename(repairedSidecar, CabSHA1Name); err != nil {
		return fmt.Errorf("writing %s: %w", CabSHA1Name, err)
	}
	r.syncDir()
	r.log.Warn("offline catalog .sha1 repaired", slog.String("reason", why), slog.String("sha1", sum))
	return nil
}

func validSidecar(b []byte) bool {
	s := strings.TrimSpace(string(b))
	return wu.IsHex(s, 40)
}

// sha1Of returns the lower-case hex SHA-1 of the file name of the root.
func (r *Repo) sha1Of(name string) (string, error) {
	f, err := r.root.Open(name)
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

// writeSync writes data to the file name of the root (mode 0644) and syncs it.
func (r *Repo) writeSync(name string, data []byte) error {
	f, err := r.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w (check permissions)", path.Join(r.dir, name), err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w (check free space)", path.Join(r.dir, name), err)
	}
	return nil
}
