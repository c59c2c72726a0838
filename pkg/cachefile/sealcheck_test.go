package cachefile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zeebo/xxh3"
)

// sealedBytes returns the bytes of a small sealed file with keys keys
// (some values long enough to span several write pieces).
func sealedBytes(t testing.TB, keys int) []byte {
	t.Helper()
	h := newHarness(t, smallOpts())
	for i := range keys {
		h.mustApply(set(fmt.Sprintf("k%03d", i), strings.Repeat("v", (i*37)%300)))
	}
	sealed := filepath.Join(filepath.Dir(h.path), "snap")
	if _, err := h.w.Seal(context.Background(), sealed); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(sealed)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// fileOf writes data to a file and returns it open; the test closes it.
func fileOf(t testing.TB, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// streamCheck writes data to a file and to a SealCheck in pieces of piece
// bytes, and returns Finish's result.
func streamCheck(t testing.TB, data []byte, size int64, piece int) (Info, error) {
	t.Helper()
	f := fileOf(t, data)
	c := NewSealCheck(size)
	for rest := data; len(rest) > 0; {
		n := min(piece, len(rest))
		c.Write(rest[:n])
		rest = rest[n:]
	}
	return c.Finish(context.Background(), f)
}

// partsCheck is streamCheck through the check's Parts, each fed by a
// goroutine of its own, as a download feeds them.
func partsCheck(t testing.TB, data []byte, size int64, piece int) (Info, error) {
	t.Helper()
	f := fileOf(t, data)
	c := NewSealCheck(size)
	sum, walk := c.Parts()
	var wg sync.WaitGroup
	for _, w := range []io.Writer{sum, walk} {
		wg.Go(func() {
			for rest := data; len(rest) > 0; {
				n := min(piece, len(rest))
				w.Write(rest[:n])
				rest = rest[n:]
			}
		})
	}
	wg.Wait()
	return c.Finish(context.Background(), f)
}

// verifyBytes runs Verify on data.
func verifyBytes(t testing.TB, data []byte) (Info, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "v")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return Verify(context.Background(), p)
}

// resum stores the SealHash of data in its checksum field, so that a
// change is caught by the structure checks or not at all.
func resum(data []byte) {
	s := NewSealHash()
	s.Write(data)
	sum := s.Sum()
	copy(data[offChecksum:], sum[:])
}

// makeDuplicate rewrites the last record's key as the first record's (same
// length), with its CRC, its index slot moved onto the first key's probe
// path, and the checksum: a file whose only fault is a duplicate key.
func makeDuplicate(t testing.TB, data []byte) {
	t.Helper()
	m := &mapping{mm: data, size: uint64(len(data))}
	h, err := decodeHeader(data, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	m.hdr, m.mask = h, h.capacity-1
	var offs []uint64
	for off := h.dataOff; off < h.fileSize; {
		k, v, err := m.record(off)
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
		off += recordSize(len(k), len(v))
	}
	first, last := offs[0], offs[len(offs)-1]
	k1, _, _ := m.record(first)
	k2, v2, _ := m.record(last)
	if len(k1) != len(k2) {
		t.Fatalf("keys of different lengths %q %q", k1, k2)
	}
	slot := func(i uint64) []byte { return data[h.indexOff+8*i:] }
	h2 := xxh3.HashSeed(k2, h.seed)
	for i := h2 & m.mask; ; i = (i + 1) & m.mask {
		if slotOffset(le.Uint64(slot(i))) == last {
			le.PutUint64(slot(i), slotEmpty) // a hole may now cut a probe path: fine, no other key is near
			break
		}
	}
	copy(k2, k1)
	le.PutUint32(data[last+8:], recordCRC(data[last:], k2, v2))
	h1 := xxh3.HashSeed(k1, h.seed)
	for i := h1 & m.mask; ; i = (i + 1) & m.mask {
		if le.Uint64(slot(i)) == slotEmpty {
			le.PutUint64(slot(i), makeSlot(h1, last))
			break
		}
	}
	resum(data)
}

// TestSealCheck: the streaming check accepts a sealed file whatever the
// pieces it arrives in, with Verify's Info, and refuses what Verify refuses.
func TestSealCheck(t *testing.T) {
	good := sealedBytes(t, 60)
	want, err := verifyBytes(t, good)
	if err != nil {
		t.Fatal(err)
	}
	for _, piece := range []int{1, 5, 12, 4095, 4096, 4097, 65536, len(good)} {
		for name, check := range map[string]func(testing.TB, []byte, int64, int) (Info, error){"Write": streamCheck, "Parts": partsCheck} {
			inf, err := check(t, good, int64(len(good)), piece)
			if err != nil {
				t.Fatalf("%s, pieces of %d: %v", name, piece, err)
			}
			inf.Path = want.Path
			if inf != want {
				t.Errorf("%s, pieces of %d: Info %+v, Verify says %+v", name, piece, inf, want)
			}
		}
	}
	// Pieces large enough that the SHA-256 runs beside the walk.
	big := sealedBytes(t, 700)
	for _, piece := range []int{parallelPiece, len(big)} {
		if _, err := streamCheck(t, big, int64(len(big)), piece); err != nil {
			t.Fatalf("%d bytes in pieces of %d: %v", len(big), piece, err)
		}
	}
	tests := []struct {
		name  string
		spoil func(b []byte) []byte
		want  error
	}{
		{"bit flip in a value", func(b []byte) []byte { b[len(b)-20] ^= 1; return b }, ErrCorrupt},
		{"bit flip in a value, checksum redone", func(b []byte) []byte { b[len(b)-20] ^= 1; resum(b); return b }, ErrCorrupt},
		{"bit flip in the index, checksum redone", func(b []byte) []byte {
			for i := headerSize; i < len(b); i += 8 {
				if le.Uint64(b[i:]) > slotTombstone {
					b[i] ^= 8 // another offset
					break
				}
			}
			resum(b)
			return b
		}, ErrCorrupt},
		{"index slot removed, checksum redone", func(b []byte) []byte {
			for i := headerSize; i < len(b); i += 8 {
				if le.Uint64(b[i:]) > slotTombstone {
					le.PutUint64(b[i:], slotEmpty)
					break
				}
			}
			resum(b)
			return b
		}, ErrCorrupt},
		{"duplicate key", func(b []byte) []byte { makeDuplicate(t, b); return b }, ErrCorrupt},
		{"truncated", func(b []byte) []byte { return b[:len(b)-8] }, ErrCorrupt},
		{"superseded", func(b []byte) []byte { b[offSuperseded] = 1; return b }, ErrCorrupt},
		{"key count in the header", func(b []byte) []byte { le.PutUint64(b[offLiveKeys:], 59); resum(b); return b }, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.spoil(append([]byte(nil), good...))
			_, errV := verifyBytes(t, bad)
			for _, piece := range []int{7, 4096, len(bad)} {
				_, err := streamCheck(t, bad, int64(len(bad)), piece)
				if !errors.Is(err, tc.want) {
					t.Errorf("pieces of %d: %v, want %v (Verify: %v)", piece, err, tc.want, errV)
				}
				if _, err := partsCheck(t, bad, int64(len(bad)), piece); !errors.Is(err, tc.want) {
					t.Errorf("Parts, pieces of %d: %v, want %v (Verify: %v)", piece, err, tc.want, errV)
				}
			}
			if tc.name != "superseded" && errV == nil {
				t.Errorf("Verify accepts the spoiled file: the case tests nothing")
			}
		})
	}
	if _, err := streamCheck(t, good, int64(len(good))+8, 4096); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a file shorter than the size expected: %v, want ErrCorrupt", err)
	}
}

