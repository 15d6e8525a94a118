package cab

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/lzx"
	"github.com/openwua/waptwua/internal/lzx/lzxtest"
)

// The writer's tests build cabinets and have cabextract (libmspack) and 7-Zip, the
// reference decoders, extract them; every member must come back byte for byte.

// wtFile is a member to write: size bytes of lzxtest.Realistic(seed).
type wtFile struct {
	name string
	size int64
	seed int64
}

type wtFolder struct {
	method Method
	window int
	files  []wtFile
}

// wtWrite writes a cabinet to path and returns the SHA-256 of every member, keyed by
// its name with `/` separators.
func wtWrite(t testing.TB, path string, opts WriterOptions, folders []wtFolder) map[string]string {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	w := NewWriter(out, opts)
	want := map[string]string{}
	mod := time.Date(2024, 5, 17, 13, 45, 30, 0, time.UTC)
	for _, fo := range folders {
		if err := w.NewFolder(fo.method, fo.window); err != nil {
			t.Fatal(err)
		}
		for _, f := range fo.files {
			mw, err := w.Create(f.name, mod)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.Copy(io.MultiWriter(mw, h), lzxtest.Realistic(f.seed, f.size)); err != nil {
				t.Fatal(err)
			}
			want[strings.ReplaceAll(f.name, `\`, "/")] = hex.EncodeToString(h.Sum(nil))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(opts.TempDir, "cab-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	return want
}

// wtCheckDir compares the files extracted under dir with want.
func wtCheckDir(t testing.TB, tool, dir string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		got[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, sum := range want {
		switch g, ok := got[name]; {
		case !ok:
			t.Errorf("%s: member %q not extracted (extracted: %v)", tool, name, wtKeys(got))
		case g != sum:
			t.Errorf("%s: member %q differs from what was written", tool, name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: extracted unexpected file %q", tool, name)
		}
	}
}

func wtKeys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

func wtNeed(t testing.TB, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s is not installed: cannot check cabinets against it (apt-get install -y cabextract p7zip-full; make test installs them)", tool)
	}
}

func wtRun(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// wtCabextract tests and extracts the cabinet with cabextract.
func wtCabextract(t testing.TB, path string, want map[string]string) {
	t.Helper()
	wtNeed(t, "cabextract")
	wtRun(t, "cabextract", "-q", "-t", path)
	dir := t.TempDir()
	wtRun(t, "cabextract", "-q", "-d", dir, path)
	wtCheckDir(t, "cabextract", dir, want)
}

// wt7z extracts the cabinet with 7-Zip.
func wt7z(t testing.TB, path string, want map[string]string) {
	t.Helper()
	wtNeed(t, "7z")
	dir := t.TempDir()
	wtRun(t, "7z", "x", "-y", "-bso0", "-bsp0", "-o"+dir, path)
	wtCheckDir(t, "7z", dir, want)
}

// wtReader reads the cabinet back with this package's reader.
func wtReader(t testing.TB, path string, want map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(f, st.Size())
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	got := map[string]string{}
	err = c.Walk(func(f *File, r io.Reader) error {
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			return fmt.Errorf("member %q: %w", f.Name, err)
		}
		got[strings.ReplaceAll(f.Name, `\`, "/")] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("reader: member %q differs from what was written", name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("reader: %d members, want %d", len(got), len(want))
	}
}

// wtFolders returns the standard layout: a folder of edge-size members, one with a
// member of several frames, and a third with small members. multi is the size of the
// multi-frame member.
func wtFolders(method Method, window int, multi int64) []wtFolder {
	return []wtFolder{
		{method, window, []wtFile{
			{"empty.txt", 0, 1},
			{"one.bin", 1, 2},
			{`dir\frame.bin`, 32768, 3},
			{"dir/frame-plus-one.bin", 32769, 4},
		}},
		{method, window, []wtFile{
			{`données\été.xml`, multi, 5},
			{"after-multi.txt", 1000, 6},
		}},
		{method, window, []wtFile{
			{"z-empty", 0, 7},
			{"small.txt", 12345, 8},
		}},
	}
}

func TestWriterMethods(t *testing.T) {
	const multi = 1<<20 + 54321 // 33 frames
	type cabCase struct {
		desc string
		opts WriterOptions
		fos  []wtFolder
	}
	cases := []cabCase{
		{"none", WriterOptions{Checksums: true}, wtFolders(MethodNone, 0, multi)},
		{"mszip", WriterOptions{Checksums: true}, wtFolders(MethodMSZIP, 0, multi)},
	}
	// Block sizes: frame-aligned (the default), smaller than a frame, and spanning
	// frames; E8 translation on for some.
	blockSizes := []int{0, 7777, 100000, 1<<24 - 1, 40000, 32768 * 3, 1000}
	for wb := 15; wb <= 21; wb++ {
		for _, mode := range []lzx.BlockMode{lzx.Verbatim, lzx.Aligned, lzx.Uncompressed, lzx.Mixed} {
			bs := blockSizes[(wb+int(mode))%len(blockSizes)]
			var e8 int32
			if wb%2 == 1 {
				e8 = 12000000
			}
			cases = append(cases, cabCase{
				desc: fmt.Sprintf("lzx%d-%v-block%d-e8=%d", wb, mode, bs, e8),
				opts: WriterOptions{Checksums: wb%3 != 0, LZX: lzx.EncoderOptions{Blocks: mode, BlockSize: bs, E8FileSize: e8}},
				fos:  wtFolders(MethodLZX, wb, multi),
			})
		}
	}
	// One cabinet mixing methods.
	mixed := wtFolders(MethodLZX, 21, 200000)
	mixed[1].method, mixed[2].method, mixed[2].window = MethodMSZIP, MethodLZX, 16
	mixed = append(mixed, wtFolders(MethodNone, 0, 1)[2])
	mixed[3].files = []wtFile{{"none.txt", 5000, 9}}
	// A folder without data blocks (only an empty member), between two others.
	mixed = append(mixed[:2], append([]wtFolder{{MethodLZX, 15, []wtFile{{"only-empty", 0, 10}}}}, mixed[2:]...)...)
	cases = append(cases, cabCase{"mixed-methods", WriterOptions{}, mixed})

	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "test.cab")
			want := wtWrite(t, path, tc.opts, tc.fos)
			wtCabextract(t, path, want)
			wt7z(t, path, want)
			wtReader(t, path, want)
		})
	}
}

// TestWriterReserve writes the reserve areas of signed cabinets.
func TestWriterReserve(t *testing.T) {
	for _, opts := range []WriterOptions{
		{HeaderReserve: 20},
		{HeaderReserve: 20, FolderReserve: 7, DataReserve: 5, Checksums: true},
		{HeaderReserve: 6144, DataReserve: 255, Checksums: true},
	} {
		t.Run(fmt.Sprintf("%d-%d-%d", opts.HeaderReserve, opts.FolderReserve, opts.DataReserve), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reserve.cab")
			fos := wtFolders(MethodLZX, 21, 100000)
			fos[2].method = MethodMSZIP
			want := wtWrite(t, path, opts, fos)
			wtCabextract(t, path, want)
			wt7z(t, path, want)
			wtReader(t, path, want)

			c := wtOpen(t, path)
			if len(c.Header.HeaderReserve) != opts.HeaderReserve || c.Header.FolderReserveSize != opts.FolderReserve ||
				c.Header.DataReserveSize != opts.DataReserve {
				t.Errorf("reserve sizes read back as %d/%d/%d", len(c.Header.HeaderReserve), c.Header.FolderReserveSize, c.Header.DataReserveSize)
			}
		})
	}
}

func wtOpen(t testing.TB, path string) *Cabinet {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWriterLayout checks the header fields and member metadata through the reader.
func TestWriterLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "layout.cab")
	fos := wtFolders(MethodLZX, 17, 70000)
	wtWrite(t, path, WriterOptions{Checksums: true}, fos)
	c := wtOpen(t, path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Header.Size != st.Size() {
		t.Errorf("cbCabinet %d, file is %d bytes", c.Header.Size, st.Size())
	}
	if len(c.Folders) != 3 {
		t.Fatalf("%d folders, want 3", len(c.Folders))
	}
	wantBlocks := []int{3, 3, 1} // 65537 bytes, 71000 bytes, 12345 bytes
	for i, f := range c.Folders {
		if f.Method != MethodLZX || f.WindowBits != 17 || f.DataBlocks != wantBlocks[i] {
			t.Errorf("folder %d: %v window %d, %d blocks; want LZX window 17, %d blocks", i, f.Method, f.WindowBits, f.DataBlocks, wantBlocks[i])
		}
	}
	mod := time.Date(2024, 5, 17, 13, 45, 30, 0, time.UTC)
	i := 0
	for fi, fo := range fos {
		var offset int64
		for _, wf := range fo.files {
			f := c.Files[i]
			i++
			name := strings.ReplaceAll(wf.name, "/", `\`)
			if f.Name != name || f.Size != wf.size || f.Folder != fi || f.Offset != offset || !f.Modified.Equal(mod) {
				t.Errorf("member %d: %q size %d folder %d offset %d time %v; want %q %d %d %d %v",
					i, f.Name, f.Size, f.Folder, f.Offset, f.Modified, name, wf.size, fi, offset, mod)
			}
			wantAttrs := uint16(attrArchive)
			if name == `données\été.xml` {
				wantAttrs |= attrNameIsUTF8
			}
			if f.Attrs != wantAttrs {
				t.Errorf("member %q: attributes %#x, want %#x", f.Name, f.Attrs, wantAttrs)
			}
			offset += wf.size
		}
	}
}

func TestWriterErrors(t *testing.T) {
	dir := t.TempDir()
	newW := func(opts WriterOptions) *Writer {
		opts.TempDir = dir
		return NewWriter(io.Discard, opts)
	}
	for _, opts := range []WriterOptions{{HeaderReserve: 60001}, {FolderReserve: 256}, {DataReserve: -1}, {LZX: lzx.EncoderOptions{BlockSize: -5}}} {
		if err := newW(opts).Close(); err == nil {
			t.Errorf("options %+v accepted", opts)
		}
	}
	w := newW(WriterOptions{})
	if err := w.NewFolder(MethodMSZIP, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("a cabinet without members was written")
	}
	w = newW(WriterOptions{})
	if _, err := w.Create("a", time.Time{}); err == nil {
		t.Error("Create before NewFolder succeeded")
	}
	w = newW(WriterOptions{})
	if err := w.NewFolder(MethodQuantum, 0); err == nil {
		t.Error("Quantum folder accepted")
	}
	if err := w.NewFolder(MethodLZX, 22); !errors.Is(err, lzx.ErrWindow) {
		t.Errorf("LZX window 22: %v, want an error wrapping lzx.ErrWindow", err)
	}
	if err := w.NewFolder(MethodLZX, 15); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", strings.Repeat("x", 256), "bad\xffutf8", "nul\x00"} {
		if _, err := w.Create(name, time.Time{}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if _, err := w.Create(strings.Repeat("é", 127)+"x", time.Time{}); err != nil {
		t.Errorf("255-byte name refused: %v", err)
	}
	m1, err := w.Create("one", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Create("two", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Write([]byte("late")); err == nil {
		t.Error("write to a finished member succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "cab-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestWriterMemberLimit checks the 4 GiB - 1 limit without writing gigabytes: the
// limit is checked before the bytes are spooled.
func TestWriterMemberLimit(t *testing.T) {
	w := NewWriter(io.Discard, WriterOptions{TempDir: t.TempDir()})
	if err := w.NewFolder(MethodNone, 0); err != nil {
		t.Fatal(err)
	}
	mw, err := w.Create("big", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	w.files[0].size = maxMemberSize - 10 // as if 4 GiB had been written
	if _, err := mw.Write(make([]byte, 11)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("write past 4 GiB - 1: %v, want a size error", err)
	}
	w.Close()

	w = NewWriter(io.Discard, WriterOptions{TempDir: t.TempDir()})
	if err := w.NewFolder(MethodNone, 0); err != nil {
		t.Fatal(err)
	}
	if mw, err = w.Create("big", time.Time{}); err != nil {
		t.Fatal(err)
	}
	w.folders[0].size = maxFolderData - 10
	if _, err := mw.Write(make([]byte, 11)); err == nil || !strings.Contains(err.Error(), "NewFolder") {
		t.Errorf("write past the folder limit: %v, want a folder size error", err)
	}
	w.Close()
}

func TestDOSDateTime(t *testing.T) {
	tests := []struct {
		in         time.Time
		date, time uint16
	}{
		{time.Time{}, 0x21, 0},
		{time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), 0x21, 0},
		{time.Date(2024, 5, 17, 13, 45, 31, 0, time.UTC), 44<<9 | 5<<5 | 17, 13<<11 | 45<<5 | 15},
		{time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), 127<<9 | 12<<5 | 31, 23<<11 | 59<<5 | 29},
	}
	for _, tt := range tests {
		d, tm := dosDateTime(tt.in)
		if d != tt.date || tm != tt.time {
			t.Errorf("dosDateTime(%v) = %#x %#x, want %#x %#x", tt.in, d, tm, tt.date, tt.time)
		}
	}
}

// TestWriterHugeMember writes a member of more than 100 MB; set WAPTWUA_LONG=1.
func TestWriterHugeMember(t *testing.T) {
	if os.Getenv("WAPTWUA_LONG") != "1" {
		t.Skip("writes and extracts a 120 MB member: set WAPTWUA_LONG=1")
	}
	path := filepath.Join(t.TempDir(), "huge.cab")
	fos := []wtFolder{
		{MethodLZX, 21, []wtFile{{"small-first.txt", 5000, 1}, {`big\package.xml`, 120 << 20, 2}, {"small-last.txt", 5000, 3}}},
		{MethodMSZIP, 0, []wtFile{{"other.txt", 100000, 4}}},
	}
	want := wtWrite(t, path, WriterOptions{HeaderReserve: 20, Checksums: true, LZX: lzx.EncoderOptions{E8FileSize: 12000000}}, fos)
	wtCabextract(t, path, want)
	wt7z(t, path, want)
	wtReader(t, path, want)
}

// TestMSZIPCompleteTables checks the workaround for compress/flate's incomplete
// distance trees on frames of realistic data, some of which flate codes with one
// (found by cabextract failing).
func TestMSZIPCompleteTables(t *testing.T) {
	const frames = 40
	data, err := io.ReadAll(lzxtest.Realistic(1, frames*32768))
	if err != nil {
		t.Fatal(err)
	}
	incomplete := 0
	var buf bytes.Buffer
	for k := 1; k < frames; k++ {
		dict, frame := data[(k-1)*32768:k*32768], data[k*32768:(k+1)*32768]
		buf.Reset()
		fw, err := flate.NewWriterDict(&buf, flate.DefaultCompression, dict)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(frame)
		fw.Close()
		if complete, err := deflateTablesComplete(buf.Bytes()); err != nil {
			t.Fatalf("frame %d: walking flate's stream: %v", k, err)
		} else if !complete {
			incomplete++
		}

		if err := mszipCompress(&buf, frame, dict); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf.Bytes(), []byte("CK")) {
			t.Fatalf("frame %d: payload does not start with CK", k)
		}
		if complete, err := deflateTablesComplete(buf.Bytes()[2:]); err != nil || !complete {
			t.Fatalf("frame %d: mszipCompress output: complete %v, error %v", k, complete, err)
		}
		got, err := io.ReadAll(flate.NewReaderDict(bytes.NewReader(buf.Bytes()[2:]), dict))
		if err != nil || !bytes.Equal(got, frame) {
			t.Fatalf("frame %d: payload does not inflate back to the frame (error %v)", k, err)
		}
	}
	if incomplete == 0 {
		t.Log("compress/flate wrote no incomplete table: the fallback was not exercised")
	}
}
