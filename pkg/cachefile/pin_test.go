package cachefile

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestPin(t *testing.T) {
	h := newHarness(t, smallOpts())
	h.mustApply(set("a", "1"))
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := r.Pin()
	if err != nil {
		t.Fatal(err)
	}
	check := func(p *Pin, key, want string) {
		t.Helper()
		var got string
		err := p.View([]byte(key), func(v []byte) { got = string(v) })
		if want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("View(%s) = %q, %v; want ErrNotFound", key, got, err)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("View(%s) = %q, %v; want %q", key, got, err, want)
		}
		if v, err := p.Get([]byte(key)); err != nil || string(v) != want {
			t.Fatalf("Get(%s) = %q, %v; want %q", key, v, err, want)
		}
	}
	check(p, "a", "1")
	// Batches applied in place are visible through the Pin.
	h.mustApply(set("b", "2"))
	check(p, "b", "2")
	if p.UpdateID() != 2 {
		t.Fatalf("UpdateID = %d, want 2", p.UpdateID())
	}
	// A new generation: the Pin keeps reading the old one, still mapped.
	if err := h.w.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mustApply(set("c", "3"))
	check(p, "a", "1")
	check(p, "c", "")
	old := p.g
	p.Release()
	p.Release() // idempotent
	if !old.refs.retired.Load() {
		// The Reader has not moved yet; it does on its next lookup.
		if v, err := r.Get([]byte("c")); err != nil || string(v) != "3" {
			t.Fatalf("Reader.Get(c) = %q, %v", v, err)
		}
	}
	if !old.refs.freed.Load() {
		t.Fatal("the replaced generation is still mapped after its last Pin was released")
	}
	if err := p.View([]byte("a"), func([]byte) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("View after Release = %v, want ErrClosed", err)
	}
	if _, err := p.Get([]byte("a")); !errors.Is(err, ErrClosed) || p.UpdateID() != 0 {
		t.Fatalf("Get after Release = %v, UpdateID %d", err, p.UpdateID())
	}
	p2, err := r.Pin()
	if err != nil {
		t.Fatal(err)
	}
	check(p2, "c", "3")
	p2.Release()
	r.Close()
	if _, err := r.Pin(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Pin after Close = %v, want ErrClosed", err)
	}
}

// TestPinsAcrossGenerations keeps goroutines taking pins and reading through
// them while the writer writes new generations: every read sees a whole
// value, and no generation is unmapped under a pin (the race detector and
// the fault handler watch).
func TestPinsAcrossGenerations(t *testing.T) {
	h := newHarness(t, smallOpts())
	value := func(i int) string { return string([]byte{byte(i), byte(i), byte(i), byte(i)}) }
	h.mustApply(set("k", value(1)))
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				p, err := r.Pin()
				if err != nil {
					t.Error(err)
					return
				}
				for range 100 {
					err := p.View([]byte("k"), func(v []byte) {
						if len(v) != 4 || v[0] != v[1] || v[1] != v[2] || v[2] != v[3] {
							t.Errorf("torn value %v", v)
						}
					})
					if err != nil {
						t.Error(err)
					}
				}
				p.Release()
			}
		})
	}
	for i := 2; i < 60; i++ {
		h.mustApply(set("k", value(i)))
		if i%5 == 0 {
			if err := h.w.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}
