package cachefile

import (
	"context"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestInspectAndVerify(t *testing.T) {
	h := newHarness(t, smallOpts())
	for i := range 50 {
		h.mustApply(set(keyN(i%20), valueN(i)), del(keyN((i*3)%20)))
	}
	sealed := filepath.Join(t.TempDir(), "sealed")
	si, err := h.w.Seal(t.Context(), sealed)
	if err != nil {
		t.Fatal(err)
	}
	st := h.w.Stats()
	Verify := func(path string) (Info, error) { return Verify(t.Context(), path) }
	tests := []struct {
		name    string
		path    string
		fn      func(string) (Info, error)
		wantErr error
		check   func(Info) bool
	}{
		{"Inspect live", h.path, Inspect, nil, func(i Info) bool {
			return i.UpdateID == 50 && !i.Clean && !i.Sealed && i.LogID == testLogID && i.Generation == st.Generation && i.Capacity == st.Capacity
		}},
		{"Verify live", h.path, Verify, nil, func(i Info) bool { return i.LiveKeys == len(h.model) && i.Tombstones == st.Tombstones }},
		{"Inspect sealed", sealed, Inspect, nil, func(i Info) bool {
			return i.Sealed && i.Clean && i.UpdateID == 50 && i.Checksum == si.Checksum && i.FileSize == si.Size && i.Tail == si.Size
		}},
		{"Verify sealed", sealed, Verify, nil, func(i Info) bool { return i.LiveKeys == si.Keys && i.GarbageBytes == 0 && i.Tombstones == 0 }},
		{"Inspect missing", filepath.Join(t.TempDir(), "none"), Inspect, ErrNoFile, nil},
		{"Verify missing", filepath.Join(t.TempDir(), "none"), Verify, ErrNoFile, nil},
		{"Inspect corrupt", filepath.Join("testdata", "corrupt-bad-magic.wcf"), Inspect, ErrCorrupt, nil},
		{"Verify record CRC", filepath.Join("testdata", "corrupt-record-crc.wcf"), Verify, ErrCorrupt, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inf, err := tt.fn(tt.path)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.check != nil && !tt.check(inf) {
				t.Fatalf("unexpected info: %+v (stats %+v)", inf, st)
			}
		})
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t, smallOpts())
	h.mustApply(set("a", "12345"), set("b", "x"))
	h.mustApply(set("a", "6"), del("b"))
	st := h.w.Stats()
	want := Stats{UpdateID: 2, LiveKeys: 1, LiveBytes: 2, Tombstones: 1}
	if st.UpdateID != want.UpdateID || st.LiveKeys != want.LiveKeys || st.LiveBytes != want.LiveBytes || st.Tombstones != want.Tombstones {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	if st.GarbageBytes != int64(recordSize(1, 5)+recordSize(1, 1)) || st.DataUsed != st.GarbageBytes+int64(recordSize(1, 1)) {
		t.Fatalf("garbage accounting: %+v", st)
	}
	if st.FileSize < st.DataCapacity || st.DiskSize <= 0 || st.LoadFactor <= 0 || st.GarbageRatio <= 0 {
		t.Fatalf("sizes: %+v", st)
	}
}

// writeSealed writes a sealed file of n keys with 1 KiB values and returns
// its path.
func writeSealed(t *testing.T, n int) string {
	t.Helper()
	h := newHarness(t, Options{NoSync: true})
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = Op{Key: []byte(keyN(i)), Value: make([]byte, 1000)}
	}
	h.mustApply(ops...)
	sealed := filepath.Join(t.TempDir(), "sealed")
	if _, err := h.w.Seal(t.Context(), sealed); err != nil {
		t.Fatal(err)
	}
	return sealed
}

// rewriteHeader changes the header of the file at path with edit and
// recomputes the header's CRC, as a hostile file's author would.
func rewriteHeader(t *testing.T, path string, edit func(page []byte)) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, headerSize)
	if _, err := f.ReadAt(page, 0); err != nil {
		t.Fatal(err)
	}
	edit(page)
	le.PutUint32(page[offHeaderCRC:], crc32.Checksum(page[:offHeaderCRC], castagnoli))
	if _, err := f.WriteAt(page, 0); err != nil {
		t.Fatal(err)
	}
}

