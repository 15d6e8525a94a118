package pkg

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestHostileZips: hostile or broken zips are refused with ErrMalformed, never a panic,
// and without inflating more than the limits.
func TestHostileZips(t *testing.T) {
	p := pkiOnce()
	good := signedPackage(t, sampleSpec(), p.signer)
	small := Limits{MaxFileSize: 1 << 20, MaxTotalSize: 2 << 20}

	tests := []struct {
		desc    string
		zip     func() []byte
		lim     Limits
		wantMsg string
	}{
		{desc: "not a zip", zip: func() []byte { return []byte("this is not a zip file") }, wantMsg: "not a zip file"},
		{desc: "empty", zip: func() []byte { return nil }, wantMsg: "not a zip file"},
		{desc: "truncated package", zip: func() []byte { return good[:len(good)/2] }, wantMsg: "not a zip file"},
		{desc: "corrupt deflate data", zip: func() []byte {
			b := bytes.Clone(good)
			copy(b[60:], bytes.Repeat([]byte{0xff}, 40)) // inside the first entry's data
			return b
		}, wantMsg: "WAPT/control"},
		{desc: "larger than MaxSize", zip: func() []byte { return good }, lim: Limits{MaxSize: 100}, wantMsg: "more than the 100 allowed"},
		{desc: "zip bomb: one entry inflating past the file limit", lim: small, wantMsg: "claims 4194304 bytes, more than the 1048576 allowed",
			zip: func() []byte {
				return writeEntries(t, []zipEntry{{"WAPT/persistent/waptwua_rules.json", make([]byte, 4<<20)}})
			}},
		{desc: "zip bomb: header lies about the size", lim: small, wantMsg: "zip entry WAPT/persistent/waptwua_rules.json: corrupt data",
			zip: func() []byte { return lyingZip(t, "WAPT/persistent/waptwua_rules.json", 4<<20) }},
		{desc: "zip bomb: many entries adding up", lim: small, wantMsg: "add up to more than 2097152 bytes",
			zip: func() []byte {
				var e []zipEntry
				for i := range 5 {
					e = append(e, zipEntry{fmt.Sprintf("WAPT/f%d", i), make([]byte, 900<<10)})
				}
				return writeEntries(t, e)
			}},
		{desc: "10,000 entries", wantMsg: "the zip has 10000 entries, more than the 64 allowed",
			zip: func() []byte {
				var buf bytes.Buffer
				zw := zip.NewWriter(&buf)
				for i := range 10000 {
					if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("f%d", i), Method: zip.Store}); err != nil {
						t.Fatal(err)
					}
				}
				zw.Close()
				return buf.Bytes()
			}},
		{desc: "../ name", wantMsg: `zip entry "WAPT/../../evil.txt": ".." element`,
			zip: func() []byte { return addEntry(t, good, "WAPT/../../evil.txt") }},
		{desc: "leading ../", wantMsg: `zip entry "../evil.txt": ".." element`,
			zip: func() []byte { return addEntry(t, good, "../evil.txt") }},
		{desc: "absolute path", wantMsg: "absolute path", zip: func() []byte { return addEntry(t, good, "/etc/cron.d/evil") }},
		{desc: "drive letter", wantMsg: "drive letter", zip: func() []byte { return addEntry(t, good, "C:/Windows/evil.dll") }},
		{desc: "backslashes", wantMsg: "backslash", zip: func() []byte { return addEntry(t, good, `WAPT\..\evil`) }},
		{desc: "duplicate name", wantMsg: `zip entry "WAPT/control" appears twice`,
			zip: func() []byte { return addEntry(t, good, ControlName) }},
		{desc: "duplicate name differing by case", wantMsg: `zip entry "wapt/CONTROL" appears twice`,
			zip: func() []byte { return addEntry(t, good, "wapt/CONTROL") }},
		{desc: "encrypted entry", wantMsg: "is encrypted",
			zip: func() []byte {
				var buf bytes.Buffer
				zw := zip.NewWriter(&buf)
				w, _ := zw.CreateHeader(&zip.FileHeader{Name: ControlName, Method: zip.Store, Flags: 0x1})
				w.Write([]byte("x"))
				zw.Close()
				return buf.Bytes()
			}},
		{desc: "directory with content", wantMsg: "directory with content",
			zip: func() []byte {
				var buf bytes.Buffer
				zw := zip.NewWriter(&buf)
				w, _ := zw.CreateRaw(&zip.FileHeader{Name: "WAPT/", Method: zip.Store, CompressedSize64: 1, UncompressedSize64: 1})
				w.Write([]byte("x"))
				zw.Close()
				return buf.Bytes()
			}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			opts := VerifyOptions{Roots: pool(p.ca.cert), Now: clock, Limits: tt.lim}
			_, err := Verify(tt.zip(), opts)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify: err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Verify: %v\nwant it to contain %q", err, tt.wantMsg)
			}
			if _, err := Open(tt.zip(), tt.lim); !errors.Is(err, ErrMalformed) {
				t.Errorf("Open: err = %v, want ErrMalformed", err)
			}
		})
	}
}

// addEntry appends an entry with the given name (and small content) to a zip.
func addEntry(t *testing.T, z []byte, name string) []byte {
	t.Helper()
	return rewrite(t, z, func(e []zipEntry) []zipEntry { return append(e, zipEntry{name, []byte("x")}) })
}

// lyingZip makes a zip whose only entry claims 10 bytes but inflates to size bytes.
func lyingZip(t *testing.T, name string, size int) []byte {
	t.Helper()
	var raw bytes.Buffer
	fw, _ := flate.NewWriter(&raw, flate.BestSpeed)
	fw.Write(make([]byte, size))
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CompressedSize64: uint64(raw.Len()), UncompressedSize64: 10, CRC32: 0})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw.Bytes())
	zw.Close()
	return buf.Bytes()
}

func TestDirectoryEntries(t *testing.T) {
	p := pkiOnce()
	good := signedPackage(t, sampleSpec(), p.signer)
	opts := VerifyOptions{Roots: pool(p.ca.cert), Now: clock}
	// Zip tools add parent directories: harmless, accepted.
	withParents := rewrite(t, good, func(e []zipEntry) []zipEntry {
		return append([]zipEntry{{"WAPT/", nil}, {"WAPT/persistent/", nil}}, e...)
	})
	if _, err := Verify(withParents, opts); err != nil {
		t.Errorf("parent directories: %v", err)
	}
	// An empty directory nobody signed is an addition.
	extraDir := rewrite(t, good, func(e []zipEntry) []zipEntry { return append(e, zipEntry{"WAPT/hooks/", nil}) })
	if _, err := Verify(extraDir, opts); !errors.Is(err, ErrExtraFile) {
		t.Errorf("extra directory: err = %v, want ErrExtraFile", err)
	}
}
