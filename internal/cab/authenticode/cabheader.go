package authenticode

import (
	"crypto"
	"encoding/binary"
	"fmt"
	"io"
)

// CFHEADER of a signed cabinet (all little-endian). Offsets 0-35 are the fixed header;
// the signer sets flag 0x0004 and inserts the reserve sizes and a 20-byte header reserve:
//
//	36 u16 cbCFHeader = 20   38 u8 cbCFFolder = 0   39 u8 cbCFData = 0
//	40 u32 0x00100000 (marks an Authenticode record)
//	44 u32 offset of the PKCS#7 blob   48 u32 its length (padded to 8 bytes)
//	52 u32 unused                      56 u32 zero, covered by the digest
//
// The optional prev/next cabinet names, the CFFOLDER entries and everything else follow
// at offset 60.
const (
	offCbCabinet        = 8
	offFlags            = 30
	offReserveSizes     = 36
	offReserveMagic     = 40
	offSigOffset        = 44
	offSigLength        = 48
	signedHeaderLen     = 60
	flagReservePresent  = 0x0004
	authenticodeMagic   = 0x00100000
	authenticodeReserve = 20 // cbCFHeader=20, cbCFFolder=0, cbCFData=0 read as one u32

	// maxSignatureLen bounds the blob we read into memory. Microsoft's signatures, with
	// chains, timestamps and a nested signature, are a few tens of kilobytes.
	maxSignatureLen = 4 << 20
)

// sigLocation is what the header says about the signature, checked against the file.
type sigLocation struct {
	header         [signedHeaderLen]byte
	offset, length int64
}

// locateSignature reads the CFHEADER and returns where the PKCS#7 blob is, refusing any
// layout in which bytes a cabinet reader uses would escape the digest.
func locateSignature(r io.ReaderAt, size int64) (*sigLocation, error) {
	loc := &sigLocation{}
	n := int64(len(loc.header))
	if size < n {
		n = max(size, 0)
	}
	if _, err := r.ReadAt(loc.header[:n], 0); err != nil && !(err == io.EOF && n == size) {
		return nil, fmt.Errorf("signature check: reading the cabinet header: %w", err)
	}
	h := loc.header[:]
	if n < 36 || string(h[:4]) != "MSCF" {
		return nil, fail(ErrMalformed, nil, "not a cabinet file (no MSCF header in %d bytes; check that the right, complete file was given)", size)
	}
	if binary.LittleEndian.Uint16(h[offFlags:])&flagReservePresent == 0 {
		return nil, fail(ErrNotSigned, nil, "cabinet has no header reserve, so it carries no Authenticode signature (use the original file as published by Microsoft)")
	}
	if n < signedHeaderLen {
		return nil, fail(ErrMalformed, nil, "cabinet header is truncated (%d bytes; download the file again)", size)
	}
	if cb := binary.LittleEndian.Uint16(h[offReserveSizes:]); cb != authenticodeReserve {
		return nil, fail(ErrNotSigned, nil, "cabinet header reserve is %d bytes, not the 20-byte Authenticode record, so it carries no signature (use the original file as published by Microsoft)", cb)
	}
	if binary.LittleEndian.Uint32(h[offReserveMagic:]) != authenticodeMagic {
		return nil, fail(ErrNotSigned, nil, "cabinet header reserve does not hold an Authenticode record (use the original file as published by Microsoft)")
	}
	// Bytes 4-7 (reserved1) and 38-39 (folder and data reserve sizes) are outside the
	// digest; non-zero values would let a modified file keep its signature.
	if binary.LittleEndian.Uint32(h[4:]) != 0 || h[38] != 0 || h[39] != 0 {
		return nil, fail(ErrMalformed, nil, "cabinet header has non-zero reserved fields that the signature does not cover (the file was modified; download it again)")
	}
	off := int64(binary.LittleEndian.Uint32(h[offSigOffset:]))
	length := int64(binary.LittleEndian.Uint32(h[offSigLength:]))
	if off == 0 && length == 0 {
		return nil, fail(ErrNotSigned, nil, "cabinet has an empty Authenticode record (use the original file as published by Microsoft)")
	}
	if off < signedHeaderLen || length == 0 || off+length != size {
		return nil, fail(ErrMalformed, nil, "header says the signature is %d bytes at offset %d but the file is %d bytes (truncated or extended download? fetch the file again)", length, off, size)
	}
	if length > maxSignatureLen {
		return nil, fail(ErrMalformed, nil, "signature blob is %d bytes, more than the %d accepted", length, maxSignatureLen)
	}
	if cb := int64(binary.LittleEndian.Uint32(h[offCbCabinet:])); cb < signedHeaderLen || cb > off {
		return nil, fail(ErrMalformed, nil, "cabinet size field (%d) overlaps the signature at offset %d, so part of the cabinet would be unsigned (the file was modified; download it again)", cb, off)
	}
	loc.offset, loc.length = off, length
	return loc, nil
}

// digestCabinet hashes the signed bytes of the cabinet, the rule osslsigncode's cab.c
// implements for Microsoft's format: bytes 0-3 ("MSCF"), 8-33 (cbCabinet, reserved2,
// coffFiles, reserved3, version, cFolders, cFiles, flags, setID), then 56 up to the start
// of the signature blob. Skipped: reserved1 (4-7), iCabinet (34-35), the reserve sizes
// (36-39) and the first 16 bytes of the reserve (40-55, which hold the blob's offset and
// length).
func digestCabinet(r io.ReaderAt, loc *sigLocation, alg crypto.Hash) ([]byte, error) {
	h := alg.New()
	h.Write(loc.header[0:4])
	h.Write(loc.header[8:34])
	n, err := io.Copy(h, io.NewSectionReader(r, 56, loc.offset-56))
	if err != nil || n != loc.offset-56 {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("signature check: reading the cabinet to hash it (%d of %d bytes): %w", n, loc.offset-56, err)
	}
	return h.Sum(nil), nil
}
