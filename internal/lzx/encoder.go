package lzx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// BlockMode selects the LZX block types an Encoder writes.
type BlockMode int

const (
	// Verbatim writes verbatim blocks (Huffman-coded literals and matches).
	Verbatim BlockMode = iota
	// Aligned writes aligned-offset blocks: the low 3 bits of long offsets go through
	// their own Huffman tree.
	Aligned
	// Uncompressed writes uncompressed blocks only (still a valid LZX stream).
	Uncompressed
	// Mixed rotates verbatim, aligned and uncompressed blocks, to exercise decoders.
	Mixed
)

// String returns the mode's name.
func (m BlockMode) String() string {
	switch m {
	case Verbatim:
		return "verbatim"
	case Aligned:
		return "aligned"
	case Uncompressed:
		return "uncompressed"
	case Mixed:
		return "mixed"
	}
	return "BlockMode(" + strconv.Itoa(int(m)) + ")"
}

// EncoderOptions configures an Encoder.
type EncoderOptions struct {
	// WindowBits is the window size as a power of two, 15..21.
	WindowBits int
	// E8FileSize is the E8 call-translation size written in the stream header; 0 turns
	// the translation off (header bit 0).
	E8FileSize int32
	// Blocks selects the block types; Verbatim by default. In every mode but
	// Uncompressed, a block whose compressed form would be larger than its bytes is
	// written uncompressed instead, so no frame grows much beyond 32 KiB.
	Blocks BlockMode
	// BlockSize is the uncompressed size of each LZX block, 1..2^24-1; 0 means 32768.
	// Blocks larger than what is left of a frame span frames (uncompressed blocks
	// never do: they end with their frame).
	BlockSize int
	// StreamSize is the total uncompressed size of the stream (the folder), if known.
	// With it, the block that ends the stream declares its exact size. Without it (0),
	// a block that spans frames declares BlockSize even if the stream ends first, which
	// decoders accept. If set, the frames must add up to exactly StreamSize.
	StreamSize int64
}

// Limits of the cabinet flavour of LZX that the encoder relies on.
const (
	// maxBlockSize is the largest block size the 24-bit block header can carry.
	maxBlockSize = 1<<24 - 1
	// maxFrameOutput is the largest compressed frame that libmspack (cabextract)
	// accepts in one CFDATA block.
	maxFrameOutput = 32768 + 6144
	// spanLiteralLen caps the literal code lengths of blocks that span frames: a frame
	// coded with trees built before its bytes were known then costs at most 9 bits a
	// byte (36 KiB), whatever those bytes are.
	spanLiteralLen = 9
)

// Encoder compresses one LZX stream (a cabinet folder) frame by frame. It is not safe
// for concurrent use; Reset makes it ready for a new stream.
type Encoder struct {
	opts      EncoderOptions
	blockSize int
	slots     int // position slots of the window
	mainSyms  int // main tree size: 256 + 8*slots

	m encMatcher

	// Stream state.
	r          [3]uint32 // repeated offsets R0..R2
	streamPos  int64     // uncompressed bytes encoded before the current frame
	frames     int64     // frames encoded
	headerDone bool
	ended      bool  // a short (final) frame was encoded
	err        error // sticky: the stream is unusable until Reset

	// Block state. A block that spans frames keeps its type and trees here.
	blockLeft  int // bytes of the current block still to code (0: next block starts)
	blockType  int
	blockCount int // blocks started, for Mixed's rotation

	prevMain [maxMainSymbols]uint8 // lengths of the previous block's trees, for deltas
	prevLen  [numLengthSymbols]uint8

	mainLens    [maxMainSymbols]uint8 // the current block's trees
	mainCodes   [maxMainSymbols]uint16
	lenLens     [numLengthSymbols]uint8
	lenCodes    [numLengthSymbols]uint16
	alignLens   [numAlignedSymbols]uint8
	alignCodes  [numAlignedSymbols]uint16
	mainFreq    [maxMainSymbols]uint32
	lenFreq     [numLengthSymbols]uint32
	alignFreq   [numAlignedSymbols]uint32
	mainWeights [maxMainSymbols]uint32
	lenWeights  [numLengthSymbols]uint32
	syms        []encSym
	huff        encHuffman
	sections    [3]encTreeSection
	bw          encBitWriter
	out         []byte
	costAligned bool // the parse counts aligned-tree statistics
}

// encSym is one parsed item of a block: a literal (main < 256) or a match.
type encSym struct {
	main   uint16 // main tree symbol
	lenSym uint8  // length tree symbol, when the match length header is 7
	nExtra uint8  // number of offset bits after the slot
	extra  uint32 // their value: formatted offset minus the slot's base
}

