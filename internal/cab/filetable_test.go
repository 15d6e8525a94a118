package cab

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r *bytes.Reader
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestFileTableChunks checks that the file table, read in growing chunks, is parsed
// whole whatever its names' lengths, and that a table cut short still fails.
func TestFileTableChunks(t *testing.T) {
	long := string(bytes.Repeat([]byte("n"), maxNameBytes-1))
	for _, tt := range []struct {
		desc  string
		n     int
		names func(i int) string
	}{
		{"short names", 3000, func(i int) string {
			return "x\\" + string(rune('a'+i%26)) + string(rune('0'+i%10)) + "_" + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
		}},
		{"longest names", 500, func(i int) string {
			return long[:maxNameBytes-5] + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26)) + "z"
		}},
		{"mixed lengths", 2000, func(i int) string {
			return long[:(i*37)%200] + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
		}},
		{"long names last", 1000, func(i int) string {
			if i > 900 {
				return long[:250] + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
			}
			return "s" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
		}},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			var tc tCab
			content := pattern(tt.n, 5)
			for i := range tt.n {
				tc.files = append(tc.files, tFile{name: tt.names(i), size: 1, offset: uint32(i)})
			}
			tc.folders = []tFolder{storedFolder(content)}
			data := tc.bytes()
			cr := &countingReaderAt{r: bytes.NewReader(data)}
			c, err := Open(cr, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Files) != tt.n {
				t.Fatalf("%d files, want %d", len(c.Files), tt.n)
			}
			table := 0
			for i, f := range c.Files {
				if f.Name != tt.names(i) || f.Offset != int64(i) || f.Size != 1 {
					t.Fatalf("file %d: %q at %d, want %q at %d", i, f.Name, f.Offset, tt.names(i), i)
				}
				table += fileFixedSize + len(f.Name) + 1
			}
			// Open reads the table, not the longest table the count allows.
			if cr.n > int64(3*table+4*(fileFixedSize+maxNameBytes)+4096) {
				t.Errorf("Open read %d bytes for a %d-byte file table", cr.n, table)
			}
			got := mustWalk(t, data)
			if !bytes.Equal(got[strings.ReplaceAll(tt.names(tt.n-1), `\`, "/")], content[tt.n-1:]) {
				t.Errorf("last member: wrong bytes")
			}
			// Cut inside the table's last entry: truncated, as before.
			filesOff := int(c.Header.FilesOffset)
			cut := data[:filesOff+table-3]
			if _, err := Open(bytes.NewReader(cut), int64(len(cut))); err == nil || !errors.Is(err, ErrCorrupt) {
				t.Errorf("table cut short: err %v, want ErrCorrupt", err)
			}
		})
	}
}
