package repo

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeCab returns n bytes that pass PublishCab's header check (signature and size field).
func fakeCab(n int, fill byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = fill + byte(i)
	}
	copy(b, "MSCF")
	binary.LittleEndian.PutUint32(b[4:], 0)
	binary.LittleEndian.PutUint32(b[8:], uint32(n))
	return b
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func names(fis []FileInfo) []string {
	var out []string
	for _, fi := range fis {
		out = append(out, fi.Name)
	}
	return out
}

func TestListStatUsageRemove(t *testing.T) {
	fx := newFixture(t)
	r := fx.repo

	list, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(list), []string{fx.update, "wsusscn2.cab"}; !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q (no .part, hidden, symlink or folder)", got, want)
	}
	if list[0].Size != 1000 || list[0].ModTime.IsZero() {
		t.Errorf("List[0] = %+v", list[0])
	}

	fi, err := r.Stat(fx.update)
	if err != nil || fi.Size != 1000 {
		t.Errorf("Stat = %+v, %v", fi, err)
	}
	for _, name := range []string{"inprogress_0123456789012345678901234567890123456789.cab.part", ".tmp", "evil", "inside-link", "sub", "missing.cab"} {
		if _, err := r.Stat(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) err = %v, want fs.ErrNotExist", name, err)
		}
	}
	for _, name := range []string{"../secret", "sub/file", `..\secret`, "", "..", "a\x00b"} {
		if _, err := r.Stat(name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Stat(%q) err = %v, want ErrInvalidName", name, err)
		}
	}

	u, err := r.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Usage{Files: 2, Bytes: 1200, TempFiles: 3, TempBytes: 10 + 10 + int64(len(secret))}); u != want {
		t.Errorf("Usage = %+v, want %+v", u, want)
	}

	if err := r.Remove("wsusscn2.cab"); !errors.Is(err, ErrProtected) {
		t.Errorf("Remove(wsusscn2.cab) err = %v, want ErrProtected", err)
	}
	if err := r.Remove("../secret"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Remove(../secret) err = %v", err)
	}
	if err := r.Remove("missing.cab"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove(missing) err = %v, want fs.ErrNotExist", err)
	}
	if err := r.Remove("evil2"); err != nil { // removes the link, not its target
		t.Errorf("Remove(evil2): %v", err)
	}
	if readString(t, filepath.Join(filepath.Dir(fx.dir), "secret")) != secret {
		t.Error("removing a link touched its target")
	}
	if err := r.Remove(fx.update); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := r.Stat(fx.update); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still there after Remove: %v", err)
	}
}

// publish stages data as the next catalog and commits it, as the catalog sync does.
func publish(t *testing.T, r *Repo, data []byte) error {
	t.Helper()
	w, err := r.StageCab()
	if err != nil {
		t.Fatalf("StageCab: %v", err)
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	_, err = w.Commit()
	return err
}

func TestPublishCab(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "waptwua")
	r, err := Open(dir, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cab := filepath.Join(dir, CabName)
	sidecar := filepath.Join(dir, CabSHA1Name)

	v1 := fakeCab(5000, 1)
	if err := publish(t, r, v1); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if readString(t, cab) != string(v1) || readString(t, sidecar) != sha1Hex(v1)+"\n" {
		t.Fatal("first publish: cab or sidecar wrong")
	}
	if fi, _ := os.Stat(cab); fi.Mode().Perm()&0o444 != 0o444 {
		t.Errorf("published cab mode %v, want readable by all (web servers and replication read it)", fi.Mode().Perm())
	}

	v2 := fakeCab(6000, 2)
	if err := publish(t, r, v2); err != nil {
		t.Fatalf("publish v2: %v", err)
	}
	if readString(t, cab) != string(v2) || readString(t, sidecar) != sha1Hex(v2)+"\n" {
		t.Fatal("second publish: cab or sidecar wrong")
	}

	// Failures keep v2 published, with its sidecar.
	truncated := fakeCab(7000, 3)[:3000]
	bad := []struct {
		desc string
		data []byte
	}{
		{"HTML error page", []byte("<html>502 Bad Gateway</html>" + strings.Repeat(" ", 40))},
		{"truncated", truncated},
		{"empty", nil},
	}
	for _, b := range bad {
		if err := publish(t, r, b.data); err == nil {
			t.Errorf("%s: accepted", b.desc)
		}
		if readString(t, cab) != string(v2) || readString(t, sidecar) != sha1Hex(v2)+"\n" {
			t.Fatalf("%s: the previous catalog was not kept", b.desc)
		}
	}

	// The sidecar cannot be written (a folder stands in its way): the previous cab is put back.
	if err := os.Remove(sidecar); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(sidecar, "blocker"), nil)
	if err := publish(t, r, fakeCab(8000, 4)); err == nil {
		t.Fatal("publish succeeded without writing the sidecar")
	}
	if readString(t, cab) != string(v2) {
		t.Error("the previous cab was not put back after the sidecar failed")
	}
	if ents, _ := os.ReadDir(r.TempDir()); len(ents) != 0 {
		t.Errorf(".tmp holds %d leftovers after a failed publish", len(ents))
	}
}

func TestCabSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "waptwua")
	r, err := Open(dir, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if snap, err := r.SnapshotCab(); snap != nil || err != nil {
		t.Fatalf("SnapshotCab without a catalog = %v, %v; want nil, nil", snap, err)
	}
	v1, v2 := fakeCab(5000, 1), fakeCab(6000, 2)
	if err := publish(t, r, v1); err != nil {
		t.Fatal(err)
	}
	snap, err := r.SnapshotCab()
	if err != nil || snap == nil {
		t.Fatalf("SnapshotCab = %v, %v", snap, err)
	}
	if err := publish(t, r, v2); err != nil {
		t.Fatal(err)
	}
	if err := snap.Restore(); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if readString(t, filepath.Join(dir, CabName)) != string(v1) || readString(t, filepath.Join(dir, CabSHA1Name)) != sha1Hex(v1)+"\n" {
		t.Fatal("Restore did not put the first catalog back with its sidecar")
	}
	snap.Release()
	if err := snap.Restore(); err == nil {
		t.Error("a used snapshot restored again")
	}
	if ents, _ := os.ReadDir(r.TempDir()); len(ents) != 0 {
		t.Errorf(".tmp holds %d leftovers", len(ents))
	}
}

func TestCleanTemp(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	setup := func(t *testing.T, opts ...Option) (*Repo, string) {
		dir := filepath.Join(t.TempDir(), "waptwua")
		r, err := Open(dir, append([]Option{WithLogger(discardLogger()), WithClock(func() time.Time { return now })}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		mustWrite(t, filepath.Join(dir, "kept_0123456789012345678901234567890123456789.cab"), []byte("done"))
		mustWrite(t, filepath.Join(dir, "recent_0123456789012345678901234567890123456789.cab.part"), []byte("half"))
		mustWrite(t, filepath.Join(dir, "old_0123456789012345678901234567890123456789.cab.part"), []byte("half"))
		if err := os.Chtimes(filepath.Join(dir, "old_0123456789012345678901234567890123456789.cab.part"), now.Add(-48*time.Hour), now.Add(-48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, "recent_0123456789012345678901234567890123456789.cab.part"), now.Add(-time.Hour), now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(dir, ".wsusscn2.cab.77.part"), []byte("catalog half"))
		mustWrite(t, filepath.Join(dir, ".tmp", "x"), []byte("leftover"))
		mustWrite(t, filepath.Join(dir, ".tmp", "d", "y"), []byte("leftover"))
		return r, dir
	}
	dirNames := func(t *testing.T, dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}

	t.Run("removes every leftover", func(t *testing.T) {
		r, dir := setup(t)
		if err := r.CleanTemp(); err != nil {
			t.Fatalf("CleanTemp: %v", err)
		}
		if got, want := dirNames(t, dir), []string{".tmp", "kept_0123456789012345678901234567890123456789.cab"}; !slices.Equal(got, want) {
			t.Errorf("folder = %q, want %q", got, want)
		}
		if got := dirNames(t, r.TempDir()); len(got) != 0 {
			t.Errorf(".tmp = %q, want empty", got)
		}
		if u, _ := r.Usage(); u.TempFiles != 0 || u.Files != 1 {
			t.Errorf("Usage after CleanTemp = %+v", u)
		}
	})

	t.Run("keeps recent downloads for resume", func(t *testing.T) {
		r, dir := setup(t, WithKeepParts(24*time.Hour))
		if err := r.CleanTemp(); err != nil {
			t.Fatalf("CleanTemp: %v", err)
		}
		want := []string{".tmp", "kept_0123456789012345678901234567890123456789.cab", "recent_0123456789012345678901234567890123456789.cab.part"}
		if got := dirNames(t, dir); !slices.Equal(got, want) {
			t.Errorf("folder = %q, want %q", got, want)
		}
	})

	t.Run("finishes a publish cut between its renames", func(t *testing.T) {
		r, dir := setup(t)
		oldCab, newCab := fakeCab(300, 1), fakeCab(400, 2)
		// State after a crash between the two renames: new cab, old sidecar, pending sidecar.
		mustWrite(t, filepath.Join(dir, CabName), newCab)
		mustWrite(t, filepath.Join(dir, CabSHA1Name), []byte(sha1Hex(oldCab)+"\n"))
		mustWrite(t, filepath.Join(dir, pendingSidecar), []byte(sha1Hex(newCab)+"\n"))
		if err := r.CleanTemp(); err != nil {
			t.Fatalf("CleanTemp: %v", err)
		}
		if got := readString(t, filepath.Join(dir, CabSHA1Name)); got != sha1Hex(newCab)+"\n" {
			t.Errorf("sidecar = %q, want the new cab's SHA-1", got)
		}
	})

	t.Run("writes a missing sidecar", func(t *testing.T) {
		r, dir := setup(t)
		cab := fakeCab(300, 9)
		mustWrite(t, filepath.Join(dir, CabName), cab)
		if err := r.CleanTemp(); err != nil {
			t.Fatalf("CleanTemp: %v", err)
		}
		if got := readString(t, filepath.Join(dir, CabSHA1Name)); got != sha1Hex(cab)+"\n" {
			t.Errorf("sidecar = %q", got)
		}
	})
}

func TestOpenFollowsALinkedFolder(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "disk2", "waptwua")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "waptwua")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	r, err := Open(link, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Dir() != real {
		t.Errorf("Dir = %q, want %q", r.Dir(), real)
	}
}

// A signed cabinet is longer than its header says: the signature follows the cabinet data.
func TestPublishCabSignedShape(t *testing.T) {
	r, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cabWithTail := func(reserve bool, tail int) []byte {
		b := fakeCab(4096, 1)
		flags := uint16(0)
		if reserve {
			flags = 0x0004
		}
		binary.LittleEndian.PutUint16(b[30:], flags)
		return append(b, make([]byte, tail)...)
	}
	if err := publish(t, r, cabWithTail(true, 2048)); err != nil {
		t.Fatalf("signed-shaped cabinet refused: %v", err)
	}
	if err := publish(t, r, cabWithTail(false, 2048)); err == nil {
		t.Fatal("trailing bytes without a header reserve accepted")
	}
	if err := publish(t, r, cabWithTail(true, 5<<20)); err == nil {
		t.Fatal("5 MiB of trailing bytes accepted as a signature")
	}
}

func TestSumReadsVisibleFilesOnly(t *testing.T) {
	r, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.WriteFile(filepath.Join(r.Dir(), CabName), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, s, err := r.Sum(CabName)
	if err != nil || fi.Size != 3 || s.Size != 3 || s.SHA1 != "a9993e364706816aba3e25717850c26c9cd0d89d" ||
		s.SHA256 != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Sum = %+v %+v %v", fi, s, err)
	}
	for _, name := range []string{"x.part", ".tmp", "../etc/passwd", "missing.cab"} {
		if _, _, err := r.Sum(name); err == nil {
			t.Errorf("Sum(%q) succeeded", name)
		}
	}
}
