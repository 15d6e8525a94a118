// Package cab reads Microsoft cabinet files (.cab), such as the offline update catalog
// wsusscn2.cab: the header, the folder and file tables, and the members' bytes,
// decompressed from None, MSZIP or LZX folders as a stream.
//
// The input is untrusted: every offset and length is checked against the file's size
// before use, nothing is allocated from a declared count that the file's bytes cannot
// back, memory stays bounded by one LZX window plus one frame and a read buffer whatever
// the member sizes, and Limits cap the decoded output.
package cab

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sizes and values of the cabinet format (MS-CAB).
const (
	headerFixedSize = 36    // CFHEADER without the optional reserve sizes and reserve
	folderFixedSize = 8     // CFFOLDER without its reserve
	fileFixedSize   = 16    // CFFILE without its name
	dataFixedSize   = 8     // CFDATA without its reserve and data
	maxNameBytes    = 256   // longest CFFILE name, terminating NUL included
	fileNameGuess   = 32    // name bytes per CFFILE entry assumed by the first read of the table
	maxFrame        = 32768 // largest uncompressed CFDATA block
	maxHeaderRes    = 60000 // largest cbCFHeader the format allows

	flagPrevCabinet = 0x0001
	flagNextCabinet = 0x0002
	flagReserve     = 0x0004

	attrNameIsUTF8 = 0x80

	folderContinuedFromPrev    = 0xFFFD
	folderContinuedToNext      = 0xFFFE
	folderContinuedPrevAndNext = 0xFFFF
)

// Header is the cabinet's CFHEADER.
type Header struct {
	Size          int64  // cbCabinet: the cabinet's size as declared (a signature may follow it)
	FilesOffset   int64  // coffFiles: where the CFFILE table starts
	VersionMajor  uint8  // 1
	VersionMinor  uint8  // 3
	Flags         uint16 // 0x1 previous cabinet, 0x2 next cabinet, 0x4 reserve present
	SetID         uint16 // setID: the same for every cabinet of a set
	ID            uint16 // iCabinet: this cabinet's number within its set
	HeaderReserve []byte // abReserve: in signed cabinets, the Authenticode area
	// FolderReserveSize and DataReserveSize are the per-CFFOLDER and per-CFDATA reserve
	// sizes (cbCFFolder, cbCFData).
	FolderReserveSize int
	DataReserveSize   int
}

// Folder is one CFFOLDER: a solid stream of data blocks holding its members' bytes.
type Folder struct {
	Method     Method // compression method (low nibble of typeCompress)
	WindowBits int    // LZX window size as a power of two (15..21); 0 for other methods
	TypeBits   uint16 // typeCompress as stored, for methods' other parameters
	DataBlocks int    // cCFData: the number of CFDATA blocks
	DataOffset int64  // coffCabStart: file offset of the first CFDATA block
	Reserve    []byte // per-folder reserve area (usually empty)
}

// File is one member (CFFILE).
type File struct {
	// Name is the member's name as stored, decoded to UTF-8 (Windows `\` separators
	// kept; see SafePath to turn it into a relative slash path).
	Name     string
	Size     int64     // uncompressed size in bytes
	Folder   int       // index into Cabinet.Folders
	Offset   int64     // offset of the member's first byte in its folder's uncompressed stream
	Modified time.Time // DOS date and time; a cabinet stores no zone, so they are given as UTC
	Attrs    uint16    // attribs: 0x01 read-only, 0x02 hidden, 0x04 system, 0x20 archive, 0x40 exec, 0x80 UTF-8 name
}

// Cabinet is an opened cabinet file. Its methods only read, so one Cabinet may be used
// by several goroutines at once (as long as the io.ReaderAt allows concurrent reads, as
// io.ReaderAt's contract requires).
type Cabinet struct {
	Header  Header
	Folders []Folder
	Files   []*File // in directory order

	r       io.ReaderAt
	size    int64
	opts    options
	members [][]*File // per folder, sorted by offset

	indexOnce sync.Once
	index     map[string]*File // folded slash name -> first member of that name
}

