package lzx

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// lensSpill is the room after each code length array for a run that passes the end of
// the tree: a pretree run is at most 51 lengths long.
const lensSpill = 51 - 1

// Decoder decodes the LZX stream of one cabinet folder, one frame (one CFDATA block)
// at a time. It is not safe for concurrent use. After an error it refuses further
// frames until Reset, since its window no longer matches the stream.
type Decoder struct {
	window  []byte
	numMain int // main tree symbols: 256 literals + 8 per position slot

	// Output position. Cabinet frames start at multiples of 32 KiB and the window is a
	// multiple of that, so a frame never straddles the window end and positions are
	// plain window indexes.
	wpos       int   // next window byte to decode; a match may carry it past the frame end
	frameStart int   // window position of the next frame's first byte
	wrapped    bool  // the window has been filled once: all of it is history
	frame      int   // frames decoded since Reset
	outOffset  int64 // bytes returned since Reset: the E8 translation's position base

	headerRead bool
	e8Size     int32 // E8 translation size from the stream header; 0 = off
	e8Started  bool  // a block that may contain E8 literals has been seen

	r0, r1, r2 uint32 // repeated-offset queue

	blockType      int
	blockRemaining int  // bytes of the current block not yet decoded
	blockOdd       bool // current block has an odd size (uncompressed: one padding byte follows)
	padPending     bool // an odd-sized uncompressed block ended and its padding byte is unread

	// Code lengths persist from block to block: each tree is sent as deltas.
	mainLens    [maxMainSymbols + lensSpill]uint8
	lengthLens  [numLengthSymbols + lensSpill]uint8
	alignedLens [numAlignedSymbols]uint8
	pretreeLens [numPretreeSymbols]uint8

	mainTable    huffTable
	lengthTable  huffTable
	alignedTable huffTable
	pretreeTable huffTable
	sorted       [maxMainSymbols]uint16 // scratch for huffTable.build

	br  bitReader
	out []byte // the returned frame: a copy of the window, E8-translated
	err error  // sticky error
}

// NewDecoder returns a Decoder for a window of 2^windowBits bytes (15..21, as given
// by the cabinet folder's compression type). It allocates everything it will need.
func NewDecoder(windowBits int) (*Decoder, error) {
	if windowBits < minWindowBits || windowBits > maxWindowBits {
		return nil, fmt.Errorf("lzx: window of 2^%d bytes, want 2^%d..2^%d: %w",
			windowBits, minWindowBits, maxWindowBits, ErrWindow)
	}
	d := &Decoder{
		window:       make([]byte, 1<<windowBits),
		numMain:      numChars + positionSlots(windowBits)*8,
		mainTable:    newHuffTable(maxMainSymbols, mainTableBits),
		lengthTable:  newHuffTable(numLengthSymbols, lengthTableBits),
		alignedTable: newHuffTable(numAlignedSymbols, alignedTableBits),
		pretreeTable: newHuffTable(numPretreeSymbols, pretreeTableBits),
		out:          make([]byte, frameSize),
	}
	d.Reset()
	return d, nil
}

// Reset prepares the Decoder for a new folder: empty window, repeated offsets of 1,
// zero code lengths, stream header still to read.
func (d *Decoder) Reset() {
	d.wpos, d.frameStart, d.wrapped = 0, 0, false
	d.frame, d.outOffset = 0, 0
	d.headerRead, d.e8Size, d.e8Started = false, 0, false
	d.r0, d.r1, d.r2 = 1, 1, 1
	d.blockType, d.blockRemaining, d.blockOdd, d.padPending = 0, 0, false, false
	clear(d.mainLens[:])
	clear(d.lengthLens[:])
	d.br.init(nil)
	d.err = nil
}

// Decode decodes the next frame: in is one CFDATA block's compressed bytes and outLen
// its uncompressed size (1..32768; every frame of a folder but the last is 32768). It
// returns exactly outLen bytes, E8-translated, valid until the next call.
func (d *Decoder) Decode(in []byte, outLen int) ([]byte, error) {
	if d.err != nil {
		return nil, fmt.Errorf("%w (the decoder stopped there; Reset it to start a folder again)", d.err)
	}
	if outLen < 1 || outLen > frameSize {
		return nil, d.corruptf("uncompressed size %d outside 1..%d", outLen, frameSize)
	}
	if err := d.decodeFrame(in, outLen); err != nil {
		d.err = err
		return nil, err
	}

	out := d.out[:outLen]
	copy(out, d.window[d.frameStart:])
	if d.e8Started && d.e8Size != 0 && d.frame < e8MaxFrames && outLen > 10 {
		e8Translate(out, int32(d.outOffset), d.e8Size)
	}

	d.frameStart += outLen
	if d.frameStart == len(d.window) {
		// decodeHuffman keeps matches inside the window, so wpos is here too.
		d.frameStart, d.wpos, d.wrapped = 0, 0, true
	}
	d.frame++
	d.outOffset += int64(outLen)
	return out, nil
}

