package cab

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"slices"
)

// MSZIP data blocks for the writer: "CK" and a complete deflate stream of one frame,
// with the previous frame as preset dictionary.
//
// compress/flate writes a distance tree with a single code when a block uses one
// distance code (and may do the same with the code-length tree). RFC 1951 allows
// those incomplete codes and zlib, Windows and 7-Zip decode them, but libmspack
// (cabextract) rejects every incomplete Huffman table. So each frame's deflate stream
// is walked, and a frame with such a table is stored instead.

// mszipCompress appends the MSZIP payload of frame to dst (which it resets).
func mszipCompress(dst *bytes.Buffer, frame, dict []byte) error {
	for _, level := range []int{flate.DefaultCompression, flate.NoCompression} {
		dst.Reset()
		dst.WriteString("CK")
		fw, err := flate.NewWriterDict(dst, level, dict)
		if err != nil {
			return err
		}
		if _, err := fw.Write(frame); err != nil {
			return err
		}
		if err := fw.Close(); err != nil {
			return err
		}
		ok, err := deflateTablesComplete(dst.Bytes()[2:])
		if err != nil {
			return fmt.Errorf("checking the deflate stream: %w", err)
		}
		if ok {
			return nil
		}
	}
	return errors.New("stored deflate blocks rejected by the table check")
}

// dfReader reads a deflate bitstream (least significant bit first).
type dfReader struct {
	b      []byte
	pos    int
	bitbuf uint32
	bitcnt uint
}

var errDeflateTruncated = errors.New("deflate stream truncated")

func (r *dfReader) bits(n uint) (uint32, error) {
	for r.bitcnt < n {
		if r.pos >= len(r.b) {
			return 0, errDeflateTruncated
		}
		r.bitbuf |= uint32(r.b[r.pos]) << r.bitcnt
		r.pos++
		r.bitcnt += 8
	}
	v := r.bitbuf & (1<<n - 1)
	r.bitbuf >>= n
	r.bitcnt -= n
	return v, nil
}

// dfHuffman is a canonical Huffman code for decoding one bit at a time.
type dfHuffman struct {
	count  [16]uint16 // codes of each length
	symbol [288]uint16
}

// build sets up the code for lens and reports whether it is complete. An
// over-subscribed code is an error.
func (h *dfHuffman) build(lens []uint8) (complete bool, err error) {
	h.count = [16]uint16{}
	for _, l := range lens {
		h.count[l]++
	}
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return false, errors.New("over-subscribed Huffman code")
		}
	}
	var offs [16]uint16
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for s, l := range lens {
		if l != 0 {
			h.symbol[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	return left == 0, nil
}

func (r *dfReader) decode(h *dfHuffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := r.bits(1)
		if err != nil {
			return 0, err
		}
		code |= int(b)
		count := int(h.count[l])
		if code-count < first {
			return int(h.symbol[index+code-first]), nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, errors.New("invalid Huffman code")
}

var (
	dfLengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	dfDistExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	dfCodeOrder   = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// deflateTablesComplete walks a deflate stream and reports whether every dynamic
// block's Huffman tables are complete (an all-zero distance table counts as
// complete: libmspack accepts it).
func deflateTablesComplete(b []byte) (bool, error) {
	r := &dfReader{b: b}
	var lit, dist, cl dfHuffman
	var lens [288 + 32]uint8
	for {
		final, err := r.bits(1)
		if err != nil {
			return false, err
		}
		typ, err := r.bits(2)
		if err != nil {
			return false, err
		}
		switch typ {
		case 0:
			r.bitbuf, r.bitcnt = 0, 0
			if r.pos+4 > len(r.b) {
				return false, errDeflateTruncated
			}
			n := int(r.b[r.pos]) | int(r.b[r.pos+1])<<8
			r.pos += 4 + n
			if r.pos > len(r.b) {
				return false, errDeflateTruncated
			}
		case 1:
			clear(lens[:])
			for i := range 288 {
				switch {
				case i < 144, i >= 280:
					lens[i] = 8
				case i < 256:
					lens[i] = 9
				default:
					lens[i] = 7
				}
			}
			for i := range 32 {
				lens[288+i] = 5
			}
			if _, err := lit.build(lens[:288]); err != nil {
				return false, err
			}
			if _, err := dist.build(lens[288:]); err != nil {
				return false, err
			}
			if err := r.skipSymbols(&lit, &dist); err != nil {
				return false, err
			}
		case 2:
			hlit, err := r.bits(5)
			if err != nil {
				return false, err
			}
			hdist, err := r.bits(5)
			if err != nil {
				return false, err
			}
			hclen, err := r.bits(4)
			if err != nil {
				return false, err
			}
			nlit, ndist := int(hlit)+257, int(hdist)+1
			var cll [19]uint8
			for i := range int(hclen) + 4 {
				v, err := r.bits(3)
				if err != nil {
					return false, err
				}
				cll[dfCodeOrder[i]] = uint8(v)
			}
			if ok, err := cl.build(cll[:]); err != nil || !ok {
				return false, err
			}
			clear(lens[:])
			for i := 0; i < nlit+ndist; {
				sym, err := r.decode(&cl)
				if err != nil {
					return false, err
				}
				if sym < 16 {
					lens[i] = uint8(sym)
					i++
					continue
				}
				var rep, val uint32
				switch sym {
				case 16:
					if i == 0 {
						return false, errors.New("repeat with no previous length")
					}
					val = uint32(lens[i-1])
					rep, err = r.bits(2)
					rep += 3
				case 17:
					rep, err = r.bits(3)
					rep += 3
				default:
					rep, err = r.bits(7)
					rep += 11
				}
				if err != nil {
					return false, err
				}
				if i+int(rep) > nlit+ndist {
					return false, errors.New("code lengths overrun")
				}
				for range rep {
					lens[i] = uint8(val)
					i++
				}
			}
			if ok, err := lit.build(lens[:nlit]); err != nil || !ok {
				return false, err
			}
			distLens := lens[nlit : nlit+ndist]
			ok, err := dist.build(distLens)
			if err != nil {
				return false, err
			}
			if !ok && slices.ContainsFunc(distLens, func(l uint8) bool { return l != 0 }) {
				return false, nil
			}
			if err := r.skipSymbols(&lit, &dist); err != nil {
				return false, err
			}
		default:
			return false, errors.New("invalid deflate block type")
		}
		if final == 1 {
			return true, nil
		}
	}
}

// skipSymbols decodes a Huffman block's symbols up to its end-of-block code.
func (r *dfReader) skipSymbols(lit, dist *dfHuffman) error {
	for {
		sym, err := r.decode(lit)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			continue
		case sym == 256:
			return nil
		case sym > 285:
			return errors.New("invalid length code")
		}
		if _, err := r.bits(uint(dfLengthExtra[sym-257])); err != nil {
			return err
		}
		d, err := r.decode(dist)
		if err != nil {
			return err
		}
		if d >= 30 {
			return errors.New("invalid distance code")
		}
		if _, err := r.bits(uint(dfDistExtra[d])); err != nil {
			return err
		}
	}
}
