package lzx

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update-generated", false, "rewrite testdata/generated.sha256 from cabextract's output")

const goldenFile = "testdata/generated.sha256"

// genCases covers every window size, every block type alone and mixed, E8 data,
// streams longer than the window, and the odd corners of the format.
func genCases() []struct {
	name string
	cfg  genConfig
} {
	type tc = struct {
		name string
		cfg  genConfig
	}
	var cases []tc
	all := []int{blockVerbatim, blockAligned, blockUncompressed}
	for w := minWindowBits; w <= maxWindowBits; w++ {
		size := 3*(1<<w)/2 + 12345 // wraps the window
		if w > 17 {
			size = 150_000 // keep the suite quick; TestGeneratedLargeWindow wraps 2^21
		}
		cases = append(cases,
			tc{fmt.Sprintf("w%d-verbatim", w), genConfig{seed: uint64(w), windowBits: w, size: size, blockTypes: []int{blockVerbatim}, maxBlock: 70000, matchPct: 40}},
			tc{fmt.Sprintf("w%d-aligned", w), genConfig{seed: uint64(w) + 100, windowBits: w, size: size, blockTypes: []int{blockAligned}, maxBlock: 50000, matchPct: 50}},
			tc{fmt.Sprintf("w%d-mixed-e8", w), genConfig{seed: uint64(w) + 200, windowBits: w, size: size, e8Size: 12_000_000, blockTypes: all, maxBlock: 40000, matchPct: 35, e8Pct: 8, spill: true}},
		)
	}
	cases = append(cases,
		tc{"uncompressed-only", genConfig{seed: 1, windowBits: 16, size: 100_001, blockTypes: []int{blockUncompressed}, maxBlock: 9999}},
		tc{"uncompressed-padnext", genConfig{seed: 2, windowBits: 15, size: 140_000, blockTypes: all, maxBlock: 33000, matchPct: 30, padNext: true}},
		tc{"many-small-blocks", genConfig{seed: 13, windowBits: 16, size: 250_000, blockTypes: all, maxBlock: 1000, matchPct: 40, e8Size: 1 << 20, e8Pct: 5, manyBlocks: true, spill: true}},
		tc{"small-blocks", genConfig{seed: 3, windowBits: 17, size: 80_000, blockTypes: all, maxBlock: 40, matchPct: 40, e8Size: 1 << 20, e8Pct: 5, spill: true}},
		tc{"e8-small-size", genConfig{seed: 4, windowBits: 16, size: 70_000, e8Size: 5000, blockTypes: []int{blockVerbatim, blockAligned}, maxBlock: 20000, matchPct: 20, e8Pct: 30}},
		tc{"e8-negative-size", genConfig{seed: 5, windowBits: 16, size: 70_000, e8Size: -7, blockTypes: all, maxBlock: 20000, matchPct: 20, e8Pct: 30}},
		tc{"tiny", genConfig{seed: 6, windowBits: 15, size: 11, blockTypes: all, maxBlock: 5, matchPct: 50, e8Size: 100, e8Pct: 50}},
		tc{"one-byte", genConfig{seed: 7, windowBits: 21, size: 1, blockTypes: all, maxBlock: 5}},
		tc{"long-matches", genConfig{seed: 8, windowBits: 15, size: 120_000, blockTypes: []int{blockVerbatim, blockAligned}, maxBlock: 100000, matchPct: 90}},
		tc{"cross-frames", genConfig{seed: 9, windowBits: 16, size: 200_000, blockTypes: all, maxBlock: 70000, matchPct: 60, crossFrames: true}},
		tc{"cross-frames-e8", genConfig{seed: 10, windowBits: 15, size: 100_000, e8Size: 1 << 22, e8Pct: 10, blockTypes: []int{blockVerbatim, blockAligned}, maxBlock: 70000, matchPct: 60, crossFrames: true}},
	)
	return cases
}

// expected is what a correct decoder returns for a generated stream.
func (s *genStream) expected(cfg genConfig) []byte {
	if cfg.e8Size == 0 {
		return s.data
	}
	return e8Reference(s.data, cfg.e8Size)
}

func decodeFrames(t testing.TB, windowBits int, frames [][]byte, sizes []int) []byte {
	t.Helper()
	d, err := NewDecoder(windowBits)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for i, f := range frames {
		b, err := d.Decode(f, sizes[i])
		if err != nil {
			t.Fatalf("frame %d of %d: %v", i, len(frames), err)
		}
		if len(b) != sizes[i] {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(b), sizes[i])
		}
		out = append(out, b...)
	}
	return out
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestGenerated(t *testing.T) {
	golden := readGolden(t)
	for _, tc := range genCases() {
		t.Run(tc.name, func(t *testing.T) {
			s := generate(tc.cfg)
			got := decodeFrames(t, tc.cfg.windowBits, s.frames, s.sizes)
			want := s.expected(tc.cfg)
			if !bytes.Equal(got, want) {
				at := firstDiff(got, want)
				for _, line := range s.trace {
					t.Log(line) // the blocks, to find the one that went wrong
				}
				t.Fatalf("output differs from the generator's at byte %d of %d (got %d bytes)", at, len(want), len(got))
			}
			if tc.name == "many-small-blocks" && s.alignedHeaders == 0 {
				t.Error("no uncompressed block header ended on a word boundary: the case lost its point")
			}
			if g, ok := golden[tc.name]; ok {
				sum := sha256.Sum256(got)
				if hex.EncodeToString(sum[:]) != g {
					t.Errorf("sha256 %x differs from cabextract's %s (generator changed? rerun with -update-generated)", sum, g)
				}
			} else if !tc.cfg.crossFrames {
				t.Logf("no golden digest (run with -update-generated where cabextract is installed)")
			}
		})
	}
}

