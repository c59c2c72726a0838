package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCovers(t *testing.T) {
	tests := []struct {
		name       string
		upTo, last uint64
		need       uint64
		want       bool
	}{
		{"cut by size: final whatever is known later", 100, 50, 1000, true},
		{"empty page at the end, nothing newer", 100, 0, 100, true},
		{"empty page at the end, newer id known", 100, 0, 101, false},
		{"page to the end, newer id known", 100, 100, 101, false},
		{"page to the end, same end", 100, 100, 100, true},
		{"page past what was known", 100, 120, 120, true},
		{"page past what was known, newer still", 100, 120, 121, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &pageEntry{upTo: tc.upTo, last: tc.last}
			if got := e.covers(tc.need); got != tc.want {
				t.Errorf("covers(%d) of a page read with %d known, ending at %d = %v, want %v", tc.need, tc.upTo, tc.last, got, tc.want)
			}
		})
	}
}

func TestBehind(t *testing.T) {
	tests := []struct {
		after, horizon uint64
		replay         bool
		began          uint64
		want           bool
	}{
		{0, 50, false, 0, false},
		{10, 50, false, 0, true},
		{50, 50, false, 0, false},
		{10, 50, true, 50, false},
		{10, 50, true, 40, true},
		{60, 50, true, 40, false},
	}
	for _, tc := range tests {
		if got := behind(tc.after, tc.horizon, tc.replay, tc.began); got != tc.want {
			t.Errorf("behind(after %d, horizon %d, replay %v began %d) = %v, want %v", tc.after, tc.horizon, tc.replay, tc.began, got, tc.want)
		}
	}
}

// loader returns a load function that counts its calls and returns a page
// of n bytes ending at last.
func loader(calls *atomic.Int64, n int, last uint64) loadFunc {
	return func(context.Context) ([]byte, uint64, error) {
		calls.Add(1)
		return make([]byte, n), last, nil
	}
}

// TestCacheEviction fills a cache past its size: the least recently used
// pages go first, a page read again stays, an oversized page is not kept.
func TestCacheEviction(t *testing.T) {
	const page = 1000
	c := newPageCache(4 * (page + entryOverhead))
	ctx := t.Context()
	var calls atomic.Int64
	get := func(after uint64, size int) {
		t.Helper()
		// Pages cut by size (last < upTo): final.
		if _, err := c.get(ctx, ctx, pageKey{after: after}, 1000, loader(&calls, size, after+1)); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name      string
		after     uint64
		size      int
		wantLoads int64
		wantKept  []uint64
	}{
		{"first", 1, page, 1, []uint64{1}},
		{"again: a hit", 1, page, 1, []uint64{1}},
		{"fill", 2, page, 2, []uint64{1, 2}},
		{"fill", 3, page, 3, []uint64{1, 2, 3}},
		{"fill", 4, page, 4, []uint64{1, 2, 3, 4}},
		{"touch 1", 1, page, 4, []uint64{1, 2, 3, 4}},
		{"over: 2 is the least recent", 5, page, 5, []uint64{1, 3, 4, 5}},
		{"oversized: shared, not kept", 6, 2 * page, 6, []uint64{1, 3, 4, 5}},
		{"oversized again: read again", 6, 2 * page, 7, []uint64{1, 3, 4, 5}},
		{"2 again: read again, 3 goes", 2, page, 8, []uint64{1, 2, 4, 5}},
	}
	for i, st := range steps {
		get(st.after, st.size)
		if calls.Load() != st.wantLoads {
			t.Fatalf("step %d (%s): %d loads, want %d", i, st.name, calls.Load(), st.wantLoads)
		}
		var kept []uint64
		for a := uint64(1); a <= 6; a++ {
			if e := c.m[pageKey{after: a}]; e != nil {
				kept = append(kept, a)
			}
		}
		if fmt.Sprint(kept) != fmt.Sprint(st.wantKept) {
			t.Fatalf("step %d (%s): kept %v, want %v", i, st.name, kept, st.wantKept)
		}
		if c.used > c.max {
			t.Fatalf("step %d: %d bytes used, over %d", i, c.used, c.max)
		}
	}
}

// TestCacheFreshness checks that a kept page at the end of the log answers
// only readers that know no more than it did, and that errors are not kept.
func TestCacheFreshness(t *testing.T) {
	c := newPageCache(1 << 20)
	ctx := t.Context()
	var calls atomic.Int64
	key := pageKey{after: 10}
	steps := []struct {
		need      uint64
		last      uint64
		wantLoads int64
	}{
		{20, 20, 1}, // read to the end
		{20, 20, 1}, // same end: kept
		{21, 21, 2}, // the log moved on: read again
		{15, 21, 2}, // a reader knowing less: kept
	}
	for i, st := range steps {
		if _, err := c.get(ctx, ctx, key, st.need, loader(&calls, 10, st.last)); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != st.wantLoads {
			t.Fatalf("step %d: %d loads, want %d", i, calls.Load(), st.wantLoads)
		}
	}
	boom := errors.New("boom")
	fail := func(context.Context) ([]byte, uint64, error) { calls.Add(1); return nil, 0, boom }
	for range 2 {
		if _, err := c.get(ctx, ctx, pageKey{after: 99}, 1, fail); !errors.Is(err, boom) {
			t.Fatalf("get = %v, want the load's error", err)
		}
	}
	if calls.Load() != 4 {
		t.Errorf("a failed read was kept: %d loads, want 4", calls.Load())
	}
	c.clear()
	if _, err := c.get(ctx, ctx, key, 15, loader(&calls, 10, 21)); err != nil || calls.Load() != 5 {
		t.Errorf("after clear: %v, %d loads, want 5", err, calls.Load())
	}
}

// TestCacheShared starts many readers of one page at once: one load.
func TestCacheShared(t *testing.T) {
	c := newPageCache(1 << 20)
	ctx := t.Context()
	release := make(chan struct{})
	var calls atomic.Int64
	slow := func(context.Context) ([]byte, uint64, error) {
		calls.Add(1)
		<-release
		return []byte("page"), 5, nil
	}
	const readers = 50
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Go(func() {
			b, err := c.get(ctx, ctx, pageKey{after: 1}, 5, slow)
			if err == nil && string(b) != "page" {
				err = fmt.Errorf("got %q", b)
			}
			errs <- err
		})
	}
	// Release the load once every reader has joined it.
	for {
		st, _ := c.snapshot()
		if st.Loads+st.Shared == readers {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		sleep(ctx, 1e6)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d readers at once made %d loads, want 1", readers, calls.Load())
	}
}
