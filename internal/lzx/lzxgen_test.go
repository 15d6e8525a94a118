package lzx

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// This file is a test-only LZX stream generator, independent of the package's Encoder:
// it draws random tokens (literals, matches with explicit or repeated offsets) instead
// of searching for matches, and picks block types, block sizes and tree encodings at
// random, so that every feature of the format shows up: aligned offset blocks,
// uncompressed blocks with new R0..R2 and odd sizes, blocks spanning frames, empty
// blocks, empty length trees, all pretree codes, E8 data. Its output is checked
// against cabextract (libmspack) in TestGeneratedAgainstCabextract.

// splitmix64 is a tiny PRNG whose sequence never changes, so generated streams (and the
// golden digests of their decoded output) are stable across Go releases.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9E3779B97F4A7C15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// intn returns a number in [0, n); n > 0.
func (s *splitmix64) intn(n int) int { return int(s.next() % uint64(n)) }

// chance is true with probability pct/100.
func (s *splitmix64) chance(pct int) bool { return s.intn(100) < pct }

type genConfig struct {
	seed       uint64
	windowBits int
	size       int   // uncompressed bytes
	e8Size     int32 // E8 translation size in the header; 0 = header bit 0
	blockTypes []int // block types drawn from
	maxBlock   int   // largest block size drawn
	matchPct   int   // share of tokens that are matches
	e8Pct      int   // share of literal runs that are E8 + 4 bytes
	// crossFrames lets matches run into the next frame: this decoder accepts that,
	// libmspack does not, so such streams are not checked against cabextract.
	crossFrames bool
	// padNext puts the padding byte of an odd uncompressed block that ends with a
	// frame at the start of the next frame instead of the end of its own.
	padNext bool
	// manyBlocks keeps every block at most maxBlock long.
	manyBlocks bool
	// spill lets a final zero run pass the end of its range of code lengths (into the
	// main tree's second range, or past a tree's end), as the reference decoder allows.
	spill bool
}

type genStream struct {
	frames [][]byte // one CFDATA payload per frame
	sizes  []int    // uncompressed size of each frame
	data   []byte   // the window contents, before E8 translation
	trace  []string

	alignedHeaders int // uncompressed block headers that needed a whole padding word
}

type genToken struct {
	lit    bool
	b      byte
	length int
	slot   int    // position slot (0..2: repeated offsets)
	footer uint32 // formatted offset minus the slot's base
}

// genBits writes the LZX bitstream: 16-bit little-endian words filled from their most
// significant bit.
type genBits struct {
	buf []byte
	acc uint32
	n   uint // bits in acc, < 16
}

func (w *genBits) bits(v uint32, n uint) {
	for n > 0 {
		take := min(n, 16-w.n)
		w.acc = w.acc<<take | v>>(n-take)&(1<<take-1)
		w.n += take
		n -= take
		if w.n == 16 {
			w.buf = append(w.buf, byte(w.acc), byte(w.acc>>8))
			w.acc, w.n = 0, 0
		}
	}
}

func (w *genBits) align() {
	if w.n > 0 {
		w.bits(0, 16-w.n)
	}
}

type generator struct {
	cfg      genConfig
	rng      splitmix64
	numSlots int
	win      int
	data     []byte
	r        [3]uint32

	// writer side
	w        genBits
	frames   [][]byte
	sizes    []int
	pos      int // output position of the writer
	frameEnd int
	mainLens [maxMainSymbols + lensSpill]uint8
	lenLens  [numLengthSymbols + lensSpill]uint8

	trace []string // what was written where, for debugging

	alignedHeaders int // uncompressed block headers that ended on a word boundary
}

func (g *generator) tracef(format string, args ...any) {
	g.trace = append(g.trace, fmt.Sprintf("frame %d pos %d: ", len(g.frames), g.pos)+fmt.Sprintf(format, args...))
}