// NewEncoder returns an Encoder for opts.
func NewEncoder(opts EncoderOptions) (*Encoder, error) {
	if opts.WindowBits < minWindowBits || opts.WindowBits > maxWindowBits {
		return nil, fmt.Errorf("lzx: window bits %d not in %d..%d: %w", opts.WindowBits, minWindowBits, maxWindowBits, ErrWindow)
	}
	if opts.E8FileSize < 0 {
		return nil, fmt.Errorf("lzx: E8 translation size %d is negative (use 0 to turn the translation off)", opts.E8FileSize)
	}
	if opts.Blocks < Verbatim || opts.Blocks > Mixed {
		return nil, fmt.Errorf("lzx: unknown block mode %d", int(opts.Blocks))
	}
	if opts.BlockSize < 0 || opts.BlockSize > maxBlockSize {
		return nil, fmt.Errorf("lzx: block size %d not in 1..%d (0 for 32768)", opts.BlockSize, maxBlockSize)
	}
	if opts.StreamSize < 0 {
		return nil, fmt.Errorf("lzx: stream size %d is negative (use 0 if unknown)", opts.StreamSize)
	}
	e := &Encoder{opts: opts, blockSize: opts.BlockSize}
	if e.blockSize == 0 {
		e.blockSize = frameSize
	}
	e.slots = positionSlots(opts.WindowBits)
	e.mainSyms = numChars + 8*e.slots
	e.m.init(opts.WindowBits, encDefaultTuning(), opts.StreamSize)
	e.Reset()
	return e, nil
}

// Reset starts a new stream (folder): empty window, R0..R2 = 1, zero previous tree
// lengths, and a stream header before the next frame.
func (e *Encoder) Reset() {
	e.m.reset()
	e.r = [3]uint32{1, 1, 1}
	e.streamPos, e.frames = 0, 0
	e.headerDone, e.ended, e.err = false, false, nil
	e.blockLeft, e.blockType, e.blockCount = 0, 0, 0
	clear(e.prevMain[:])
	clear(e.prevLen[:])
}

// EncodeFrame compresses the next frame of the stream: 32768 bytes, or 1..32768 for
// the stream's last frame. It returns one CFDATA block's payload, padded to 16 bits,
// valid until the next call.
func (e *Encoder) EncodeFrame(frame []byte) ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	if len(frame) == 0 || len(frame) > frameSize {
		return nil, fmt.Errorf("lzx: frame of %d bytes, want 1..%d", len(frame), frameSize)
	}
	if e.ended {
		return nil, errors.New("lzx: frame after the stream's last (short) frame: call Reset to start a new stream")
	}
	if s := e.opts.StreamSize; s > 0 {
		left := s - e.streamPos
		if int64(len(frame)) > left || (len(frame) < frameSize && int64(len(frame)) != left) {
			return nil, fmt.Errorf("lzx: frame of %d bytes does not fit the declared stream size (%d bytes, %d left)", len(frame), s, left)
		}
	}
	out, err := e.encodeFrame(frame)
	if err != nil {
		e.err = err
		return nil, err
	}
	return out, nil
}

func (e *Encoder) encodeFrame(frame []byte) ([]byte, error) {
	start := e.m.appendFrame(frame)
	end := start + len(frame)
	if e.opts.E8FileSize != 0 && e.frames < e8MaxFrames {
		encE8(e.m.buf[start:end], e.streamPos, e.opts.E8FileSize)
	}
	last := len(frame) < frameSize ||
		(e.opts.StreamSize > 0 && e.streamPos+int64(len(frame)) == e.opts.StreamSize)

	e.bw.reset(e.out[:0])
	if !e.headerDone {
		if e.opts.E8FileSize != 0 {
			e.bw.write(1, 1)
			e.bw.write(uint32(e.opts.E8FileSize), 32)
		} else {
			e.bw.write(0, 1)
		}
		e.headerDone = true
	}
	for pos := start; pos < end; {
		var n int
		var err error
		if e.blockLeft == 0 {
			n, err = e.startBlock(pos, end, last)
		} else {
			n, err = e.continueBlock(pos, end)
		}
		if err != nil {
			return nil, err
		}
		pos += n
	}
	e.bw.align()
	e.out = e.bw.out
	if len(e.out) > maxFrameOutput {
		return nil, fmt.Errorf("lzx: frame %d compressed to %d bytes, over the %d a cabinet block may hold: %w",
			e.frames, len(e.out), maxFrameOutput, errEncInternal)
	}
	e.streamPos += int64(len(frame))
	e.frames++
	e.ended = len(frame) < frameSize
	return e.out, nil
}

