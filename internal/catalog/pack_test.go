package catalog

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/openwua/waptwua/internal/cab"
)

// packCab packs members into one LZX folder (window 2^21, as Microsoft's catalogs)
// of a cabinet with a header reserve of headerReserve bytes, with cab.Writer.
func packCab(t testing.TB, headerReserve int, members []cabMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := cab.NewWriter(&buf, cab.WriterOptions{HeaderReserve: headerReserve, TempDir: t.TempDir()})
	if err := w.NewFolder(cab.MethodLZX, 21); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2024, 1, 9, 18, 0, 0, 0, time.UTC)
	for _, m := range members {
		mw, err := w.Create(m.name, when)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(mw, bytes.NewReader(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
