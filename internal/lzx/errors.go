package lzx

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them, so callers
// can tell bad input from a bad configuration with errors.Is.
var (
	// ErrCorrupt reports compressed data that is not a valid LZX stream (or an
	// output size that the stream cannot produce).
	ErrCorrupt = errors.New("corrupt data")
	// ErrWindow reports a window size outside 2^15..2^21.
	ErrWindow = errors.New("unsupported LZX window size")
)
