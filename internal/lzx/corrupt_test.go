package lzx

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// craft builds one frame by hand: the stream header (no E8), then whatever body
// writes, padded to 16 bits.
func craft(body func(g *generator)) []byte {
	g := &generator{rng: 1}
	g.w.bits(0, 1) // no E8 translation
	body(g)
	g.w.align()
	return g.w.buf
}

// verbatimHeader writes a verbatim block header whose main tree gives the listed
// symbols the listed lengths, with an empty length tree.
func verbatimHeader(g *generator, windowBits, size int, lens map[int]uint8) {
	numMain := numChars + positionSlots(windowBits)*8
	main := make([]uint8, numMain)
	for s, l := range lens {
		main[s] = l
	}
	g.w.bits(blockVerbatim, 3)
	g.w.bits(uint32(size)>>8, 16)
	g.w.bits(uint32(size)&0xFF, 8)
	g.writeRange(g.mainLens[:], main, 0, numChars, 0)
	g.writeRange(g.mainLens[:], main, numChars, numMain, 0)
	g.writeRange(g.lenLens[:], make([]uint8, numLengthSymbols), 0, numLengthSymbols, 0)
}

func TestNewDecoderWindow(t *testing.T) {
	for _, bits := range []int{-1, 0, 14, 22, 25} {
		if _, err := NewDecoder(bits); !errors.Is(err, ErrWindow) {
			t.Errorf("NewDecoder(%d): error %v, want ErrWindow", bits, err)
		}
	}
	for bits := minWindowBits; bits <= maxWindowBits; bits++ {
		if _, err := NewDecoder(bits); err != nil {
			t.Errorf("NewDecoder(%d): %v", bits, err)
		}
	}
}

