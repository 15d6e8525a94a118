package lzx

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/openwua/waptwua/internal/lzx/lzxtest"
)

// Fuzz input: one byte choosing the window (15 + b%7), then frames, each as a 16-bit
// little-endian uncompressed size (1 + v%32768), a 16-bit compressed size and the
// compressed bytes (cut short at the end of the input).

func packFuzz(windowBits int, frames [][]byte, sizes []int) []byte {
	b := []byte{byte(windowBits - minWindowBits)}
	for i, f := range frames {
		b = binary.LittleEndian.AppendUint16(b, uint16(sizes[i]-1))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

func unpackFuzz(b []byte) (windowBits int, frames [][]byte, sizes []int) {
	if len(b) == 0 {
		return minWindowBits, nil, nil
	}
	windowBits = minWindowBits + int(b[0])%(maxWindowBits-minWindowBits+1)
	b = b[1:]
	for len(b) >= 4 && len(frames) < 64 {
		size := 1 + int(binary.LittleEndian.Uint16(b))%frameSize
		n := min(int(binary.LittleEndian.Uint16(b[2:])), len(b)-4)
		frames = append(frames, b[4:4+n])
		sizes = append(sizes, size)
		b = b[4+n:]
	}
	return windowBits, frames, sizes
}

func FuzzDecode(f *testing.F) {
	// Seeds: the real cabinets' LZX folders, generated streams with every block
	// type, and Encoder output.
	for _, name := range []string{"normal_2files_2folders.cab", "mixed.cab"} {
		for _, fo := range readCab(f, name).folders {
			if fo.method != 3 {
				continue
			}
			var frames [][]byte
			var sizes []int
			for _, fr := range fo.frames {
				frames = append(frames, fr.data)
				sizes = append(sizes, fr.outLen)
			}
			f.Add(packFuzz(fo.windowBits, frames, sizes))
		}
	}
	for i, cfg := range []genConfig{
		{windowBits: 15, size: 40_000, blockTypes: []int{blockVerbatim, blockAligned, blockUncompressed}, maxBlock: 3000, matchPct: 40, e8Size: 1 << 20, e8Pct: 5, spill: true},
		{windowBits: 16, size: 5_000, blockTypes: []int{blockAligned}, maxBlock: 200, matchPct: 60},
		{windowBits: 21, size: 35_000, blockTypes: []int{blockVerbatim, blockUncompressed}, maxBlock: 20000, matchPct: 50, padNext: true, crossFrames: true},
		{windowBits: 17, size: 300, blockTypes: []int{blockUncompressed, blockVerbatim}, maxBlock: 33, matchPct: 30, e8Size: 77, e8Pct: 30},
	} {
		cfg.seed = uint64(200 + i)
		s := generate(cfg)
		f.Add(packFuzz(cfg.windowBits, s.frames, s.sizes))
	}
	data, err := io.ReadAll(lzxtest.Realistic(3, 70_000))
	if err != nil {
		f.Fatal(err)
	}
	for _, mode := range []BlockMode{Verbatim, Aligned, Mixed} {
		e, err := NewEncoder(EncoderOptions{WindowBits: 16, E8FileSize: 12_000_000, Blocks: mode, BlockSize: 20000})
		if err != nil {
			f.Fatal(err)
		}
		var frames [][]byte
		var sizes []int
		for off := 0; off < len(data); off += frameSize {
			chunk := data[off:min(off+frameSize, len(data))]
			out, err := e.EncodeFrame(chunk)
			if err != nil {
				f.Fatal(err)
			}
			frames = append(frames, append([]byte(nil), out...))
			sizes = append(sizes, len(chunk))
		}
		f.Add(packFuzz(16, frames, sizes))
	}

	decoders := map[int]*Decoder{}
	f.Fuzz(func(t *testing.T, in []byte) {
		windowBits, frames, sizes := unpackFuzz(in)
		d := decoders[windowBits]
		if d == nil {
			var err error
			if d, err = NewDecoder(windowBits); err != nil {
				t.Fatal(err)
			}
			decoders[windowBits] = d
		}
		d.Reset()
		for i, fr := range frames {
			out, err := d.Decode(fr, sizes[i])
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("frame %d: error %v does not wrap ErrCorrupt", i, err)
				}
				return
			}
			if len(out) != sizes[i] {
				t.Fatalf("frame %d: %d bytes, want %d", i, len(out), sizes[i])
			}
		}
	})
}
