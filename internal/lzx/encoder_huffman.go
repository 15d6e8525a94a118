package lzx

import (
	"errors"
	"slices"
)

// Huffman code construction for the encoder: length-limited code lengths by
// package-merge (optimal under the limit), canonical codes, and the pretree-coded
// description of a tree as deltas against the previous block's lengths.

// maxPretreeLen is the longest pretree code: pretree lengths are sent in 4 bits.
const maxPretreeLen = 15

// errEncInternal marks a broken invariant of the encoder (a bug, not bad input).
var errEncInternal = errors.New("lzx encoder: internal error")

// encPMNode is an item of package-merge: a leaf (one "coin" of a symbol) or a package
// of two items of the next deeper level.
type encPMNode struct {
	weight      uint64
	left, right int32 // children of a package; -1 for a leaf
	sym         int32 // the symbol of a leaf
}

// encHuffman holds the scratch space of code-length computation, reused from block
// to block so that building trees does not allocate.
type encHuffman struct {
	keys  []uint64 // weight<<16 | symbol, for sorting
	syms  []int32  // used symbols, sorted by weight then symbol
	nodes []encPMNode
	cur   []int32
	next  []int32
	stack []int32
}

// lengths sets lens[s] to the code length of symbol s for the given weights (0 =
// unused symbol, length 0). No length exceeds limit, and the symbols below capSyms get
// at most capLen (0: no such cap). The code is always complete: with fewer than two
// used symbols, dummy symbols make two codes of length 1, since the decoders reject
// incomplete codes.
func (h *encHuffman) lengths(weights []uint32, lens []uint8, limit, capSyms, capLen int) error {
	clear(lens)
	// Sort the used symbols by weight, then symbol, as packed keys.
	h.keys = h.keys[:0]
	for s, w := range weights {
		if w != 0 {
			h.keys = append(h.keys, uint64(w)<<16|uint64(s))
		}
	}
	slices.Sort(h.keys)
	h.syms = h.syms[:0]
	for _, k := range h.keys {
		h.syms = append(h.syms, int32(k&0xFFFF))
	}
	n := len(h.syms)
	switch n {
	case 0:
		lens[0], lens[1] = 1, 1
		return nil
	case 1:
		s := h.syms[0]
		lens[s] = 1
		if s == 0 {
			lens[1] = 1
		} else {
			lens[0] = 1
		}
		return nil
	}
	maxLen := func(s int32) int {
		if int(s) < capSyms && capLen > 0 && capLen < limit {
			return capLen
		}
		return limit
	}

	// Leaves are nodes 0..n-1, in weight order.
	h.nodes = h.nodes[:0]
	for _, s := range h.syms {
		h.nodes = append(h.nodes, encPMNode{weight: uint64(weights[s]), left: -1, right: -1, sym: s})
	}
	keep := 2*n - 2 // items of the top list that make the code; deeper lists need no more
	h.cur = h.cur[:0]
	for i, s := range h.syms {
		if maxLen(s) >= limit {
			h.cur = append(h.cur, int32(i))
		}
	}
	if len(h.cur) > keep {
		h.cur = h.cur[:keep]
	}
	for depth := limit - 1; depth >= 1; depth-- {
		h.next = h.next[:0]
		li, pi := 0, 0
		for len(h.next) < keep {
			for li < n && maxLen(h.syms[li]) < depth {
				li++
			}
			havePkg := pi+1 < len(h.cur)
			if li >= n && !havePkg {
				break
			}
			var pw uint64
			if havePkg {
				pw = h.nodes[h.cur[pi]].weight + h.nodes[h.cur[pi+1]].weight
			}
			if li < n && (!havePkg || h.nodes[li].weight <= pw) {
				h.next = append(h.next, int32(li))
				li++
				continue
			}
			h.nodes = append(h.nodes, encPMNode{weight: pw, left: h.cur[pi], right: h.cur[pi+1], sym: -1})
			h.next = append(h.next, int32(len(h.nodes)-1))
			pi += 2
		}
		h.cur, h.next = h.next, h.cur
	}
	if len(h.cur) < keep {
		return errEncInternal // more symbols than the length limits can code
	}
	h.stack = append(h.stack[:0], h.cur[:keep]...)
	for len(h.stack) > 0 {
		i := h.stack[len(h.stack)-1]
		h.stack = h.stack[:len(h.stack)-1]
		nd := &h.nodes[i]
		if nd.left < 0 {
			lens[nd.sym]++
			continue
		}
		h.stack = append(h.stack, nd.left, nd.right)
	}
	return nil
}

