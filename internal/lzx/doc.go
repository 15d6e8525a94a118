// Package lzx implements Microsoft's LZX compression as used in cabinet files: a
// Decoder that turns one CFDATA block (one frame of at most 32 KiB) at a time back into
// bytes, and an Encoder that produces such frames, used to build test data and
// synthetic catalogs.
//
// An LZX stream belongs to one cabinet folder: the sliding window (2^15..2^21 bytes),
// the repeated offsets R0..R2, the Huffman code lengths (coded as deltas against the
// previous block's) and the E8 call-translation header persist from frame to frame, so
// a folder's frames must be decoded in order after a Reset. Blocks (verbatim, aligned
// offset or uncompressed) may span frames; each frame's bitstream ends on a 16-bit
// boundary.
//
// The Decoder treats its input as hostile: every error wraps ErrCorrupt or ErrWindow,
// no input makes it panic or loop, and it allocates nothing per frame.
//
// The format is described in Microsoft's "LZX Data Compression Format" (cabinet SDK)
// and, with corrections, in [MS-PATCH] "LZX DELTA Compression and Decompression".
package lzx
