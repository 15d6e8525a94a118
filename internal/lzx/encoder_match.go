package lzx

import (
	"encoding/binary"
	"math/bits"
)

// Match finding and parsing for the encoder: hash chains over 4-byte prefixes (new
// offsets are only worth it for matches of 4 bytes or more, mostly), the repeated
// offsets R0..R2 tried first (any length from 2), and one step of lazy evaluation.

// encTuning is the effort of the match finder, a balance of speed (tens of MB/s)
// and ratio.
type encTuning struct {
	maxChain int // hash chain entries examined per position
	goodLen  int // after a match this long, examine a quarter of the chain
	niceLen  int // a match this long ends the search
	lazyLen  int // a match this long is taken without looking one byte ahead
	// Chain entries farther than nearDist are mostly cache misses (the window is up to
	// 2 MiB, its chains 8 MiB): at most farChain of them are examined.
	nearDist int
	farChain int
	farEvery int // a mask (2^k-1): far entries are examined at positions p with p&farEvery == 0
	hashBits int // log2 of the number of chain heads
}

// encDefaultTuning is measured on lzxtest.Realistic data: within 1% of the ratio of
// deeper searches, at about 25 MB/s for a 2 MiB window.
func encDefaultTuning() encTuning {
	return encTuning{maxChain: 16, goodLen: 16, niceLen: 96, lazyLen: 16, nearDist: 1 << 16, farChain: 2, farEvery: 7, hashBits: 16}
}

// encMatcher holds the window history and the hash chains.
type encMatcher struct {
	buf        []byte // history, then the current frame; 8 bytes of slack at the end
	capacity   int    // bytes of buf usable for data
	dataEnd    int    // end of the data in buf
	frameStart int    // start of the current frame in buf
	hashed     int    // positions below this are in the hash chains
	base       int64  // stream offset of buf[0]
	head       []int32
	prev       []int32 // previous position with the same hash, indexed by position & mask
	mask       int     // of prev: at least the window, or the whole stream
	window     int     // 2^windowBits
	maxDist    int     // the farthest offset LZX can code: window - 3
	hashShift  uint
	tune       encTuning
}

// encMatch is a candidate match.
type encMatch struct {
	length int
	dist   uint32
	rep    int // 0..2: the repeated offset R0..R2 it uses; -1: a new offset
}

// init sizes the matcher for a window of 2^windowBits bytes. A stream known to be
// smaller than its window (streamSize > 0) gets buffers of its own size, so that
// small folders cost little memory.
func (m *encMatcher) init(windowBits int, tune encTuning, streamSize int64) {
	m.tune = tune
	m.window = 1 << windowBits
	m.maxDist = m.window - 3
	// The chain walk checks maxDist only past nearDist.
	m.tune.nearDist = min(m.tune.nearDist, m.maxDist)
	// Keep the history plus at least 8 frames, so that sliding (a copy of the whole
	// history) happens at most every 8 frames.
	m.capacity = m.window + max(m.window, 8*frameSize)
	chains := m.window
	hashBits := m.tune.hashBits
	if streamSize > 0 && streamSize < int64(m.capacity) {
		// The buffer never slides and positions stay below streamSize.
		m.capacity = int(streamSize)
		chains = min(chains, 1<<bits.Len(uint(streamSize)))
		hashBits = min(hashBits, max(10, bits.Len(uint(streamSize))))
	}
	m.mask = chains - 1
	m.buf = make([]byte, m.capacity+8)
	m.hashShift = uint(32 - hashBits)
	m.head = make([]int32, 1<<hashBits)
	m.prev = make([]int32, chains)
}

func (m *encMatcher) reset() {
	m.dataEnd, m.frameStart, m.hashed, m.base = 0, 0, 0, 0
	// prev needs no clearing: the chains reach only entries written since, through
	// heads written since.
	for i := range m.head {
		m.head[i] = -1
	}
}