// TestGeneratedLargeWindow wraps the largest window.
func TestGeneratedLargeWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("long stream")
	}
	cfg := genConfig{seed: 21, windowBits: 21, size: 1<<21 + 300_000, blockTypes: []int{blockVerbatim, blockAligned, blockUncompressed}, maxBlock: 200_000, matchPct: 45, e8Size: 12_000_000, e8Pct: 2}
	s := generate(cfg)
	got := decodeFrames(t, cfg.windowBits, s.frames, s.sizes)
	if want := s.expected(cfg); !bytes.Equal(got, want) {
		t.Fatalf("output differs at byte %d of %d", firstDiff(got, want), len(want))
	}
}

// TestGeneratedAgainstCabextract wraps each generated stream that libmspack accepts in
// a cabinet and checks that cabextract extracts what the Decoder decodes. With
// -update-generated it records the digests, so the comparison holds where cabextract
// is missing.
func TestGeneratedAgainstCabextract(t *testing.T) {
	if _, err := exec.LookPath("cabextract"); err != nil {
		t.Fatal("cabextract not installed: apt-get install -y cabextract (make test installs it)")
	}
	dir := t.TempDir()
	var lines []string
	for _, tc := range genCases() {
		if tc.cfg.crossFrames {
			continue // libmspack refuses matches across frames
		}
		s := generate(tc.cfg)
		for i, f := range s.frames {
			if len(f) > frameSize+6144 {
				t.Fatalf("%s: frame %d has %d compressed bytes, more than a cabinet allows", tc.name, i, len(f))
			}
		}
		path := filepath.Join(dir, tc.name+".cab")
		if err := os.WriteFile(path, writeTestCab(s, tc.cfg.windowBits), 0o644); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := exec.Command("cabextract", "-q", "-p", path)
		cmd.Stderr = &stderr
		ref, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("%s: cabextract: %v %s", tc.name, err, stderr.Bytes())
			continue
		}
		got := decodeFrames(t, tc.cfg.windowBits, s.frames, s.sizes)
		if !bytes.Equal(got, ref) {
			t.Errorf("%s: Decoder and cabextract differ at byte %d of %d", tc.name, firstDiff(got, ref), len(ref))
		}
		sum := sha256.Sum256(ref)
		lines = append(lines, tc.name+" "+hex.EncodeToString(sum[:]))
	}
	if *updateGolden && !t.Failed() {
		if err := os.WriteFile(goldenFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readGolden(t *testing.T) map[string]string {
	m := map[string]string{}
	f, err := os.Open(goldenFile)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, sum, ok := strings.Cut(sc.Text(), " "); ok {
			m[name] = sum
		}
	}
	return m
}

// writeTestCab wraps a generated stream in a one-folder, one-file cabinet.
func writeTestCab(s *genStream, windowBits int) []byte {
	const name = "out.bin\x00"
	total := 0
	for _, n := range s.sizes {
		total += n
	}
	dataStart := 36 + 8 + 16 + len(name)
	var data []byte
	for i, f := range s.frames {
		data = binary.LittleEndian.AppendUint32(data, 0) // no checksum
		data = binary.LittleEndian.AppendUint16(data, uint16(len(f)))
		data = binary.LittleEndian.AppendUint16(data, uint16(s.sizes[i]))
		data = append(data, f...)
	}
	var b []byte
	b = append(b, "MSCF"...)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(dataStart+len(data)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 36+8) // first CFFILE
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, 3, 1)                        // version 1.3
	b = binary.LittleEndian.AppendUint16(b, 1) // folders
	b = binary.LittleEndian.AppendUint16(b, 1) // files
	b = binary.LittleEndian.AppendUint16(b, 0) // flags
	b = binary.LittleEndian.AppendUint16(b, 0) // set ID
	b = binary.LittleEndian.AppendUint16(b, 0) // cabinet number
	b = binary.LittleEndian.AppendUint32(b, uint32(dataStart))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s.frames)))
	b = binary.LittleEndian.AppendUint16(b, uint16(3|windowBits<<8))
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = binary.LittleEndian.AppendUint32(b, 0)    // offset in folder
	b = binary.LittleEndian.AppendUint16(b, 0)    // folder
	b = binary.LittleEndian.AppendUint16(b, 0x21) // 1980-01-01
	b = binary.LittleEndian.AppendUint16(b, 0)    // 00:00:00
	b = binary.LittleEndian.AppendUint16(b, 0x20) // archive
	b = append(b, name...)
	return append(b, data...)
}
