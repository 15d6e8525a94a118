package cab

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// maxBlockBytes is the largest CFDATA block: header, 255-byte reserve, 65535 bytes.
	maxBlockBytes = dataFixedSize + 255 + 65535
	// readChunk is how much of the file one ReadAt fetches: many data blocks at once.
	readChunk = 512 << 10
)

// errFolderEnd: the folder's data blocks are all decoded.
var errFolderEnd = errors.New("end of folder data")

// dataReader reads CFDATA bytes through a reusable buffer filled by large ReadAt
// calls, so that the common case (blocks read in file order) costs one system call
// per readChunk bytes and no allocation.
type dataReader struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64 // file offset of buf[0]
	n    int   // valid bytes in buf
}

func newDataReader(r io.ReaderAt, size int64) *dataReader {
	var buf []byte
	return newDataReaderBuf(r, size, &buf)
}

// newDataReaderBuf is newDataReader reusing *buf (grown and stored back when too
// small) as its buffer.
func newDataReaderBuf(r io.ReaderAt, size int64, buf *[]byte) *dataReader {
	// A buffer as large as the file (when small) or readChunk: either way at least as
	// large as any block the file can hold.
	n := int(min(size, readChunk))
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	return &dataReader{r: r, size: size, buf: (*buf)[:n]}
}

// bytes returns the n bytes at off, valid until the next call. The caller has checked
// that off+n <= size.
func (d *dataReader) bytes(off int64, n int) ([]byte, error) {
	if off >= d.off && off+int64(n) <= d.off+int64(d.n) {
		s := int(off - d.off)
		return d.buf[s : s+n], nil
	}
	want := int(min(int64(len(d.buf)), d.size-off))
	if want < n { // cannot happen given the buffer's size; kept as a guard
		return nil, fmt.Errorf("internal buffer of %d bytes too small for %d bytes", len(d.buf), n)
	}
	m, err := d.r.ReadAt(d.buf[:want], off)
	if m < n {
		d.n = 0
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading bytes %d to %d: %w", off, off+int64(n), err)
	}
	d.off, d.n = off, m
	return d.buf[:n], nil
}

// frameDecoder decompresses one folder's blocks, in order.
type frameDecoder interface {
	// reset prepares for a new folder.
	reset()
	// decode returns the outLen bytes that in decompresses to, valid until the next
	// call; in may be overwritten after decode returns.
	decode(in []byte, outLen int) ([]byte, error)
}

// noneDecoder: stored blocks.
type noneDecoder struct{}

func (noneDecoder) reset() {}

func (noneDecoder) decode(in []byte, outLen int) ([]byte, error) {
	if len(in) != outLen {
		return nil, fmt.Errorf("uncompressed block holds %d bytes but declares %d", len(in), outLen)
	}
	return in, nil
}

// mszipDecoder: each block is "CK" and a deflate stream whose dictionary is the last
// 32 KiB of the folder's output so far. One flate reader serves every block (Reset).
type mszipDecoder struct {
	fr   io.ReadCloser
	br   bytes.Reader
	buf  []byte // history (buf[:hlen]) followed by the block being decoded
	hlen int
}

const mszipWindow = 32768

func newMSZIPDecoder() *mszipDecoder {
	return &mszipDecoder{buf: make([]byte, mszipWindow+maxFrame)}
}

func (d *mszipDecoder) reset() { d.hlen = 0 }

func (d *mszipDecoder) decode(in []byte, outLen int) ([]byte, error) {
	if len(in) < 2 || in[0] != 'C' || in[1] != 'K' {
		return nil, errors.New(`MSZIP block does not start with "CK"`)
	}
	if d.hlen > mszipWindow {
		copy(d.buf, d.buf[d.hlen-mszipWindow:d.hlen])
		d.hlen = mszipWindow
	}
	dict := d.buf[:d.hlen]
	d.br.Reset(in[2:])
	if d.fr == nil {
		d.fr = flate.NewReaderDict(&d.br, dict)
	} else if err := d.fr.(flate.Resetter).Reset(&d.br, dict); err != nil {
		return nil, fmt.Errorf("MSZIP: %w", err)
	}
	out := d.buf[d.hlen : d.hlen+outLen]
	if _, err := io.ReadFull(d.fr, out); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("MSZIP block does not inflate to its declared %d bytes: %w", outLen, err)
	}
	d.hlen += outLen
	return out, nil
}

// decoders keeps the frame decoders of one Walk or one member reader, so that folders
// of the same method reuse their buffers.
type decoders struct {
	none  noneDecoder
	mszip *mszipDecoder
	// lzx holds one decoder per window size met (15..21), so that a cabinet whose
	// folders alternate window sizes does not reallocate windows folder after folder.
	lzx [lzxMaxBits - lzxMinBits + 1]frameDecoder
}

const lzxMinBits, lzxMaxBits = 15, 21