// TestHostileSealedFileFailsFast gives Verify and OpenWriter sealed files
// whose header claims a huge size, backed by a sparse file of that size:
// both must fail with ErrCorrupt after the cheap structural checks, not
// hash terabytes of holes. The context's deadline only keeps a regression
// from hanging the test run; failing by it fails the test.
func TestHostileSealedFileFailsFast(t *testing.T) {
	const huge = maxDataEnd // 8 TiB
	tests := []struct {
		name string
		edit func(page []byte, size uint64)
	}{
		{"data region claims 8 TiB", func(page []byte, size uint64) {
			le.PutUint64(page[offFileSize:], size)
			le.PutUint64(page[offTail:], size)
		}},
		{"index claims 2^36 slots and the data 8 TiB", func(page []byte, size uint64) {
			le.PutUint64(page[offCapacity:], maxCapacity)
			le.PutUint64(page[offDataOff:], headerSize+8*maxCapacity)
			le.PutUint64(page[offFileSize:], size)
			le.PutUint64(page[offTail:], size)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeSealed(t, 100)
			rewriteHeader(t, path, func(page []byte) { tt.edit(page, huge) })
			if err := os.Truncate(path, huge); err != nil {
				t.Skipf("cannot make a sparse %d-byte file here: %v", uint64(huge), err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			if _, err := Verify(ctx, path); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify: %v, want ErrCorrupt", err)
			} else {
				t.Logf("Verify: %v", err)
			}
			// A writer finds the sealed file at its path and adopts it.
			dir := t.TempDir()
			live := filepath.Join(dir, "cache")
			if err := os.Rename(path, live); err != nil {
				t.Fatal(err)
			}
			if w, err := OpenWriter(ctx, live, testLogID, smallOpts()); !errors.Is(err, ErrCorrupt) {
				if err == nil {
					w.Close()
				}
				t.Fatalf("OpenWriter: %v, want ErrCorrupt", err)
			}
		})
	}
}

// countingCtx is a context whose Err reports Canceled from its limit-th
// call on: it cancels a verification at a chosen point of its progress,
// with no timing involved.
type countingCtx struct {
	context.Context
	calls, limit atomic.Int64
}

func (c *countingCtx) Err() error {
	if n := c.calls.Add(1); c.limit.Load() > 0 && n >= c.limit.Load() {
		return context.Canceled
	}
	return nil
}

// TestVerifyCancel cancels Verify, Replace and OpenWriter's adoption of a
// sealed file at every point where they check their context, on a sealed
// file of 16 MiB (structure walk, index walk, SHA-256 in chunks), and
// checks that each stops with context.Canceled.
func TestVerifyCancel(t *testing.T) {
	sealed := writeSealed(t, 4<<10)
	dry := &countingCtx{Context: t.Context()}
	if _, err := Verify(dry, sealed); err != nil {
		t.Fatal(err)
	}
	checks := dry.calls.Load()
	t.Logf("Verify checks its context %d times", checks)
	if checks < 4 {
		t.Fatalf("Verify checked its context only %d times", checks)
	}
	h := newHarness(t, smallOpts())
	h.mustApply(set("a", "1"))
	for limit := int64(1); limit <= checks; limit++ {
		ctx := &countingCtx{Context: t.Context()}
		ctx.limit.Store(limit)
		if _, err := Verify(ctx, sealed); !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify cancelled at check %d: %v, want context.Canceled", limit, err)
		}
		ctx = &countingCtx{Context: t.Context()}
		ctx.limit.Store(limit)
		if err := h.w.Replace(ctx, sealed); !errors.Is(err, context.Canceled) {
			t.Fatalf("Replace cancelled at check %d: %v, want context.Canceled", limit, err)
		}
	}
	// The writer is unchanged by the cancelled replaces.
	if got := h.w.UpdateID(); got != 1 {
		t.Fatalf("writer at update %d after cancelled replaces, want 1", got)
	}
	live := filepath.Join(t.TempDir(), "cache")
	if err := os.Link(sealed, live); err != nil {
		t.Fatal(err)
	}
	ctx := &countingCtx{Context: t.Context()}
	ctx.limit.Store(checks)
	if w, err := OpenWriter(ctx, live, testLogID, smallOpts()); !errors.Is(err, context.Canceled) {
		if err == nil {
			w.Close()
		}
		t.Fatalf("OpenWriter adopting the sealed file: %v, want context.Canceled", err)
	}
}
