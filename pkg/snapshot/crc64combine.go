package snapshot

// crc64NVMEPoly is CRC-64/NVME's polynomial in reversed form.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// combineCRC64NVME returns the CRC64NVME of A then B from crcA (of A),
// crcB (of B) and B's length: parts downloaded in parallel are checksummed
// as they arrive, each by its own goroutine, and combined in order at the
// end, instead of being read once more in order. It is zlib's
// crc32_combine for a 64-bit reflected CRC: crcA is advanced over lenB
// zero bytes by repeated squaring of the one-zero-bit operator (the pre-
// and post-conditioning cancel out), then XORed with crcB.
func combineCRC64NVME(crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [64]uint64
	odd[0] = crc64NVMEPoly // the operator for one zero bit
	row := uint64(1)
	for n := 1; n < 64; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four
	for {
		gf2Square(&even, &odd) // one zero byte, then 4, 16...
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

// gf2Times multiplies the 64x64 GF(2) matrix mat by vec.
func gf2Times(mat *[64]uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

// gf2Square sets square to mat times mat.
func gf2Square(square, mat *[64]uint64) {
	for n := range 64 {
		square[n] = gf2Times(mat, mat[n])
	}
}