// get returns the reset decoder for a folder, or the error every member of the folder
// gets (unsupported method, invalid LZX window).
func (ds *decoders) get(f *Folder) (frameDecoder, error) {
	switch f.Method {
	case MethodNone:
		return ds.none, nil
	case MethodMSZIP:
		if ds.mszip == nil {
			ds.mszip = newMSZIPDecoder()
		}
		ds.mszip.reset()
		return ds.mszip, nil
	case MethodLZX:
		if f.WindowBits < lzxMinBits || f.WindowBits > lzxMaxBits {
			return newLZXDecoder(f.WindowBits) // the error naming the window
		}
		d := &ds.lzx[f.WindowBits-lzxMinBits]
		if *d == nil {
			nd, err := newLZXDecoder(f.WindowBits)
			if err != nil {
				return nil, err
			}
			*d = nd
		}
		(*d).reset()
		return *d, nil
	}
	return nil, errUnsupported
}

// errUnsupported marks a method that has no decoder; the member reader turns it into
// an *UnsupportedCompressionError naming the member.
var errUnsupported = errors.New("unsupported compression method")

// budget counts the bytes decoded by one Walk or one reader against MaxTotalSize.
type budget struct {
	used, max int64
}

// folderStream decodes one folder, block by block, and serves its bytes in order.
type folderStream struct {
	c      *Cabinet
	index  int
	folder *Folder
	dr     *dataReader
	dec    frameDecoder
	budget *budget

	next     int64 // file offset of the next CFDATA block
	block    int   // number of blocks decoded so far
	pos      int64 // folder offset of frame[frameOff]
	frame    []byte
	frameOff int // bytes of frame already consumed
	member   string
	err      error // sticky decoding error
}

// nextFrame decodes the next data block into s.frame.
func (s *folderStream) nextFrame() error {
	if s.err != nil {
		return s.err
	}
	if s.block >= s.folder.DataBlocks {
		return errFolderEnd
	}
	if err := s.decodeBlock(); err != nil {
		var le *LimitError
		if !errors.As(err, &le) {
			err = fmt.Errorf("folder %d, data block %d (at byte %d): %w", s.index, s.block, s.next, err)
		}
		s.err = err
		s.frame, s.frameOff = nil, 0
		return err
	}
	s.block++
	return nil
}

func (s *folderStream) decodeBlock() error {
	hdrLen := dataFixedSize + s.c.Header.DataReserveSize
	if s.next > s.dr.size || int64(hdrLen) > s.dr.size-s.next {
		return fmt.Errorf("the block header runs past the end of the file at byte %d: truncated or %w", s.dr.size, ErrCorrupt)
	}
	hdr, err := s.dr.bytes(s.next, hdrLen)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	sum := le.Uint32(hdr[0:])
	var sizes [4]byte
	copy(sizes[:], hdr[4:8])
	cbData := int(le.Uint16(sizes[0:]))
	cbUncomp := int(le.Uint16(sizes[2:]))
	if cbUncomp == 0 || cbUncomp > maxFrame {
		return fmt.Errorf("the block declares %d uncompressed bytes (must be 1 to %d): %w", cbUncomp, maxFrame, ErrCorrupt)
	}
	dataOff := s.next + int64(hdrLen)
	if int64(cbData) > s.dr.size-dataOff {
		return fmt.Errorf("the block's %d bytes of data run past the end of the file at byte %d: truncated or %w",
			cbData, s.dr.size, ErrCorrupt)
	}
	if s.budget.used+int64(cbUncomp) > s.budget.max {
		return &LimitError{Cabinet: s.c.opts.name, Member: s.member, Limit: "MaxTotalSize", Max: s.budget.max, Size: s.budget.used + int64(cbUncomp)}
	}
	data, err := s.dr.bytes(dataOff, cbData)
	if err != nil {
		return err
	}
	if sum != 0 && s.c.opts.verifyChecksums {
		if got := checksum(sizes[:], checksum(data, 0)); got != sum {
			return fmt.Errorf("checksum %#08x does not match the block's %#08x: %w (download the file again)",
				got, sum, ErrCorrupt)
		}
	}
	out, err := s.dec.decode(data, cbUncomp)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(out) != cbUncomp { // guard against a decoder breaking its contract
		return fmt.Errorf("decoder returned %d bytes instead of %d: %w", len(out), cbUncomp, ErrCorrupt)
	}
	s.budget.used += int64(cbUncomp)
	s.next = dataOff + int64(cbData)
	s.frame, s.frameOff = out, 0
	return nil
}

// skipTo decodes and discards bytes up to folder offset off (>= s.pos).
func (s *folderStream) skipTo(off int64) error {
	for s.pos < off {
		if s.frameOff == len(s.frame) {
			if err := s.nextFrame(); err != nil {
				return err
			}
			continue
		}
		k := min(int64(len(s.frame)-s.frameOff), off-s.pos)
		s.frameOff += int(k)
		s.pos += k
	}
	return nil
}

// peek returns the undelivered rest of the current frame, decoding the next frame
// when the current one is used up. The caller consumes from it with advance.
func (s *folderStream) peek() ([]byte, error) {
	for s.frameOff == len(s.frame) {
		if err := s.nextFrame(); err != nil {
			return nil, err
		}
	}
	return s.frame[s.frameOff:], nil
}

func (s *folderStream) advance(n int) {
	s.frameOff += n
	s.pos += int64(n)
}