// corruptf returns an ErrCorrupt error naming the frame.
func (d *Decoder) corruptf(format string, args ...any) error {
	return fmt.Errorf("lzx: frame %d: %s: %w", d.frame, fmt.Sprintf(format, args...), ErrCorrupt)
}

// decodeFrame decodes outLen bytes into the window at frameStart.
func (d *Decoder) decodeFrame(in []byte, outLen int) error {
	frameEnd := d.frameStart + outLen
	if frameEnd > len(d.window) {
		return d.corruptf("%d-byte frame at window position %d crosses the end of the %d-byte window (only a folder's last frame may be shorter than %d bytes)",
			outLen, d.frameStart, len(d.window), frameSize)
	}
	if d.wpos > frameEnd {
		return d.corruptf("previous frame's last match ran %d bytes into this %d-byte frame",
			d.wpos-d.frameStart, outLen)
	}
	d.br.init(in)

	if !d.headerRead {
		if d.br.readBits(1) == 1 {
			hi := d.br.readBits(16)
			lo := d.br.readBits(16)
			d.e8Size = int32(hi<<16 | lo)
		}
		d.headerRead = true
	}

	for d.wpos < frameEnd {
		if d.blockRemaining == 0 {
			if err := d.readBlockHeader(); err != nil {
				return err
			}
			continue // a block may be empty
		}
		var err error
		if d.blockType == blockUncompressed {
			err = d.copyUncompressed(frameEnd)
		} else {
			err = d.decodeHuffman(frameEnd)
		}
		if err != nil {
			return err
		}
	}

	if d.padPending && d.blockRemaining == 0 && d.br.nbits == 0 && d.br.pos < len(in) {
		// The odd-sized uncompressed block ended with the frame and its padding byte
		// is the frame's last byte. Otherwise the padding byte starts the next frame's
		// data, as it would in a reader that sees the frames as one stream.
		d.br.pos++
		d.padPending = false
	}
	// The frame's bitstream ends on a 16-bit boundary; what follows is padding.
	if used := (d.br.consumed() + 7) / 8; used > len(in)+overreadSlack {
		return d.corruptf("compressed data truncated: decoding %d bytes read %d bytes of input, the frame has %d",
			outLen, used, len(in))
	}
	return nil
}

// checkOverread reports a bitstream that ran out of input in the middle of a block
// header or tree description.
func (d *Decoder) checkOverread(what string) error {
	if used := (d.br.consumed() + 7) / 8; used > len(d.br.in)+overreadSlack {
		return d.corruptf("%s truncated: needs %d bytes, frame has %d", what, used, len(d.br.in))
	}
	return nil
}

