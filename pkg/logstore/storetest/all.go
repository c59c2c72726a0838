package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// testAll checks logstore.All, the reader of the whole log, on a store with
// a rewritten history: a replay from 0 passes a horizon above its first
// page, a bound and following work, a horizon that rises under the
// iteration stops it only when it must.
func testAll(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	s := create(t, o, "log")
	r := NewRand(t)
	orig := appendRandom(t, s, r, rewriteGen, 300)
	mid, last := orig[149].ID, orig[len(orig)-1].ID
	if _, err := s.Rewrite(t.Context(), logstore.RewriteOptions{Through: mid, DeleteLimit: mid}); err != nil {
		t.Fatal(err)
	}
	pageOps := logstore.AllOptions{PageOps: 3}

	t.Run("ReplayAboveFirstPage", func(t *testing.T) {
		got, err := collect(t.Context(), s, pageOps, nil)
		if err != nil {
			t.Fatalf("All from 0 in pages of 3 ops, horizon %d: %v", mid, err)
		}
		if d := StateAt(got, last).Diff(StateAt(orig, last)); d != "" {
			t.Fatalf("All from 0: %s", d)
		}
	})
	t.Run("Through", func(t *testing.T) {
		through := orig[220].ID
		got, err := collect(t.Context(), s, logstore.AllOptions{Through: through, PageOps: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(got); n == 0 || got[n-1].ID != through {
			t.Fatalf("All through %d ended at %v", through, got[max(n-1, 0):])
		}
		if d := StateAt(got, last).Diff(StateAt(orig, through)); d != "" {
			t.Fatalf("All through %d: %s", through, d)
		}
	})
	t.Run("AfterBelowHorizon", func(t *testing.T) {
		_, err := collect(t.Context(), s, logstore.AllOptions{After: orig[10].ID}, nil)
		if !errors.Is(err, logstore.ErrBehindHorizon) {
			t.Fatalf("All after %d below the horizon %d: %v, want ErrBehindHorizon", orig[10].ID, mid, err)
		}
	})
	t.Run("Follow", func(t *testing.T) { testAllFollow(t, s, last) })
	// Last: it raises the horizon of this log.
	t.Run("HorizonRisesAbovePosition", func(t *testing.T) {
		raised := false
		_, err := collect(t.Context(), s, pageOps, func([]logstore.Update) {
			if !raised {
				raised = true
				if _, err := s.Rewrite(t.Context(), logstore.RewriteOptions{Through: last, DeleteLimit: last}); err != nil {
					t.Fatal(err)
				}
			}
		})
		if !errors.Is(err, logstore.ErrBehindHorizon) {
			t.Fatalf("All while the horizon rose to %d: %v, want ErrBehindHorizon", last, err)
		}
		got, err := collect(t.Context(), s, pageOps, nil)
		if err != nil {
			t.Fatalf("All again from 0: %v", err)
		}
		if d := StateAt(got, last).Diff(StateAt(orig, last)); d != "" {
			t.Fatalf("All again from 0: %s", d)
		}
	})
	t.Run("HorizonRisesBelowPosition", func(t *testing.T) { testAllHorizonBelow(t, h) })
}

// testAllHorizonBelow raises the horizon while a replay runs, to a point the
// replay has passed: the replay goes on and ends with the right state.
func testAllHorizonBelow(t *testing.T, h Harness) {
	s := create(t, h.NewNamespace(t), "log")
	orig := appendRandom(t, s, NewRand(t), rewriteGen, 200)
	last := orig[len(orig)-1].ID
	raised := false
	got, err := collect(t.Context(), s, logstore.AllOptions{PageOps: 3}, func(got []logstore.Update) {
		if !raised && got[len(got)-1].ID >= orig[100].ID {
			raised = true
			if _, err := s.Rewrite(t.Context(), logstore.RewriteOptions{Through: last, DeleteLimit: orig[50].ID}); err != nil {
				t.Fatal(err)
			}
		}
	})
	if err != nil {
		t.Fatalf("All while the horizon rose behind it: %v", err)
	}
	if !raised {
		t.Fatal("the replay never reached the rewrite point")
	}
	if d := StateAt(got, last).Diff(StateAt(orig, last)); d != "" {
		t.Fatalf("All while the horizon rose behind it: %s", d)
	}
}

// testAllFollow follows the log from its end while another goroutine
// appends, then ends by its context; and stops at a bound by itself.
func testAllFollow(t *testing.T, s logstore.Store, last uint64) {
	ops := []logstore.Op{logstore.Set([]byte("follow"), []byte("x"))}
	appended := make(chan error, 1)
	go func() {
		for range 3 {
			if _, err := s.Append(context.WithoutCancel(t.Context()), ops); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Only the context ends a follow without a bound.
	got, err := collect(ctx, s, logstore.AllOptions{After: last, Follow: true}, func(got []logstore.Update) {
		if len(got) == 3 {
			cancel()
		}
	})
	if aerr := <-appended; aerr != nil {
		t.Fatal(aerr)
	}
	if !errors.Is(err, context.Canceled) || len(got) != 3 {
		t.Fatalf("follow: %d updates, %v; want 3 and context.Canceled", len(got), err)
	}
	// With a bound at an update already there, following stops there.
	got2, err := collect(t.Context(), s, logstore.AllOptions{After: last, Through: got[1].ID, Follow: true}, nil)
	if err != nil || len(got2) != 2 || got2[1].ID != got[1].ID {
		t.Fatalf("follow through %d: %d updates, %v", got[1].ID, len(got2), err)
	}
	// A bound at or below the start ends it before it waits.
	if got3, err := collect(t.Context(), s, logstore.AllOptions{After: got[2].ID, Through: got[1].ID, Follow: true}, nil); err != nil || len(got3) != 0 {
		t.Fatalf("follow after %d through %d: %d updates, %v", got[2].ID, got[1].ID, len(got3), err)
	}
}

// collect runs logstore.All, calling each (when set) with the updates so far
// after every update, and returns the updates and the error it yielded.
func collect(ctx context.Context, s logstore.Store, opts logstore.AllOptions, each func(got []logstore.Update)) ([]logstore.Update, error) {
	var got []logstore.Update
	for u, err := range logstore.All(ctx, s, opts) {
		if err != nil {
			return got, err
		}
		if n := len(got); n > 0 && u.ID <= got[n-1].ID {
			return got, errors.New("ids not increasing")
		}
		got = append(got, u)
		if each != nil {
			each(got)
		}
	}
	return got, nil
}
