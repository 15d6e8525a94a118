package cab

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openwua/waptwua/internal/lzx"
)

// The writer makes cabinets for tests and synthetic catalogs; it never rewrites
// Microsoft's cabinets (their signatures cover the original bytes).

// Limits of the format that the writer enforces.
const (
	maxMemberSize   = 1<<32 - 1 // cbFile is 32-bit
	maxFolderBlocks = 1<<16 - 1 // cCFData is 16-bit
	maxFolderData   = maxFolderBlocks * maxFrame
	maxFolders      = folderContinuedFromPrev // iFolder values from 0xFFFD up are special
	maxFiles        = 1<<16 - 1
	maxReserve      = 255 // cbCFFolder and cbCFData are 8-bit
	attrArchive     = 0x20
	spoolBufferSize = 256 << 10
)

// WriterOptions configures a Writer.
type WriterOptions struct {
	// HeaderReserve is the size of the zero-filled reserve area after the CFHEADER
	// (0..60000), where signed cabinets keep their Authenticode data.
	HeaderReserve int
	// FolderReserve and DataReserve are the sizes of the zero-filled reserve areas of
	// each CFFOLDER and each CFDATA (0..255).
	FolderReserve int
	DataReserve   int
	// Checksums fills in the CFDATA checksums (otherwise 0, meaning none).
	Checksums bool
	// TempDir is where folder data is spooled; "" means os.TempDir().
	TempDir string
	// LZX tunes the encoder of LZX folders: block types, block size and E8
	// translation. Its WindowBits and StreamSize are ignored: NewFolder gives the
	// window, and the writer knows each folder's size.
	LZX lzx.EncoderOptions
}

// Writer writes a single-part cabinet. Members are added to the current folder with
// Create and written through the returned io.Writer; nothing reaches the destination
// before Close, which needs the sizes of everything to write the header. Member bytes
// are spooled to temporary files in WriterOptions.TempDir (the current folder's
// uncompressed bytes, then every folder's data blocks), never held in memory.
//
// A Writer is not safe for concurrent use. After an error, every later call returns
// it; Close must still be called: it removes the temporary files.
type Writer struct {
	dst  io.Writer
	opts WriterOptions
	err  error

	folders []writerFolder
	files   []writerFile
	pending *writerFolder // set by NewFolder, becomes the current folder at Create
	current int           // index of the current folder, -1 before the first Create
	member  *memberWriter // the open member, if any

	raw      *os.File      // the current folder's uncompressed bytes
	rawBuf   *bufio.Writer // in front of raw
	data     *os.File      // every finished folder's CFDATA blocks
	dataBuf  *bufio.Writer
	dataSize int64
	closed   bool

	frame []byte // scratch: one uncompressed frame
	prev  []byte // scratch: the frame before it (the MSZIP dictionary)
}

// writerFolder is one CFFOLDER in the making.
type writerFolder struct {
	method     Method
	windowBits int
	size       int64 // uncompressed bytes so far
	dataOffset int64 // offset of its first CFDATA in the data spool
	blocks     int
}

// writerFile is one CFFILE in the making.
type writerFile struct {
	name       string
	attrs      uint16
	date, time uint16
	folder     int
	offset     int64 // in the folder's uncompressed data
	size       int64
}

// NewWriter returns a Writer of a cabinet that Close writes to w. With invalid
// options, every call of the Writer returns the error.
func NewWriter(w io.Writer, opts WriterOptions) *Writer {
	wr := &Writer{dst: w, opts: opts, current: -1}
	switch {
	case opts.HeaderReserve < 0 || opts.HeaderReserve > maxHeaderRes:
		wr.err = fmt.Errorf("cab: header reserve of %d bytes, want 0..%d", opts.HeaderReserve, maxHeaderRes)
	case opts.FolderReserve < 0 || opts.FolderReserve > maxReserve:
		wr.err = fmt.Errorf("cab: folder reserve of %d bytes, want 0..%d", opts.FolderReserve, maxReserve)
	case opts.DataReserve < 0 || opts.DataReserve > maxReserve:
		wr.err = fmt.Errorf("cab: data block reserve of %d bytes, want 0..%d", opts.DataReserve, maxReserve)
	default:
		// Check the LZX options now rather than when the first LZX folder is done
		// (a one-byte stream costs next to no memory).
		check := opts.LZX
		check.WindowBits, check.StreamSize = 15, 1
		if _, err := lzx.NewEncoder(check); err != nil {
			wr.err = fmt.Errorf("cab: WriterOptions.LZX: %w", err)
		}
	}
	return wr
}

