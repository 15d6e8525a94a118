// Package lzxtest makes deterministic test data for compressors: bytes that compress
// about as well as the contents of real update cabinets (text, XML, x86 code and
// already-compressed runs), so ratios and speeds measured on them mean something.
package lzxtest

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
)

// Realistic returns a reader of n bytes (n < 0 counts as 0) that depend only on seed:
// a mix of English-like prose, XML in the style of an update catalog, x86-like machine
// code with E8 (CALL rel32) instructions, and incompressible runs. General-purpose
// compressors shrink it about 2 to 4 times. Reading is fast (hundreds of MB/s), so it
// can feed benchmarks of gigabytes.
func Realistic(seed int64, n int64) io.Reader {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6c7a787465737421))
	g := &realistic{rng: rng, left: max(n, 0)}
	g.words = makeWords(rng, 3000)
	for i := range g.funcs {
		g.funcs[i] = rng.Int32N(1 << 20)
	}
	return g
}

// realistic generates the data segment by segment.
type realistic struct {
	rng   *rand.Rand
	left  int64  // bytes still to deliver
	seg   []byte // the current segment
	off   int    // bytes of seg delivered
	pos   int64  // stream offset of seg[0]
	words []string
	funcs [512]int32 // "function addresses" that the CALLs of code segments target
}

func (g *realistic) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.left > 0 {
		if g.off == len(g.seg) {
			g.pos += int64(len(g.seg))
			g.next()
		}
		k := copy(p[n:], g.seg[g.off:])
		k = int(min(int64(k), g.left))
		g.off += k
		g.left -= int64(k)
		n += k
	}
	return n, nil
}

// next generates the next segment: 4 to 64 KiB of one kind.
func (g *realistic) next() {
	g.seg, g.off = g.seg[:0], 0
	size := 4096 + g.rng.IntN(60*1024)
	switch k := g.rng.IntN(100); {
	case k < 30:
		g.text(size)
	case k < 65:
		g.xml(size)
	case k < 92:
		g.code(size)
	default:
		g.random(size / 2)
	}
}

// makeWords returns a vocabulary of pronounceable lower-case words, short ones first.
func makeWords(rng *rand.Rand, n int) []string {
	onsets := []string{"", "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "w", "th", "st", "pr", "tr", "ch", "sh", "gr", "pl"}
	vowels := []string{"a", "e", "i", "o", "u", "ea", "ou", "io", "ai"}
	codas := []string{"", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "rt", "ck", "m"}
	words := make([]string, n)
	for i := range words {
		syll := 1 + i*3/n + rng.IntN(2)
		w := ""
		for range syll {
			w += onsets[rng.IntN(len(onsets))] + vowels[rng.IntN(len(vowels))] + codas[rng.IntN(len(codas))]
		}
		words[i] = w
	}
	return words
}

// word picks a word with a Zipf-like law: rank r about as likely as 1/r (a uniform
// power-of-two range, then a uniform rank in it).
func (g *realistic) word() string {
	v := g.rng.Uint64()
	k := v % 12 // ranges [2^k-1, 2^(k+1)-1): 1, 2, 4, ... 2048 words
	r := int(1<<k - 1 + (v>>8)%(1<<k))
	return g.words[min(r, len(g.words)-1)]
}

// text appends English-like prose.
func (g *realistic) text(size int) {
	for len(g.seg) < size {
		n := 6 + g.rng.IntN(18)
		for i := range n {
			w := g.word()
			if i == 0 {
				g.seg = append(g.seg, w[0]-'a'+'A')
				g.seg = append(g.seg, w[1:]...)
			} else {
				g.seg = append(g.seg, ' ')
				g.seg = append(g.seg, w...)
			}
			if i < n-1 && g.rng.IntN(12) == 0 {
				g.seg = append(g.seg, ',')
			}
		}
		g.seg = append(g.seg, ". "...)
		if g.rng.IntN(5) == 0 {
			g.seg = append(g.seg, "\r\n"...)
		}
	}
}

func (g *realistic) guid() {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], g.rng.Uint64())
	binary.LittleEndian.PutUint64(b[8:], g.rng.Uint64())
	g.seg = fmt.Appendf(g.seg, "%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var (
	xmlCategories = []string{"Company", "ProductFamily", "Product", "UpdateClassification"}
	xmlLanguages  = []string{"en", "de", "fr", "ja", "es", "it", "zh-cn", "pt-br"}
)