func generate(cfg genConfig) *genStream {
	g := &generator{cfg: cfg, rng: splitmix64(cfg.seed), numSlots: positionSlots(cfg.windowBits), win: 1 << cfg.windowBits}
	g.r = [3]uint32{1, 1, 1}
	g.frameEnd = min(frameSize, cfg.size)
	if cfg.e8Size != 0 {
		g.w.bits(1, 1)
		g.w.bits(uint32(cfg.e8Size)>>16, 16)
		g.w.bits(uint32(cfg.e8Size)&0xFFFF, 16)
	} else {
		g.w.bits(0, 1)
	}
	for g.pos < cfg.size {
		typ := cfg.blockTypes[g.rng.intn(len(cfg.blockTypes))]
		size := 1 + g.rng.intn(cfg.maxBlock)
		switch {
		case g.rng.chance(3):
			size = 0
		case !cfg.manyBlocks && g.rng.chance(10):
			// End the block on a frame boundary.
			size = (g.pos/frameSize+1)*frameSize - g.pos
		}
		size = min(size, cfg.size-g.pos)
		g.tracef("block type %d size %d", typ, size)
		if typ == blockUncompressed {
			g.uncompressed(size)
		} else {
			g.huffman(typ, size)
		}
	}
	return &genStream{frames: g.frames, sizes: g.sizes, data: g.data, trace: g.trace, alignedHeaders: g.alignedHeaders}
}

// advance moves the writer's output position, closing frames it completes.
func (g *generator) advance(n int) {
	g.pos += n
	for g.pos >= g.frameEnd && len(g.sizes)*frameSize < g.cfg.size {
		g.w.align()
		g.frames = append(g.frames, g.w.buf)
		start := len(g.sizes) * frameSize
		g.sizes = append(g.sizes, g.frameEnd-start)
		g.w = genBits{}
		g.frameEnd = min(g.frameEnd+frameSize, g.cfg.size)
	}
}

// literalBytes draws n bytes: text-like, with x86 CALL patterns when e8Pct > 0.
func (g *generator) literalBytes(n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		if g.cfg.e8Pct > 0 && g.rng.chance(g.cfg.e8Pct) {
			// E8 and a target that the translation may or may not touch.
			v := uint32(g.rng.intn(int(max(g.cfg.e8Size, 1))*2)) - uint32(g.rng.intn(len(g.data)+len(out)+1))
			if g.rng.chance(20) {
				v = uint32(g.rng.next())
			}
			out = append(out, 0xE8, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
			continue
		}
		switch {
		case g.rng.chance(60):
			out = append(out, "etaoin shrdlu\n"[g.rng.intn(14)])
		default:
			out = append(out, byte(g.rng.next()))
		}
	}
	return out[:n]
}

// tokens draws the tokens of a Huffman block of size bytes starting at g.data's end,
// appending their bytes to g.data.
func (g *generator) tokens(size int) []genToken {
	var toks []genToken
	end := len(g.data) + size
	var pending []byte // literals drawn but not yet emitted
	for p := len(g.data); p < end; p = len(g.data) {
		limit := end - p
		if !g.cfg.crossFrames {
			limit = min(limit, (p/frameSize+1)*frameSize-p)
		}
		limit = min(limit, g.win-p%g.win, maxMatch)
		if len(pending) == 0 && limit >= minMatch && p > 0 && g.rng.chance(g.cfg.matchPct) {
			if t, ok := g.match(p, limit); ok {
				toks = append(toks, t)
				continue
			}
		}
		if len(pending) == 0 {
			pending = g.literalBytes(1 + g.rng.intn(8))
		}
		b := pending[0]
		pending = pending[1:]
		g.data = append(g.data, b)
		toks = append(toks, genToken{lit: true, b: b})
	}
	return toks
}