// appendFrame copies a frame after the history and returns its buffer position.
func (m *encMatcher) appendFrame(frame []byte) int {
	if m.dataEnd+len(frame) > m.capacity {
		m.slide()
	}
	m.frameStart = m.dataEnd
	m.dataEnd += copy(m.buf[m.dataEnd:], frame)
	return m.frameStart
}

// slide drops all but the last window's worth of history from the buffer.
func (m *encMatcher) slide() {
	shift := m.dataEnd - m.window
	copy(m.buf, m.buf[shift:m.dataEnd])
	m.dataEnd -= shift
	m.hashed -= shift
	m.base += int64(shift)
	rebase := func(s []int32) {
		for i, v := range s {
			if int(v) < shift {
				s[i] = -1
			} else {
				s[i] = v - int32(shift)
			}
		}
	}
	rebase(m.head)
	rebase(m.prev)
}

func (m *encMatcher) hash(p int) uint32 {
	return binary.LittleEndian.Uint32(m.buf[p:]) * 0x9E3779B1 >> m.hashShift
}

// insertUpTo adds the positions before p to the hash chains (those with 4 bytes of
// data; the others wait for the next frame).
func (m *encMatcher) insertUpTo(p int) {
	p = min(p, m.dataEnd-3)
	for q := m.hashed; q < p; q++ {
		h := m.hash(q)
		m.prev[q&m.mask] = m.head[h]
		m.head[h] = int32(q)
	}
	m.hashed = max(m.hashed, p)
}

// matchLen returns how many bytes at i and j agree, up to maxLen.
func (m *encMatcher) matchLen(i, j, maxLen int) int {
	buf := m.buf
	l := 0
	for l+8 <= maxLen {
		if x := binary.LittleEndian.Uint64(buf[i+l:]) ^ binary.LittleEndian.Uint64(buf[j+l:]); x != 0 {
			return l + bits.TrailingZeros64(x)>>3
		}
		l += 8
	}
	for l < maxLen && buf[i+l] == buf[j+l] {
		l++
	}
	return l
}

// find returns the best match at buffer position i that ends by end (length 0: none).
func (m *encMatcher) find(i, end int, r *[3]uint32) encMatch {
	best := encMatch{rep: -1}
	maxLen := min(end-i, maxMatch)
	if maxLen < minMatch {
		return best
	}
	m.insertUpTo(i)
	buf := m.buf
	avail := m.base + int64(i) // bytes of the stream before i
	for k, d := range r {
		if int64(d) > avail {
			continue
		}
		j := i - int(d)
		if buf[j] != buf[i] || buf[j+1] != buf[i+1] {
			continue
		}
		if l := m.matchLen(i, j, maxLen); l > best.length {
			best = encMatch{length: l, dist: d, rep: k}
		}
	}
	if best.length >= maxLen || maxLen < 4 {
		return best
	}

	// bestScore starts at what a match must save over literals to be worth its
	// main tree symbol.
	bestLen, bestDist, bestScore := max(best.length, 3), 0, 8
	chain := m.tune.maxChain
	if bestLen >= m.tune.goodLen {
		chain >>= 2
	}
	far := 0
	if i&m.tune.farEvery == 0 {
		far = m.tune.farChain
	}
	cand := m.head[m.hash(i)]
	for ; cand >= 0 && chain > 0; chain-- {
		c := int(cand)
		dist := i - c
		if dist > m.tune.nearDist {
			if far == 0 || dist > m.maxDist {
				break
			}
			far--
		}
		if buf[c+bestLen] == buf[i+bestLen] && buf[c] == buf[i] {
			// A farther match costs more offset bits: take it if it is long enough to
			// pay for them (a byte of match saves some 6 bits of literal).
			if l := m.matchLen(i, c, maxLen); l > bestLen && 6*l-bits.Len(uint(dist)) > bestScore {
				bestLen, bestDist, bestScore = l, dist, 6*l-bits.Len(uint(dist))
				if l >= m.tune.niceLen || l >= maxLen {
					break
				}
				if l >= m.tune.goodLen {
					chain = min(chain, m.tune.maxChain>>2)
				}
			}
		}
		cand = m.prev[c&m.mask]
	}
	if bestDist == 0 {
		return best
	}
	// A repeated offset costs no offset bits: prefer R0 to a new offset one byte longer.
	bonus := 0
	if best.rep == 0 && best.length >= 3 {
		bonus = 1
	}
	if best.length == 0 || bestLen > best.length+bonus {
		best = encMatch{length: bestLen, dist: uint32(bestDist), rep: -1}
	}
	return best
}

