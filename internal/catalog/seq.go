package catalog

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// errNotSequential: a seqReaderAt was asked for bytes it has already let go.
var errNotSequential = errors.New("cabinet read out of order")

// seqReaderAt serves a cabinet read from a stream (a member of the outer cabinet)
// as an io.ReaderAt, without holding the whole of it, for readers that move forward:
// it keeps the bytes from the start of the last read on, and refuses (with
// errNotSequential) a read that starts before that. cab.Open and one folder stream of
// a cabinet whose tables come before its data read that way.
type seqReaderAt struct {
	mu   sync.Mutex
	r    io.Reader
	size int64
	name string // the member, for errors
	buf  []byte // bytes [off, off+len(buf)) of the stream
	off  int64
	err  error // the stream's error, once met
}

func newSeqReaderAt(r io.Reader, size int64, name string) *seqReaderAt {
	return &seqReaderAt{r: r, size: size, name: name}
}

func (s *seqReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	if off < s.off {
		return 0, fmt.Errorf("%s: bytes %d to %d: %w", s.name, off, off+int64(len(p)), errNotSequential)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), s.size)
	// Let go of the bytes before off: later reads start at off or after.
	if drop := min(off-s.off, int64(len(s.buf))); drop > 0 {
		s.buf = s.buf[:copy(s.buf, s.buf[drop:])]
		s.off += drop
	}
	if s.off < off { // off lies past the bytes read so far: skip to it
		if _, err := io.CopyN(io.Discard, s.r, off-s.off); err != nil {
			return 0, s.fail(err)
		}
		s.off = off
	}
	if want := int(end - s.off); want > len(s.buf) {
		if cap(s.buf) < want {
			nb := make([]byte, len(s.buf), max(want, 2*cap(s.buf)))
			copy(nb, s.buf)
			s.buf = nb
		}
		n := len(s.buf)
		k, err := io.ReadFull(s.r, s.buf[n:want])
		s.buf = s.buf[:n+k]
		if err != nil {
			return 0, s.fail(err)
		}
	}
	n := copy(p, s.buf[off-s.off:end-s.off])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (s *seqReaderAt) fail(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if s.err == nil {
		s.err = fmt.Errorf("%s: reading member %s: %w", outerName, s.name, err)
	}
	return s.err
}