// match draws a match at position p of at most limit bytes and copies its bytes.
func (g *generator) match(p, limit int) (genToken, bool) {
	length := minMatch + g.rng.intn(min(limit, 12)-minMatch+1)
	if g.rng.chance(15) {
		length = minMatch + g.rng.intn(limit-minMatch+1)
	}
	var t genToken
	var offset int
	if i := g.rng.intn(3); g.rng.chance(30) && int(g.r[i]) <= p {
		offset = int(g.r[i])
		t.slot = i
		switch i { // the decoder's repeated-offset swaps
		case 1:
			g.r[0], g.r[1] = g.r[1], g.r[0]
		case 2:
			g.r[0], g.r[2] = g.r[2], g.r[0]
		}
	} else {
		maxOff := min(p, g.win-3)
		switch {
		case g.rng.chance(50):
			offset = 1 + g.rng.intn(min(maxOff, 16))
		case g.rng.chance(60):
			offset = 1 + g.rng.intn(min(maxOff, 4096))
		default:
			offset = 1 + g.rng.intn(maxOff)
		}
		formatted := uint32(offset + 2)
		slot := sort.Search(g.numSlots, func(i int) bool { return positionBase[i] > formatted }) - 1
		t.slot = slot
		t.footer = formatted - positionBase[slot]
		g.r[2], g.r[1], g.r[0] = g.r[1], g.r[0], uint32(offset)
	}
	t.length = length
	for range length {
		g.data = append(g.data, g.data[len(g.data)-offset])
	}
	return t, true
}

func (g *generator) huffman(typ, size int) {
	toks := g.tokens(size)
	numMain := numChars + g.numSlots*8
	mainFreq := make([]int, numMain)
	lenFreq := make([]int, numLengthSymbols)
	alignedFreq := make([]int, numAlignedSymbols)
	for _, t := range toks {
		if t.lit {
			mainFreq[t.b]++
			continue
		}
		h := min(t.length-minMatch, numPrimaryLengths)
		mainFreq[numChars+t.slot*8+h]++
		if h == numPrimaryLengths {
			lenFreq[t.length-minMatch-numPrimaryLengths]++
		}
		if typ == blockAligned && t.slot >= 3 && extraBits[t.slot] >= 3 {
			alignedFreq[t.footer&7]++
		}
	}
	if len(toks) == 0 || g.rng.chance(20) {
		// Unused symbols with codes are fine, and an empty block needs some tree.
		mainFreq[g.rng.intn(numMain)]++
		mainFreq[g.rng.intn(numMain)]++
	}
	if g.rng.chance(10) {
		lenFreq[g.rng.intn(numLengthSymbols)]++
	}
	mainLen := genLengths(mainFreq, 16, &g.rng)
	lenLen := genLengths(lenFreq, 16, &g.rng)
	var alignedLen []uint8
	if typ == blockAligned {
		if g.rng.chance(20) {
			alignedLen = []uint8{3, 3, 3, 3, 3, 3, 3, 3}
		} else {
			// libmspack refuses an empty aligned offset tree even when no match
			// needs it, so give unused symbols codes.
			alignedFreq[g.rng.intn(numAlignedSymbols)]++
			alignedLen = genLengths(alignedFreq, 7, &g.rng)
		}
	}

	// Header.
	g.w.bits(uint32(typ), 3)
	g.w.bits(uint32(size)>>8, 16)
	g.w.bits(uint32(size)&0xFF, 8)
	if typ == blockAligned {
		for _, l := range alignedLen {
			g.w.bits(uint32(l), 3)
		}
	}
	spill := func() int {
		if g.cfg.spill && g.rng.chance(50) {
			return 1 + g.rng.intn(3)
		}
		return 0
	}
	g.writeRange(g.mainLens[:], mainLen, 0, numChars, spill())
	g.writeRange(g.mainLens[:], mainLen, numChars, numMain, spill())
	g.writeRange(g.lenLens[:], lenLen, 0, numLengthSymbols, spill())

	mainCodes := canonicalCodes(mainLen)
	lenCodes := canonicalCodes(lenLen)
	alignedCodes := canonicalCodes(alignedLen)
	for _, t := range toks {
		if t.lit {
			g.w.bits(mainCodes[t.b], uint(mainLen[t.b]))
			g.advance(1)
			continue
		}
		h := min(t.length-minMatch, numPrimaryLengths)
		sym := numChars + t.slot*8 + h
		g.w.bits(mainCodes[sym], uint(mainLen[sym]))
		if h == numPrimaryLengths {
			ls := t.length - minMatch - numPrimaryLengths
			g.w.bits(lenCodes[ls], uint(lenLen[ls]))
		}
		if t.slot >= 3 {
			extra := uint(extraBits[t.slot])
			if typ == blockAligned && extra >= 3 {
				g.w.bits(t.footer>>3, extra-3)
				g.w.bits(alignedCodes[t.footer&7], uint(alignedLen[t.footer&7]))
			} else {
				g.w.bits(t.footer, extra)
			}
		}
		g.advance(t.length)
	}
}

