package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func sampleProgress(t testing.TB) progressRecord {
	t.Helper()
	p, ok := newProgress(Manifest{Size: 10<<20 + 3, ETag: "abc-2", SHA256: strings.Repeat("ab", 32)}, 1<<20)
	if !ok {
		t.Fatal("newProgress refused a good manifest")
	}
	p.done[0], p.crcs[0] = true, 0xdeadbeef
	p.done[10], p.crcs[10] = true, 7
	return p
}

// reseal recomputes a record's trailing CRC after a change.
func reseal(b []byte) []byte {
	body := b[:len(b)-4]
	return binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
}

func TestProgressRecord(t *testing.T) {
	p := sampleProgress(t)
	b := p.encode()
	got, err := decodeProgress(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.matches(p) || len(got.done) != 11 || !got.done[0] || got.done[1] || !got.done[10] || got.crcs[0] != 0xdeadbeef || got.crcs[10] != 7 {
		t.Fatalf("round trip: %+v, want %+v", got, p)
	}
	etagAt := 8 + 4 + 8 + 8 + 32 + 2
	partsAt := etagAt + len(p.etag)
	tests := []struct {
		name  string
		spoil func([]byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-5] }},
		{"CRC", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return reseal(b) }},
		{"version", func(b []byte) []byte { b[8] = 2; return reseal(b) }},
		{"size zero", func(b []byte) []byte { clear(b[12:20]); return reseal(b) }},
		{"part size zero", func(b []byte) []byte { clear(b[20:28]); return reseal(b) }},
		{"ETag empty", func(b []byte) []byte { clear(b[60:62]); return reseal(b) }},
		{"ETag longer than the record", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[60:], 1000); return reseal(b) }},
		{"part count", func(b []byte) []byte { b[partsAt]++; return reseal(b) }},
		{"bit past the last part", func(b []byte) []byte { b[partsAt+4+1] |= 0x80; return reseal(b) }},
		{"CRC of a part not done", func(b []byte) []byte { b[partsAt+4+2+4*1] = 1; return reseal(b) }},
		{"trailing byte", func(b []byte) []byte { return reseal(append(b[:len(b)-4], 0, 0, 0, 0, 0)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeProgress(tc.spoil(bytes.Clone(b))); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode: %v, want ErrCorrupt", err)
			}
		})
	}
	other := sampleProgress(t)
	other.etag = "abc-3"
	if other.matches(p) {
		t.Error("records of two ETags match")
	}
}

// FuzzDecodeProgress: decoding never panics, and a record that decodes
// encodes back to the same bytes.
func FuzzDecodeProgress(f *testing.F) {
	f.Add(sampleProgress(f).encode())
	p, _ := newProgress(Manifest{Size: 1, ETag: "e", SHA256: strings.Repeat("00", 32)}, 1)
	f.Add(p.encode())
	f.Add([]byte("WCDLPART"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeProgress(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if got := p.encode(); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, decoded from %x", got, b)
		}
	})
}