// nextBlockType returns the type of the block about to start.
func (e *Encoder) nextBlockType() int {
	switch e.opts.Blocks {
	case Aligned:
		return blockAligned
	case Uncompressed:
		return blockUncompressed
	case Mixed:
		return [3]int{blockVerbatim, blockAligned, blockUncompressed}[e.blockCount%3]
	}
	return blockVerbatim
}

// startBlock starts a block at pos (a buffer position) and codes its part up to the
// frame's end; it returns the number of bytes coded.
func (e *Encoder) startBlock(pos, end int, lastFrame bool) (int, error) {
	size := e.blockSize
	if lastFrame {
		size = min(size, end-pos)
	}
	if s := e.opts.StreamSize; s > 0 {
		size = int(min(int64(size), s-e.streamPos-int64(pos-e.m.frameStart)))
	}
	seg := min(size, end-pos)
	typ := e.nextBlockType()
	e.blockCount++
	if typ == blockUncompressed {
		e.writeUncompressed(pos, seg)
		return seg, nil
	}
	spanning := size > seg

	savedR := e.r
	clear(e.mainFreq[:e.mainSyms])
	clear(e.lenFreq[:])
	clear(e.alignFreq[:])
	e.costAligned = typ == blockAligned
	e.syms = e.syms[:0]
	e.parse(pos, pos+seg, false)

	if err := e.buildTrees(typ, spanning); err != nil {
		return 0, err
	}
	bits, err := e.prepareTrees(typ)
	if err != nil {
		return 0, err
	}
	bits += e.symbolBits(typ)
	// An uncompressed block costs its header, at most 16 bits of padding, R0..R2 and
	// its bytes padded to an even count.
	if rawBits := 27 + 16 + 8*(12+seg+seg&1); bits > rawBits {
		e.r = savedR // the uncompressed block leaves R0..R2 as they were
		e.writeUncompressed(pos, seg)
		return seg, nil
	}

	e.blockType = typ
	e.blockLeft = size - seg
	e.bw.write(uint32(typ), 3)
	e.bw.write(uint32(size>>8), 16)
	e.bw.write(uint32(size&0xff), 8)
	if typ == blockAligned {
		for _, l := range e.alignLens {
			e.bw.write(uint32(l), 3)
		}
	}
	for i := range e.sections {
		e.sections[i].write(&e.bw)
	}
	copy(e.prevMain[:e.mainSyms], e.mainLens[:e.mainSyms])
	copy(e.prevLen[:], e.lenLens[:])
	e.writeSymbols(typ)
	return seg, nil
}

// continueBlock codes the next part of a block begun in an earlier frame, with that
// block's trees: the parse weighs each match against the literals it replaces.
func (e *Encoder) continueBlock(pos, end int) (int, error) {
	seg := min(e.blockLeft, end-pos)
	e.costAligned = e.blockType == blockAligned
	e.syms = e.syms[:0]
	e.parse(pos, pos+seg, true)
	e.writeSymbols(e.blockType)
	e.blockLeft -= seg
	return seg, nil
}

// writeUncompressed writes an uncompressed block of n bytes at buffer position pos.
func (e *Encoder) writeUncompressed(pos, n int) {
	e.blockLeft = 0
	e.bw.write(blockUncompressed, 3)
	e.bw.write(uint32(n>>8), 16)
	e.bw.write(uint32(n&0xff), 8)
	e.bw.alignUncompressed()
	var rs [12]byte
	for i, r := range e.r {
		binary.LittleEndian.PutUint32(rs[4*i:], r)
	}
	e.bw.bytes(rs[:])
	e.bw.bytes(e.m.buf[pos : pos+n])
	if n&1 != 0 {
		e.bw.bytes([]byte{0})
	}
	e.m.insertUpTo(pos + n)
}

