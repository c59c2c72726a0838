package cachefile

import (
	"errors"
	"path/filepath"
	"testing"
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