// TestDecodeCorrupt feeds hand-made invalid frames and checks the error says what is
// wrong and wraps ErrCorrupt.
func TestDecodeCorrupt(t *testing.T) {
	const match1 = numChars + 3*8 // slot 3 (offset 1), length 2
	tests := []struct {
		desc   string
		frames [][]byte
		outLen int
		want   string
	}{
		{"empty input", [][]byte{nil}, 100, "block type 0"},
		{"block type 0", [][]byte{craft(func(g *generator) { g.w.bits(0, 27) })}, 100, "block type 0"},
		{"block type 5", [][]byte{craft(func(g *generator) { g.w.bits(5, 3); g.w.bits(100, 24) })}, 100, "block type 5"},
		{"output size 0", [][]byte{{0, 0}}, 0, "uncompressed size 0"},
		{"output size too large", [][]byte{{0, 0}}, frameSize + 1, "uncompressed size 32769"},
		{"pretree over-subscribed", [][]byte{craft(func(g *generator) {
			g.w.bits(blockVerbatim, 3)
			g.w.bits(100, 24)
			for range numPretreeSymbols {
				g.w.bits(1, 4) // twenty codes of length 1
			}
		})}, 100, "over-subscribed"},
		{"main tree incomplete", [][]byte{craft(func(g *generator) {
			verbatimHeader(g, 15, 100, map[int]uint8{'a': 1})
		})}, 100, "main tree: code lengths incomplete"},
		{"match before any data", [][]byte{craft(func(g *generator) {
			verbatimHeader(g, 15, 100, map[int]uint8{'a': 1, match1: 1})
			g.w.bits(1, 1) // the match
		})}, 100, "match offset 1 beyond decoded data (0 bytes)"},
		{"length tree empty", [][]byte{craft(func(g *generator) {
			verbatimHeader(g, 15, 100, map[int]uint8{'a': 1, match1 + 7: 1})
			g.w.bits(0, 1) // 'a'
			g.w.bits(1, 1) // a match with a length symbol
		})}, 100, "length tree, which is empty"},
		{"match past block end", [][]byte{craft(func(g *generator) {
			verbatimHeader(g, 15, 2, map[int]uint8{'a': 1, match1: 1})
			g.w.bits(0, 1) // 'a'
			g.w.bits(1, 1) // 2 bytes, one left in the block
		})}, 100, "past the end of its block"},
		{"truncated block", [][]byte{craft(func(g *generator) {
			verbatimHeader(g, 15, 30000, map[int]uint8{'a': 1, 'b': 1})
		})}, 30000, "compressed data truncated"},
		{"uncompressed block truncated", [][]byte{craft(func(g *generator) {
			g.w.bits(blockUncompressed, 3)
			g.w.bits(1000, 24)
			g.w.align()
			g.w.buf = append(g.w.buf, make([]byte, 12+10)...)
		})}, 1000, "uncompressed block truncated"},
		{"uncompressed header truncated", [][]byte{craft(func(g *generator) {
			g.w.bits(blockUncompressed, 3)
			g.w.bits(1000, 24)
		})}, 1000, "uncompressed block header truncated"},
		{"repeated offset 0 from uncompressed block", [][]byte{craft(func(g *generator) {
			g.w.bits(blockUncompressed, 3)
			g.w.bits(2, 24)
			g.w.align()
			g.w.buf = append(g.w.buf, make([]byte, 12)...) // R0 = R1 = R2 = 0
			g.w.buf = append(g.w.buf, 'x', 'y')
			verbatimHeader(g, 15, 100, map[int]uint8{'a': 1, numChars: 1}) // slot 0: R0
			g.w.bits(1, 1)
		})}, 100, "match offset 0"},
		{"empty main tree", [][]byte{craft(func(g *generator) {
			verbatimHeader(g, 15, 100, nil)
		})}, 100, "empty main tree"},
		{"aligned tree empty", [][]byte{craft(func(g *generator) {
			g.w.bits(blockAligned, 3)
			g.w.bits(100, 24)
			g.w.bits(0, 24) // eight zero aligned lengths
			numMain := numChars + positionSlots(15)*8
			main := make([]uint8, numMain)
			main['a'], main[numChars+8*8] = 1, 1 // slot 8 has 3 extra bits: aligned
			g.writeRange(g.mainLens[:], main, 0, numChars, 0)
			g.writeRange(g.mainLens[:], main, numChars, numMain, 0)
			g.writeRange(g.lenLens[:], make([]uint8, numLengthSymbols), 0, numLengthSymbols, 0)
			g.w.bits(0, 14) // 14 literals
			g.w.bits(1, 1)  // the match
		})}, 100, "aligned offset tree, which is empty"},
		{"match past window end", [][]byte{craft(func(g *generator) {
			verbatimHeader(g, 15, 40000, map[int]uint8{'a': 1, match1: 1})
			for range frameSize - 1 {
				g.w.bits(0, 1)
			}
			g.w.bits(1, 1)
		})}, frameSize, "runs past the end of the 32768-byte window"},
		{"previous match longer than the next frame", [][]byte{
			craft(func(g *generator) {
				verbatimHeader(g, 15, 40000, map[int]uint8{'a': 1, match1 + 1: 1}) // length 3
				for range 1000 - 1 {
					g.w.bits(0, 1)
				}
				g.w.bits(1, 1)
			}),
			{0, 0},
		}, 1000, "previous frame's last match ran 2 bytes into this 1-byte frame"},
		{"repeated offset beyond the window", [][]byte{
			craft(func(g *generator) {
				g.w.bits(blockUncompressed, 3)
				g.w.bits(frameSize, 24)
				g.w.align()
				g.w.buf = append(g.w.buf, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0)
				g.w.buf = append(g.w.buf, make([]byte, frameSize)...)
			}),
			func() []byte {
				g := &generator{rng: 1}
				g.w.bits(blockUncompressed, 3)
				g.w.bits(0, 24)
				g.w.align()
				g.w.buf = append(g.w.buf, 0x40, 0x9C, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0) // R0 = 40000
				verbatimHeader(g, 15, 100, map[int]uint8{'a': 1, numChars: 1})      // slot 0: R0
				g.w.bits(1, 1)
				g.w.align()
				return g.w.buf
			}(),
		}, frameSize, "match offset 40000 beyond the 32768-byte window"},
		{"frame crosses window end", [][]byte{
			craft(func(g *generator) {
				verbatimHeader(g, 15, 40000, map[int]uint8{'a': 1, 'b': 1})
				for range 100 {
					g.w.bits(0, 1)
				}
			}),
			{0, 0},
		}, 100, "crosses the end of the 32768-byte window"},
	}
	// The output size of the last frame of multi-frame cases.
	lastOut := map[string]int{
		"previous match longer than the next frame": 1,
		"repeated offset beyond the window":         100,
		"frame crosses window end":                  frameSize,
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			d, err := NewDecoder(15)
			if err != nil {
				t.Fatal(err)
			}
			var last error
			for i, f := range tt.frames {
				n := tt.outLen
				if i == len(tt.frames)-1 && len(tt.frames) > 1 {
					n = lastOut[tt.desc]
				}
				if _, last = d.Decode(f, n); last != nil {
					break
				}
			}
			if !errors.Is(last, ErrCorrupt) {
				t.Fatalf("error %v, want one wrapping ErrCorrupt", last)
			}
			if !strings.Contains(last.Error(), tt.want) || !strings.HasPrefix(last.Error(), "lzx: frame ") {
				t.Errorf("error %q, want it to start with \"lzx: frame \" and contain %q", last, tt.want)
			}
		})
	}
}

// TestDecodeStickyError checks that a decoder refuses frames after an error until
// Reset, and works again after it.
func TestDecodeStickyError(t *testing.T) {
	s := generate(genConfig{seed: 11, windowBits: 15, size: 40000, blockTypes: []int{blockVerbatim}, maxBlock: 9000, matchPct: 30})
	d, err := NewDecoder(15)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode([]byte{0, 0}, 100); err == nil {
		t.Fatal("bad frame accepted")
	}
	if _, err := d.Decode(s.frames[0], s.sizes[0]); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "Reset") {
		t.Fatalf("after an error: %v, want a corrupt-data error asking for Reset", err)
	}
	d.Reset()
	var got []byte
	for i, f := range s.frames {
		b, err := d.Decode(f, s.sizes[i])
		if err != nil {
			t.Fatalf("after Reset, frame %d: %v", i, err)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, s.data) {
		t.Fatal("output after Reset differs")
	}
}

