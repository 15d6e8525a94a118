package cab

import "encoding/binary"

// checksum computes the cabinet format's CFDATA checksum of data, starting from seed.
// The checksum of a data block is checksum(header[4:8], checksum(payload, 0)), where
// header[4:8] holds cbData and cbUncomp; the block's reserve area is not covered (as
// Microsoft's and libmspack's implementations do). The algorithm XORs the data as
// little-endian 32-bit words; the 1 to 3 trailing bytes form one last word with the
// first of them in the most significant position.
func checksum(data []byte, seed uint32) uint32 {
	// Eight bytes at a time: XOR is associative, so folding the two halves of a
	// 64-bit XOR gives the same result as two 32-bit steps, at half the loop cost.
	var acc uint64
	for len(data) >= 32 {
		acc ^= binary.LittleEndian.Uint64(data) ^ binary.LittleEndian.Uint64(data[8:]) ^
			binary.LittleEndian.Uint64(data[16:]) ^ binary.LittleEndian.Uint64(data[24:])
		data = data[32:]
	}
	for len(data) >= 8 {
		acc ^= binary.LittleEndian.Uint64(data)
		data = data[8:]
	}
	sum := seed ^ uint32(acc) ^ uint32(acc>>32)
	if len(data) >= 4 {
		sum ^= binary.LittleEndian.Uint32(data)
		data = data[4:]
	}
	var last uint32
	switch len(data) {
	case 3:
		last = uint32(data[0])<<16 | uint32(data[1])<<8 | uint32(data[2])
	case 2:
		last = uint32(data[0])<<8 | uint32(data[1])
	case 1:
		last = uint32(data[0])
	}
	return sum ^ last
}
