package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sort"
	"testing"
	"testing/iotest"
)

func TestSeqReaderAt(t *testing.T) {
	data := pattern(100000)
	s := newSeqReaderAt(iotest.HalfReader(bytes.NewReader(data)), int64(len(data)), "m.cab")
	read := func(off, n int) ([]byte, error) {
		p := make([]byte, n)
		k, err := s.ReadAt(p, int64(off))
		return p[:k], err
	}
	for _, r := range []struct{ off, n int }{{0, 4}, {0, 36}, {40, 1000}, {500, 3000}, {500, 10}, {20000, 5000}, {24000, 40000}, {99990, 10}} {
		got, err := read(r.off, r.n)
		if err != nil || !bytes.Equal(got, data[r.off:r.off+r.n]) {
			t.Fatalf("ReadAt(%d, %d): %d bytes, %v", r.off, r.n, len(got), err)
		}
	}
	if got, err := read(99995, 10); err != io.EOF || !bytes.Equal(got, data[99995:]) {
		t.Fatalf("read past the end: %d bytes, %v", len(got), err)
	}
	if _, err := read(100000, 1); err != io.EOF {
		t.Fatalf("read at the end: %v", err)
	}
	if _, err := read(1000, 10); !errors.Is(err, errNotSequential) {
		t.Fatalf("backward read: %v, want errNotSequential", err)
	}
	// A stream shorter than announced, or failing, fails the reads for good.
	s = newSeqReaderAt(bytes.NewReader(data[:50]), 100, "m.cab")
	if _, err := s.ReadAt(make([]byte, 60), 0); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short stream: %v", err)
	}
	boom := errors.New("boom")
	s = newSeqReaderAt(iotest.ErrReader(boom), 100, "m.cab")
	if _, err := s.ReadAt(make([]byte, 10), 20); !errors.Is(err, boom) {
		t.Fatalf("failing stream: %v", err)
	}
	if _, err := s.ReadAt(make([]byte, 10), 30); !errors.Is(err, boom) {
		t.Fatalf("failing stream, second read: %v", err)
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// tablesLast moves the file table of a cabinet written by storedCab (header, folder
// table, file table, data) after the data, which a cabinet may do.
func tablesLast(t *testing.T, c []byte) []byte {
	le := binary.LittleEndian
	filesOff := int(le.Uint32(c[16:]))
	nFolders := int(le.Uint16(c[26:]))
	foldersOff := 36
	if le.Uint16(c[30:])&4 != 0 {
		foldersOff += 4 + int(le.Uint16(c[36:]))
	}
	dataOff := int(le.Uint32(c[foldersOff:]))
	table := bytes.Clone(c[filesOff:dataOff])
	out := append(append(bytes.Clone(c[:filesOff]), c[dataOff:]...), table...)
	le.PutUint32(out[16:], uint32(len(out)-len(table)))
	for i := range nFolders {
		p := foldersOff + 8*i
		le.PutUint32(out[p:], le.Uint32(out[p:])-uint32(len(table)))
	}
	return out
}

// TestPackageCabinet reads the basic fixture with its package cabinet in several
// places and layouts: the records must not change.
func TestPackageCabinet(t *testing.T) {
	fx := loadFixture(t, "basic")
	want := readBytes(t, fx.build(t, false), Options{})
	wantJSON := jsonLines(t, want.Updates)
	names := make([]string, 0, len(fx.cabs))
	for n := range fx.cabs {
		names = append(names, n)
	}
	sort.Strings(names)
	var details []cabMember
	for _, n := range names {
		details = append(details, cabMember{n, packCab(t, 0, fx.cabs[n])})
	}
	pkg := cabMember{"package.cab", packCab(t, 0, []cabMember{{"package.xml", fx.pkg}})}
	index := cabMember{"index.xml", fx.index}
	stored := cabMember{"package.cab", tablesLast(t, storedCab(0, []cabMember{{"package.xml", fx.pkg}}))}
	tmp := t.TempDir()
	tests := []struct {
		desc    string
		members []cabMember
		warn    string // a warning kind the read must report
		opts    Options
	}{
		{"package cabinet last", append(append([]cabMember{index}, details...), pkg), "", Options{}},
		{"file table after the data", append([]cabMember{index, stored}, details...), "", Options{}},
		{"file table after the data, spooled", append([]cabMember{index, stored}, details...), "", Options{MemoryBudget: 1, TempDir: tmp}},
		{"two package cabinets", append([]cabMember{index, pkg}, append(details, stored)...), "unexpected member", Options{}},
		{"package cabinet before index.xml", append([]cabMember{pkg, index}, details...), "", Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			data := packCab(t, 20, tt.members)
			c := readBytes(t, data, tt.opts)
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("%d temporary files left", len(left))
			}
			if got := jsonLines(t, c.Updates); !bytes.Equal(got, wantJSON) {
				t.Fatalf("records differ from the plain read:\n%s\nwant\n%s", got, wantJSON)
			}
			found := tt.warn == ""
			for _, w := range c.Stats.Warnings {
				found = found || w.Kind == tt.warn
			}
			if !found || tt.warn == "" && c.Stats.WarningCount() != want.Stats.WarningCount() {
				t.Fatalf("warnings %+v (want %q)", c.Stats.Warnings, tt.warn)
			}
			if c.Stats.BytesDecoded != want.Stats.BytesDecoded && tt.desc == "package cabinet last" {
				t.Errorf("bytes decoded %d, want %d", c.Stats.BytesDecoded, want.Stats.BytesDecoded)
			}
		})
	}
}