// NewFolder starts a new folder compressed with method; windowBits (15..21) is used
// only for LZX. The members created from now on go to this folder. A folder that
// receives no member is not written.
func (w *Writer) NewFolder(method Method, windowBits int) error {
	if err := w.usable(); err != nil {
		return err
	}
	switch method {
	case MethodNone, MethodMSZIP:
		windowBits = 0
	case MethodLZX:
		if windowBits < 15 || windowBits > 21 {
			return fmt.Errorf("cab: LZX window of 2^%d bytes, want 2^15..2^21: %w", windowBits, lzx.ErrWindow)
		}
	case MethodQuantum:
		return errors.New("cab: writing Quantum folders is not supported (use None, MSZIP or LZX)")
	default:
		return fmt.Errorf("cab: unknown compression method %v", method)
	}
	w.finishMember()
	w.pending = &writerFolder{method: method, windowBits: windowBits}
	return nil
}

// Create adds a member named name (`/` is stored as `\`; at most 255 bytes of UTF-8)
// with the modification time modified (its wall clock, in its own location; the
// format keeps no zone and no time before 1980) to the current folder. The returned
// writer takes the member's bytes until the next Create, NewFolder or Close.
func (w *Writer) Create(name string, modified time.Time) (io.Writer, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	name = strings.ReplaceAll(name, "/", `\`)
	switch {
	case name == "":
		return nil, errors.New("cab: empty member name")
	case len(name) > maxNameBytes-1:
		return nil, fmt.Errorf("cab: member name of %d bytes (%q...): the cabinet format allows at most %d", len(name), name[:32], maxNameBytes-1)
	case !utf8.ValidString(name):
		return nil, fmt.Errorf("cab: member name %q is not valid UTF-8", name)
	case strings.IndexByte(name, 0) >= 0:
		return nil, fmt.Errorf("cab: member name %q contains a NUL byte", name)
	}
	if w.pending == nil && w.current < 0 {
		return nil, fmt.Errorf("cab: member %q: no folder to put it in (call NewFolder first)", name)
	}
	if len(w.files) >= maxFiles {
		return nil, fmt.Errorf("cab: member %q: a cabinet holds at most %d members", name, maxFiles)
	}
	w.finishMember()
	if w.pending != nil {
		if err := w.startFolder(); err != nil {
			return nil, w.fail(err)
		}
	}
	attrs := uint16(attrArchive)
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			attrs |= attrNameIsUTF8
			break
		}
	}
	date, tm := dosDateTime(modified)
	f := &w.folders[w.current]
	w.files = append(w.files, writerFile{name: name, attrs: attrs, date: date, time: tm, folder: w.current, offset: f.size})
	w.member = &memberWriter{w: w, index: len(w.files) - 1}
	return w.member, nil
}

// Close compresses the last folder and writes the cabinet to the destination given
// to NewWriter. It removes the temporary files, even after an error.
func (w *Writer) Close() error {
	defer w.removeSpools()
	if err := w.usable(); err != nil {
		return err
	}
	w.closed = true
	w.finishMember()
	if err := w.finishFolder(); err != nil {
		return w.fail(err)
	}
	if len(w.files) == 0 {
		return w.fail(errors.New("cab: no members: a cabinet needs at least one (cabextract rejects empty ones)"))
	}
	if err := w.writeCabinet(); err != nil {
		return w.fail(err)
	}
	return nil
}

func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("cab: writer is closed")
	}
	return nil
}

// fail records the first error and returns it.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// memberWriter writes one member's bytes into the current folder's spool.
type memberWriter struct {
	w      *Writer
	index  int // in Writer.files
	closed bool
}

func (m *memberWriter) Write(p []byte) (int, error) {
	w := m.w
	if m.closed {
		return 0, fmt.Errorf("cab: member %q is finished: write members one after another, before the next Create, NewFolder or Close", w.files[m.index].name)
	}
	if w.err != nil {
		return 0, w.err
	}
	file := &w.files[m.index]
	folder := &w.folders[file.folder]
	if file.size+int64(len(p)) > maxMemberSize {
		return 0, w.fail(fmt.Errorf("cab: member %q would be larger than %d bytes, the most a cabinet member can hold", file.name, int64(maxMemberSize)))
	}
	if folder.size+int64(len(p)) > maxFolderData {
		return 0, w.fail(fmt.Errorf("cab: member %q: folder %d would hold more than %d bytes (%d data blocks), the most a folder can: call NewFolder between members",
			file.name, file.folder, int64(maxFolderData), maxFolderBlocks))
	}
	n, err := w.rawBuf.Write(p)
	file.size += int64(n)
	folder.size += int64(n)
	if err != nil {
		return n, w.fail(fmt.Errorf("cab: spooling member %q: %w", file.name, err))
	}
	return n, nil
}

// finishMember ends the open member: its writer refuses further bytes.
func (w *Writer) finishMember() {
	if w.member != nil {
		w.member.closed = true
		w.member = nil
	}
}

// startFolder makes the pending folder current, after compressing the previous one.
func (w *Writer) startFolder() error {
	if len(w.folders) >= maxFolders {
		return fmt.Errorf("cab: a cabinet holds at most %d folders", maxFolders)
	}
	if err := w.finishFolder(); err != nil {
		return err
	}
	if w.raw == nil {
		var err error
		if w.raw, err = os.CreateTemp(w.opts.TempDir, "cab-folder-*.tmp"); err != nil {
			return fmt.Errorf("cab: creating the folder spool file (set WriterOptions.TempDir to a writable directory): %w", err)
		}
		w.rawBuf = bufio.NewWriterSize(w.raw, spoolBufferSize)
	}
	w.folders = append(w.folders, *w.pending)
	w.pending = nil
	w.current = len(w.folders) - 1
	return nil
}

// finishFolder compresses the current folder's spooled bytes into data blocks.
func (w *Writer) finishFolder() error {
	if w.current < 0 {
		return nil
	}
	f := &w.folders[w.current]
	w.current = -1
	if err := w.rawBuf.Flush(); err != nil {
		return fmt.Errorf("cab: spooling folder data: %w", err)
	}
	if w.data == nil {
		var err error
		if w.data, err = os.CreateTemp(w.opts.TempDir, "cab-data-*.tmp"); err != nil {
			return fmt.Errorf("cab: creating the data spool file (set WriterOptions.TempDir to a writable directory): %w", err)
		}
		w.dataBuf = bufio.NewWriterSize(w.data, spoolBufferSize)
	}
	if _, err := w.raw.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("cab: rewinding the folder spool: %w", err)
	}
	compress, err := w.compressor(f)
	if err != nil {
		return err
	}
	f.dataOffset = w.dataSize
	in := bufio.NewReaderSize(w.raw, spoolBufferSize)
	if w.frame == nil {
		w.frame = make([]byte, maxFrame)
	}
	hdr := make([]byte, dataFixedSize+w.opts.DataReserve)
	for left := f.size; left > 0; {
		frame := w.frame[:min(left, maxFrame)]
		if _, err := io.ReadFull(in, frame); err != nil {
			return fmt.Errorf("cab: reading back the folder spool: %w", err)
		}
		left -= int64(len(frame))
		payload, err := compress(frame)
		if err != nil {
			return fmt.Errorf("cab: compressing folder %d (%v): %w", len(w.folders)-1, f.method, err)
		}
		if len(payload) > 1<<16-1 {
			return fmt.Errorf("cab: folder %d: a data block compressed to %d bytes, more than a block holds", len(w.folders)-1, len(payload))
		}
		binary.LittleEndian.PutUint16(hdr[4:], uint16(len(payload)))
		binary.LittleEndian.PutUint16(hdr[6:], uint16(len(frame)))
		var sum uint32
		if w.opts.Checksums {
			sum = checksum(hdr[4:8], checksum(payload, 0))
		}
		binary.LittleEndian.PutUint32(hdr[0:], sum)
		if _, err := w.dataBuf.Write(hdr); err != nil {
			return fmt.Errorf("cab: spooling data blocks: %w", err)
		}
		if _, err := w.dataBuf.Write(payload); err != nil {
			return fmt.Errorf("cab: spooling data blocks: %w", err)
		}
		w.dataSize += int64(len(hdr) + len(payload))
		f.blocks++
	}
	if err := w.raw.Truncate(0); err != nil {
		return fmt.Errorf("cab: emptying the folder spool: %w", err)
	}
	if _, err := w.raw.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("cab: rewinding the folder spool: %w", err)
	}
	return nil
}

// compressor returns the function that turns each frame of folder f, in order, into
// a CFDATA payload.
func (w *Writer) compressor(f *writerFolder) (func([]byte) ([]byte, error), error) {
	switch f.method {
	case MethodNone:
		return func(frame []byte) ([]byte, error) { return frame, nil }, nil
	case MethodMSZIP:
		// Each block is "CK" and a complete deflate stream whose dictionary is the
		// previous 32 KiB of the folder (the previous frame).
		w.prev = w.prev[:0]
		var buf bytes.Buffer
		return func(frame []byte) ([]byte, error) {
			if err := mszipCompress(&buf, frame, w.prev); err != nil {
				return nil, err
			}
			w.prev = append(w.prev[:0], frame...)
			return buf.Bytes(), nil
		}, nil
	case MethodLZX:
		opts := w.opts.LZX
		opts.WindowBits = f.windowBits
		opts.StreamSize = f.size
		enc, err := lzx.NewEncoder(opts)
		if err != nil {
			return nil, fmt.Errorf("cab: WriterOptions.LZX: %w", err)
		}
		return enc.EncodeFrame, nil
	}
	return nil, fmt.Errorf("cab: cannot compress with method %v", f.method)
}

// writeCabinet writes the header, folder and file tables, then the spooled blocks.
func (w *Writer) writeCabinet() error {
	if w.dataBuf != nil {
		if err := w.dataBuf.Flush(); err != nil {
			return fmt.Errorf("cab: spooling data blocks: %w", err)
		}
	}
	reserve := w.opts.HeaderReserve > 0 || w.opts.FolderReserve > 0 || w.opts.DataReserve > 0
	headerSize := int64(headerFixedSize)
	if reserve {
		headerSize += 4 + int64(w.opts.HeaderReserve)
	}
	filesOffset := headerSize + int64(len(w.folders))*int64(folderFixedSize+w.opts.FolderReserve)
	dataOffset := filesOffset
	for _, f := range w.files {
		dataOffset += int64(fileFixedSize + len(f.name) + 1)
	}
	total := dataOffset + w.dataSize
	if total > 1<<32-1 {
		return fmt.Errorf("cab: the cabinet would be %d bytes, more than the format's 4 GiB: spread the members over several cabinets", total)
	}

	out := bufio.NewWriterSize(w.dst, spoolBufferSize)
	le := binary.LittleEndian
	var b []byte
	b = append(b, "MSCF"...)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, uint32(total))
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, uint32(filesOffset))
	b = le.AppendUint32(b, 0)
	b = append(b, 3, 1) // version 1.3
	b = le.AppendUint16(b, uint16(len(w.folders)))
	b = le.AppendUint16(b, uint16(len(w.files)))
	var flags uint16
	if reserve {
		flags |= flagReserve
	}
	b = le.AppendUint16(b, flags)
	b = le.AppendUint16(b, 0) // setID
	b = le.AppendUint16(b, 0) // iCabinet
	if reserve {
		b = le.AppendUint16(b, uint16(w.opts.HeaderReserve))
		b = append(b, byte(w.opts.FolderReserve), byte(w.opts.DataReserve))
		b = append(b, make([]byte, w.opts.HeaderReserve)...)
	}
	for _, f := range w.folders {
		b = le.AppendUint32(b, uint32(dataOffset+f.dataOffset))
		b = le.AppendUint16(b, uint16(f.blocks))
		typ := uint16(f.method)
		if f.method == MethodLZX {
			typ |= uint16(f.windowBits) << 8
		}
		b = le.AppendUint16(b, typ)
		b = append(b, make([]byte, w.opts.FolderReserve)...)
	}
	for _, f := range w.files {
		b = le.AppendUint32(b, uint32(f.size))
		b = le.AppendUint32(b, uint32(f.offset))
		b = le.AppendUint16(b, uint16(f.folder))
		b = le.AppendUint16(b, f.date)
		b = le.AppendUint16(b, f.time)
		b = le.AppendUint16(b, f.attrs)
		b = append(b, f.name...)
		b = append(b, 0)
	}
	if int64(len(b)) != dataOffset {
		return fmt.Errorf("cab: internal error: tables are %d bytes, expected %d", len(b), dataOffset)
	}
	if _, err := out.Write(b); err != nil {
		return fmt.Errorf("cab: writing the cabinet: %w", err)
	}
	if w.data != nil {
		if _, err := w.data.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("cab: rewinding the data spool: %w", err)
		}
		if n, err := io.Copy(out, w.data); err != nil {
			return fmt.Errorf("cab: writing the cabinet: %w", err)
		} else if n != w.dataSize {
			return fmt.Errorf("cab: data spool holds %d bytes, expected %d", n, w.dataSize)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("cab: writing the cabinet: %w", err)
	}
	return nil
}

// removeSpools closes and deletes the temporary files.
func (w *Writer) removeSpools() {
	for _, f := range []*os.File{w.raw, w.data} {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	w.raw, w.data = nil, nil
	w.closed = true
}

// dosDateTime converts t's wall clock to MS-DOS date and time, clamped to the range
// the format can hold (1980..2107, even seconds).
func dosDateTime(t time.Time) (date, tm uint16) {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	switch {
	case y < 1980:
		return 1<<5 | 1, 0
	case y > 2107:
		return 127<<9 | 12<<5 | 31, 23<<11 | 59<<5 | 29
	}
	return uint16(y-1980)<<9 | uint16(mo)<<5 | uint16(d), uint16(h)<<11 | uint16(mi)<<5 | uint16(s/2)
}
