// Package lzx implements Microsoft's LZX compression as used in cabinet files. A
// Decoder turns the CFDATA blocks of an LZX folder back into bytes, one frame (at most
// 32 KiB) per call; an Encoder produces such frames, to build test data and synthetic
// catalogs.
//
// An LZX stream is one cabinet folder. The sliding window (2^15..2^21 bytes), the
// repeated offsets R0..R2, the Huffman code lengths (each tree is sent as deltas
// against the previous block's) and the E8 call-translation header carry over from
// frame to frame, so a folder's frames are decoded in order after a Reset. Blocks
// (verbatim, aligned offset or uncompressed) may span frames; each frame's bitstream
// ends on a 16-bit boundary. Typical use:
//
//	d, err := lzx.NewDecoder(folder.WindowBits)
//	for _, block := range folder.DataBlocks {
//		out, err := d.Decode(block.Compressed, block.UncompressedSize)
//		// out is valid until the next Decode
//	}
//
// The Decoder treats its input as hostile: every error wraps ErrCorrupt (or ErrWindow
// from NewDecoder) and names the frame and what is wrong, no input makes it panic or
// loop, and it allocates nothing per frame. Where the format's documents are silent
// or wrong it does what the reference decoder (libmspack, behind cabextract) does; it
// also accepts matches that run into the next frame and empty trees that are never
// used, which libmspack refuses.
//
// The format is described in Microsoft's "LZX Data Compression Format" (cabinet SDK)
// and, with corrections, in [MS-PATCH] "LZX DELTA Compression and Decompression".
package lzx