// encCanonical assigns canonical codes (by length, then symbol) to lens.
func encCanonical(lens []uint8, codes []uint16) {
	var count [maxCodeLen + 1]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [maxCodeLen + 1]uint16
	code := uint16(0)
	for l := 1; l <= maxCodeLen; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for s, l := range lens {
		if l != 0 {
			codes[s] = next[l]
			next[l]++
		}
	}
}

// Pretree symbols beyond the 17 length deltas.
const (
	pretreeZeros4  = 17 // 4 + 4-bit count zeros
	pretreeZeros20 = 18 // 20 + 5-bit count zeros
	pretreeSame4   = 19 // 4 + 1-bit count copies of the next delta symbol
)

// encTreeSection is one pretree-coded run of code lengths, prepared so that its cost
// is known before it is written.
type encTreeSection struct {
	toks  []uint16 // pretree symbol in the low 5 bits, its extra bits' value above
	lens  [numPretreeSymbols]uint8
	codes [numPretreeSymbols]uint16
	bits  int // the section's size in bits, pretree included
}

// pretreeExtra is the number of extra bits that follow each pretree symbol.
func pretreeExtra(sym uint16) uint {
	switch sym {
	case pretreeZeros4:
		return 4
	case pretreeZeros20:
		return 5
	case pretreeSame4:
		return 1
	}
	return 0
}

// prepare codes cur as deltas against prev (both the same length). Runs never cross
// the section's end, and "same" runs (19) are used only where the previous lengths are
// equal too, so every decoder's reading of them agrees.
func (s *encTreeSection) prepare(h *encHuffman, prev, cur []uint8) error {
	s.toks = s.toks[:0]
	delta := func(i int) uint16 { return uint16((int(prev[i]) - int(cur[i]) + 17) % 17) }
	n := len(cur)
	for i := 0; i < n; {
		r := 1
		if cur[i] == 0 {
			for i+r < n && cur[i+r] == 0 {
				r++
			}
			if r >= 4 {
				for r >= 4 {
					if r >= 20 {
						k := min(r, 51)
						s.toks = append(s.toks, pretreeZeros20|uint16(k-20)<<5)
						i, r = i+k, r-k
					} else {
						k := min(r, 19)
						s.toks = append(s.toks, pretreeZeros4|uint16(k-4)<<5)
						i, r = i+k, r-k
					}
				}
				continue
			}
		} else {
			for i+r < n && cur[i+r] == cur[i] && prev[i+r] == prev[i] {
				r++
			}
			if r >= 4 {
				k := min(r, 5)
				s.toks = append(s.toks, pretreeSame4|uint16(k-4)<<5, delta(i))
				i += k
				continue
			}
		}
		s.toks = append(s.toks, delta(i))
		i++
	}

	var freq [numPretreeSymbols]uint32
	for _, t := range s.toks {
		freq[t&31]++
	}
	if err := h.lengths(freq[:], s.lens[:], maxPretreeLen, 0, 0); err != nil {
		return err
	}
	encCanonical(s.lens[:], s.codes[:])
	s.bits = numPretreeSymbols * 4
	for _, t := range s.toks {
		sym := t & 31
		s.bits += int(s.lens[sym]) + int(pretreeExtra(sym))
	}
	return nil
}

// write sends the pretree and the section's tokens.
func (s *encTreeSection) write(w *encBitWriter) {
	for _, l := range s.lens {
		w.write(uint32(l), 4)
	}
	for _, t := range s.toks {
		sym := t & 31
		w.write(uint32(s.codes[sym]), uint(s.lens[sym]))
		if x := pretreeExtra(sym); x > 0 {
			w.write(uint32(t>>5), x)
		}
	}
}