// readBlockHeader reads a block's type, size and trees (or, for an uncompressed
// block, its repeated offsets).
func (d *Decoder) readBlockHeader() error {
	br := &d.br
	if d.padPending {
		// The bitstream resumes after the padding byte; the reader is at a byte
		// position since the uncompressed data ended.
		br.setBytePos(br.consumed()/8 + 1)
		d.padPending = false
	}
	blockType := int(br.readBits(3))
	hi := br.readBits(16)
	lo := br.readBits(8)
	size := int(hi<<8 | lo)

	switch blockType {
	case blockAligned:
		for i := range d.alignedLens {
			d.alignedLens[i] = uint8(br.readBits(3))
		}
		if err := d.alignedTable.build(d.alignedLens[:], d.sorted[:]); err != nil {
			return d.corruptf("aligned offset tree: %v", err)
		}
		fallthrough
	case blockVerbatim:
		if err := d.readLengths(d.mainLens[:], 0, numChars, "main tree literals"); err != nil {
			return err
		}
		if err := d.readLengths(d.mainLens[:], numChars, d.numMain, "main tree matches"); err != nil {
			return err
		}
		if err := d.mainTable.build(d.mainLens[:d.numMain], d.sorted[:]); err != nil {
			return d.corruptf("main tree: %v", err)
		}
		// Encoders translate E8 calls only in data they compress as such.
		if d.mainLens[0xE8] != 0 {
			d.e8Started = true
		}
		if err := d.readLengths(d.lengthLens[:], 0, numLengthSymbols, "length tree"); err != nil {
			return err
		}
		if err := d.lengthTable.build(d.lengthLens[:numLengthSymbols], d.sorted[:]); err != nil {
			return d.corruptf("length tree: %v", err)
		}
		if err := d.checkOverread("block header"); err != nil {
			return err
		}

	case blockUncompressed:
		// Nothing is known about raw data, so it may hold translated E8 calls.
		d.e8Started = true
		// Align to 16 bits, skipping a whole word when already aligned (the format
		// has 1 to 16 bits of padding), then R0, R1, R2 as 32-bit little-endian.
		p := br.alignWord()
		if p+12 > len(br.in) {
			return d.corruptf("uncompressed block header truncated: needs %d bytes, frame has %d", p+12, len(br.in))
		}
		d.r0 = binary.LittleEndian.Uint32(br.in[p:])
		d.r1 = binary.LittleEndian.Uint32(br.in[p+4:])
		d.r2 = binary.LittleEndian.Uint32(br.in[p+8:])
		br.setBytePos(p + 12)

	default:
		return d.corruptf("block type %d is not verbatim (1), aligned offset (2) or uncompressed (3)", blockType)
	}
	d.blockType = blockType
	d.blockRemaining = size
	d.blockOdd = size&1 == 1
	return nil
}

// readLengths reads the code lengths of symbols [first, last) of a tree: a pretree,
// then pretree symbols giving each length as a delta against the previous block's.
//
// A run may pass last: the reference decoder (libmspack, used by cabextract) simply
// writes on, so we do the same rather than refuse a stream it accepts. The excess
// becomes the "previous" lengths of the main tree's second range, or lands in the
// spare entries at the end of lens (lensSpill), which no tree uses.
func (d *Decoder) readLengths(lens []uint8, first, last int, what string) error {
	br := &d.br
	for i := range d.pretreeLens {
		d.pretreeLens[i] = uint8(br.readBits(4))
	}
	if err := d.pretreeTable.build(d.pretreeLens[:], d.sorted[:]); err != nil {
		return d.corruptf("%s: pretree: %v", what, err)
	}
	if d.pretreeTable.empty && first < last {
		return d.corruptf("%s: pretree is empty", what)
	}
	for x := first; x < last; {
		br.refill()
		sym := br.decode(&d.pretreeTable)
		switch {
		case sym <= 16:
			lens[x] = uint8((int(lens[x]) + 17 - sym) % 17)
			x++
		case sym == 17 || sym == 18:
			var run int
			if sym == 17 {
				run = int(br.readBits(4)) + 4 // 4..19 zeros
			} else {
				run = int(br.readBits(5)) + 20 // 20..51 zeros
			}
			clear(lens[x : x+run])
			x += run
		default: // 19: a run of 4..5 copies of one delta-coded length
			run := int(br.readBits(1)) + 4
			delta := br.decode(&d.pretreeTable)
			if delta > 16 {
				return d.corruptf("%s: pretree symbol %d after a repeat code (want 0..16)", what, delta)
			}
			v := uint8((int(lens[x]) + 17 - delta) % 17)
			fill := lens[x : x+run]
			for i := range fill {
				fill[i] = v
			}
			x += run
		}
	}
	return d.checkOverread(what)
}

// copyUncompressed copies the current uncompressed block's bytes that fall in this
// frame.
func (d *Decoder) copyUncompressed(frameEnd int) error {
	br := &d.br
	n := min(d.blockRemaining, frameEnd-d.wpos)
	p := br.consumed() / 8 // byte position: raw data starts byte-aligned
	if p+n > len(br.in) {
		return d.corruptf("uncompressed block truncated: %d bytes of data, %d left in the frame", n, max(len(br.in)-p, 0))
	}
	copy(d.window[d.wpos:], br.in[p:p+n])
	br.setBytePos(p + n)
	d.wpos += n
	d.blockRemaining -= n
	if d.blockRemaining == 0 && d.blockOdd {
		d.padPending = true
	}
	return nil
}

