package cab

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// Round trips through the package's Writer: what it writes, the reader gives back.

type rtMember struct {
	name    string
	content []byte
}

type rtFolder struct {
	method     Method
	windowBits int
	members    []rtMember
}

var rtTime = time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)

// writeCab makes a cabinet with the Writer.
func writeCab(tb testing.TB, opts WriterOptions, folders []rtFolder) []byte {
	tb.Helper()
	if opts.TempDir == "" {
		opts.TempDir = tb.TempDir()
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, opts)
	for _, fo := range folders {
		if err := w.NewFolder(fo.method, fo.windowBits); err != nil {
			tb.Fatalf("NewFolder(%v, %d): %v", fo.method, fo.windowBits, err)
		}
		for _, m := range fo.members {
			mw, err := w.Create(m.name, rtTime)
			if err != nil {
				tb.Fatalf("Create(%q): %v", m.name, err)
			}
			if _, err := mw.Write(m.content); err != nil {
				tb.Fatalf("Write(%q): %v", m.name, err)
			}
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// rtFolders is a cabinet's worth of members of every shape: empty, tiny, exactly one
// frame, several frames with matches reaching across frames.
func rtFolders(method Method, windowBits int) []rtFolder {
	multi := append(bytes.Repeat(xmlish(20000), 4), pattern(30000, 21)...) // 110000 bytes
	return []rtFolder{
		{method, windowBits, []rtMember{
			{"empty-first", nil},
			{`dir\sub\multi.xml`, multi},
			{"empty-middle", nil},
			{"tiny", []byte("x")},
		}},
		{method, windowBits, []rtMember{{"frame.bin", pattern(maxFrame, 22)}}},
		{MethodNone, 0, []rtMember{{"stored/après.txt", []byte("stored in its own folder")}}},
		{method, windowBits, []rtMember{{"only-empty", nil}}},
	}
}

func checkRoundTrip(t *testing.T, data []byte, folders []rtFolder) {
	t.Helper()
	c, err := Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := map[string][]byte{}
	var order []string
	for _, fo := range folders {
		for _, m := range fo.members {
			name := strings.ReplaceAll(m.name, "/", `\`)
			want[name] = m.content
			order = append(order, name)
		}
	}
	if len(c.Files) != len(order) {
		t.Fatalf("%d members, want %d", len(c.Files), len(order))
	}
	for i, f := range c.Files {
		if f.Name != order[i] || f.Size != int64(len(want[f.Name])) || !f.Modified.Equal(rtTime) {
			t.Errorf("member %d: %q %d bytes %v, want %q %d bytes %v", i, f.Name, f.Size, f.Modified, order[i], len(want[order[i]]), rtTime)
		}
	}
	seen := 0
	if err := c.Walk(func(f *File, r io.Reader) error {
		seen++
		got, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if !bytes.Equal(got, want[f.Name]) {
			t.Errorf("Walk: %s: wrong bytes (%d, want %d)", f.Name, len(got), len(want[f.Name]))
		}
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if seen != len(order) {
		t.Errorf("Walk saw %d members, want %d", seen, len(order))
	}
	for name, content := range want {
		r, err := c.Open(strings.ReplaceAll(name, `\`, "/"))
		if err != nil {
			t.Errorf("Open(%q): %v", name, err)
			continue
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, content) {
			t.Errorf("Open(%q): %d bytes, %v", name, len(got), err)
		}
	}
}

func TestWriterRoundTrip(t *testing.T) {
	type config struct {
		desc       string
		method     Method
		windowBits int
		opts       WriterOptions
	}
	configs := []config{
		{"None", MethodNone, 0, WriterOptions{Checksums: true}},
		{"MSZIP", MethodMSZIP, 0, WriterOptions{Checksums: true}},
		{"MSZIP without checksums, with reserves", MethodMSZIP, 0, WriterOptions{HeaderReserve: 20, FolderReserve: 4, DataReserve: 8}},
	}
	for bits := 15; bits <= 21; bits++ {
		configs = append(configs, config{fmt.Sprintf("LZX window 2^%d", bits), MethodLZX, bits, WriterOptions{Checksums: bits%2 == 0}})
	}
	configs = append(configs, config{"LZX with reserves", MethodLZX, 16, WriterOptions{Checksums: true, HeaderReserve: 6144, FolderReserve: 255, DataReserve: 255}})
	for _, cf := range configs {
		t.Run(cf.desc, func(t *testing.T) {
			folders := rtFolders(cf.method, cf.windowBits)
			data := writeCab(t, cf.opts, folders)
			checkRoundTrip(t, data, folders)
			c, _ := Open(bytes.NewReader(data), int64(len(data)))
			if len(c.Header.HeaderReserve) != cf.opts.HeaderReserve || c.Header.DataReserveSize != cf.opts.DataReserve {
				t.Errorf("reserves %d/%d, want %d/%d", len(c.Header.HeaderReserve), c.Header.DataReserveSize, cf.opts.HeaderReserve, cf.opts.DataReserve)
			}
			if cf.method == MethodLZX && c.Folders[0].WindowBits != cf.windowBits {
				t.Errorf("window bits %d, want %d", c.Folders[0].WindowBits, cf.windowBits)
			}
		})
	}
}

// writerSeeds returns small cabinets made by the package's Writer, as fuzz seeds.
func writerSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, fo := range []rtFolder{{MethodNone, 0, nil}, {MethodMSZIP, 0, nil}, {MethodLZX, 15, nil}, {MethodLZX, 21, nil}} {
		fo.members = []rtMember{{"a.txt", []byte("hello, hello, hello cabinet")}, {`d\b.bin`, pattern(3000, 1)}, {"empty", nil}}
		seeds = append(seeds, writeCab(tb, WriterOptions{Checksums: true, HeaderReserve: 4}, []rtFolder{fo, {MethodMSZIP, 0, []rtMember{{"z", []byte("zz")}}}}))
	}
	return seeds
}
