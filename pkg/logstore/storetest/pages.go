package storetest

import (
	"fmt"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// testPages checks paging: whole updates, in order, about maxOps operations
// per page, never stopping early without a reason.
func testPages(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	s := create(t, o, "log")
	r := NewRand(t)
	var want []logstore.Update
	for i, n := range []int{1, 3, 5, 1, 1, 10, 2, 50, 1, 7, 7, 1, 64, 1, 1, 1, 2, 3} {
		ops := make([]logstore.Op, n)
		for j := range ops {
			ops[j] = logstore.Set(fmt.Appendf(nil, "u%02d-op%02d", i, j), fmt.Appendf(nil, "%d", r.IntN(1000)))
		}
		want = append(want, appendOps(t, s, ops))
	}
	byID := map[uint64]int{}
	for i, u := range want {
		byID[u.ID] = i
	}
	for _, maxOps := range []int{-1, 0, 1, 2, 5, 7, 10, 11, 64, 100, 1000} {
		t.Run(fmt.Sprintf("maxOps=%d", maxOps), func(t *testing.T) {
			var got []logstore.Update
			after := uint64(0)
			for {
				page, err := s.Read(t.Context(), after, maxOps)
				if err != nil {
					t.Fatalf("read after %d: %v", after, err)
				}
				if len(page) == 0 {
					break
				}
				if msg := checkPage(page, want, byID, maxOps); msg != "" {
					t.Fatalf("page after %d: %s", after, msg)
				}
				got = append(got, page...)
				after = page[len(page)-1].ID
			}
			if d := DiffUpdates(got, want); d != "" {
				t.Fatalf("pages put together: %s", d)
			}
		})
	}
}

// checkPage checks one page of a Read against the log it came from: whole
// updates, in order, not past maxOps and not stopping early.
func checkPage(page, log []logstore.Update, byID map[uint64]int, maxOps int) string {
	first, ok := byID[page[0].ID]
	if !ok {
		return fmt.Sprintf("unknown id %d", page[0].ID)
	}
	if d := DiffUpdates(page, log[first:min(first+len(page), len(log))]); d != "" {
		return "not whole updates in id order: " + d
	}
	if maxOps <= 0 {
		return ""
	}
	ops, bytes := 0, 0
	for i, u := range page {
		if i < len(page)-1 {
			ops += len(u.Ops)
		}
		for _, op := range u.Ops {
			bytes += len(op.Key) + len(op.Value)
		}
	}
	if ops >= maxOps {
		return fmt.Sprintf("%d updates with %d ops before the last one, over maxOps %d", len(page), ops, maxOps)
	}
	next := first + len(page)
	ops += len(page[len(page)-1].Ops)
	if next < len(log) && ops+len(log[next].Ops) <= maxOps && bytes < logstore.MinPageBytes {
		return fmt.Sprintf("stopped at %d ops although the next update (%d ops) fits in maxOps %d", ops, len(log[next].Ops), maxOps)
	}
	return ""
}
