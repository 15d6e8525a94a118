package repo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/wu"
)

// updateFile is an update file named as Microsoft names them, with its catalog entry.
func updateFile(n int, fill byte) ([]byte, wu.File) {
	data := make([]byte, n)
	for i := range data {
		data[i] = fill + byte(i*7)
	}
	s256 := sha256.Sum256(data)
	name := fmt.Sprintf("windows10.0-kb5034441-x64_%s.cab", sha1Hex(data))
	return data, wu.File{Name: name, Size: int64(n), SHA1: sha1Hex(data), SHA256: hex.EncodeToString(s256[:]),
		URL: "http://download.windowsupdate.com/d/msdownload/update/software/secu/2024/01/" + name}
}

func visible(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() != TempDirName {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWriterCommitVerifies(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(dir, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, f := updateFile(10000, 1)
	name, want, err := FileOf(f)
	if err != nil || name != f.Name {
		t.Fatalf("FileOf = %q, %v", name, err)
	}

	w, err := r.Create(name, want)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(name, want); !errors.Is(err, ErrBusy) {
		t.Errorf("second writer of one file: err = %v, want ErrBusy", err)
	}
	if _, err := w.Write(data[:4000]); err != nil {
		t.Fatal(err)
	}
	if got := visible(t, dir); !slices.Equal(got, []string{name + ".part"}) {
		t.Errorf("while writing the folder holds %q, want only the .part", got)
	}
	if _, err := r.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a file being written = %v, want not found", err)
	}
	if _, err := w.Write(data[4000:]); err != nil {
		t.Fatal(err)
	}
	s, err := w.Commit()
	if err != nil || s.Size != int64(len(data)) || s.SHA1 != f.SHA1 || s.SHA256 != f.SHA256 {
		t.Fatalf("Commit = %+v, %v", s, err)
	}
	if got := visible(t, dir); !slices.Equal(got, []string{name}) {
		t.Errorf("after Commit the folder holds %q", got)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if _, err := r.Stat(name); err != nil {
		t.Errorf("Abort after Commit removed the file: %v", err)
	}

	// Wrong bytes never reach the final name.
	other, _ := updateFile(10000, 2)
	for _, tc := range []struct {
		desc string
		want Want
		data []byte
		algo string
	}{
		{"size", Want{Size: 10000, SHA1: f.SHA1}, data[:9999], "size"},
		{"sha1", Want{SHA1: f.SHA1}, other, "sha1"},
		{"sha256", Want{SHA256: f.SHA256}, other, "sha256"},
		{"name", Want{NameSHA1: f.SHA1}, other, "sha1 (file name)"},
	} {
		n := "other_" + tc.desc + ".cab"
		w, err := r.Create(n, tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(tc.data); err != nil {
			t.Fatal(err)
		}
		_, err = w.Commit()
		var de *DigestError
		if !errors.As(err, &de) || de.Algo != tc.algo {
			t.Errorf("%s: Commit = %v, want a %s DigestError", tc.desc, err, tc.algo)
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: a file that failed its check is in place", tc.desc)
		}
	}
	w, _ = r.Create("big.cab", Want{Size: 10})
	if _, err := w.Write(make([]byte, 11)); err == nil {
		t.Error("writing past the wanted size accepted")
	}
	_ = w.Abort()
	if got := visible(t, dir); !slices.Equal(got, []string{name}) {
		t.Errorf("after the failures the folder holds %q", got)
	}
}

func TestWriterResume(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(dir, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, f := updateFile(8000, 3)
	name, want, _ := FileOf(f)

	w, _ := r.Create(name, want)
	_, _ = w.Write(data[:3000])
	if err := w.Close(); err != nil { // kept for resume
		t.Fatal(err)
	}
	w, err = r.Resume(name, want)
	if err != nil || w.Offset() != 3000 {
		t.Fatalf("Resume = offset %d, %v; want 3000", w.Offset(), err)
	}
	_, _ = w.Write(data[3000:])
	if _, err := w.Commit(); err != nil {
		t.Fatalf("Commit of a resumed file: %v", err)
	}

	// A complete but corrupt .part (crash before the rename, then damage) starts over.
	if err := os.WriteFile(filepath.Join(dir, "x_"+f.SHA1+".cab.part"), make([]byte, 8000), 0o644); err != nil {
		t.Fatal(err)
	}
	_, want2, _ := FileOf(wu.File{URL: "http://download.windowsupdate.com/x_" + f.SHA1 + ".cab", Size: 8000, SHA1: f.SHA1})
	w, err = r.Resume("x_"+f.SHA1+".cab", want2)
	if err != nil || w.Offset() != 0 {
		t.Fatalf("Resume over a corrupt complete .part = offset %d, %v; want 0", w.Offset(), err)
	}
	_ = w.Abort()

	// Write: a file already in place is kept; a damaged one is replaced.
	calls := 0
	fill := func(w *Writer) error { calls++; _, err := w.Write(data); return err }
	if _, cached, err := r.Write(name, want, fill); err != nil || !cached || calls != 0 {
		t.Fatalf("Write of a file in place = cached %v, %v, %d fills", cached, err, calls)
	}
	if err := os.WriteFile(filepath.Join(dir, name), make([]byte, 8000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, cached, err := r.Write(name, want, fill); err != nil || cached || calls != 1 {
		t.Fatalf("Write over a damaged file = cached %v, %v, %d fills", cached, err, calls)
	}
	// A failing fill keeps what it wrote, unless nothing or wrong bytes.
	_, f2 := updateFile(5000, 4)
	name2, want2b, _ := FileOf(f2)
	_, _, err = r.Write(name2, want2b, func(w *Writer) error { _, _ = w.Write(make([]byte, 100)); return errors.New("cut") })
	if err == nil || !slices.Contains(visible(t, dir), name2+".part") {
		t.Errorf("a cut download: err %v, folder %q; want the .part kept", err, visible(t, dir))
	}
	_, _, err = r.Write(name2, want2b, func(w *Writer) error { return &DigestError{File: name2, Algo: "size"} })
	if err == nil || slices.Contains(visible(t, dir), name2+".part") {
		t.Errorf("a wrong file: err %v, folder %q; want the .part deleted", err, visible(t, dir))
	}
}

func TestNameRules(t *testing.T) {
	_, f := updateFile(100, 5)
	base := "http://download.windowsupdate.com/d/"
	other := "0123456789012345678901234567890123456789"
	for _, tc := range []struct {
		desc string
		f    wu.File
		want error
	}{
		{"name not the URL's base name", wu.File{Name: "other.cab", URL: f.URL, SHA1: f.SHA1}, ErrInvalidName},
		{"URL ends in a slash", wu.File{URL: base, SHA1: f.SHA1}, ErrInvalidName},
		{"URL base is ..", wu.File{URL: base + "x/..", SHA1: f.SHA1}, ErrInvalidName},
		{"encoded slash", wu.File{URL: base + "..%2fetc%2fpasswd", SHA1: f.SHA1}, ErrInvalidName},
		{"encoded backslash", wu.File{URL: base + "..%5cwin.ini", SHA1: f.SHA1}, ErrInvalidName},
		{"NUL", wu.File{URL: base + "a%00.cab", SHA1: f.SHA1}, ErrInvalidName},
		{"temporary name", wu.File{URL: base + "a.cab.part", SHA1: f.SHA1}, ErrInvalidName},
		{"hidden name", wu.File{URL: base + ".tmp", SHA1: f.SHA1}, ErrInvalidName},
		{"the catalog's own name", wu.File{URL: base + "WSUSSCN2.cab", SHA1: f.SHA1}, ErrInvalidName},
		{"catalog SHA-1 differs from the name's", wu.File{URL: f.URL, SHA1: other}, ErrCatalogMismatch},
		{"no digest", wu.File{URL: base + "mpam-fe.exe"}, nil},
	} {
		_, _, err := FileOf(tc.f)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: FileOf = %v, want %v", tc.desc, err, tc.want)
		}
	}
	h := "d2c6a58e5f1bd13b2b8e0e0e79bb2ec4b1e5aa10"
	for in, want := range map[string]string{
		"windows10.0-kb5034441-x64_" + h + ".cab":         h,
		"ndp48-kb4486153-x86-x64-allos-enu_" + h + ".exe": h,
		"x_D2C6A58E5F1BD13B2B8E0E0E79BB2EC4B1E5AA10.msu":  h,
		"x_" + h:               h,
		"x-" + h + ".cab":      "",
		"x_" + h[:39] + ".cab": "",
		"mpam-fe.exe":          "",
	} {
		if got := wu.SHA1FromFileName(in); got != want {
			t.Errorf("wu.SHA1FromFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenCreatesPrivateFolders(t *testing.T) {
	data := filepath.Join(t.TempDir(), "var")
	r, err := Open(filepath.Join(data, "waptwua"), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, d := range []string{data, r.Dir(), r.TempDir()} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s created with mode %v, want 0700 (private to the server's account)", d, fi.Mode().Perm())
		}
	}
}

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(dir, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.CheckWritable(); err != nil {
		t.Fatalf("CheckWritable on a writable folder: %v", err)
	}
	if ents, _ := os.ReadDir(r.TempDir()); len(ents) != 0 {
		t.Errorf("the probe left %d files", len(ents))
	}
	// A file standing where .tmp/ should be: no write can succeed, whoever runs the test.
	if err := os.Remove(r.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.TempDir(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.CheckWritable(); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("CheckWritable with .tmp unusable = %v, want a not-writable error", err)
	}
}