// Open reads the header and the folder and file tables of the cabinet held by the
// first size bytes of r. Member data are read and decompressed later, by Walk and Open.
func Open(r io.ReaderAt, size int64, opts ...Option) (*Cabinet, error) {
	c := &Cabinet{r: r, size: size, opts: buildOptions(opts)}
	if r == nil {
		return nil, c.errorf("Open called with a nil io.ReaderAt")
	}
	if err := c.readHeader(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cabinet) errorf(format string, args ...any) error {
	return fmt.Errorf(prefix(c.opts.name)+format, args...)
}

// read returns n bytes at off, after checking that they lie within the file.
func (c *Cabinet) read(off int64, n int, what string) ([]byte, error) {
	if off < 0 || n < 0 || off > c.size || int64(n) > c.size-off {
		return nil, c.errorf("%s (bytes %d to %d) runs past the end of the file at byte %d: truncated or %w",
			what, off, off+int64(n), c.size, ErrCorrupt)
	}
	buf := make([]byte, n)
	if n == 0 {
		return buf, nil
	}
	if m, err := c.r.ReadAt(buf, off); m < n {
		return nil, c.errorf("reading %s (bytes %d to %d): %w", what, off, off+int64(n), err)
	}
	return buf, nil
}

func (c *Cabinet) readHeader() error {
	if c.size < 4 {
		return c.errorf("the file is only %d bytes long: %w (too short for a cabinet header)", c.size, ErrNotCabinet)
	}
	sig, err := c.read(0, 4, "cabinet signature")
	if err != nil {
		return err
	}
	if string(sig) != "MSCF" {
		return c.errorf("the file starts with %q instead of the cabinet signature \"MSCF\": %w", sig, ErrNotCabinet)
	}
	if c.size < headerFixedSize {
		return c.errorf("the file ends at byte %d, inside the %d-byte cabinet header: truncated download or %w",
			c.size, headerFixedSize, ErrCorrupt)
	}
	b, err := c.read(0, headerFixedSize, "cabinet header")
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	h := &c.Header
	h.Size = int64(le.Uint32(b[8:]))
	h.FilesOffset = int64(le.Uint32(b[16:]))
	h.VersionMinor, h.VersionMajor = b[24], b[25]
	nFolders := int(le.Uint16(b[26:]))
	nFiles := int(le.Uint16(b[28:]))
	h.Flags = le.Uint16(b[30:])
	h.SetID = le.Uint16(b[32:])
	h.ID = le.Uint16(b[34:])

	if h.VersionMajor != 1 {
		return c.errorf("cabinet format version %d.%d is not supported (only 1.x, normally 1.3): %w",
			h.VersionMajor, h.VersionMinor, ErrCorrupt)
	}
	if h.Flags&(flagPrevCabinet|flagNextCabinet) != 0 {
		return c.errorf("the cabinet is one part of a set (flags %#04x: continued from or in another cabinet): %w; extract the set with cabextract",
			h.Flags, ErrSpanned)
	}
	if h.Size > c.size {
		return c.errorf("the cabinet declares %d bytes but the file holds only %d: truncated download or %w",
			h.Size, c.size, ErrCorrupt)
	}

	off := int64(headerFixedSize)
	if h.Flags&flagReserve != 0 {
		rb, err := c.read(off, 4, "reserve sizes of the cabinet header")
		if err != nil {
			return err
		}
		off += 4
		headerRes := int(le.Uint16(rb[0:]))
		h.FolderReserveSize = int(rb[2])
		h.DataReserveSize = int(rb[3])
		if headerRes > maxHeaderRes {
			return c.errorf("the header reserve declares %d bytes, more than the format's %d: %w",
				headerRes, maxHeaderRes, ErrCorrupt)
		}
		if h.HeaderReserve, err = c.read(off, headerRes, "header reserve"); err != nil {
			return err
		}
		off += int64(headerRes)
	}

	if err := c.readFolders(off, nFolders); err != nil {
		return err
	}
	if err := c.readFiles(nFiles); err != nil {
		return err
	}
	c.members = make([][]*File, len(c.Folders))
	for _, f := range c.Files {
		c.members[f.Folder] = append(c.members[f.Folder], f)
	}
	for _, m := range c.members {
		// Offset order, and at one offset the empty members first: they are then
		// satisfied before a non-empty member advances the stream past that offset.
		slices.SortStableFunc(m, func(a, b *File) int {
			if a.Offset != b.Offset {
				return cmpInt64(a.Offset, b.Offset)
			}
			return cmpInt64(a.Size, b.Size)
		})
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *Cabinet) readFolders(off int64, n int) error {
	entry := folderFixedSize + c.Header.FolderReserveSize
	if int64(n)*int64(entry) > c.size-off {
		return c.errorf("the header declares %d folders (%d bytes each from byte %d) but the file ends at byte %d: truncated or %w",
			n, entry, off, c.size, ErrCorrupt)
	}
	b, err := c.read(off, n*entry, "folder table")
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	blockHeader := int64(dataFixedSize + c.Header.DataReserveSize)
	c.Folders = make([]Folder, n)
	for i := range c.Folders {
		e := b[i*entry : (i+1)*entry]
		typ := le.Uint16(e[6:])
		f := Folder{
			DataOffset: int64(le.Uint32(e[0:])),
			DataBlocks: int(le.Uint16(e[4:])),
			TypeBits:   typ,
			Method:     Method(typ & 0x000F),
		}
		if f.Method == MethodLZX {
			f.WindowBits = int(typ>>8) & 0x1F
		}
		if c.Header.FolderReserveSize > 0 {
			f.Reserve = e[folderFixedSize:]
		}
		// Every block needs at least its header: a folder declaring more blocks than
		// the rest of the file can hold is corrupt, and is refused before any decoding.
		if f.DataOffset > c.size || int64(f.DataBlocks)*blockHeader > c.size-f.DataOffset {
			return c.errorf("folder %d declares %d data blocks from byte %d but the file ends at byte %d: truncated or %w",
				i, f.DataBlocks, f.DataOffset, c.size, ErrCorrupt)
		}
		c.Folders[i] = f
	}
	return nil
}

func (c *Cabinet) readFiles(n int) error {
	off := c.Header.FilesOffset
	// The smallest entry is the fixed part plus a one-byte name and its NUL.
	if off > c.size || int64(n)*(fileFixedSize+2) > c.size-off {
		return c.errorf("the header declares %d files from byte %d but the file ends at byte %d: truncated or %w",
			n, off, c.size, ErrCorrupt)
	}
	// The table is bounded both by the longest possible table and by the bytes the
	// file holds. It is read in growing chunks, starting from a guess for short names:
	// reading the longest possible table at once would mostly read (and allocate)
	// bytes that are not part of it, 1.5 MB for a cabinet of 5,000 members.
	tableLen := min(int64(n)*(fileFixedSize+maxNameBytes), c.size-off)
	b, err := c.read(off, int(min(tableLen, int64(n)*(fileFixedSize+fileNameGuess)+fileFixedSize+maxNameBytes)), "file table")
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	c.Files = make([]*File, 0, n)
	pos := 0
	for i := range n {
		// Make sure the entry is wholly in b, whatever its name's length, unless the
		// table ends first.
		if len(b)-pos < fileFixedSize+maxNameBytes && int64(len(b)) < tableLen {
			more := min(tableLen, max(2*int64(len(b)), int64(pos)+fileFixedSize+maxNameBytes)) - int64(len(b))
			mb, err := c.read(off+int64(len(b)), int(more), "file table")
			if err != nil {
				return err
			}
			b = append(b, mb...)
		}
		if len(b)-pos < fileFixedSize+1 {
			return c.errorf("file entry %d (at byte %d) runs past the end of the file at byte %d: truncated or %w",
				i, off+int64(pos), c.size, ErrCorrupt)
		}
		e := b[pos:]
		f := &File{
			Size:   int64(le.Uint32(e[0:])),
			Offset: int64(le.Uint32(e[4:])),
			Attrs:  le.Uint16(e[14:]),
		}
		iFolder := int(le.Uint16(e[8:]))
		f.Modified = dosTime(le.Uint16(e[10:]), le.Uint16(e[12:]))
		nameArea := e[fileFixedSize:min(len(e), fileFixedSize+maxNameBytes)]
		end := bytes.IndexByte(nameArea, 0)
		if end < 0 {
			if len(nameArea) < maxNameBytes {
				return c.errorf("the name of file entry %d (at byte %d) runs past the end of the file: truncated or %w",
					i, off+int64(pos), ErrCorrupt)
			}
			return c.errorf("the name of file entry %d (at byte %d) is longer than %d bytes: %w",
				i, off+int64(pos), maxNameBytes-1, ErrCorrupt)
		}
		f.Name = decodeName(nameArea[:end], f.Attrs&attrNameIsUTF8 != 0)
		pos += fileFixedSize + end + 1

		switch {
		case iFolder >= folderContinuedFromPrev:
			return c.errorf("member %q continues from or into another cabinet (folder index %#04x): %w; extract the set with cabextract",
				f.Name, iFolder, ErrSpanned)
		case iFolder >= len(c.Folders):
			return c.errorf("member %q refers to folder %d but the cabinet has %d folders: %w",
				f.Name, iFolder, len(c.Folders), ErrCorrupt)
		}
		f.Folder = iFolder
		c.Files = append(c.Files, f)
	}
	return nil
}

// decodeName turns a stored name into UTF-8: as UTF-8 when the name carries the UTF-8
// attribute (invalid sequences replaced by U+FFFD), else as ISO-8859-1, the usual
// reading of the unspecified code page.
func decodeName(b []byte, isUTF8 bool) string {
	if isUTF8 {
		if utf8.Valid(b) {
			return string(b)
		}
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	ascii := true
	for _, x := range b {
		if x >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(2 * len(b))
	for _, x := range b {
		sb.WriteRune(rune(x))
	}
	return sb.String()
}

// dosTime converts an MS-DOS date and time. Out-of-range fields (month 0, say) are
// normalized by time.Date rather than refused: a bad timestamp is not worth failing on.
func dosTime(date, tm uint16) time.Time {
	return time.Date(1980+int(date>>9), time.Month(date>>5&0xF), int(date&0x1F),
		int(tm>>11), int(tm>>5&0x3F), int(tm&0x1F)*2, 0, time.UTC)
}

// lookupName normalizes a member name for Open: slash separators, and each letter
// replaced by the smallest member of its Unicode case-folding orbit, so that names
// equal under strings.EqualFold (Σ, σ and ς included) have the same key.
func lookupName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '\\' {
			return '/'
		}
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, name)
}

func (c *Cabinet) lookup(name string) *File {
	c.indexOnce.Do(func() {
		c.index = make(map[string]*File, len(c.Files))
		for _, f := range c.Files {
			k := lookupName(f.Name)
			if _, dup := c.index[k]; !dup {
				c.index[k] = f
			}
		}
	})
	return c.index[lookupName(name)]
}