// buildTrees computes the current block's code lengths and codes from the parse's
// statistics. The trees of a block that spans frames must also code bytes not seen
// yet: every symbol gets a code, and literals at most spanLiteralLen bits.
func (e *Encoder) buildTrees(typ int, spanning bool) error {
	mainW := e.mainWeights[:e.mainSyms]
	lenW := e.lenWeights[:]
	capLen := 0
	if spanning {
		capLen = spanLiteralLen
		for s, f := range e.mainFreq[:e.mainSyms] {
			mainW[s] = 4*f + 1
		}
		for s, f := range e.lenFreq {
			lenW[s] = 4*f + 1
		}
	} else {
		copy(mainW, e.mainFreq[:e.mainSyms])
		copy(lenW, e.lenFreq[:])
	}
	if err := e.huff.lengths(mainW, e.mainLens[:e.mainSyms], maxCodeLen, numChars, capLen); err != nil {
		return err
	}
	if err := e.huff.lengths(lenW, e.lenLens[:], maxCodeLen, 0, 0); err != nil {
		return err
	}
	encCanonical(e.mainLens[:e.mainSyms], e.mainCodes[:e.mainSyms])
	encCanonical(e.lenLens[:], e.lenCodes[:])
	if typ == blockAligned {
		var alignW [numAlignedSymbols]uint32
		for s, f := range e.alignFreq {
			alignW[s] = f
			if spanning {
				alignW[s] = 4*f + 1
			}
		}
		if err := e.huff.lengths(alignW[:], e.alignLens[:], 7, 0, 0); err != nil {
			return err
		}
		encCanonical(e.alignLens[:], e.alignCodes[:])
	}
	return nil
}

// prepareTrees prepares the three pretree-coded sections of the current trees and
// returns the block header's size in bits.
func (e *Encoder) prepareTrees(typ int) (int, error) {
	if err := e.sections[0].prepare(&e.huff, e.prevMain[:numChars], e.mainLens[:numChars]); err != nil {
		return 0, err
	}
	if err := e.sections[1].prepare(&e.huff, e.prevMain[numChars:e.mainSyms], e.mainLens[numChars:e.mainSyms]); err != nil {
		return 0, err
	}
	if err := e.sections[2].prepare(&e.huff, e.prevLen[:], e.lenLens[:]); err != nil {
		return 0, err
	}
	bits := 27 + e.sections[0].bits + e.sections[1].bits + e.sections[2].bits
	if typ == blockAligned {
		bits += 3 * numAlignedSymbols
	}
	return bits, nil
}

// symbolBits returns the size in bits of the parsed symbols with the current trees.
func (e *Encoder) symbolBits(typ int) int {
	bits := 0
	for _, s := range e.syms {
		bits += e.symCost(s, typ)
	}
	return bits
}

// symCost returns the size in bits of one symbol with the current trees.
func (e *Encoder) symCost(s encSym, typ int) int {
	bits := int(e.mainLens[s.main])
	if s.main < numChars {
		return bits
	}
	if (s.main-numChars)&7 == numPrimaryLengths {
		bits += int(e.lenLens[s.lenSym])
	}
	if typ == blockAligned && s.nExtra >= 3 {
		return bits + int(s.nExtra) - 3 + int(e.alignLens[s.extra&7])
	}
	return bits + int(s.nExtra)
}

// writeSymbols writes the parsed symbols with the current trees.
func (e *Encoder) writeSymbols(typ int) {
	w := &e.bw
	for _, s := range e.syms {
		w.write(uint32(e.mainCodes[s.main]), uint(e.mainLens[s.main]))
		if s.main < numChars {
			continue
		}
		if (s.main-numChars)&7 == numPrimaryLengths {
			w.write(uint32(e.lenCodes[s.lenSym]), uint(e.lenLens[s.lenSym]))
		}
		switch {
		case typ == blockAligned && s.nExtra >= 3:
			w.write(s.extra>>3, uint(s.nExtra)-3)
			w.write(uint32(e.alignCodes[s.extra&7]), uint(e.alignLens[s.extra&7]))
		case s.nExtra > 0:
			w.write(s.extra, uint(s.nExtra))
		}
	}
}

// encE8 applies the E8 call translation to one frame at stream offset off, the
// inverse of the decoder's: a relative call operand r in [-pos, size) at position pos
// becomes the absolute r+pos, or r-size where r+pos would not fit below size. Like
// the decoder it looks at E8 bytes before the frame's last 10 bytes and skips the 4
// operand bytes after each, translated or not.
func encE8(data []byte, off int64, size int32) {
	if len(data) <= 10 {
		return
	}
	for i := 0; i < len(data)-10; {
		if data[i] != 0xE8 {
			i++
			continue
		}
		pos := int32(off + int64(i))
		rel := int32(binary.LittleEndian.Uint32(data[i+1:]))
		if rel >= -pos && rel < size {
			abs := rel - size
			if rel < size-pos {
				abs = rel + pos
			}
			binary.LittleEndian.PutUint32(data[i+1:], uint32(abs))
		}
		i += 5
	}
}
