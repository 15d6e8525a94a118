package cab

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader opens, walks and reads whatever it is given, with small limits: it must
// never panic, hang or allocate without bound.
func FuzzReader(f *testing.F) {
	shared, _ := filepath.Glob(filepath.Join(sharedCabs, "*.cab"))
	for _, p := range shared {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	stored, _ := storedCab([][]byte{pattern(100, 1), pattern(40000, 2)}, [][]byte{nil})
	f.Add(stored)
	mszip := tCab{folders: []tFolder{mszipFolder(f, bytes.Repeat([]byte("hello, cabinet "), 3000))},
		files: []tFile{{name: `dir\a.txt`, size: 20000}, {name: "b.txt", size: 25000, offset: 20000}}}
	f.Add(mszip.bytes())
	reserved := tCab{headerRes: []byte("sig"), folderRes: 2, dataRes: 3,
		folders: []tFolder{storedFolder([]byte("reserved"))}, files: []tFile{{name: "r", size: 8}}}
	f.Add(reserved.bytes())
	for _, b := range writerSeeds(f) {
		f.Add(b)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Open(bytes.NewReader(data), int64(len(data)),
			WithLimits(Limits{MaxMemberSize: 1 << 20, MaxTotalSize: 4 << 20}))
		if err != nil {
			if c != nil {
				t.Fatal("Open returned both a cabinet and an error")
			}
			return
		}
		_ = c.Walk(func(f *File, r io.Reader) error {
			n, err := io.Copy(io.Discard, r)
			if err == nil && n != f.Size {
				t.Fatalf("member %q: read %d bytes without error, declared %d", f.Name, n, f.Size)
			}
			return nil
		})
		for i, f := range c.Files {
			if i == 3 {
				break
			}
			if r, err := c.Open(f.Name); err == nil {
				_, _ = io.Copy(io.Discard, r)
			}
			_, _ = SafePath(f.Name)
		}
	})
}
