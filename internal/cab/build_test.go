package cab

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"testing"

	"github.com/openwua/waptwua/internal/lzx"
)

// A minimal cabinet assembler for tests that need exact control over every field,
// including inconsistent ones (the real writer refuses to produce those).

type tBlock struct {
	payload  []byte // stored as the block's data
	uncomp   int    // cbUncomp
	checksum bool   // compute the checksum (else 0)
}

type tFolder struct {
	typ    uint16 // typeCompress
	blocks []tBlock
	// declaredBlocks, when non-negative, replaces len(blocks) in the CFFOLDER entry.
	declaredBlocks int
}

type tFile struct {
	name   string
	size   uint32
	offset uint32
	folder uint16
	attrs  uint16
}

type tCab struct {
	flags      uint16
	headerRes  []byte
	folderRes  int
	dataRes    int
	folders    []tFolder
	files      []tFile
	setID, idx uint16
}

func (tc tCab) bytes() []byte {
	le := binary.LittleEndian
	reserve := tc.headerRes != nil || tc.folderRes > 0 || tc.dataRes > 0
	flags := tc.flags
	if reserve {
		flags |= flagReserve
	}
	hdrLen := headerFixedSize
	if reserve {
		hdrLen += 4 + len(tc.headerRes)
	}
	folderLen := len(tc.folders) * (folderFixedSize + tc.folderRes)
	var fileTable bytes.Buffer
	for _, f := range tc.files {
		var e [fileFixedSize]byte
		le.PutUint32(e[0:], f.size)
		le.PutUint32(e[4:], f.offset)
		le.PutUint16(e[8:], f.folder)
		le.PutUint16(e[10:], 0x2E6C) // 2003-03-12
		le.PutUint16(e[12:], 0x59BA) // 11:13:52
		le.PutUint16(e[14:], f.attrs)
		fileTable.Write(e[:])
		fileTable.WriteString(f.name)
		fileTable.WriteByte(0)
	}
	filesOff := hdrLen + folderLen
	dataOff := filesOff + fileTable.Len()

	var data bytes.Buffer
	folderTable := make([]byte, 0, folderLen)
	for _, fo := range tc.folders {
		var e [folderFixedSize]byte
		le.PutUint32(e[0:], uint32(dataOff+data.Len()))
		n := len(fo.blocks)
		if fo.declaredBlocks >= 0 {
			n = fo.declaredBlocks
		}
		le.PutUint16(e[4:], uint16(n))
		le.PutUint16(e[6:], fo.typ)
		folderTable = append(folderTable, e[:]...)
		folderTable = append(folderTable, make([]byte, tc.folderRes)...)
		for _, b := range fo.blocks {
			var h [dataFixedSize]byte
			le.PutUint16(h[4:], uint16(len(b.payload)))
			le.PutUint16(h[6:], uint16(b.uncomp))
			if b.checksum {
				le.PutUint32(h[0:], checksum(h[4:8], checksum(b.payload, 0)))
			}
			data.Write(h[:])
			data.Write(make([]byte, tc.dataRes))
			data.Write(b.payload)
		}
	}

	var out bytes.Buffer
	var h [headerFixedSize]byte
	copy(h[:], "MSCF")
	le.PutUint32(h[8:], uint32(dataOff+data.Len()))
	le.PutUint32(h[16:], uint32(filesOff))
	h[24], h[25] = 3, 1
	le.PutUint16(h[26:], uint16(len(tc.folders)))
	le.PutUint16(h[28:], uint16(len(tc.files)))
	le.PutUint16(h[30:], flags)
	le.PutUint16(h[32:], tc.setID)
	le.PutUint16(h[34:], tc.idx)
	out.Write(h[:])
	if reserve {
		var r [4]byte
		le.PutUint16(r[0:], uint16(len(tc.headerRes)))
		r[2], r[3] = byte(tc.folderRes), byte(tc.dataRes)
		out.Write(r[:])
		out.Write(tc.headerRes)
	}
	out.Write(folderTable)
	out.Write(fileTable.Bytes())
	out.Write(data.Bytes())
	return out.Bytes()
}

// storedFolder splits content into stored 32 KiB blocks with checksums.
func storedFolder(content []byte) tFolder {
	fo := tFolder{typ: uint16(MethodNone), declaredBlocks: -1}
	for len(content) > 0 {
		n := min(len(content), maxFrame)
		fo.blocks = append(fo.blocks, tBlock{payload: content[:n], uncomp: n, checksum: true})
		content = content[n:]
	}
	return fo
}

