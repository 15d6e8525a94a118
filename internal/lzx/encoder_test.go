package lzx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/openwua/waptwua/internal/lzx/lzxtest"
)

// encRealistic returns n bytes of lzxtest.Realistic data.
func encRealistic(t testing.TB, seed, n int64) []byte {
	t.Helper()
	b, err := io.ReadAll(lzxtest.Realistic(seed, n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encCompress encodes data as one stream and returns its frames.
func encCompress(t testing.TB, e *Encoder, data []byte) [][]byte {
	t.Helper()
	var frames [][]byte
	for off := 0; off < len(data); off += frameSize {
		out, err := e.EncodeFrame(data[off:min(off+frameSize, len(data))])
		if err != nil {
			t.Fatalf("frame at %d: %v", off, err)
		}
		if len(out)%2 != 0 {
			t.Fatalf("frame at %d: odd compressed size %d", off, len(out))
		}
		frames = append(frames, bytes.Clone(out))
	}
	return frames
}

// encDecompress decodes frames with the package's Decoder.
func encDecompress(t testing.TB, windowBits int, frames [][]byte, size int) []byte {
	t.Helper()
	d, err := NewDecoder(windowBits)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 0, size)
	for i, f := range frames {
		n := min(frameSize, size-len(out))
		b, err := d.Decode(f, n)
		if err != nil {
			t.Fatalf("decoding frame %d of %d: %v", i, len(frames), err)
		}
		out = append(out, b...)
	}
	return out
}

func encCheckSame(t testing.TB, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d bytes, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("decoded bytes differ first at offset %d (frame %d): got %#x, want %#x", i, i/frameSize, got[i], want[i])
		}
	}
}

func TestEncoderRoundTrip(t *testing.T) {
	data := encRealistic(t, 1, 2<<20+12345)
	tests := []struct {
		desc string
		opts EncoderOptions
	}{
		{"verbatim", EncoderOptions{WindowBits: 15}},
		{"aligned", EncoderOptions{WindowBits: 16, Blocks: Aligned}},
		{"uncompressed", EncoderOptions{WindowBits: 17, Blocks: Uncompressed, BlockSize: 10001}},
		{"mixed small blocks", EncoderOptions{WindowBits: 18, Blocks: Mixed, BlockSize: 7777}},
		{"verbatim spanning blocks", EncoderOptions{WindowBits: 19, BlockSize: 100000}},
		{"aligned spanning blocks e8", EncoderOptions{WindowBits: 20, Blocks: Aligned, BlockSize: 1<<24 - 1, E8FileSize: 12000000}},
		{"mixed spanning e8 stream size", EncoderOptions{WindowBits: 21, Blocks: Mixed, BlockSize: 50000, E8FileSize: 1 << 20, StreamSize: int64(len(data))}},
		{"verbatim e8 small size", EncoderOptions{WindowBits: 21, E8FileSize: 4096}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			e, err := NewEncoder(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			frames := encCompress(t, e, data)
			got := encDecompress(t, tt.opts.WindowBits, frames, len(data))
			encCheckSame(t, got, data)
			n := 0
			for _, f := range frames {
				n += len(f)
			}
			t.Logf("%d -> %d bytes (%.2fx)", len(data), n, float64(len(data))/float64(n))

			// The same encoder, reset, gives the same stream again.
			e.Reset()
			again := encCompress(t, e, data)
			for i := range frames {
				if !bytes.Equal(frames[i], again[i]) {
					t.Fatalf("frame %d differs after Reset", i)
				}
			}
		})
	}
}