// xml appends update records in the style of the offline catalog's package.xml and
// its fragments.
func (g *realistic) xml(size int) {
	rev := 20000000 + g.rng.IntN(30000000)
	for len(g.seg) < size {
		rev += 1 + g.rng.IntN(50)
		g.seg = append(g.seg, `<Update UpdateId="`...)
		g.guid()
		g.seg = fmt.Appendf(g.seg, `" RevisionNumber="%d" RevisionId="%d" CreationDate="20%02d-%02d-%02dT%02d:%02d:%02dZ" DefaultLanguage="%s"`,
			100+g.rng.IntN(200), rev, 10+g.rng.IntN(15), 1+g.rng.IntN(12), 1+g.rng.IntN(28),
			g.rng.IntN(24), g.rng.IntN(60), g.rng.IntN(60), xmlLanguages[g.rng.IntN(len(xmlLanguages))])
		if g.rng.IntN(2) == 0 {
			g.seg = append(g.seg, ` IsLeaf="true"`...)
		}
		g.seg = append(g.seg, ">\r\n  <Categories>"...)
		for range 1 + g.rng.IntN(3) {
			g.seg = append(g.seg, `<Category Type="`...)
			g.seg = append(g.seg, xmlCategories[g.rng.IntN(len(xmlCategories))]...)
			g.seg = append(g.seg, `" Id="`...)
			g.guid()
			g.seg = append(g.seg, `"/>`...)
		}
		g.seg = append(g.seg, "</Categories>\r\n"...)
		switch g.rng.IntN(3) {
		case 0:
			g.seg = fmt.Appendf(g.seg, "  <SupersededBy><Revision Id=\"%d\"/></SupersededBy>\r\n", rev+g.rng.IntN(100000))
		case 1:
			g.seg = append(g.seg, "  <Title>"...)
			for i := range 4 + g.rng.IntN(8) {
				if i > 0 {
					g.seg = append(g.seg, ' ')
				}
				g.seg = append(g.seg, g.word()...)
			}
			g.seg = fmt.Appendf(g.seg, " (KB%d)</Title>\r\n", 2000000+g.rng.IntN(4000000))
		}
		g.seg = append(g.seg, "</Update>\r\n"...)
	}
}

// x86 instruction templates: fixed opcode bytes, then n random operand bytes.
var codeOps = []struct {
	op      []byte
	operand int
}{
	{[]byte{0x55}, 0},             // push ebp
	{[]byte{0x8B, 0xEC}, 0},       // mov ebp, esp
	{[]byte{0x83, 0xEC}, 1},       // sub esp, imm8
	{[]byte{0x8B, 0x45}, 1},       // mov eax, [ebp+disp8]
	{[]byte{0x89, 0x45}, 1},       // mov [ebp+disp8], eax
	{[]byte{0x8B, 0x4D}, 1},       // mov ecx, [ebp+disp8]
	{[]byte{0x33, 0xC0}, 0},       // xor eax, eax
	{[]byte{0x85, 0xC0}, 0},       // test eax, eax
	{[]byte{0x74}, 1},             // je short
	{[]byte{0x75}, 1},             // jne short
	{[]byte{0x50}, 0},             // push eax
	{[]byte{0x6A}, 1},             // push imm8
	{[]byte{0x68}, 4},             // push imm32
	{[]byte{0xFF, 0x15}, 4},       // call [mem]
	{[]byte{0x8D, 0x45}, 1},       // lea eax, [ebp+disp8]
	{[]byte{0xC7, 0x45}, 5},       // mov dword [ebp+disp8], imm32
	{[]byte{0x5D}, 0},             // pop ebp
	{[]byte{0xC3}, 0},             // ret
	{[]byte{0xC2, 0x08, 0x00}, 0}, // ret 8
	{[]byte{0xCC, 0xCC, 0xCC}, 0}, // int3 padding
}

// code appends x86-like machine code whose CALL rel32 instructions target a fixed set
// of functions, as a linker lays them out: their relative operands differ call by call
// but the absolute targets repeat, which is what the E8 translation exploits.
func (g *realistic) code(size int) {
	for len(g.seg) < size {
		v := g.rng.Uint64()
		if v%6 == 0 {
			at := g.pos + int64(len(g.seg))
			target := int64(g.funcs[(v>>8)%uint64(len(g.funcs))]) + g.pos&^0xFFFFF
			g.seg = append(g.seg, 0xE8)
			g.seg = binary.LittleEndian.AppendUint32(g.seg, uint32(int32(target-(at+5))))
			continue
		}
		op := codeOps[(v>>8)%uint64(len(codeOps))]
		g.seg = append(g.seg, op.op...)
		v >>= 16
		for range op.operand {
			// Operands are mostly small numbers.
			if v&3 == 0 {
				g.seg = append(g.seg, byte(v>>2))
			} else {
				g.seg = append(g.seg, byte(v>>2&3)*4)
			}
			v >>= 10
		}
	}
}

// random appends incompressible bytes, like the already-compressed payloads of a
// catalog.
func (g *realistic) random(size int) {
	for len(g.seg) < size {
		g.seg = binary.LittleEndian.AppendUint64(g.seg, g.rng.Uint64())
	}
	g.seg = g.seg[:size]
}
