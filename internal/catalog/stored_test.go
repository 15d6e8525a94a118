package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"time"

	"github.com/openwua/waptwua/internal/cab"
)

// cabMember is one member of a test cabinet.
type cabMember struct {
	name string
	data []byte
}

// storedCab builds an uncompressed cabinet: one folder per element of folders.
func storedCab(headerReserve int, folders ...[]cabMember) []byte {
	le := binary.LittleEndian
	nFiles := 0
	for _, f := range folders {
		nFiles += len(f)
	}
	hdr := 36
	if headerReserve > 0 {
		hdr += 4 + headerReserve
	}
	foldersOff := hdr
	filesOff := foldersOff + 8*len(folders)
	var files bytes.Buffer
	type fdata struct{ blocks [][]byte }
	var fds []fdata
	for fi, f := range folders {
		var stream []byte
		for _, m := range f {
			var e [16]byte
			le.PutUint32(e[0:], uint32(len(m.data)))
			le.PutUint32(e[4:], uint32(len(stream)))
			le.PutUint16(e[8:], uint16(fi))
			le.PutUint16(e[10:], 0x5821) // 2024-01-01
			le.PutUint16(e[14:], 0x20|0x80)
			files.Write(e[:])
			files.WriteString(m.name)
			files.WriteByte(0)
			stream = append(stream, m.data...)
		}
		var fd fdata
		for len(stream) > 0 {
			n := min(len(stream), 32768)
			fd.blocks = append(fd.blocks, stream[:n])
			stream = stream[n:]
		}
		fds = append(fds, fd)
	}
	dataOff := filesOff + files.Len()
	var out bytes.Buffer
	out.Write(make([]byte, dataOff))
	b := out.Bytes()
	offs := make([]int, len(folders))
	var data bytes.Buffer
	for i, fd := range fds {
		offs[i] = dataOff + data.Len()
		for _, blk := range fd.blocks {
			var h [8]byte
			le.PutUint16(h[4:], uint16(len(blk)))
			le.PutUint16(h[6:], uint16(len(blk)))
			data.Write(h[:])
			data.Write(blk)
		}
	}
	copy(b, "MSCF")
	le.PutUint32(b[8:], uint32(dataOff+data.Len()))
	le.PutUint32(b[16:], uint32(filesOff))
	b[24], b[25] = 3, 1
	le.PutUint16(b[26:], uint16(len(folders)))
	le.PutUint16(b[28:], uint16(nFiles))
	if headerReserve > 0 {
		le.PutUint16(b[30:], 4)
		le.PutUint16(b[36:], uint16(headerReserve))
	}
	for i, fd := range fds {
		p := foldersOff + 8*i
		le.PutUint32(b[p:], uint32(offs[i]))
		le.PutUint16(b[p+4:], uint16(len(fd.blocks)))
		le.PutUint16(b[p+6:], 0) // none
	}
	copy(b[filesOff:], files.Bytes())
	out.Write(data.Bytes())
	return out.Bytes()
}

// storedSink is a cabSink that writes uncompressed cabinets in memory, whatever the
// method asked for: fast round trips of the generator.
type storedSink struct {
	w       io.Writer
	reserve int
	folders [][]cabMember
	cur     *bytes.Buffer
}

func newStoredSink(w io.Writer, headerReserve int, tmp string) cabSink {
	return &storedSink{w: w, reserve: headerReserve}
}

func (s *storedSink) flush() {
	if s.cur != nil {
		f := s.folders[len(s.folders)-1]
		f[len(f)-1].data = s.cur.Bytes()
		s.cur = nil
	}
}

func (s *storedSink) NewFolder(cab.Method, int) error {
	s.flush()
	s.folders = append(s.folders, nil)
	return nil
}

func (s *storedSink) Create(name string, _ time.Time) (io.Writer, error) {
	s.flush()
	if len(s.folders) == 0 {
		return nil, errors.New("Create before NewFolder")
	}
	s.cur = &bytes.Buffer{}
	s.folders[len(s.folders)-1] = append(s.folders[len(s.folders)-1], cabMember{name: name})
	return s.cur, nil
}

func (s *storedSink) Close() error {
	s.flush()
	_, err := s.w.Write(storedCab(s.reserve, s.folders...))
	return err
}