// TestEncoderSmallStreams covers the sizes around frame boundaries, tiny streams and
// data that defeats compression, for every window size.
func TestEncoderSmallStreams(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	random := make([]byte, 100000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	zeros := make([]byte, 100000)
	text := encRealistic(t, 2, 100000)
	inputs := map[string][]byte{"random": random, "zeros": zeros, "realistic": text}
	sizes := []int{1, 2, 11, 12, 32767, 32768, 32769, 65537, 100000}
	for wb := minWindowBits; wb <= maxWindowBits; wb++ {
		for _, mode := range []BlockMode{Verbatim, Aligned, Uncompressed, Mixed} {
			for _, bs := range []int{0, 3000, 40000} {
				opts := EncoderOptions{WindowBits: wb, Blocks: mode, BlockSize: bs, E8FileSize: 30000}
				e, err := NewEncoder(opts)
				if err != nil {
					t.Fatal(err)
				}
				for name, in := range inputs {
					for _, size := range sizes {
						data := in[:size]
						e.Reset()
						frames := encCompress(t, e, data)
						got := encDecompress(t, wb, frames, len(data))
						if !bytes.Equal(got, data) {
							t.Fatalf("window %d, %v, %s, %d bytes, block size %d: round trip differs", wb, mode, name, size, bs)
						}
					}
				}
			}
		}
	}
}

// TestEncoderE8 checks that E8 translation is applied (the compressed stream differs
// from an untranslated one) and undone by the decoder, at the edges of frames.
func TestEncoderE8(t *testing.T) {
	data := make([]byte, 3*frameSize+100)
	for i := 0; i+5 <= len(data); i += 5 {
		data[i] = 0xE8
		data[i+1] = byte(i)
		data[i+2] = byte(i >> 8)
		data[i+4] = byte(i % 3 * 0x7f)
	}
	for _, size := range []int32{1, 100, frameSize, 1 << 30, 0x7fffffff} {
		e, err := NewEncoder(EncoderOptions{WindowBits: 16, E8FileSize: size})
		if err != nil {
			t.Fatal(err)
		}
		frames := encCompress(t, e, data)
		encCheckSame(t, encDecompress(t, 16, frames, len(data)), data)
	}
}

func TestEncoderErrors(t *testing.T) {
	for _, opts := range []EncoderOptions{
		{WindowBits: 14}, {WindowBits: 22}, {WindowBits: 15, E8FileSize: -1},
		{WindowBits: 15, BlockSize: -1}, {WindowBits: 15, BlockSize: 1 << 24}, {WindowBits: 15, Blocks: 9},
	} {
		if _, err := NewEncoder(opts); err == nil {
			t.Errorf("NewEncoder(%+v) succeeded, want an error", opts)
		}
	}
	if _, err := NewEncoder(EncoderOptions{WindowBits: 22}); !errors.Is(err, ErrWindow) {
		t.Errorf("window 22: error %v does not wrap ErrWindow", err)
	}

	e, err := NewEncoder(EncoderOptions{WindowBits: 15})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.EncodeFrame(nil); err == nil {
		t.Error("empty frame accepted")
	}
	if _, err := e.EncodeFrame(make([]byte, frameSize+1)); err == nil {
		t.Error("oversized frame accepted")
	}
	if _, err := e.EncodeFrame(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.EncodeFrame(make([]byte, 100)); err == nil {
		t.Error("frame after the short last frame accepted")
	}
	e.Reset()
	if _, err := e.EncodeFrame(make([]byte, 100)); err != nil {
		t.Errorf("after Reset: %v", err)
	}

	e, err = NewEncoder(EncoderOptions{WindowBits: 15, StreamSize: 40000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.EncodeFrame(make([]byte, 1000)); err == nil {
		t.Error("short frame before the declared stream end accepted")
	}
}

// TestEncoderHuffmanLengths checks package-merge: complete codes within the limits.
func TestEncoderHuffmanLengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var h encHuffman
	for iter := range 2000 {
		n := 2 + rng.IntN(700)
		w := make([]uint32, n)
		for i := range w {
			switch rng.IntN(4) {
			case 0:
				w[i] = 0
			case 1:
				w[i] = 1
			case 2:
				w[i] = uint32(rng.IntN(10))
			default:
				w[i] = uint32(rng.ExpFloat64() * 1e4)
			}
		}
		limit := 16
		capSyms, capLen := 0, 0
		if iter%2 == 1 && n > 256 {
			capSyms, capLen = 256, 9
			for i := range w {
				w[i] = 4*w[i] + 1
			}
		}
		lens := make([]uint8, n)
		if err := h.lengths(w, lens, limit, capSyms, capLen); err != nil {
			t.Fatal(err)
		}
		kraft := 0
		for s, l := range lens {
			if (w[s] != 0) != (l != 0) && !(w[s] == 0 && l == 1) {
				t.Fatalf("iteration %d: symbol %d weight %d got length %d", iter, s, w[s], l)
			}
			if int(l) > limit || (s < capSyms && int(l) > capLen) {
				t.Fatalf("iteration %d: symbol %d length %d over its limit", iter, s, l)
			}
			if l > 0 {
				kraft += 1 << (limit - int(l))
			}
		}
		if kraft != 1<<limit {
			t.Fatalf("iteration %d: Kraft sum %d/%d, want a complete code", iter, kraft, 1<<limit)
		}
	}
}

func TestEncoderSlots(t *testing.T) {
	for slot := 4; slot < maxPositionSlots; slot++ {
		lo := positionBase[slot]
		hi := lo + 1<<extraBits[slot] - 1
		for _, f := range []uint32{lo, lo + 1, hi - 1, hi} {
			if got := encSlot(f); got != slot {
				t.Fatalf("encSlot(%d) = %d, want %d", f, got, slot)
			}
		}
	}
	if encSlot(3) != 3 {
		t.Fatal("encSlot(3) != 3")
	}
}

func BenchmarkEncoder(b *testing.B) {
	data := encRealistic(b, 1, 32<<20)
	for _, wb := range []int{15, 21} {
		b.Run(fmt.Sprint("window", wb), func(b *testing.B) {
			e, err := NewEncoder(EncoderOptions{WindowBits: wb, E8FileSize: 12000000})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			var n int
			for b.Loop() {
				e.Reset()
				n = 0
				for off := 0; off < len(data); off += frameSize {
					out, err := e.EncodeFrame(data[off:min(off+frameSize, len(data))])
					if err != nil {
						b.Fatal(err)
					}
					n += len(out)
				}
			}
			b.ReportMetric(float64(len(data))/float64(n), "ratio")
		})
	}
}

// TestEncoderFarMatches repeats a random block at nearly a window's distance: only
// matches with the largest position slots compress it. (In windows of 1 and 2 MiB
// the hash chains of random data are too crowded for the finder to reach that far;
// TestEncoderAllSlots covers their slots.)
func TestEncoderFarMatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for wb := minWindowBits; wb <= 19; wb++ {
		for _, mode := range []BlockMode{Verbatim, Aligned} {
			w := 1 << wb
			block := make([]byte, w*3/4)
			for i := range block {
				block[i] = byte(rng.Uint32())
			}
			gap := make([]byte, w/8)
			for i := range gap {
				gap[i] = byte(rng.Uint32())
			}
			data := append(append(bytes.Clone(block), gap...), block...)
			e, err := NewEncoder(EncoderOptions{WindowBits: wb, Blocks: mode})
			if err != nil {
				t.Fatal(err)
			}
			frames := encCompress(t, e, data)
			encCheckSame(t, encDecompress(t, wb, frames, len(data)), data)
			n := 0
			for _, f := range frames {
				n += len(f)
			}
			if limit := len(block) + len(gap) + len(block)/10; n > limit {
				t.Errorf("window %d %v: %d bytes compressed to %d, want at most %d: far matches not found", wb, mode, len(data), n, limit)
			}
		}
	}
}

// TestEncoderFrameBound checks that no frame outgrows a CFDATA block, even when a
// block's trees, built from text, must code incompressible frames that follow.
func TestEncoderFrameBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	text := encRealistic(t, 3, frameSize)
	high := make([]byte, 4*frameSize) // bytes text never uses, without repeats
	for i := range high {
		high[i] = 0x80 | byte(rng.Uint32())
	}
	data := append(bytes.Clone(text), high...)
	for _, mode := range []BlockMode{Verbatim, Aligned, Mixed} {
		e, err := NewEncoder(EncoderOptions{WindowBits: 16, Blocks: mode, BlockSize: maxBlockSize})
		if err != nil {
			t.Fatal(err)
		}
		frames := encCompress(t, e, data)
		for i, f := range frames {
			if len(f) > maxFrameOutput {
				t.Errorf("%v: frame %d is %d bytes, over %d", mode, i, len(f), maxFrameOutput)
			}
		}
		encCheckSame(t, encDecompress(t, 16, frames, len(data)), data)
	}
}

// TestEncoderAllSlots checks that realistic data uses every position slot of the
// largest window, so that round trips exercise the decoder's every offset path.
func TestEncoderAllSlots(t *testing.T) {
	data := encRealistic(t, 1, 6<<20)
	e, err := NewEncoder(EncoderOptions{WindowBits: maxWindowBits, Blocks: Aligned})
	if err != nil {
		t.Fatal(err)
	}
	var used [maxPositionSlots]int
	var out [][]byte
	for off := 0; off < len(data); off += frameSize {
		f, err := e.EncodeFrame(data[off:min(off+frameSize, len(data))])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(f))
		for _, s := range e.syms { // the frame's block: BlockSize is one frame
			if s.main >= numChars {
				used[(s.main-numChars)/8]++
			}
		}
	}
	for slot, n := range used {
		if n == 0 {
			t.Errorf("position slot %d never used (uses: %v)", slot, used)
			break
		}
	}
	encCheckSame(t, encDecompress(t, maxWindowBits, out, len(data)), data)
}
