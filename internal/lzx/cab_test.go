package lzx

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// This file holds a minimal reader of the cabinet container, just enough to pull the
// LZX frames out of the real test cabinets; the real reader lives in internal/cab.

// sharedCabs is the directory of cabinets made by other people's tools.
const sharedCabs = "../../testdata/cabs"

type cabFile struct {
	name   string
	size   int
	folder int
	offset int // in the folder's uncompressed data
}

type cabFrame struct {
	data   []byte
	outLen int
}

type cabFolder struct {
	method     int // 0 none, 1 MSZIP, 2 Quantum, 3 LZX
	windowBits int
	frames     []cabFrame
}

type cabinet struct {
	folders []cabFolder
	files   []cabFile
}

// parseCab reads the CFHEADER, CFFOLDER, CFFILE and CFDATA structures.
func parseCab(b []byte) (*cabinet, error) {
	if len(b) < 36 || string(b[:4]) != "MSCF" {
		return nil, fmt.Errorf("not a cabinet")
	}
	le16 := func(p int) int { return int(binary.LittleEndian.Uint16(b[p:])) }
	le32 := func(p int) int { return int(binary.LittleEndian.Uint32(b[p:])) }
	coffFiles := le32(16)
	nFolders, nFiles, flags := le16(26), le16(28), le16(30)
	p := 36
	var folderReserve, dataReserve int
	if flags&4 != 0 {
		folderReserve, dataReserve = int(b[p+2]), int(b[p+3])
		p += 4 + le16(p)
	}
	cstr := func(p int) (string, int, error) {
		for i := p; i < len(b); i++ {
			if b[i] == 0 {
				return string(b[p:i]), i + 1, nil
			}
		}
		return "", 0, fmt.Errorf("unterminated string at %d", p)
	}
	for _, f := range []int{1, 2} { // previous / next cabinet names
		if flags&f != 0 {
			var err error
			for range 2 {
				if _, p, err = cstr(p); err != nil {
					return nil, err
				}
			}
		}
	}
	c := &cabinet{}
	for range nFolders {
		if p+8 > len(b) {
			return nil, fmt.Errorf("folder table truncated")
		}
		dataOff, nData, typ := le32(p), le16(p+4), le16(p+6)
		p += 8 + folderReserve
		fo := cabFolder{method: typ & 0xf, windowBits: typ >> 8 & 0x1f}
		q := dataOff
		for range nData {
			if q+8+dataReserve > len(b) {
				return nil, fmt.Errorf("data block header truncated")
			}
			cb, ucb := le16(q+4), le16(q+6)
			q += 8 + dataReserve
			if q+cb > len(b) {
				return nil, fmt.Errorf("data block truncated")
			}
			fo.frames = append(fo.frames, cabFrame{data: b[q : q+cb], outLen: ucb})
			q += cb
		}
		c.folders = append(c.folders, fo)
	}
	p = coffFiles
	for range nFiles {
		if p+16 > len(b) {
			return nil, fmt.Errorf("file table truncated")
		}
		f := cabFile{size: le32(p), offset: le32(p + 4), folder: le16(p + 8)}
		var err error
		if f.name, p, err = cstr(p + 16); err != nil {
			return nil, err
		}
		c.files = append(c.files, f)
	}
	return c, nil
}

func readCab(t testing.TB, name string) *cabinet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedCabs, name))
	if err != nil {
		t.Fatalf("test cabinets not available (they are part of the repository): %v", err)
	}
	c, err := parseCab(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// decodeFolder decodes all frames of an LZX folder.
func decodeFolder(d *Decoder, fo cabFolder) ([]byte, error) {
	d.Reset()
	var out []byte
	for i, fr := range fo.frames {
		b, err := d.Decode(fr.data, fr.outLen)
		if err != nil {
			return out, fmt.Errorf("frame %d: %w", i, err)
		}
		out = append(out, b...)
	}
	return out, nil
}
