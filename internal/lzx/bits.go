package lzx

import "encoding/binary"

// overreadSlack is how far (in bytes) a frame's bitstream may run past the end of its
// input, reading zeros, before the frame is called corrupt. libmspack pads the end of
// a stream with a zero word, so an encoder tested only against it may leave out the
// last frame's final word; a real stream never needs more.
const overreadSlack = 4

// bitReader reads an LZX bitstream: 16-bit little-endian words, each consumed from its
// most significant bit. It keeps up to 64 bits in bitbuf, left-aligned: the next bit of
// the stream is bit 63. Bits below the nbits valid ones are either zero or the stream's
// own next bits, so a refill may OR whole 64-bit loads over them.
//
// The hot decoding loop copies these fields into locals and inlines the fast refill;
// the methods here serve the block headers and tree descriptions.
type bitReader struct {
	in     []byte
	pos    int // next byte of in to load; may pass len(in), the missing bytes read as zeros
	origin int // byte where word reading (re)started: 16-bit alignment is relative to it
	bitbuf uint64
	nbits  uint
}

func (br *bitReader) init(in []byte) {
	*br = bitReader{in: in}
}

// swapWordBytes turns 8 bytes loaded big-endian into four 16-bit little-endian words
// in stream order: it swaps the two bytes of each 16-bit lane.
func swapWordBytes(v uint64) uint64 {
	return (v>>8)&0x00FF00FF00FF00FF | (v&0x00FF00FF00FF00FF)<<8
}

// refill makes nbits greater than 48, so that three 16-bit codes can be read.
func (br *bitReader) refill() {
	if br.nbits > 48 {
		return
	}
	if br.pos+8 <= len(br.in) {
		br.bitbuf, br.nbits, br.pos = refillFast(br.in, br.bitbuf, br.nbits, br.pos)
		return
	}
	br.bitbuf, br.nbits, br.pos = refillSlow(br.in, br.bitbuf, br.nbits, br.pos)
}

// refillFast is refill on bit reader state held in locals (the decoder's hot loop keeps
// it in registers) when 8 bytes of input remain: it loads as many whole 16-bit words as
// fit in bitbuf. It is small enough to be inlined, refillSlow with it is not.
func refillFast(in []byte, bitbuf uint64, nbits uint, pos int) (uint64, uint, int) {
	bitbuf |= swapWordBytes(binary.BigEndian.Uint64(in[pos:])) >> (nbits & 63)
	k := (64 - nbits) >> 4
	return bitbuf, nbits + k*16, pos + int(k)*2
}

// refillSlow is refill near the end of the input: word by word, zeros past the end.
func refillSlow(in []byte, bitbuf uint64, nbits uint, pos int) (uint64, uint, int) {
	for nbits <= 48 {
		var w uint64
		if pos+1 < len(in) {
			w = uint64(in[pos]) | uint64(in[pos+1])<<8
		} else if pos < len(in) {
			w = uint64(in[pos])
		}
		bitbuf |= w << ((48 - nbits) & 63)
		nbits += 16
		pos += 2
	}
	return bitbuf, nbits, pos
}

// readBits reads n (0..32) bits as an unsigned number.
func (br *bitReader) readBits(n uint) uint32 {
	if br.nbits < n {
		br.refill()
	}
	v := uint32(br.bitbuf >> (64 - n)) // a shift by 64 gives 0, as n == 0 needs
	br.bitbuf <<= n
	br.nbits -= n
	return v
}

// decode reads one symbol of a non-empty table.
func (br *bitReader) decode(t *huffTable) int {
	if br.nbits < maxCodeLen {
		br.refill()
	}
	e := t.entries[br.bitbuf>>((64-t.tableBits)&63)]
	if e&entryLink != 0 {
		e = t.entries[e>>16+uint32(br.bitbuf<<t.tableBits>>((64-e&entryBitsMask)&63))]
	}
	n := uint(e & entryBitsMask)
	br.bitbuf <<= n
	br.nbits -= n
	return int(e >> 16)
}

// consumed returns the number of bits read so far.
func (br *bitReader) consumed() int {
	return br.pos*8 - int(br.nbits)
}

// alignWord skips to the next 16-bit boundary of the word grid, or a whole word when
// already on one (an uncompressed block header's 1 to 16 bits of padding), and returns
// the byte position reached. The grid starts where word reading (re)started, which
// after an uncompressed block spanning frames may be an odd byte of the frame.
func (br *bitReader) alignWord() int {
	rel := br.consumed() - br.origin*8
	rel += 16 - rel%16
	return br.origin + rel/8
}

// setBytePos drops the buffered bits and continues at byte p of the input, for the
// byte-oriented parts of uncompressed blocks.
func (br *bitReader) setBytePos(p int) {
	br.pos = p
	br.origin = p
	br.bitbuf = 0
	br.nbits = 0
}