// TestDecodeTruncated cuts frames short and checks for a clean error or, when only
// padding was cut, the right output.
func TestDecodeTruncated(t *testing.T) {
	s := generate(genConfig{seed: 12, windowBits: 16, size: 70000, blockTypes: []int{blockVerbatim, blockAligned, blockUncompressed}, maxBlock: 20000, matchPct: 40})
	d, err := NewDecoder(16)
	if err != nil {
		t.Fatal(err)
	}
	for fi := range s.frames {
		for cut := 0; cut < len(s.frames[fi]); cut += 1 + cut/8 {
			d.Reset()
			var out []byte
			var err error
			for i := range fi + 1 {
				f := s.frames[i]
				if i == fi {
					f = f[:cut]
				}
				var b []byte
				if b, err = d.Decode(f, s.sizes[i]); err != nil {
					break
				}
				out = append(out, b...)
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("frame %d cut to %d bytes: error %v does not wrap ErrCorrupt", fi, cut, err)
				}
				continue
			}
			if len(s.frames[fi])-cut > overreadSlack {
				t.Errorf("frame %d cut from %d to %d bytes decoded without error", fi, len(s.frames[fi]), cut)
			}
		}
	}
}

// mutate returns a damaged copy of frames: flipped bits, changed or removed bytes,
// spliced frames, wrong sizes.
func mutate(rng *splitmix64, frames [][]byte, sizes []int) ([][]byte, []int) {
	fs := make([][]byte, len(frames))
	for i, f := range frames {
		fs[i] = bytes.Clone(f)
	}
	ss := append([]int(nil), sizes...)
	for range 1 + rng.intn(4) {
		i := rng.intn(len(fs))
		f := fs[i]
		switch rng.intn(8) {
		case 0, 1, 2: // flip a bit
			if len(f) > 0 {
				p := rng.intn(len(f))
				f[p] ^= 1 << rng.intn(8)
			}
		case 3: // random byte
			if len(f) > 0 {
				f[rng.intn(len(f))] = byte(rng.next())
			}
		case 4: // truncate
			fs[i] = f[:rng.intn(len(f)+1)]
		case 5: // insert garbage
			p := rng.intn(len(f) + 1)
			junk := make([]byte, 1+rng.intn(16))
			for j := range junk {
				junk[j] = byte(rng.next())
			}
			fs[i] = append(append(append([]byte(nil), f[:p]...), junk...), f[p:]...)
		case 6: // wrong output size
			ss[i] = 1 + rng.intn(frameSize)
		case 7: // a frame from elsewhere
			fs[i] = bytes.Clone(fs[rng.intn(len(fs))])
		}
	}
	return fs, ss
}

// TestDecodeMutations decodes thousands of damaged streams: every one must end with
// output of the right size or an ErrCorrupt error, never a panic, within a deadline.
func TestDecodeMutations(t *testing.T) {
	type stream struct {
		windowBits int
		frames     [][]byte
		sizes      []int
	}
	var streams []stream
	for i, cfg := range []genConfig{
		{windowBits: 15, size: 100_000, blockTypes: []int{blockVerbatim, blockAligned, blockUncompressed}, maxBlock: 30000, matchPct: 40, e8Size: 1 << 20, e8Pct: 5},
		{windowBits: 17, size: 80_000, blockTypes: []int{blockAligned}, maxBlock: 500, matchPct: 60},
		{windowBits: 21, size: 50_000, blockTypes: []int{blockVerbatim, blockUncompressed}, maxBlock: 7000, matchPct: 50, padNext: true, spill: true},
	} {
		cfg.seed = uint64(100 + i)
		s := generate(cfg)
		streams = append(streams, stream{cfg.windowBits, s.frames, s.sizes})
	}
	for _, name := range []string{"normal_2files_2folders.cab", "mixed.cab"} {
		for _, fo := range readCab(t, name).folders {
			if fo.method == 3 {
				st := stream{windowBits: fo.windowBits}
				for _, fr := range fo.frames {
					st.frames = append(st.frames, fr.data)
					st.sizes = append(st.sizes, fr.outLen)
				}
				streams = append(streams, st)
			}
		}
	}

	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	done := make(chan string, 1)
	go func() {
		rng := splitmix64(42)
		decoders := map[int]*Decoder{}
		for it := range iterations {
			st := streams[it%len(streams)]
			d := decoders[st.windowBits]
			if d == nil {
				d, _ = NewDecoder(st.windowBits)
				decoders[st.windowBits] = d
			}
			d.Reset()
			frames, sizes := mutate(&rng, st.frames, st.sizes)
			for i, f := range frames {
				out, err := d.Decode(f, sizes[i])
				if err != nil {
					if !errors.Is(err, ErrCorrupt) {
						done <- "error not wrapping ErrCorrupt: " + err.Error()
						return
					}
					break
				}
				if len(out) != sizes[i] {
					done <- "wrong output size"
					return
				}
			}
		}
		done <- ""
	}()
	select {
	case msg := <-done:
		if msg != "" {
			t.Fatal(msg)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("decoding mutated streams did not finish in 60 s: a hang?")
	}
}
