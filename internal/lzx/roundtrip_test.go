package lzx

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/openwua/waptwua/internal/lzx/lzxtest"
)

// TestRoundTripEncoder decodes the package Encoder's output for every window size and
// block mode, with E8 data, many frames and blocks spanning frames. Where cabextract
// is installed it must extract the same bytes, which checks both sides against the
// reference implementation.
func TestRoundTripEncoder(t *testing.T) {
	data, err := io.ReadAll(lzxtest.Realistic(5, 5*frameSize+777))
	if err != nil {
		t.Fatal(err)
	}
	cabextract, _ := exec.LookPath("cabextract")
	dir := t.TempDir()
	modes := []BlockMode{Verbatim, Aligned, Uncompressed, Mixed}
	for w := minWindowBits; w <= maxWindowBits; w++ {
		for i, mode := range modes {
			opts := EncoderOptions{WindowBits: w, Blocks: mode, E8FileSize: 12_000_000}
			switch (w + i) % 3 {
			case 1:
				opts.BlockSize = 50_000 // spans frames
			case 2:
				opts.BlockSize = 7_001
				opts.E8FileSize = 0
			}
			name := fmt.Sprintf("%v-w%d", mode, w)
			t.Run(name, func(t *testing.T) {
				e, err := NewEncoder(opts)
				if err != nil {
					t.Fatal(err)
				}
				s := &genStream{}
				for off := 0; off < len(data); off += frameSize {
					chunk := data[off:min(off+frameSize, len(data))]
					out, err := e.EncodeFrame(chunk)
					if err != nil {
						t.Fatal(err)
					}
					s.frames = append(s.frames, bytes.Clone(out))
					s.sizes = append(s.sizes, len(chunk))
				}
				got := decodeFrames(t, w, s.frames, s.sizes)
				if !bytes.Equal(got, data) {
					t.Fatalf("round trip differs at byte %d of %d", firstDiff(got, data), len(data))
				}
				if cabextract == "" {
					return
				}
				path := filepath.Join(dir, name+".cab")
				if err := os.WriteFile(path, writeTestCab(s, w), 0o644); err != nil {
					t.Fatal(err)
				}
				var stderr bytes.Buffer
				cmd := exec.Command(cabextract, "-q", "-p", path)
				cmd.Stderr = &stderr
				ref, err := cmd.Output()
				if err != nil || !bytes.Equal(ref, data) {
					t.Errorf("cabextract disagrees (%v %s): %d bytes, first difference at %d", err, stderr.Bytes(), len(ref), firstDiff(ref, data))
				}
			})
		}
	}
}