// writeRange writes the lengths of symbols [first, last) as a pretree and pretree
// symbols coding deltas against lens, then stores them in lens. spill > 0 lets the
// final zero run write that many zeros past last, as some encoders do.
func (g *generator) writeRange(lens []uint8, next []uint8, first, last, spill int) {
	type item struct{ sym, extra, extraBits, delta int }
	var items []item
	for x := first; x < last; {
		if next[x] == 0 {
			run := 1
			for x+run < last && next[x+run] == 0 {
				run++
			}
			if x+run == last {
				run += spill
			}
			switch {
			case run >= 20 && g.rng.chance(90):
				run = min(run, 51)
				items = append(items, item{sym: 18, extra: run - 20, extraBits: 5})
				for i := range run {
					lens[x+i] = 0
				}
				x += run
				continue
			case run >= 4 && g.rng.chance(90):
				run = min(run, 19)
				items = append(items, item{sym: 17, extra: run - 4, extraBits: 4})
				for i := range run {
					lens[x+i] = 0
				}
				x += run
				continue
			}
		}
		same := 1
		for x+same < last && next[x+same] == next[x] {
			same++
		}
		if same >= 4 && g.rng.chance(50) {
			run := min(same, 5)
			d := (int(lens[x]) - int(next[x]) + 17) % 17
			items = append(items, item{sym: 19, extra: run - 4, extraBits: 1, delta: d})
			for i := range run {
				lens[x+i] = next[x]
			}
			x += run
			continue
		}
		d := (int(lens[x]) - int(next[x]) + 17) % 17
		items = append(items, item{sym: d})
		lens[x] = next[x]
		x++
	}

	freq := make([]int, numPretreeSymbols)
	for _, it := range items {
		freq[it.sym]++
		if it.sym == 19 {
			freq[it.delta]++
		}
	}
	if len(items) == 0 || g.rng.chance(10) {
		freq[g.rng.intn(numPretreeSymbols)]++
	}
	preLen := genLengths(freq, 15, &g.rng)
	preCodes := canonicalCodes(preLen)
	for _, l := range preLen {
		g.w.bits(uint32(l), 4)
	}
	for _, it := range items {
		g.w.bits(preCodes[it.sym], uint(preLen[it.sym]))
		if it.extraBits > 0 {
			g.w.bits(uint32(it.extra), uint(it.extraBits))
		}
		if it.sym == 19 {
			g.w.bits(preCodes[it.delta], uint(preLen[it.delta]))
		}
	}
}

func (g *generator) uncompressed(size int) {
	g.w.bits(blockUncompressed, 3)
	g.w.bits(uint32(size)>>8, 16)
	g.w.bits(uint32(size)&0xFF, 8)
	if g.w.n == 0 {
		g.w.bits(0, 16) // already aligned: a whole word of padding
		g.alignedHeaders++
	} else {
		g.w.align()
	}
	if g.rng.chance(30) {
		// New repeated offsets; the generator only uses them once they are valid.
		for i := range g.r {
			g.r[i] = uint32(1 + g.rng.intn(max(1, min(len(g.data), g.win-3))))
		}
	}
	for _, r := range g.r {
		g.w.buf = binary.LittleEndian.AppendUint32(g.w.buf, r)
	}
	raw := g.literalBytes(size)
	for i, b := range raw {
		g.data = append(g.data, b)
		g.w.buf = append(g.w.buf, b)
		if i == len(raw)-1 && size&1 == 1 && !g.cfg.padNext {
			g.w.buf = append(g.w.buf, 0)
		}
		g.advance(1)
	}
	if size&1 == 1 && g.cfg.padNext {
		if g.pos == g.cfg.size && len(g.w.buf) == 0 && len(g.frames) > 0 {
			// No next frame: the padding goes at the end of the last one.
			g.frames[len(g.frames)-1] = append(g.frames[len(g.frames)-1], 0)
		} else {
			g.w.buf = append(g.w.buf, 0)
		}
	}
}

