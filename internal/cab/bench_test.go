package cab

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/openwua/waptwua/internal/lzx"
)

// xmlish is catalog-like text: compressible, but not trivially.
func xmlish(n int) []byte {
	var b bytes.Buffer
	x := uint32(12345)
	rnd := func() uint32 { x ^= x << 13; x ^= x >> 17; x ^= x << 5; return x }
	for b.Len() < n {
		fmt.Fprintf(&b, `<Update UpdateId="%08x-%04x-0000-0000-%08x" RevisionNumber="%d" RevisionId="%d" IsLeaf="true"/>`+"\n",
			rnd(), rnd()&0xffff, rnd(), rnd()%300, 20000000+rnd()%30000000)
	}
	return b.Bytes()[:n]
}

// BenchmarkWalk measures Walk over in-memory cabinets of each method (2 MiB members).
func BenchmarkWalk(b *testing.B) {
	content := xmlish(2 << 20)
	folders := map[string]tFolder{
		"None":   storedFolder(content),
		"MSZIP":  mszipFolder(b, content),
		"LZX:21": lzxFolder(b, content, 21, lzx.Verbatim),
	}
	for _, name := range []string{"None", "MSZIP", "LZX:21"} {
		data := tCab{folders: []tFolder{folders[name]}, files: []tFile{{name: "m", size: uint32(len(content))}}}.bytes()
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(content)))
			b.ReportAllocs()
			for b.Loop() {
				c, err := Open(bytes.NewReader(data), int64(len(data)))
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Walk(func(f *File, r io.Reader) error {
					_, err := io.Copy(io.Discard, r)
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
