package cachefile

import (
	"crypto/sha256"
	"hash"
)

// SealHash computes a sealed file's SHA-256 (the checksum its header
// carries, see Seal) from the file's bytes written to it in order, from
// offset 0: a download can compute it as the bytes arrive, and hand the sum
// to VerifySummed or Writer.Adopt, which then check the file's structure and
// compare the sum with its header instead of reading the file once more to
// hash it.
type SealHash struct {
	h    hash.Hash
	n    int64
	head [headerSize]byte
}

// NewSealHash returns a SealHash at offset 0.
func NewSealHash() *SealHash { return &SealHash{h: sha256.New()} }

// Write hashes b, the bytes at the next offsets of the file. The header
// page is held back until it is complete, so that the superseded word and
// the checksum field are hashed as zeros, as sealChecksum does. It never
// fails.
func (s *SealHash) Write(b []byte) (int, error) {
	n := len(b)
	if s.n < headerSize {
		c := copy(s.head[s.n:], b)
		s.n += int64(c)
		b = b[c:]
		if s.n == headerSize {
			s.h.Write(maskedHeader(&s.head))
		}
	}
	if len(b) > 0 {
		s.h.Write(b)
		s.n += int64(len(b))
	}
	return n, nil
}

// Sum returns the SHA-256 of what was written; of a file shorter than the
// header page it is no sealed file's checksum.
func (s *SealHash) Sum() [32]byte {
	var sum [32]byte
	if s.n < headerSize {
		return sum
	}
	s.h.Sum(sum[:0])
	return sum
}

// maskedHeader zeroes the fields of a header page that the checksum does
// not cover.
func maskedHeader(page *[headerSize]byte) []byte {
	clear(page[offSuperseded : offSuperseded+8])
	clear(page[offChecksum : offChecksum+checksumSize])
	return page[:]
}