// decodeHuffman decodes the current verbatim or aligned offset block up to the end
// of the block or of the frame, whichever comes first. A match may cross the frame
// end (its bytes then begin the next frame) but not the block end or the window end.
//
// This is the hot loop: bit reader state lives in locals and the refill fast path is
// written inline.
func (d *Decoder) decodeHuffman(frameEnd int) error {
	if d.mainTable.empty {
		return d.corruptf("block of %d bytes has an empty main tree", d.blockRemaining)
	}
	win := d.window
	wpos := d.wpos
	blockEnd := wpos + d.blockRemaining
	runEnd := min(blockEnd, frameEnd)

	in := d.br.in
	pos, bitbuf, nbits := d.br.pos, d.br.bitbuf, d.br.nbits

	// Fixed-size views of the tables: the primary lookups need no bounds check and
	// the secondary ones compare with a constant, which frees registers.
	mainT := (*[mainTableSize]uint32)(d.mainTable.entries)
	lengthT := (*[lengthTableSize]uint32)(d.lengthTable.entries)
	lengthEmpty := d.lengthTable.empty
	alignedPrimary := (*[1 << alignedTableBits]uint32)(d.alignedTable.entries)
	aligned := d.blockType == blockAligned
	alignedEmpty := d.alignedTable.empty
	wrapped := d.wrapped
	r0, r1, r2 := d.r0, d.r1, d.r2

	for wpos < runEnd {
		// A main symbol and a length symbol take at most 32 bits; a refill leaves
		// at least 49, so about every other symbol skips it.
		if nbits < 32 {
			if pos+8 <= len(in) {
				bitbuf, nbits, pos = refillFast(in, bitbuf, nbits, pos)
			} else {
				bitbuf, nbits, pos = refillSlow(in, bitbuf, nbits, pos)
			}
		}
		e := mainT[bitbuf>>(64-mainTableBits)]
		if e&entryLink != 0 {
			e = mainT[e>>16+uint32(bitbuf<<mainTableBits>>((64-e&entryBitsMask)&63))]
		}
		n := uint(e & entryBitsMask)
		bitbuf <<= n
		nbits -= n
		sym := int(e >> 16)
		if sym < numChars {
			win[wpos] = byte(sym)
			wpos++
			continue
		}

		sym -= numChars
		length := sym & numPrimaryLengths
		if length == numPrimaryLengths {
			if lengthEmpty {
				return d.corruptf("match needs the length tree, which is empty")
			}
			e := lengthT[bitbuf>>(64-lengthTableBits)]
			if e&entryLink != 0 {
				e = lengthT[e>>16+uint32(bitbuf<<lengthTableBits>>((64-e&entryBitsMask)&63))]
			}
			n := uint(e & entryBitsMask)
			bitbuf <<= n
			nbits -= n
			length += int(e >> 16)
		}
		length += minMatch

		var offset uint32
		switch slot := sym >> 3; slot {
		case 0:
			offset = r0
		case 1:
			offset = r1
			r1 = r0
			r0 = offset
		case 2:
			offset = r2
			r2 = r0
			r0 = offset
		default:
			if nbits < 24 { // up to 17 verbatim bits, or 14 plus a 7-bit aligned code
				if pos+8 <= len(in) {
					bitbuf, nbits, pos = refillFast(in, bitbuf, nbits, pos)
				} else {
					bitbuf, nbits, pos = refillSlow(in, bitbuf, nbits, pos)
				}
			}
			extra := uint(extraBits[slot])
			offset = positionBase[slot] - 2
			if aligned && extra >= 3 {
				// The low 3 bits come from the aligned offset tree.
				verbatim := extra - 3
				offset += uint32(bitbuf>>(64-verbatim)) << 3 // a shift by 64 gives 0
				bitbuf <<= verbatim
				nbits -= verbatim
				if alignedEmpty {
					return d.corruptf("match needs the aligned offset tree, which is empty")
				}
				e := alignedPrimary[bitbuf>>(64-alignedTableBits)]
				n := uint(e & entryBitsMask)
				bitbuf <<= n
				nbits -= n
				offset += e >> 16
			} else {
				offset += uint32(bitbuf >> (64 - extra))
				bitbuf <<= extra
				nbits -= extra
			}
			r2, r1, r0 = r1, r0, offset
		}

		end := wpos + length
		if end > blockEnd {
			return d.corruptf("match of %d bytes at output position %d runs %d bytes past the end of its block",
				length, d.outOffset+int64(wpos-d.frameStart), end-blockEnd)
		}
		if end > len(win) {
			return d.corruptf("match of %d bytes at window position %d runs past the end of the %d-byte window",
				length, wpos, len(win))
		}
		history := uint32(len(win)) // offsets reach back at most this far
		if !wrapped {
			history = uint32(wpos)
		}
		if offset == 0 || offset > history {
			if offset == 0 {
				return d.corruptf("match offset 0 (a repeated offset set to 0 by an uncompressed block)")
			}
			if wrapped {
				return d.corruptf("match offset %d beyond the %d-byte window", offset, history)
			}
			return d.corruptf("match offset %d beyond decoded data (%d bytes)", offset, history)
		}

		src := wpos - int(offset)
		if src < 0 {
			// The source lies in the previous pass over the window.
			src += len(win)
			if src+length > len(win) || src-wpos < length {
				// Rare: the source runs over the window end, or overlaps the
				// destination from above (an offset close to the window size).
				n := copy(win[wpos:end], win[src:])
				if n < length {
					forwardCopy(win, wpos+n, 0, length-n)
				}
				wpos = end
				continue
			}
		}
		// Here src+length <= len(win), and src > wpos only without overlap.
		if length >= 8 && (src > wpos || wpos-src >= 8) {
			if length > 64 && (src > wpos || wpos-src >= length) {
				copy(win[wpos:end], win[src:src+length])
			} else {
				// 8 bytes at a time, the last word ending exactly at end. With the
				// source at least 8 bytes back, every word read is already final,
				// so overlapping matches repeat their pattern correctly.
				for i := 0; i < length-8; i += 8 {
					binary.LittleEndian.PutUint64(win[wpos+i:], binary.LittleEndian.Uint64(win[src+i:]))
				}
				binary.LittleEndian.PutUint64(win[end-8:], binary.LittleEndian.Uint64(win[src+length-8:]))
			}
		} else if length < 8 && (src > wpos || wpos-src >= length) && max(src, wpos)+8 <= len(win) {
			// Short and not overlapping: one 8-byte read-modify-write, merging
			// length bytes of the source into the destination word.
			mask := uint64(1)<<(8*length) - 1
			sv := binary.LittleEndian.Uint64(win[src:])
			dv := binary.LittleEndian.Uint64(win[wpos:])
			binary.LittleEndian.PutUint64(win[wpos:], sv&mask|dv&^mask)
		} else if length <= 32 {
			// Short, or a pattern shorter than 8 bytes: a byte loop, whose
			// forward order repeats overlapping patterns.
			dst := win[wpos:end]
			s := win[src : src+len(dst)]
			for i := range dst {
				dst[i] = s[i]
			}
		} else {
			forwardCopy(win, wpos, src, length)
		}
		wpos = end
	}

	d.br.pos, d.br.bitbuf, d.br.nbits = pos, bitbuf, nbits
	d.r0, d.r1, d.r2 = r0, r1, r2
	d.blockRemaining = blockEnd - wpos
	d.wpos = wpos
	return nil
}

// forwardCopy copies n bytes from win[src:] to win[dst:] (src < dst) as a byte-by-byte
// forward copy would, so overlapping matches repeat their pattern. Each copy doubles
// the length of pattern already in place.
func forwardCopy(win []byte, dst, src, n int) {
	end := dst + n
	for dst < end {
		dst += copy(win[dst:end], win[src:dst])
	}
}

// e8Translate undoes the encoder's E8 call translation in one frame: every E8 byte
// (an x86 CALL) more than 10 bytes before the frame end is followed by an absolute
// 32-bit target that goes back to being relative to the call's position. pos is the
// frame's offset in the folder's output, size the translation size of the header.
func e8Translate(b []byte, pos int32, size int32) {
	end := len(b) - 10
	for i := 0; i < end; {
		j := bytes.IndexByte(b[i:end], 0xE8)
		if j < 0 {
			return
		}
		i += j
		cur := pos + int32(i)
		abs := int32(binary.LittleEndian.Uint32(b[i+1:]))
		if abs >= -cur && abs < size {
			var rel int32
			if abs >= 0 {
				rel = abs - cur
			} else {
				rel = abs + size
			}
			binary.LittleEndian.PutUint32(b[i+1:], uint32(rel))
		}
		i += 5
	}
}
