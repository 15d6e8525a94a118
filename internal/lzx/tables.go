package lzx

// Constants and read-only tables of the LZX format shared by the decoder and the
// encoder. Nothing here is mutable: the tables are array literals, checked against
// the formulas of the format in tables_test.go.

const (
	minWindowBits = 15
	maxWindowBits = 21

	// frameSize is the uncompressed size of every frame (CFDATA block) of a folder
	// but the last; the E8 translation and the window both work in these units.
	frameSize = 32768

	numChars          = 256 // literal symbols at the start of the main tree
	numPrimaryLengths = 7   // length headers 0..6 are direct, 7 escapes to the length tree
	minMatch          = 2
	maxMatch          = 257 // minMatch + numPrimaryLengths + numLengthSymbols - 1
	numLengthSymbols  = 249
	numAlignedSymbols = 8
	numPretreeSymbols = 20

	// maxCodeLen is the longest Huffman code LZX can describe: lengths are coded
	// modulo 17.
	maxCodeLen = 16

	blockVerbatim     = 1
	blockAligned      = 2
	blockUncompressed = 3

	// e8MaxFrames is the number of frames (1 GiB of output) after which the E8
	// call translation is no longer applied.
	e8MaxFrames = 32768
)

// maxPositionSlots is the number of position slots of the largest window (2^21).
const maxPositionSlots = 50

// maxMainSymbols is the size of the largest main tree.
const maxMainSymbols = numChars + maxPositionSlots*8

// positionSlotsByWindow gives the number of position slots for windowBits 15..21:
// the first slot whose base reaches the window size.
var positionSlotsByWindow = [maxWindowBits - minWindowBits + 1]int{30, 32, 34, 36, 38, 42, 50}

// positionSlots returns the number of position slots for a window of 2^windowBits
// bytes; windowBits must already be validated.
func positionSlots(windowBits int) int {
	return positionSlotsByWindow[windowBits-minWindowBits]
}

// extraBits is the number of verbatim offset bits that follow each position slot:
// 0 for slots 0..3, slot/2-1 up to slot 35, then a cap of 17 (the most a decoder was
// meant to read at once).
var extraBits = [maxPositionSlots]uint8{
	0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8,
	9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 17, 17,
	17, 17, 17, 17, 17, 17, 17, 17, 17, 17,
}

// positionBase is the smallest formatted offset of each slot:
// positionBase[i] = positionBase[i-1] + 1<<extraBits[i-1]. The real match offset is
// the formatted offset minus 2 (formatted 0..2 are the repeat offsets R0..R2).
var positionBase = [maxPositionSlots]uint32{
	0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768,
	1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768, 49152,
	65536, 98304, 131072, 196608, 262144, 393216, 524288, 655360, 786432, 917504,
	1048576, 1179648, 1310720, 1441792, 1572864, 1703936, 1835008, 1966080,
}
