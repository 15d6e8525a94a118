package lzx

// encBitWriter writes an LZX bitstream: bits are packed most significant first into
// 16-bit words, each stored little-endian.
type encBitWriter struct {
	out []byte
	acc uint64 // pending bits in the low n bits (higher bits are stale)
	n   uint   // number of pending bits, always < 16 between calls
}

func (w *encBitWriter) reset(out []byte) {
	*w = encBitWriter{out: out}
}

// write appends the low n bits of v (n <= 32), most significant first.
func (w *encBitWriter) write(v uint32, n uint) {
	w.acc = w.acc<<n | uint64(v)&(1<<n-1)
	w.n += n
	for w.n >= 16 {
		w.n -= 16
		word := uint16(w.acc >> w.n)
		w.out = append(w.out, byte(word), byte(word>>8))
	}
}

// align pads the current word with zero bits, if it is started: the end of a frame.
func (w *encBitWriter) align() {
	if w.n > 0 {
		w.write(0, 16-w.n)
	}
}

// alignUncompressed pads to the next word boundary with 1 to 16 zero bits, as the
// header of an uncompressed block requires: a whole zero word when already aligned.
func (w *encBitWriter) alignUncompressed() {
	w.write(0, 16-w.n)
}

// bytes appends raw bytes; the stream must be word-aligned.
func (w *encBitWriter) bytes(b []byte) {
	w.out = append(w.out, b...)
}