// TestSealCheckFallsBack: past its in-memory bounds the check walks the
// file as Verify does, and still refuses a duplicate key.
func TestSealCheckFallsBack(t *testing.T) {
	good := sealedBytes(t, 60)
	bad := append([]byte(nil), good...)
	makeDuplicate(t, bad)
	for _, data := range [][]byte{good, bad} {
		c := NewSealCheck(int64(len(data)))
		c.fallback = true
		c.Write(data)
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Finish(t.Context(), f)
		f.Close()
		if _, errV := Verify(t.Context(), p); (err == nil) != (errV == nil) {
			t.Errorf("fallback: %v, Verify: %v", err, errV)
		}
	}
}

// FuzzSealCheck changes bytes of a sealed file (and, to reach the
// structure checks, its checksum) and requires the streaming check and
// Verify to agree, but for the superseded word, which only the streaming
// check requires to be 0.
func FuzzSealCheck(f *testing.F) {
	good := sealedBytes(f, 40)
	f.Add(uint32(0), byte(0), false, uint16(4096))
	f.Add(uint32(headerSize+3), byte(0xff), true, uint16(7))
	f.Add(uint32(len(good)-30), byte(1), true, uint16(1000))
	f.Add(uint32(offLiveKeys), byte(3), true, uint16(65535))
	f.Fuzz(func(t *testing.T, pos uint32, val byte, redo bool, piece uint16) {
		data := append([]byte(nil), good...)
		data[int(pos)%len(data)] = val
		if redo {
			resum(data)
		}
		_, errV := verifyBytes(t, data)
		_, errS := streamCheck(t, data, int64(len(data)), int(piece)+1)
		if le.Uint64(data[offSuperseded:]) != 0 {
			if errS == nil {
				t.Fatal("streaming check accepts a superseded sealed file")
			}
			return
		}
		if (errV == nil) != (errS == nil) {
			t.Fatalf("byte %d = %#x (checksum redone %v): Verify %v, streaming check %v", int(pos)%len(data), val, redo, errV, errS)
		}
	})
}

// TestAdoptChecked: a sealed file checked as it was written is adopted
// without another verification; a check that has not passed is refused,
// and so is a file whose header changed after its check.
func TestAdoptChecked(t *testing.T) {
	h := newHarness(t, smallOpts())
	for i := range 40 {
		h.mustApply(set(fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i)))
	}
	sealed := filepath.Join(filepath.Dir(h.path), "snap")
	if _, err := h.w.Seal(t.Context(), sealed); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(sealed)
	if err != nil {
		t.Fatal(err)
	}
	c := NewSealCheck(int64(len(data)))
	c.Write(data)
	if err := h.w.AdoptChecked(t.Context(), sealed, c); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AdoptChecked before Finish: %v, want ErrInvalid", err)
	}
	f, err := os.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := c.Finish(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	changed := append([]byte(nil), data...)
	le.PutUint64(changed[offGeneration:], 99)
	other := filepath.Join(filepath.Dir(h.path), "other")
	if err := os.WriteFile(other, changed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.w.AdoptChecked(t.Context(), other, c); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("AdoptChecked of a file whose header changed: %v, want ErrCorrupt", err)
	}
	// From the private directory, where downloads are kept, and private to
	// the agent: the adopted file is readable by every reader.
	private := filepath.Join(privateDir(h.path), "snap")
	if err := os.Rename(sealed, private); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(private, 0o600); err != nil {
		t.Fatal(err)
	}
	h.mustApply(set("later", "x"))
	if err := h.w.AdoptChecked(t.Context(), private, c); err != nil {
		t.Fatalf("AdoptChecked: %v", err)
	}
	if fi, err := os.Stat(h.path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("adopted file: %v, %v; want mode 0644", fi.Mode(), err)
	}
	delete(h.model, "later")
	h.applied--
	h.check()
}
