package lzx

import "fmt"

// Table entries pack a symbol (or a secondary table offset) in the high 16 bits and a
// bit count in the low 5 bits. A leaf's bit count is its full code length; a link's
// (entryLink set) is the index width of its secondary table.
const (
	entryLink     = 0x100
	entryBitsMask = 0x1f
)

// Primary table widths. The main tree's is a compile-time constant so the hot loop
// shifts by a constant; 11 bits cover most main codes while the table (8 KiB) stays in
// L1 cache next to the window. The aligned tree's codes are at most 7 bits long, so its
// table never needs a second level.
const (
	mainTableBits    = 11
	lengthTableBits  = 10
	alignedTableBits = 7
	pretreeTableBits = 8
)

// Sizes of the main and length tables (see newHuffTable), constants so that the hot
// loop can view them as arrays.
const (
	mainTableSize   = 1<<mainTableBits + maxMainSymbols/2<<(maxCodeLen-mainTableBits)
	lengthTableSize = 1<<lengthTableBits + numLengthSymbols/2<<(maxCodeLen-lengthTableBits)
)

// huffTable decodes one canonical Huffman code (codes assigned in order of length,
// then symbol, read most significant bit first) with a primary table indexed by the
// next tableBits bits and, for longer codes, secondary tables of uniform width.
type huffTable struct {
	entries   []uint32 // primary table, then secondary tables; sized for the worst case
	tableBits uint
	// empty marks an all-zero set of code lengths: valid as long as no symbol is
	// decoded with it (a block without matches may send an empty length tree).
	empty bool
}

// newHuffTable allocates a table for up to numSymbols symbols. A complete code puts
// at least two codes under each primary prefix that needs a secondary table, so there
// are at most numSymbols/2 secondary tables of at most 2^(maxCodeLen-tableBits)
// entries each.
func newHuffTable(numSymbols int, tableBits uint) huffTable {
	size := huffTableSize(numSymbols, tableBits)
	return huffTable{entries: make([]uint32, size), tableBits: tableBits}
}

func huffTableSize(numSymbols int, tableBits uint) int {
	return 1<<tableBits + numSymbols/2<<(maxCodeLen-tableBits)
}

// build fills the table from code lengths (0 = unused symbol, else 1..16). It rejects
// over-subscribed and incomplete codes, except the all-zero one, which it marks empty.
// sorted is scratch space of at least len(lengths) entries, so building allocates
// nothing.
func (t *huffTable) build(lengths []uint8, sorted []uint16) error {
	var count [maxCodeLen + 1]int
	for _, l := range lengths {
		if l > maxCodeLen {
			return fmt.Errorf("code length %d longer than %d", l, maxCodeLen)
		}
		count[l]++
	}
	count[0] = 0

	// Kraft sum: left is the number of unused codes of the current length.
	left := 1
	maxLen := 0
	for n := 1; n <= maxCodeLen; n++ {
		left <<= 1
		left -= count[n]
		if left < 0 {
			return fmt.Errorf("code lengths over-subscribed at length %d", n)
		}
		if count[n] != 0 {
			maxLen = n
		}
	}
	t.empty = false
	if maxLen == 0 {
		t.empty = true
		return nil
	}
	if left != 0 {
		return fmt.Errorf("code lengths incomplete (%d of %d codes of length 16 unused)", left, 1<<maxCodeLen)
	}

	// Counting sort by (length, symbol): canonical code order.
	var offset [maxCodeLen + 2]int
	for n := 1; n <= maxCodeLen; n++ {
		offset[n+1] = offset[n] + count[n]
	}
	used := offset[maxCodeLen+1]
	if len(sorted) < used {
		return fmt.Errorf("internal error: scratch of %d entries for %d codes", len(sorted), used)
	}
	sorted = sorted[:used]
	for sym, l := range lengths {
		if l != 0 {
			sorted[offset[l]] = uint16(sym)
			offset[l]++
		}
	}

	primaryBits := int(t.tableBits)
	entries := t.entries
	code, codeLen := 0, 0
	i := 0
	for ; i < len(sorted); i++ {
		sym := sorted[i]
		l := int(lengths[sym])
		if l > primaryBits {
			break
		}
		code <<= l - codeLen
		codeLen = l
		e := uint32(sym)<<16 | uint32(l)
		fill := entries[code<<(primaryBits-l) : (code+1)<<(primaryBits-l)]
		for j := range fill {
			fill[j] = e
		}
		code++
	}
	if i == len(sorted) {
		return nil
	}

	// Longer codes: every primary prefix shared by them links to a secondary table
	// indexed by the next subBits bits. Canonical order keeps codes of one prefix
	// together, so the tables are laid out one after another.
	subBits := maxLen - primaryBits
	next := 1 << primaryBits
	base, prefix := 0, -1
	for ; i < len(sorted); i++ {
		sym := sorted[i]
		l := int(lengths[sym])
		code <<= l - codeLen
		codeLen = l
		if p := code >> (l - primaryBits); p != prefix {
			prefix = p
			base = next
			next += 1 << subBits
			if next > len(entries) || base >= 1<<16 {
				return fmt.Errorf("internal error: secondary tables overflow (%d entries)", next)
			}
			entries[prefix] = uint32(base)<<16 | entryLink | uint32(subBits)
		}
		low := code & (1<<(l-primaryBits) - 1)
		start := base + low<<(maxLen-l)
		e := uint32(sym)<<16 | uint32(l)
		fill := entries[start : start+1<<(maxLen-l)]
		for j := range fill {
			fill[j] = e
		}
		code++
	}
	return nil
}
