package lzxtest

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

func read(t *testing.T, seed, n int64) []byte {
	t.Helper()
	b, err := io.ReadAll(Realistic(seed, n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRealistic(t *testing.T) {
	for _, n := range []int64{-1, 0, 1, 4095, 100000} {
		if got := int64(len(read(t, 1, n))); got != max(n, 0) {
			t.Errorf("Realistic(1, %d) gave %d bytes", n, got)
		}
	}
	a, b := read(t, 7, 3<<20), read(t, 7, 3<<20)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different bytes")
	}
	if bytes.Equal(a[:1<<20], read(t, 8, 1<<20)) {
		t.Fatal("different seeds, same bytes")
	}
	if !bytes.HasPrefix(a, read(t, 7, 12345)) {
		t.Fatal("a shorter stream is not a prefix of a longer one")
	}
	if !bytes.Contains(a, []byte{0xE8}) || !bytes.Contains(a, []byte("<Update UpdateId=")) {
		t.Error("missing code or XML segments")
	}

	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(a)
	w.Close()
	if ratio := float64(len(a)) / float64(buf.Len()); ratio < 1.8 || ratio > 4 {
		t.Errorf("deflate ratio %.2f, want a realistic 2..4", ratio)
	} else {
		t.Logf("deflate ratio %.2f", ratio)
	}
}

func BenchmarkRealistic(b *testing.B) {
	b.SetBytes(64 << 20)
	for b.Loop() {
		io.Copy(io.Discard, Realistic(1, 64<<20))
	}
}
