package cab

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/openwua/waptwua/internal/lzx"
)

// synthCab is an io.ReaderAt serving a large one-folder cabinet without holding it:
// a prefix (header and tables) followed by n data blocks, the first one first and
// every other one rest (whole CFDATA blocks, header included).
type synthCab struct {
	prefix      []byte
	first, rest []byte
	n           int
}

func (s *synthCab) size() int64 {
	return int64(len(s.prefix)) + int64(len(s.first)) + int64(s.n-1)*int64(len(s.rest))
}

func (s *synthCab) ReadAt(p []byte, off int64) (int, error) {
	total := 0
	for len(p) > 0 {
		if off >= s.size() {
			return total, io.EOF
		}
		var src []byte
		switch {
		case off < int64(len(s.prefix)):
			src = s.prefix[off:]
		case off < int64(len(s.prefix)+len(s.first)):
			src = s.first[off-int64(len(s.prefix)):]
		default:
			rel := (off - int64(len(s.prefix)+len(s.first))) % int64(len(s.rest))
			src = s.rest[rel:]
		}
		k := copy(p, src)
		p, off, total = p[k:], off+int64(k), total+k
	}
	return total, nil
}

// dataBlock makes a whole CFDATA block with its checksum.
func dataBlock(payload []byte, uncomp int) []byte {
	b := make([]byte, dataFixedSize, dataFixedSize+len(payload))
	binary.LittleEndian.PutUint16(b[4:], uint16(len(payload)))
	binary.LittleEndian.PutUint16(b[6:], uint16(uncomp))
	binary.LittleEndian.PutUint32(b[0:], checksum(b[4:8], checksum(payload, 0)))
	return append(b, payload...)
}

// newSynthCab makes a cabinet holding one member of n frames, each frame being frame.
func newSynthCab(t *testing.T, typ uint16, first, rest []byte, n int) *synthCab {
	tc := tCab{
		folders: []tFolder{{typ: typ, declaredBlocks: n}},
		files:   []tFile{{name: "big.bin", size: uint32(n * maxFrame)}},
	}
	s := &synthCab{prefix: tc.bytes(), first: dataBlock(first, maxFrame), rest: dataBlock(rest, maxFrame), n: n}
	binary.LittleEndian.PutUint32(s.prefix[8:], uint32(s.size()))
	return s
}

// checkWriter checks that what it is given is frame repeated.
type checkWriter struct {
	frame []byte
	pos   int64
	bad   bool
}

func (w *checkWriter) Write(p []byte) (int, error) {
	for k := 0; k < len(p); {
		off := int(w.pos % int64(len(w.frame)))
		n := min(len(p)-k, len(w.frame)-off)
		if !bytes.Equal(p[k:k+n], w.frame[off:off+n]) {
			w.bad = true
		}
		k += n
		w.pos += int64(n)
	}
	return len(p), nil
}

// streamBig walks the synthetic cabinet and returns the bytes allocated meanwhile.
func streamBig(t *testing.T, s *synthCab, frame []byte) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c, err := Open(s, s.size())
	if err != nil {
		t.Fatal(err)
	}
	w := &checkWriter{frame: frame}
	err = c.Walk(func(f *File, r io.Reader) error {
		n, err := io.Copy(w, r)
		if err == nil && n != f.Size {
			err = fmt.Errorf("read %d bytes, want %d", n, f.Size)
		}
		return err
	})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if w.bad || w.pos != int64(s.n)*maxFrame {
		t.Fatalf("wrong member bytes (%d bytes, mismatch %v)", w.pos, w.bad)
	}
	t.Logf("%d MiB member streamed: %d KiB allocated, heap in use %d KiB after", w.pos>>20,
		(after.TotalAlloc-before.TotalAlloc)>>10, after.HeapInuse>>10)
	return after.TotalAlloc - before.TotalAlloc
}

// TestMemoryBound streams a 96 MiB member (stored, then LZX) and checks that what is
// allocated is the fixed working set (read buffer, window, frame), not the member.
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 192 MiB")
	}
	const frames = 3072 // 96 MiB
	frame := pattern(maxFrame, 11)

	t.Run("stored", func(t *testing.T) {
		s := newSynthCab(t, uint16(MethodNone), frame, frame, frames)
		if n := streamBig(t, s, frame); n > 2<<20 {
			t.Errorf("allocated %d bytes to stream a %d-byte member", n, frames*maxFrame)
		}
	})

	t.Run("LZX", func(t *testing.T) {
		// LZX uncompressed blocks of one frame each: after the first frame (which
		// carries the stream header) every frame encodes to the same bytes, so that
		// the synthetic reader can repeat it.
		enc, err := lzx.NewEncoder(lzx.EncoderOptions{WindowBits: 21, Blocks: lzx.Uncompressed})
		if err != nil {
			t.Fatal(err)
		}
		var payloads [][]byte
		for range 3 {
			p, err := enc.EncodeFrame(frame)
			if err != nil {
				t.Fatal(err)
			}
			payloads = append(payloads, bytes.Clone(p))
		}
		if !bytes.Equal(payloads[1], payloads[2]) {
			t.Skip("the LZX encoder's uncompressed frames do not repeat: cannot synthesize a large stream")
		}
		s := newSynthCab(t, uint16(MethodLZX)|21<<8, payloads[0], payloads[1], frames)
		if n := streamBig(t, s, frame); n > (2<<20)+(2<<20) {
			t.Errorf("allocated %d bytes to stream a %d-byte member", n, frames*maxFrame)
		}
	})
}
