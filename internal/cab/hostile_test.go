package cab

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"testing"
	"time"
)

// mustWalk returns every member's bytes by slash name, failing on any error.
func mustWalk(t *testing.T, data []byte, opts ...Option) map[string][]byte {
	t.Helper()
	c, err := Open(bytes.NewReader(data), int64(len(data)), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got := map[string][]byte{}
	err = c.Walk(func(f *File, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if int64(len(b)) != f.Size {
			t.Errorf("%s: read %d bytes, want %d", f.Name, len(b), f.Size)
		}
		got[strings.ReplaceAll(f.Name, `\`, "/")] = b
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

// walkErrors walks data and returns each member's read error (nil when it read).
func walkErrors(t *testing.T, data []byte, opts ...Option) map[string]error {
	t.Helper()
	c, err := Open(bytes.NewReader(data), int64(len(data)), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	errs := map[string]error{}
	if err := c.Walk(func(f *File, r io.Reader) error {
		_, err := io.Copy(io.Discard, r)
		errs[f.Name] = err
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return errs
}

func wantErr(t *testing.T, err error, target error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", substr)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("error %q does not wrap %q", err, target)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Errorf("error %q does not contain %q", err, substr)
	}
}

func openErr(data []byte) error {
	_, err := Open(bytes.NewReader(data), int64(len(data)), WithName("t.cab"))
	return err
}

// put16/put32 patch a copy of data.
func put16(data []byte, off int, v uint16) []byte {
	b := bytes.Clone(data)
	binary.LittleEndian.PutUint16(b[off:], v)
	return b
}

func put32(data []byte, off int, v uint32) []byte {
	b := bytes.Clone(data)
	binary.LittleEndian.PutUint32(b[off:], v)
	return b
}

// TestTruncatedCabinets cuts every valid test cabinet at every byte, both as is and
// with cbCabinet patched to the cut length (so that the reader gets past the header
// and meets the truncation in the tables or the data). Every outcome must be an error
// or the correct member bytes; nothing may panic.
func TestTruncatedCabinets(t *testing.T) {
	want := loadMembers(t)
	for cabName, members := range want {
		if members == nil {
			continue
		}
		full := readShared(t, cabName)
		digests := map[string]string{}
		for _, m := range members {
			digests[m.name] = m.sha256
		}
		for cut := range len(full) {
			variants := [][]byte{full[:cut]}
			if cut >= 12 {
				variants = append(variants, put32(full[:cut], 8, uint32(cut)))
			}
			for _, data := range variants {
				c, err := Open(bytes.NewReader(data), int64(len(data)))
				if err != nil {
					if err.Error() == "" {
						t.Fatalf("%s cut at %d: empty error", cabName, cut)
					}
					continue
				}
				_ = c.Walk(func(f *File, r io.Reader) error {
					h := sha256.New()
					if _, err := io.Copy(h, r); err != nil {
						return nil
					}
					name := strings.ReplaceAll(f.Name, `\`, "/")
					if got, ok := digests[name]; !ok || got != hex.EncodeToString(h.Sum(nil)) {
						t.Errorf("%s cut at %d: member %q read without error but wrong", cabName, cut, name)
					}
					return nil
				})
			}
		}
	}
}

// TestFlippedBytes inverts every byte of every valid test cabinet in turn: whatever
// comes out, nothing panics or hangs.
func TestFlippedBytes(t *testing.T) {
	want := loadMembers(t)
	for cabName, members := range want {
		if members == nil {
			continue
		}
		full := readShared(t, cabName)
		for i := range full {
			data := bytes.Clone(full)
			data[i] ^= 0xFF
			c, err := Open(bytes.NewReader(data), int64(len(data)), WithLimits(Limits{MaxMemberSize: 1 << 20, MaxTotalSize: 8 << 20}))
			if err != nil {
				continue
			}
			_ = c.Walk(func(f *File, r io.Reader) error {
				_, _ = io.Copy(io.Discard, r)
				return nil
			})
		}
	}
}

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestHugeDeclaredCounts(t *testing.T) {
	base, _ := storedCab([][]byte{pattern(10, 1)})
	tests := []struct {
		desc   string
		data   []byte
		substr string
	}{
		{"65535 folders", put16(base, 26, 0xFFFF), "declares 65535 folders"},
		{"65535 files", put16(base, 28, 0xFFFF), "declares 65535 files"},
		{"65535 data blocks", put16(base, headerFixedSize+4, 0xFFFF), "folder 0 declares 65535 data blocks from byte"},
		{"header reserve of 60000 bytes", func() []byte {
			tc := tCab{headerRes: []byte("x"), folders: []tFolder{storedFolder([]byte("hi"))}, files: []tFile{{name: "a", size: 2}}}
			return put16(tc.bytes(), headerFixedSize, 60000)
		}(), "header reserve (bytes 40 to 60040) runs past the end of the file"},
		{"header reserve beyond the format's maximum", func() []byte {
			tc := tCab{headerRes: []byte("x"), folders: []tFolder{storedFolder([]byte("hi"))}, files: []tFile{{name: "a", size: 2}}}
			return put16(tc.bytes(), headerFixedSize, 65535)
		}(), "more than the format's 60000"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var err error
			n := allocated(func() { err = openErr(tt.data) })
			wantErr(t, err, ErrCorrupt, tt.substr)
			if n > 64<<10 {
				t.Errorf("Open allocated %d bytes for a %d-byte file", n, len(tt.data))
			}
		})
	}
}

func TestMalformedStructure(t *testing.T) {
	one := [][]byte{pattern(100, 1)}
	base, tc := storedCab(one)
	tests := []struct {
		desc   string
		data   []byte
		target error
		substr string
	}{
		{"files table beyond the end", put32(base, 16, 1<<30), ErrCorrupt, "declares 1 files from byte 1073741824"},
		{"data beyond the end", put32(base, headerFixedSize, 1<<30), ErrCorrupt, "folder 0 declares 1 data blocks from byte 1073741824"},
		{"cbCabinet beyond the end", put32(base, 8, uint32(len(base)+1)), ErrCorrupt, "bytes but the file holds only"},
		{"version 2.3", put16(base, 24, 0x0203), ErrCorrupt, "version 2.3 is not supported"},
		{"previous cabinet flag", put16(base, 30, flagPrevCabinet), ErrSpanned, "one part of a set"},
		{"next cabinet flag", put16(base, 30, flagNextCabinet), ErrSpanned, "one part of a set"},
		{"member continued from the previous cabinet", func() []byte {
			tc := tc
			tc.files = []tFile{{name: "x", size: 10, folder: folderContinuedFromPrev}}
			return tc.bytes()
		}(), ErrSpanned, `member "x" continues from or into another cabinet`},
		{"member in a folder that does not exist", func() []byte {
			tc := tc
			tc.files = []tFile{{name: "x", size: 10, folder: 3}}
			return tc.bytes()
		}(), ErrCorrupt, `member "x" refers to folder 3 but the cabinet has 1 folders`},
		{"name without terminator", func() []byte {
			tc := tCab{files: []tFile{{name: strings.Repeat("n", 300)}}}
			return tc.bytes()
		}(), ErrCorrupt, "is longer than 255 bytes"},
		{"not a cabinet", []byte("PK\x03\x04 this is a zip file, not a cabinet......"), ErrNotCabinet, `starts with "PK\x03\x04"`},
		{"empty file", nil, ErrNotCabinet, "only 0 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			wantErr(t, openErr(tt.data), tt.target, tt.substr)
		})
	}
}

func TestMemberExtents(t *testing.T) {
	content := pattern(40000, 7)
	fo := storedFolder(content)
	tests := []struct {
		desc   string
		file   tFile
		substr string
	}{
		{"beyond the folder's capacity", tFile{name: "big", size: 70000, offset: 0},
			`member "big" occupies bytes 0 to 70000 of folder 0, but the folder's 2 data blocks hold at most 65536 bytes`},
		{"offset beyond the capacity", tFile{name: "far", size: 1, offset: 1 << 31},
			`member "far" occupies bytes 2147483648 to 2147483649 of folder 0`},
		{"beyond the decoded data", tFile{name: "tail", size: 100, offset: 39950},
			`member "tail" occupies bytes 39950 to 40050 of folder 0, but the folder's data ends at byte 40000`},
		{"empty member beyond the decoded data", tFile{name: "empty", size: 0, offset: 50000},
			`member "empty" occupies bytes 50000 to 50000 of folder 0, but the folder's data ends at byte 40000`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			tc := tCab{folders: []tFolder{fo}, files: []tFile{{name: "ok", size: 100}, tt.file}}
			errs := walkErrors(t, tc.bytes(), WithName("t.cab"))
			if errs["ok"] != nil {
				t.Errorf("ok: %v", errs["ok"])
			}
			wantErr(t, errs[tt.file.name], ErrCorrupt, tt.substr)
			// Open reports the same.
			c, _ := Open(bytes.NewReader(tc.bytes()), int64(len(tc.bytes())))
			r, err := c.Open(tt.file.name)
			if err == nil {
				_, err = io.Copy(io.Discard, r)
			}
			wantErr(t, err, ErrCorrupt, "occupies bytes")
		})
	}
}

func TestBadBlocks(t *testing.T) {
	tests := []struct {
		desc   string
		block  tBlock
		substr string
	}{
		{"zero uncompressed bytes", tBlock{payload: []byte("abc"), uncomp: 0}, "declares 0 uncompressed bytes"},
		{"too many uncompressed bytes", tBlock{payload: []byte("abc"), uncomp: 40000}, "declares 40000 uncompressed bytes"},
		{"stored size mismatch", tBlock{payload: []byte("abc"), uncomp: 4}, "uncompressed block holds 3 bytes but declares 4"},
		{"MSZIP without CK", tBlock{payload: []byte("XYdata"), uncomp: 4}, `MSZIP block does not start with "CK"`},
		{"MSZIP garbage", tBlock{payload: []byte("CK\xff\xff\xff\xff"), uncomp: 4}, "MSZIP block does not inflate"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			typ := uint16(MethodNone)
			if strings.HasPrefix(tt.desc, "MSZIP") {
				typ = uint16(MethodMSZIP)
			}
			tc := tCab{
				folders: []tFolder{{typ: typ, blocks: []tBlock{tt.block}, declaredBlocks: -1}, storedFolder([]byte("second"))},
				files:   []tFile{{name: "a", size: 3}, {name: "b", size: 1, offset: 2}, {name: "c", size: 6, folder: 1}},
			}
			errs := walkErrors(t, tc.bytes())
			wantErr(t, errs["a"], ErrCorrupt, "folder 0, data block 0 (at byte ")
			wantErr(t, errs["a"], ErrCorrupt, tt.substr)
			// The folder is one stream: its next member fails too, with the same cause.
			wantErr(t, errs["b"], ErrCorrupt, tt.substr)
			// The next folder still extracts.
			if errs["c"] != nil {
				t.Errorf("member of the next folder: %v", errs["c"])
			}
		})
	}
}

func TestChecksums(t *testing.T) {
	content := pattern(50000, 3)
	data, _ := storedCab([][]byte{content}, [][]byte{[]byte("other folder")})
	// Flip a byte in the second block of the first folder.
	i := bytes.Index(data, content[40000:40010])
	bad := bytes.Clone(data)
	bad[i] ^= 1

	errs := walkErrors(t, bad, WithName("t.cab"))
	wantErr(t, errs["a/0.bin"], ErrCorrupt, `cab: t.cab: member "a/0.bin": folder 0, data block 1 (at byte `)
	wantErr(t, errs["a/0.bin"], ErrCorrupt, "does not match the block's")
	if errs["b/0.bin"] != nil {
		t.Errorf("other folder: %v", errs["b/0.bin"])
	}

	got := mustWalk(t, bad, WithVerifyChecksums(false))
	want := bytes.Clone(content)
	want[40000] ^= 1
	if !bytes.Equal(got["a/0.bin"], want) {
		t.Errorf("with checksums off: wrong bytes")
	}
}

func TestReserveAreas(t *testing.T) {
	data := readShared(t, "reserve_HFD.cab")
	c, err := Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(c.Header.HeaderReserve), "reserved header test 12345"; got != want {
		t.Errorf("HeaderReserve = %q, want %q", got, want)
	}
	if c.Header.FolderReserveSize != 26 || c.Header.DataReserveSize != 24 {
		t.Errorf("reserve sizes %d/%d, want 26/24", c.Header.FolderReserveSize, c.Header.DataReserveSize)
	}
	if !strings.HasPrefix(string(c.Folders[0].Reserve), "reserved folder test") {
		t.Errorf("folder reserve %q", c.Folders[0].Reserve)
	}

	// Our own: all three reserves, several blocks, checksums on.
	content := pattern(100000, 9)
	tc := tCab{headerRes: bytes.Repeat([]byte{0xAB}, 20), folderRes: 3, dataRes: 255,
		folders: []tFolder{storedFolder(content)}, files: []tFile{{name: "x", size: uint32(len(content))}}}
	if got := mustWalk(t, tc.bytes()); !bytes.Equal(got["x"], content) {
		t.Errorf("member with reserves: wrong bytes")
	}
}

func TestOverlappingMembers(t *testing.T) {
	content := pattern(300, 4)
	tc := tCab{folders: []tFolder{storedFolder(content)}, files: []tFile{
		{name: "first", size: 200, offset: 0},
		{name: "inside", size: 100, offset: 50},
		{name: "empty", size: 0, offset: 0},
		{name: "last", size: 100, offset: 200},
	}}
	data := tc.bytes()
	errs := walkErrors(t, data)
	for _, name := range []string{"first", "empty", "last"} {
		if errs[name] != nil {
			t.Errorf("%s: %v", name, errs[name])
		}
	}
	wantErr(t, errs["inside"], ErrCorrupt, "overlapping members cannot be streamed")

	c, _ := Open(bytes.NewReader(data), int64(len(data)))
	r, err := c.Open("inside")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, content[50:150]) {
		t.Errorf("Open(inside) = %d bytes, %v; want content[50:150]", len(got), err)
	}
}

func TestLimits(t *testing.T) {
	a, b := pattern(3000, 5), pattern(70000, 6)
	data, _ := storedCab([][]byte{a, b})

	errs := walkErrors(t, data, WithName("t.cab"), WithLimits(Limits{MaxMemberSize: 5000}))
	if errs["a/0.bin"] != nil {
		t.Errorf("small member: %v", errs["a/0.bin"])
	}
	var le *LimitError
	if !errors.As(errs["a/1.bin"], &le) || le.Limit != "MaxMemberSize" || le.Member != "a/1.bin" || le.Max != 5000 || le.Size != 70000 {
		t.Errorf("big member: error %v, want *LimitError MaxMemberSize", errs["a/1.bin"])
	}
	wantErr(t, errs["a/1.bin"], nil, `cab: t.cab: member "a/1.bin" is 70000 bytes, over the member size limit of 5000 bytes (raise Limits.MaxMemberSize)`)

	errs = walkErrors(t, data, WithLimits(Limits{MaxTotalSize: 40000}))
	if errs["a/0.bin"] != nil {
		t.Errorf("small member: %v", errs["a/0.bin"])
	}
	if !errors.As(errs["a/1.bin"], &le) || le.Limit != "MaxTotalSize" || le.Member != "a/1.bin" {
		t.Errorf("big member: error %v, want *LimitError MaxTotalSize", errs["a/1.bin"])
	}

	// Bytes decoded only to skip count too: reading just the second member of a folder
	// decodes the first.
	c, _ := Open(bytes.NewReader(data), int64(len(data)), WithLimits(Limits{MaxTotalSize: 70000}))
	r, err := c.Open("a/1.bin")
	if err == nil {
		_, err = io.Copy(io.Discard, r)
	}
	if !errors.As(err, &le) || le.Limit != "MaxTotalSize" {
		t.Errorf("Open: error %v, want *LimitError MaxTotalSize", err)
	}
}

func TestNames(t *testing.T) {
	tc := tCab{folders: []tFolder{storedFolder([]byte("x"))}, files: []tFile{
		{name: "caf\xe9.txt", size: 1},                                // code page: ISO-8859-1
		{name: "bad\xff\xfeutf8.txt", size: 1, attrs: attrNameIsUTF8}, // invalid UTF-8
		{name: "dir\\sub\\\u00e9t\u00e9.txt", size: 1, attrs: attrNameIsUTF8},
	}}
	data := tc.bytes()
	c, err := Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"café.txt", "bad\uFFFDutf8.txt", `dir\sub\été.txt`}
	for i, f := range c.Files {
		if f.Name != want[i] {
			t.Errorf("name %d = %q, want %q", i, f.Name, want[i])
		}
	}
	if got, want := c.Files[0].Modified, time.Date(2003, 3, 12, 11, 13, 52, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Modified = %v, want %v", got, want)
	}
	for _, name := range []string{"DIR/SUB/ÉTÉ.TXT", `dir\sub\été.txt`, "CAFÉ.txt"} {
		if _, err := c.Open(name); err != nil {
			t.Errorf("Open(%q): %v", name, err)
		}
	}
	_, err = c.Open("missing.txt")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing): %v, want fs.ErrNotExist", err)
	}
}