// genLengths returns Huffman code lengths of at most limit bits for freq, giving at
// least two symbols a code when any has one (LZX trees must be complete).
func genLengths(freq []int, limit int, rng *splitmix64) []uint8 {
	f := append([]int(nil), freq...)
	used := 0
	for _, v := range f {
		if v > 0 {
			used++
		}
	}
	if used == 0 {
		return make([]uint8, len(f))
	}
	if used == 1 {
		for {
			i := rng.intn(len(f))
			if f[i] == 0 {
				f[i] = 1
				break
			}
		}
	}
	for {
		lens := huffmanDepths(f)
		maxLen := uint8(0)
		for _, l := range lens {
			maxLen = max(maxLen, l)
		}
		if int(maxLen) <= limit {
			return lens
		}
		for i, v := range f {
			if v > 0 {
				f[i] = (v + 1) / 2
			}
		}
	}
}

// huffmanDepths computes optimal (unlimited) code lengths for freq.
func huffmanDepths(freq []int) []uint8 {
	type node struct{ w, parent int }
	var nodes []node
	var leaves []int
	for s, v := range freq {
		if v > 0 {
			leaves = append(leaves, s)
		}
	}
	sort.SliceStable(leaves, func(i, j int) bool { return freq[leaves[i]] < freq[leaves[j]] })
	for _, s := range leaves {
		nodes = append(nodes, node{w: freq[s], parent: -1})
	}
	// Two-queue merge: leaves in order, internal nodes in creation order.
	li, ii := 0, len(nodes)
	pick := func() int {
		if li < len(leaves) && (ii >= len(nodes) || nodes[li].w <= nodes[ii].w) {
			li++
			return li - 1
		}
		ii++
		return ii - 1
	}
	for n := len(leaves); n > 1; n-- {
		a, b := pick(), pick()
		nodes = append(nodes, node{w: nodes[a].w + nodes[b].w, parent: -1})
		nodes[a].parent = len(nodes) - 1
		nodes[b].parent = len(nodes) - 1
	}
	lens := make([]uint8, len(freq))
	for i, s := range leaves {
		d := 0
		for p := i; nodes[p].parent >= 0; p = nodes[p].parent {
			d++
		}
		lens[s] = uint8(d)
	}
	return lens
}

// canonicalCodes assigns codes in order of length, then symbol.
func canonicalCodes(lens []uint8) []uint32 {
	codes := make([]uint32, len(lens))
	code := uint32(0)
	for l := uint8(1); l <= maxCodeLen; l++ {
		for s, sl := range lens {
			if sl == l {
				codes[s] = code
				code++
			}
		}
		code <<= 1
	}
	return codes
}

// e8Reference undoes E8 translation on a whole folder's output, written from the
// format description independently of e8Translate.
func e8Reference(data []byte, size int32) []byte {
	out := append([]byte(nil), data...)
	for start := 0; start < len(out) && start/frameSize < e8MaxFrames; start += frameSize {
		frame := out[start:min(start+frameSize, len(out))]
		if len(frame) <= 10 {
			break
		}
		for i := 0; i < len(frame)-10; i++ {
			if frame[i] != 0xE8 {
				continue
			}
			cur := int64(start + i)
			abs := int64(int32(binary.LittleEndian.Uint32(frame[i+1:])))
			if abs >= -cur && abs < int64(size) {
				rel := abs - cur
				if abs < 0 {
					rel = abs + int64(size)
				}
				binary.LittleEndian.PutUint32(frame[i+1:], uint32(rel))
			}
			i += 4
		}
	}
	return out
}