// encSlot returns the position slot of formatted offset f (>= 3).
func encSlot(f uint32) int {
	if f < positionBase[36] {
		hb := bits.Len32(f) - 1
		return 2*hb + int(f>>(hb-1)&1)
	}
	return 34 + int(f>>17)
}

// matchSym returns the symbol of match m (without updating R0..R2).
func (e *Encoder) matchSym(m encMatch) encSym {
	var s encSym
	slot := m.rep
	if m.rep < 0 {
		f := m.dist + 2
		slot = encSlot(f)
		s.nExtra = extraBits[slot]
		s.extra = f - positionBase[slot]
	}
	lh := m.length - minMatch
	if lh >= numPrimaryLengths {
		s.lenSym = uint8(lh - numPrimaryLengths)
		lh = numPrimaryLengths
	}
	s.main = uint16(numChars + slot*8 + lh)
	return s
}

func (e *Encoder) literal(pos int) {
	b := e.m.buf[pos]
	e.syms = append(e.syms, encSym{main: uint16(b)})
	e.mainFreq[b]++
}

func (e *Encoder) match(m encMatch) {
	s := e.matchSym(m)
	e.syms = append(e.syms, s)
	e.mainFreq[s.main]++
	if (s.main-numChars)&7 == numPrimaryLengths {
		e.lenFreq[s.lenSym]++
	}
	if e.costAligned && s.nExtra >= 3 {
		e.alignFreq[s.extra&7]++
	}
	if m.rep >= 0 {
		e.r[0], e.r[m.rep] = e.r[m.rep], e.r[0]
	} else {
		e.r[2], e.r[1], e.r[0] = e.r[1], e.r[0], m.dist
	}
}

// worthIt reports whether match m at pos costs no more, with the current trees, than
// the literals it replaces.
func (e *Encoder) worthIt(pos int, m encMatch) bool {
	c := e.symCost(e.matchSym(m), e.blockType)
	lit := 0
	for _, b := range e.m.buf[pos : pos+m.length] {
		lit += int(e.mainLens[b])
		if lit >= c {
			return true
		}
	}
	return false
}

// parse turns the bytes at buffer positions [pos, end) into symbols; no match runs
// past end. With costed, matches are weighed against the current trees (used when a
// block's trees were fixed before these bytes were seen).
func (e *Encoder) parse(pos, end int, costed bool) {
	var cur, next encMatch
	haveCur := false
	for pos < end {
		if !haveCur {
			cur = e.m.find(pos, end, &e.r)
		}
		haveCur = false
		if cur.length < minMatch {
			e.literal(pos)
			pos++
			continue
		}
		if cur.length < e.m.tune.lazyLen && pos+1 < end {
			// Literal at pos leaves R0..R2 alone, so the match found at pos+1 stays valid.
			next = e.m.find(pos+1, end, &e.r)
			bonus := 0
			if cur.rep >= 0 && next.rep < 0 {
				bonus = 1
			}
			if next.length > cur.length+bonus || (costed && !e.worthIt(pos, cur)) {
				e.literal(pos)
				pos++
				cur, haveCur = next, true
				continue
			}
		} else if costed && !e.worthIt(pos, cur) {
			e.literal(pos)
			pos++
			continue
		}
		e.match(cur)
		pos += cur.length
	}
}