func TestWalkContract(t *testing.T) {
	data, _ := storedCab([][]byte{pattern(10, 1), pattern(20, 2)}, [][]byte{pattern(30, 3)})
	c, _ := Open(bytes.NewReader(data), int64(len(data)))

	// fn's error stops Walk and is returned as is.
	stop := errors.New("stop")
	calls := 0
	if err := c.Walk(func(*File, io.Reader) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("Walk = %v after %d calls, want stop after 1", err, calls)
	}

	// Order: folder by folder, by offset; readers die when fn returns.
	var names []string
	var kept io.Reader
	_ = c.Walk(func(f *File, r io.Reader) error {
		names = append(names, f.Name)
		kept = r
		return nil
	})
	if got := strings.Join(names, ","); got != "a/0.bin,a/1.bin,b/0.bin" {
		t.Errorf("order %s", got)
	}
	if _, err := kept.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "read after Walk's callback returned") {
		t.Errorf("read after callback: %v", err)
	}

	// Unread members are skipped by decoding: reading only the last gives its bytes.
	var last []byte
	_ = c.Walk(func(f *File, r io.Reader) error {
		if f.Name == "a/1.bin" {
			last, _ = io.ReadAll(r)
		}
		return nil
	})
	if !bytes.Equal(last, pattern(20, 2)) {
		t.Errorf("skipped-to member: wrong bytes")
	}
}

func TestUnknownMethod(t *testing.T) {
	tc := tCab{folders: []tFolder{{typ: 7, blocks: []tBlock{{payload: []byte("zz"), uncomp: 2}}, declaredBlocks: -1},
		{typ: uint16(MethodLZX) | 25<<8, blocks: []tBlock{{payload: []byte("zz"), uncomp: 2}}, declaredBlocks: -1},
		storedFolder([]byte("ok"))},
		files: []tFile{{name: "seven", size: 2}, {name: "lzx25", size: 2, folder: 1}, {name: "ok", size: 2, folder: 2}}}
	errs := walkErrors(t, tc.bytes())
	var ue *UnsupportedCompressionError
	if !errors.As(errs["seven"], &ue) || ue.Method != "Method(7)" {
		t.Errorf("method 7: %v", errs["seven"])
	}
	wantErr(t, errs["lzx25"], ErrCorrupt, "folder 1: the folder's LZX window of 2^25 bytes is outside 2^15..2^21")
	if errs["ok"] != nil {
		t.Errorf("ok: %v", errs["ok"])
	}
}
