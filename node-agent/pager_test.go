package nodeagent

import (
	"context"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// fixedStore serves a log whose every update is one operation of opBytes
// bytes; only Read is used. A fake is fine here: this tests the pager's
// arithmetic, not a store.
type fixedStore struct {
	logstore.Store
	opBytes int
	asked   []int
}

func (s *fixedStore) Horizon(context.Context) (uint64, error) { return 0, nil }

func (s *fixedStore) Read(_ context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	s.asked = append(s.asked, maxOps)
	page := make([]logstore.Update, maxOps)
	for i := range page {
		page[i] = logstore.Update{ID: after + uint64(i) + 1, Ops: []logstore.Op{logstore.Set([]byte("k"), make([]byte, s.opBytes-1))}}
	}
	return page, nil
}

func TestPagerAdaptsToOperationSize(t *testing.T) {
	tests := []struct {
		name     string
		opBytes  int
		maxOps   int
		maxBytes int64
		want     []int // operations asked for by the first reads
	}{
		{"small ops grow to the op ceiling", 10, 1000, 1 << 20, []int{8, 1000, 1000}},
		{"large ops settle at the byte target", 1 << 20, 1000, 4 << 20, []int{8, 8, 8}},
		{"medium ops", 1024, 10_000, 1 << 20, []int{8, 1024, 1024}},
		{"never below the minimum", 64 << 20, 1000, 1 << 20, []int{8, 8}},
		{"op ceiling below the minimum", 10, 2, 1 << 20, []int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fixedStore{opBytes: tt.opBytes}
			p := newPager(s, tt.maxOps, tt.maxBytes)
			var after uint64
			for range tt.want {
				pg, err := p.next(t.Context(), after, tt.maxOps)
				if err != nil {
					t.Fatal(err)
				}
				if pg.ops != len(pg.updates) {
					t.Fatalf("ops = %d for a page of %d one-op updates", pg.ops, len(pg.updates))
				}
				after = pg.updates[len(pg.updates)-1].ID
			}
			for i, want := range tt.want {
				if s.asked[i] != want {
					t.Fatalf("reads asked for %v operations, want %v", s.asked, tt.want)
				}
			}
		})
	}
}