// mszipFolder compresses content into MSZIP blocks: "CK" and a deflate stream per
// 32 KiB frame, with the previous frame as dictionary.
func mszipFolder(t testing.TB, content []byte) tFolder {
	fo := tFolder{typ: uint16(MethodMSZIP), declaredBlocks: -1}
	var prev []byte
	for len(content) > 0 {
		n := min(len(content), maxFrame)
		var buf bytes.Buffer
		buf.WriteString("CK")
		w, err := flate.NewWriterDict(&buf, flate.BestSpeed, prev)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(content[:n])
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		fo.blocks = append(fo.blocks, tBlock{payload: buf.Bytes(), uncomp: n, checksum: true})
		prev = content[:n]
		content = content[n:]
	}
	return fo
}

// lzxFolder compresses content with the LZX encoder, one frame per block.
func lzxFolder(t testing.TB, content []byte, windowBits int, mode lzx.BlockMode) tFolder {
	enc, err := lzx.NewEncoder(lzx.EncoderOptions{WindowBits: windowBits, Blocks: mode, StreamSize: int64(len(content))})
	if err != nil {
		t.Fatal(err)
	}
	fo := tFolder{typ: uint16(MethodLZX) | uint16(windowBits)<<8, declaredBlocks: -1}
	for len(content) > 0 {
		n := min(len(content), maxFrame)
		payload, err := enc.EncodeFrame(content[:n])
		if err != nil {
			t.Fatal(err)
		}
		fo.blocks = append(fo.blocks, tBlock{payload: bytes.Clone(payload), uncomp: n, checksum: true})
		content = content[n:]
	}
	return fo
}

// storedCab builds a cabinet of one stored folder per element of folders, each
// holding the given members back to back.
func storedCab(folders ...[][]byte) ([]byte, tCab) {
	var tc tCab
	for fi, members := range folders {
		var content []byte
		for mi, m := range members {
			tc.files = append(tc.files, tFile{
				name:   string(rune('a'+fi)) + "/" + string(rune('0'+mi)) + ".bin",
				size:   uint32(len(m)),
				offset: uint32(len(content)),
				folder: uint16(fi),
			})
			content = append(content, m...)
		}
		tc.folders = append(tc.folders, storedFolder(content))
	}
	return tc.bytes(), tc
}

func TestMSZIPMultiFrame(t *testing.T) {
	// Repetitive across frames, so that matches reach into the previous frame.
	content := bytes.Repeat(pattern(5000, 8), 40)
	tc := tCab{folders: []tFolder{mszipFolder(t, content), mszipFolder(t, content[:10])},
		files: []tFile{{name: "big", size: uint32(len(content))}, {name: "small", size: 10, folder: 1}}}
	got := mustWalk(t, tc.bytes())
	if !bytes.Equal(got["big"], content) || !bytes.Equal(got["small"], content[:10]) {
		t.Errorf("MSZIP round trip: wrong bytes")
	}
}

func TestLZXWindows(t *testing.T) {
	content := append(bytes.Repeat(pattern(3000, 8), 30), pattern(50000, 9)...) // 140000 bytes
	modes := []lzx.BlockMode{lzx.Verbatim, lzx.Aligned, lzx.Uncompressed, lzx.Mixed}
	for bits := 15; bits <= 21; bits++ {
		mode := modes[bits%len(modes)]
		tc := tCab{
			folders: []tFolder{lzxFolder(t, content, bits, mode), lzxFolder(t, content[:1000], bits, mode)},
			files: []tFile{
				{name: "first", size: 70000},
				{name: "empty", size: 0, offset: 70000},
				{name: "second", size: uint32(len(content)) - 70000, offset: 70000},
				{name: "other", size: 1000, folder: 1},
			},
		}
		got := mustWalk(t, tc.bytes())
		if !bytes.Equal(got["first"], content[:70000]) || !bytes.Equal(got["second"], content[70000:]) ||
			len(got["empty"]) != 0 || !bytes.Equal(got["other"], content[:1000]) {
			t.Errorf("window 2^%d, %v blocks: wrong bytes", bits, mode)
		}
	}
}

func TestBuilderRoundTrip(t *testing.T) {
	a, b, c := pattern(100, 1), pattern(70000, 2), pattern(0, 3)
	data, _ := storedCab([][]byte{a, b}, [][]byte{c})
	got := mustWalk(t, data)
	want := map[string][]byte{"a/0.bin": a, "a/1.bin": b, "b/0.bin": c}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s: got %d bytes, want %d", name, len(got[name]), len(w))
		}
	}
}

// pattern is n bytes that differ from one seed to another and compress poorly.
func pattern(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
