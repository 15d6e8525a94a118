package catalog

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/cab"
)

// compareLines fails at the first differing JSON line of two record lists.
func compareLines[T any](t *testing.T, what string, got, want []T) {
	t.Helper()
	g, w := strings.Split(string(jsonLines(t, got)), "\n"), strings.Split(string(jsonLines(t, want)), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("%s: %d read, %d intended; first difference at line %d (-want +got):\n-%s\n+%s", what, len(got), len(want), i+1, wl, gl)
		}
	}
}

func checkRoundTrip(t *testing.T, data []byte, man *SynthManifest) {
	t.Helper()
	c := readBytes(t, data, Options{})
	compareLines(t, "updates", c.Updates, man.Updates)
	compareLines(t, "categories", c.Categories, man.Categories)
	s := c.Stats
	for _, x := range []struct {
		name      string
		got, want int
	}{
		{"rows", s.Updates, man.Rows},
		{"bundles", s.Bundles, man.Bundles},
		{"leaves", s.Leaves, man.Leaves},
		{"records", s.Records, man.Bundles},
		{"files", s.Files, len(man.Files)},
		{"file locations", s.FileLocations, len(man.Files)},
		{"detail cabs", s.DetailCabs, man.DetailCabs},
		{"warnings", s.WarningCount(), 0},
	} {
		if x.got != x.want {
			t.Errorf("%s: read %d, intended %d (warnings: %+v)", x.name, x.got, x.want, s.Warnings)
		}
	}
	// French titles where an l/fr/ fragment exists, English elsewhere.
	fr := readBytes(t, data, Options{Language: "fr", Emit: nil})
	nFR := 0
	for i, u := range fr.Updates {
		want := SynthText{Title: man.Updates[i].Title, Description: man.Updates[i].Description}
		if tx, ok := man.French[u.UpdateID]; ok {
			want = tx
			nFR++
		}
		if u.Title != want.Title || u.Description != want.Description {
			t.Fatalf("fr: update %s: got %q / %q, want %q / %q", u.UpdateID, u.Title, u.Description, want.Title, want.Description)
		}
	}
	if nFR == 0 || nFR != len(man.French) {
		t.Errorf("fr: %d French titles read, %d intended", nFR, len(man.French))
	}
}

func TestSynthRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	man, err := synthesize(&buf, SynthOptions{Updates: 4000, Seed: 7, DetailCabs: 7, MinFileSize: 10, MaxFileSize: 2000}, newStoredSink)
	if err != nil {
		t.Fatal(err)
	}
	if man.Rows != 4000 || man.DetailCabs != 7 {
		t.Fatalf("manifest: %d rows, %d detail cabs; want 4000 and 7", man.Rows, man.DetailCabs)
	}
	checkRoundTrip(t, buf.Bytes(), man)

	// The shape the issue asks for: chains, several leaves and files, shared files.
	var chained, multiLeaf, multiFile, fileUses = 0, 0, 0, map[string]int{}
	for _, u := range man.Updates {
		if len(u.SupersededBy) > 0 && len(u.Supersedes) > 0 {
			chained++
		}
		if len(u.Files) > 1 {
			multiFile++
		}
		for _, f := range u.Files {
			fileUses[f.SHA1]++
		}
	}
	shared := 0
	for _, n := range fileUses {
		if n > 1 {
			shared++
		}
	}
	multiLeaf = man.Leaves - man.Bundles
	if chained == 0 || multiLeaf <= 0 || multiFile == 0 || shared == 0 {
		t.Errorf("synthetic catalog lacks variety: %d mid-chain updates, %d extra leaves, %d multi-file updates, %d shared files", chained, multiLeaf, multiFile, shared)
	}

	// Every digest is the digest of SynthFileContent.
	for _, f := range man.Files {
		h1, h2 := sha1.New(), sha256.New()
		n, err := io.Copy(io.MultiWriter(h1, h2), SynthFileContent(f.Name, f.Size))
		if err != nil || n != f.Size {
			t.Fatalf("%s: %d bytes, %v", f.Name, n, err)
		}
		if hex.EncodeToString(h1.Sum(nil)) != f.SHA1 || hex.EncodeToString(h2.Sum(nil)) != f.SHA256 {
			t.Fatalf("%s: digests do not match its content", f.Name)
		}
		if !strings.HasPrefix(f.URL, "http://download.windowsupdate.com/c/msdownload/update/software/") || !strings.Contains(f.URL, "_"+f.SHA1+".") {
			t.Fatalf("%s: URL %s does not end in _<sha1>.<ext>", f.Name, f.URL)
		}
	}
}

func TestSynthDeterministic(t *testing.T) {
	gen := func(seed int64) []byte {
		var buf bytes.Buffer
		if _, err := synthesize(&buf, SynthOptions{Updates: 300, Seed: seed, MinFileSize: 10, MaxFileSize: 1000}, newStoredSink); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b, c := gen(1), gen(1), gen(2)
	if !bytes.Equal(a, b) {
		t.Fatal("one seed gave two different catalogs")
	}
	if bytes.Equal(a, c) {
		t.Fatal("two seeds gave the same catalog")
	}
}

func TestSynthOptionsErrors(t *testing.T) {
	for _, o := range []SynthOptions{{Updates: 10}, {Updates: 100, MinFileSize: 10, MaxFileSize: 5}, {Updates: 100, DetailCabs: -1}} {
		if _, err := synthesize(io.Discard, o, newStoredSink); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

// TestSynthesizeLZX is the round trip through the real generator: LZX cabinets written
// by cab.Writer, a 20-byte header reserve, several folders per detail cabinet.
func TestSynthesizeLZX(t *testing.T) {
	var buf bytes.Buffer
	man, err := Synthesize(&buf, SynthOptions{Updates: 3000, Seed: 11, DetailCabs: 5, MinFileSize: 10, MaxFileSize: 3000, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	outer, err := cab.Open(bytesReaderAt(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(outer.Header.HeaderReserve); n != 20 {
		t.Errorf("outer header reserve: %d bytes, want 20", n)
	}
	for _, f := range outer.Folders {
		if f.Method != cab.MethodLZX || f.WindowBits != 21 {
			t.Errorf("outer folder: %v window %d, want LZX 21", f.Method, f.WindowBits)
		}
	}
	if len(outer.Files) != 2+man.DetailCabs || outer.Files[0].Name != "index.xml" || outer.Files[1].Name != "package.cab" {
		t.Errorf("outer members: %d, first %q", len(outer.Files), outer.Files[0].Name)
	}
	checkRoundTrip(t, data, man)
}
