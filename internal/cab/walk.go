package cab

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// Walk decodes every folder once, in order, and calls fn for each member with a reader
// of its bytes; the members of a folder come in the order of their offsets. The reader
// is valid only until fn returns; it implements io.WriterTo, so io.Copy from it
// copies no bytes through an intermediate buffer. Bytes fn leaves unread are decoded
// and discarded when a later member of the same folder is read.
//
// A member that cannot be read gets a reader whose Read returns the error: an
// *UnsupportedCompressionError for a Quantum or unknown folder, a *LimitError, or a
// decoding error wrapping ErrCorrupt (after which the rest of that folder fails too,
// a folder being one solid stream). When fn returns nil Walk goes on with the next
// member and folder, so the cabinet's other folders still extract. Walk returns fn's
// first non-nil error.
func (c *Cabinet) Walk(fn func(f *File, r io.Reader) error) error {
	var (
		dr  *dataReader
		bud = budget{max: c.opts.limits.MaxTotalSize}
	)
	ws := c.opts.pool.get()
	defer c.opts.pool.put(ws)
	for fi := range c.Folders {
		members := c.members[fi]
		if len(members) == 0 {
			continue
		}
		if dr == nil {
			dr = newDataReaderBuf(c.r, c.size, &ws.buf)
		}
		s, ferr := c.newStream(fi, dr, &ws.decs, &bud)
		for _, f := range members {
			mr := &memberReader{c: c, f: f, s: s, remaining: f.Size}
			if ferr != nil {
				mr.err = c.memberError(f, ferr)
			}
			err := fn(f, mr)
			mr.closed = true
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Open returns a reader of the member called name (compared case-insensitively, with
// `\` and `/` as the same separator; the first of several same-named members). The
// reader decodes the member's folder from its start up to the member, then the
// member; it holds its own buffers, so several readers may be used at once.
func (c *Cabinet) Open(name string) (io.Reader, error) {
	f := c.lookup(name)
	if f == nil {
		return nil, c.errorf("no member is named %q (list the members with `waptserver cab list`): %w", name, fs.ErrNotExist)
	}
	return c.OpenFile(f)
}

// OpenFile is Open for a member of c.Files.
func (c *Cabinet) OpenFile(f *File) (io.Reader, error) {
	if f == nil || f.Folder < 0 || f.Folder >= len(c.Folders) {
		return nil, c.errorf("OpenFile: the member does not belong to this cabinet")
	}
	s, err := c.newStream(f.Folder, newDataReader(c.r, c.size), &decoders{}, &budget{max: c.opts.limits.MaxTotalSize})
	if err != nil {
		return nil, c.memberError(f, err)
	}
	mr := &memberReader{c: c, f: f, s: s, remaining: f.Size}
	if err := mr.start(); err != nil {
		return nil, err
	}
	return mr, nil
}

func (c *Cabinet) newStream(fi int, dr *dataReader, decs *decoders, bud *budget) (*folderStream, error) {
	folder := &c.Folders[fi]
	dec, err := decs.get(folder)
	if err != nil {
		if errors.Is(err, errUnsupported) {
			return nil, err
		}
		return nil, fmt.Errorf("folder %d: %w", fi, err)
	}
	return &folderStream{c: c, index: fi, folder: folder, dr: dr, dec: dec, budget: bud, next: folder.DataOffset}, nil
}

// memberError turns a folder or stream error into the error of member f.
func (c *Cabinet) memberError(f *File, err error) error {
	var le *LimitError
	switch {
	case errors.Is(err, errUnsupported):
		return &UnsupportedCompressionError{Cabinet: c.opts.name, Member: f.Name, Method: c.Folders[f.Folder].Method.String()}
	case errors.As(err, &le):
		return err
	}
	return c.errorf("member %q: %w", f.Name, err)
}

// memberReader reads one member's bytes from its folder's stream.
type memberReader struct {
	c         *Cabinet
	f         *File
	s         *folderStream
	remaining int64
	started   bool
	closed    bool // Walk's callback returned: the stream belongs to the next member
	err       error
}

// start checks the member against the limits and the folder's size, and skips the
// stream to the member's first byte.
func (m *memberReader) start() error {
	if m.started {
		return m.err
	}
	m.started = true
	if m.err != nil {
		return m.err
	}
	f, s, c := m.f, m.s, m.c
	if f.Size > c.opts.limits.MaxMemberSize {
		m.err = &LimitError{Cabinet: c.opts.name, Member: f.Name, Limit: "MaxMemberSize", Max: c.opts.limits.MaxMemberSize, Size: f.Size}
		return m.err
	}
	if capacity := int64(s.folder.DataBlocks) * maxFrame; f.Offset+f.Size > capacity {
		m.err = c.errorf("member %q occupies bytes %d to %d of folder %d, but the folder's %d data blocks hold at most %d bytes: %w",
			f.Name, f.Offset, f.Offset+f.Size, f.Folder, s.folder.DataBlocks, capacity, ErrCorrupt)
		return m.err
	}
	if f.Offset < s.pos {
		m.err = c.errorf("member %q starts at byte %d of folder %d, inside bytes already delivered for an earlier member (up to byte %d): overlapping members cannot be streamed; read it with Cabinet.Open: %w",
			f.Name, f.Offset, f.Folder, s.pos, ErrCorrupt)
		return m.err
	}
	s.member = f.Name
	if err := s.skipTo(f.Offset); err != nil {
		m.err = m.streamError(err)
		return m.err
	}
	return nil
}

// streamError names the member in an error from its folder's stream.
func (m *memberReader) streamError(err error) error {
	if errors.Is(err, errFolderEnd) {
		return m.c.errorf("member %q occupies bytes %d to %d of folder %d, but the folder's data ends at byte %d: truncated or %w",
			m.f.Name, m.f.Offset, m.f.Offset+m.f.Size, m.f.Folder, m.s.pos, ErrCorrupt)
	}
	return m.c.memberError(m.f, err)
}

func (m *memberReader) Read(p []byte) (int, error) {
	if m.closed {
		return 0, m.c.errorf("member %q: read after Walk's callback returned", m.f.Name)
	}
	if err := m.start(); err != nil {
		return 0, err
	}
	if m.remaining == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && m.remaining > 0 {
		chunk, err := m.s.peek()
		if err != nil {
			m.err = m.streamError(err)
			return n, m.err
		}
		k := copy(p[n:min(int64(len(p)), int64(n)+m.remaining)], chunk)
		m.s.advance(k)
		m.remaining -= int64(k)
		n += k
	}
	return n, nil
}

// WriteTo writes the rest of the member to w straight from the decoder's frames.
func (m *memberReader) WriteTo(w io.Writer) (int64, error) {
	if m.closed {
		return 0, m.c.errorf("member %q: read after Walk's callback returned", m.f.Name)
	}
	if err := m.start(); err != nil {
		return 0, err
	}
	var total int64
	for m.remaining > 0 {
		chunk, err := m.s.peek()
		if err != nil {
			m.err = m.streamError(err)
			return total, m.err
		}
		if int64(len(chunk)) > m.remaining {
			chunk = chunk[:m.remaining]
		}
		k, werr := w.Write(chunk)
		if k < 0 || k > len(chunk) {
			k = 0
			if werr == nil {
				werr = fmt.Errorf("writer returned an invalid count")
			}
		}
		m.s.advance(k)
		m.remaining -= int64(k)
		total += int64(k)
		if werr != nil {
			return total, werr
		}
		if k < len(chunk) {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}
