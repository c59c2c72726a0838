package relay

import (
	"slices"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

func upd(id uint64, ops int, valueBytes int) logstore.Update {
	u := logstore.Update{ID: id}
	for range ops {
		u.Ops = append(u.Ops, logstore.Set([]byte("k"), make([]byte, valueBytes)))
	}
	return u
}

func ids(ups []logstore.Update) []uint64 {
	out := make([]uint64, len(ups))
	for i, u := range ups {
		out[i] = u.ID
	}
	return out
}

func TestRecent(t *testing.T) {
	// Updates 11, 12, 15, 16 of 1, 2, 1, 3 operations, each 10 bytes.
	fill := func(maxBytes int64) *recent {
		r := newRecent(maxBytes, 10)
		r.add([]logstore.Update{upd(11, 1, 9), upd(12, 2, 9)})
		r.add([]logstore.Update{upd(12, 2, 9), upd(15, 1, 9), upd(16, 3, 9)}) // 12 again: skipped
		return r
	}
	tests := []struct {
		name     string
		maxBytes int64
		after    uint64
		maxOps   int
		want     []uint64
		ok       bool
	}{
		{"from the start", 1 << 20, 10, 0, []uint64{11, 12, 15, 16}, true},
		{"between two ids", 1 << 20, 13, 0, []uint64{15, 16}, true},
		{"bounded by operations", 1 << 20, 10, 3, []uint64{11, 12}, true},
		{"at least one update", 1 << 20, 14, 1, []uint64{15}, true},
		{"one over the bound is left", 1 << 20, 15, 2, []uint64{16}, true},
		{"at the end", 1 << 20, 16, 0, []uint64{}, true},
		{"past the end", 1 << 20, 17, 0, nil, false},
		{"before the start", 1 << 20, 9, 0, nil, false},
		// 70 bytes held, at most 40: 11 and 12 (30 bytes) go, and the
		// start moves to 12.
		{"evicted", 40, 11, 0, nil, false},
		{"new start", 40, 12, 0, []uint64{15, 16}, true},
		{"none kept", -1, 10, 0, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := fill(tc.maxBytes)
			if tc.maxBytes < 0 {
				r = newRecent(-1, 10)
			}
			page, _, _, ok := r.page(tc.after, tc.maxOps)
			if ok != tc.ok || ok && !slices.Equal(ids(page), tc.want) {
				t.Fatalf("page(%d, %d) = %v, %v; want %v, %v", tc.after, tc.maxOps, ids(page), ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRecentReset(t *testing.T) {
	r := newRecent(1<<20, 0)
	r.add([]logstore.Update{upd(1, 1, 1), upd(2, 1, 1)})
	_, _, wake, _ := r.page(2, 0)
	r.reset(2)
	select {
	case <-wake:
	default:
		t.Fatal("a reset did not wake the waiters")
	}
	if _, _, _, ok := r.page(1, 0); ok {
		t.Fatal("a position before the reset is still served")
	}
	if page, end, _, ok := r.page(2, 0); !ok || len(page) != 0 || end != 2 {
		t.Fatalf("at the reset position: %v, %d, %v", ids(page), end, ok)
	}
}
