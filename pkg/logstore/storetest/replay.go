package storetest

import (
	"errors"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// testReplay checks a full replay in small pages through a high horizon:
// plain Read must refuse the positions below the horizon; ReadReplay must
// serve the replay while the horizon stays, and refuse it once a rewrite
// raises the horizon.
func testReplay(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	s := create(t, o, "log")
	r := NewRand(t)
	orig := appendRandom(t, s, r, rewriteGen, 300)
	mid, last := orig[149].ID, orig[len(orig)-1].ID
	if _, err := s.Rewrite(t.Context(), logstore.RewriteOptions{Through: mid, DeleteLimit: mid}); err != nil {
		t.Fatal(err)
	}
	first, err := s.Read(t.Context(), 0, 3)
	if err != nil || len(first) == 0 {
		t.Fatalf("Read(0) = %d updates, %v", len(first), err)
	}
	if _, err := s.Read(t.Context(), first[len(first)-1].ID, 3); !errors.Is(err, logstore.ErrBehindHorizon) {
		t.Fatalf("Read after %d below the horizon %d: %v, want ErrBehindHorizon", first[len(first)-1].ID, mid, err)
	}
	got, err := ReadAll(t.Context(), s, 0, 3)
	if err != nil {
		t.Fatalf("full replay in pages of 3 ops: %v", err)
	}
	if d := StateAt(got, last).Diff(StateAt(orig, last)); d != "" {
		t.Fatalf("full replay in pages: %s", d)
	}
	// A replay that a horizon raise overtakes must be refused.
	page, err := s.ReadReplay(t.Context(), 0, 3, mid)
	if err != nil || len(page) == 0 {
		t.Fatalf("replay from 0: %d updates, %v", len(page), err)
	}
	if _, err := s.Rewrite(t.Context(), logstore.RewriteOptions{Through: last, DeleteLimit: last}); err != nil {
		t.Fatal(err)
	}
	at := page[len(page)-1].ID
	if _, err := s.ReadReplay(t.Context(), at, 3, mid); !errors.Is(err, logstore.ErrBehindHorizon) {
		t.Errorf("replay at %d after the horizon rose from %d to %d: %v, want ErrBehindHorizon", at, mid, last, err)
	}
}
