package cab

import (
	"errors"
	"fmt"
)

// Sentinel errors, matched with errors.Is. The messages around them say which part of
// which cabinet is wrong and what to do.
var (
	// ErrNotCabinet: the file does not start with the cabinet signature "MSCF".
	ErrNotCabinet = errors.New("not a cabinet file")
	// ErrCorrupt: the cabinet's structure or data is inconsistent (truncated file,
	// offsets out of range, bad checksum, undecodable compressed data).
	ErrCorrupt = errors.New("corrupt cabinet")
	// ErrSpanned: the cabinet is one part of a multi-part set.
	ErrSpanned = errors.New("multi-part (spanned) cabinets are not supported")
)

// UnsupportedCompressionError is the error of a member whose folder uses a compression
// method this package does not decode (Quantum, or a method the format does not
// define). The members of the cabinet's other folders still extract.
type UnsupportedCompressionError struct {
	Cabinet string // the cabinet's name given with WithName, or ""
	Member  string // the member's name as stored in the cabinet
	Method  string // "Quantum", or "Method(N)" for an undefined method
}

func (e *UnsupportedCompressionError) Error() string {
	return fmt.Sprintf("%smember %q: %s compression is not supported (only None, MSZIP and LZX are): extract it with cabextract or 7z",
		prefix(e.Cabinet), e.Member, e.Method)
}

// LimitError reports that reading a member would exceed a Limits field.
type LimitError struct {
	Cabinet string // the cabinet's name given with WithName, or ""
	Member  string // the member being read
	Limit   string // "MaxMemberSize" or "MaxTotalSize"
	Max     int64  // the limit in bytes
	Size    int64  // the member's size, or the decoded total that went past the limit
}

func (e *LimitError) Error() string {
	if e.Limit == "MaxMemberSize" {
		return fmt.Sprintf("%smember %q is %d bytes, over the member size limit of %d bytes (raise Limits.MaxMemberSize)",
			prefix(e.Cabinet), e.Member, e.Size, e.Max)
	}
	return fmt.Sprintf("%sreading member %q would decode more than the total output limit of %d bytes (raise Limits.MaxTotalSize)",
		prefix(e.Cabinet), e.Member, e.Max)
}

// prefix is the start of every error message: "cab: NAME: " or "cab: ".
func prefix(name string) string {
	if name == "" {
		return "cab: "
	}
	return "cab: " + name + ": "
}
