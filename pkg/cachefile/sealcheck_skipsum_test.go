package cachefile

import (
	"errors"
	"testing"
)

// skipSumCheck is streamCheck after SkipSum, through the walk part alone
// (Parts' sum is nil), as a download that checks its own checksum feeds it.
func skipSumCheck(t testing.TB, data []byte, piece int) (Info, error) {
	t.Helper()
	f := fileOf(t, data)
	c := NewSealCheck(int64(len(data)))
	c.SkipSum()
	sum, walk := c.Parts()
	if sum != nil {
		t.Fatal("Parts after SkipSum returns a sum writer")
	}
	for rest := data; len(rest) > 0; {
		n := min(piece, len(rest))
		walk.Write(rest[:n])
		rest = rest[n:]
	}
	return c.Finish(t.Context(), f)
}

// TestSealCheckSkipSum: without the SHA-256 the check still finds every
// fault in the data a reader sees (a record, the index, the counters),
// whether or not the SHA-256 was redone to match it, and gives Verify's
// Info for a good file; what it leaves to the caller's checksum is only
// the bytes that carry no data, such as the checksum field itself.
func TestSealCheckSkipSum(t *testing.T) {
	good := sealedBytes(t, 60)
	want, err := verifyBytes(t, good)
	if err != nil {
		t.Fatal(err)
	}
	for _, piece := range []int{1, 12, 4096, len(good)} {
		inf, err := skipSumCheck(t, good, piece)
		if err != nil {
			t.Fatalf("pieces of %d: %v", piece, err)
		}
		inf.Path = want.Path
		if inf != want {
			t.Errorf("pieces of %d: Info %+v, Verify says %+v", piece, inf, want)
		}
	}
	firstSlot := func(b []byte) int {
		for i := headerSize; i < len(b); i += 8 {
			if le.Uint64(b[i:]) > slotTombstone {
				return i
			}
		}
		t.Fatal("no live slot")
		return 0
	}
	tests := []struct {
		name  string
		spoil func(b []byte)
		want  error // nil: left to the caller's checksum
	}{
		{"bit flip in a value", func(b []byte) { b[len(b)-20] ^= 1 }, ErrCorrupt},
		{"bit flip in a key", func(b []byte) { b[firstRecordOff(t, b)+recHeaderSize] ^= 1 }, ErrCorrupt},
		{"bit flip in a record's length", func(b []byte) { b[firstRecordOff(t, b)+4] ^= 1 }, ErrCorrupt},
		{"bit flip in the index", func(b []byte) { b[firstSlot(b)] ^= 8 }, ErrCorrupt},
		{"index slot removed", func(b []byte) { le.PutUint64(b[firstSlot(b):], slotEmpty) }, ErrCorrupt},
		{"an empty slot filled", func(b []byte) {
			for i := headerSize; ; i += 8 {
				if le.Uint64(b[i:]) == slotEmpty {
					b[i+7] = 1
					return
				}
			}
		}, ErrCorrupt},
		{"duplicate key", func(b []byte) { makeDuplicate(t, b) }, ErrCorrupt},
		{"key count in the header", func(b []byte) { le.PutUint64(b[offLiveKeys:], 59) }, ErrCorrupt},
		{"update id in the header", func(b []byte) { b[offUpdateID] ^= 1 }, ErrCorrupt},
		{"header CRC'd section", func(b []byte) { b[offSeed] ^= 1 }, ErrCorrupt},
		{"superseded", func(b []byte) { b[offSuperseded] = 1 }, ErrCorrupt},
		{"truncated", func(b []byte) {}, ErrCorrupt}, // cut below
		{"the checksum field", func(b []byte) { b[offChecksum] ^= 1 }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := append([]byte(nil), good...)
			tc.spoil(bad)
			if tc.name == "truncated" {
				bad = bad[:len(bad)-8]
			}
			for _, piece := range []int{7, 4096, len(bad)} {
				_, err := skipSumCheck(t, bad, piece)
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("pieces of %d: %v, want %v", piece, err, tc.want)
				}
			}
			if _, errV := verifyBytes(t, bad); errV == nil && tc.name != "superseded" {
				t.Errorf("Verify accepts the spoiled file: the case tests nothing")
			}
		})
	}
}

// firstRecordOff returns the offset of the first record of a sealed file.
func firstRecordOff(t testing.TB, b []byte) int {
	t.Helper()
	h, err := decodeHeader(b, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return int(h.dataOff)
}

// FuzzSealCheckSkipSum changes a byte of a sealed file and redoes its
// SHA-256, so that only the structure can tell: the check without the
// SHA-256 must agree with Verify, but for the superseded word, which only
// the streaming check requires to be 0.
func FuzzSealCheckSkipSum(f *testing.F) {
	good := sealedBytes(f, 40)
	f.Add(uint32(0), byte(0), uint16(4096))
	f.Add(uint32(headerSize+3), byte(0xff), uint16(7))
	f.Add(uint32(len(good)-30), byte(1), uint16(1000))
	f.Add(uint32(offLiveKeys), byte(3), uint16(65535))
	f.Fuzz(func(t *testing.T, pos uint32, val byte, piece uint16) {
		data := append([]byte(nil), good...)
		data[int(pos)%len(data)] = val
		resum(data)
		_, errV := verifyBytes(t, data)
		_, errS := skipSumCheck(t, data, int(piece)+1)
		if le.Uint64(data[offSuperseded:]) != 0 {
			if errS == nil {
				t.Fatal("check accepts a superseded sealed file")
			}
			return
		}
		if (errV == nil) != (errS == nil) {
			t.Fatalf("byte %d = %#x: Verify %v, check without the SHA-256 %v", int(pos)%len(data), val, errV, errS)
		}
	})
}
