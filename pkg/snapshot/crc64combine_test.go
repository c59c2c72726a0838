package snapshot

import (
	"math/rand/v2"
	"testing"
)

// TestCombineCRC64NVME checks that combining the CRCs of the pieces of
// random data, cut at random places (empty pieces included), gives the
// CRC of the whole, and the check value of the catalogue.
func TestCombineCRC64NVME(t *testing.T) {
	crc := func(b []byte) uint64 {
		h := NewCRC64NVME()
		h.Write(b)
		return h.Sum64()
	}
	if got := crc([]byte("123456789")); got != 0xae8b14860a799888 {
		t.Fatalf("CRC64NVME(123456789) = %#x, want 0xae8b14860a799888", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ size, pieces int }{{0, 1}, {1, 1}, {9, 2}, {1000, 3}, {1 << 16, 7}, {100003, 12}} {
		data := make([]byte, tc.size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		var got uint64
		for rest, i := data, 0; i < tc.pieces; i++ {
			n := len(rest)
			if i < tc.pieces-1 {
				n = rng.IntN(len(rest) + 1)
			}
			piece := rest[:n]
			rest = rest[n:]
			if i == 0 {
				got = crc(piece)
			} else {
				got = combineCRC64NVME(got, crc(piece), int64(len(piece)))
			}
		}
		if want := crc(data); got != want {
			t.Errorf("%d bytes in %d pieces: combined %#x, want %#x", tc.size, tc.pieces, got, want)
		}
	}
}
