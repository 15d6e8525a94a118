package lzx

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/openwua/waptwua/internal/lzx/lzxtest"
)

// benchStream is a compressed folder for benchmarks, made once per test binary.
type benchStream struct {
	windowBits int
	frames     [][]byte
	sizes      []int
	total      int
}

var (
	benchOnce    sync.Once
	benchStreams map[string]*benchStream
	benchErr     error
)

// benchData compresses 8 MiB of catalog-like data (text, XML, x86 code) with the
// package's Encoder, in each block mode, and a generated stream with every feature.
func benchData(tb testing.TB) map[string]*benchStream {
	benchOnce.Do(func() {
		data, err := io.ReadAll(lzxtest.Realistic(7, 8<<20))
		if err != nil {
			benchErr = err
			return
		}
		benchStreams = map[string]*benchStream{}
		for name, mode := range map[string]BlockMode{"realistic-verbatim": Verbatim, "realistic-aligned": Aligned} {
			e, err := NewEncoder(EncoderOptions{WindowBits: 21, E8FileSize: 12_000_000, Blocks: mode, StreamSize: int64(len(data))})
			if err != nil {
				benchErr = err
				return
			}
			s := &benchStream{windowBits: 21, total: len(data)}
			for off := 0; off < len(data); off += frameSize {
				chunk := data[off:min(off+frameSize, len(data))]
				out, err := e.EncodeFrame(chunk)
				if err != nil {
					benchErr = err
					return
				}
				s.frames = append(s.frames, bytes.Clone(out))
				s.sizes = append(s.sizes, len(chunk))
			}
			benchStreams[name] = s
		}
		g := generate(genConfig{seed: 99, windowBits: 21, size: 8 << 20, e8Size: 12_000_000, blockTypes: []int{blockVerbatim, blockAligned}, maxBlock: 200_000, matchPct: 30, e8Pct: 1})
		benchStreams["generated"] = &benchStream{windowBits: 21, frames: g.frames, sizes: g.sizes, total: len(g.data)}
	})
	if benchErr != nil {
		tb.Fatal(benchErr)
	}
	return benchStreams
}

// BenchmarkDecode reports decoding throughput in uncompressed MB/s.
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"realistic-verbatim", "realistic-aligned", "generated"} {
		s := benchData(b)[name]
		b.Run(name, func(b *testing.B) {
			d, err := NewDecoder(s.windowBits)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(s.total))
			b.ReportAllocs()
			for b.Loop() {
				d.Reset()
				for i, f := range s.frames {
					if _, err := d.Decode(f, s.sizes[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
