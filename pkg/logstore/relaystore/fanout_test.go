package relaystore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/relay"
)

// countingStore counts the calls a relay makes to its store.
type countingStore struct {
	logstore.Store
	reads, waits *atomic.Int64
}

func (s countingStore) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	s.reads.Add(1)
	return s.Store.Read(ctx, after, maxOps)
}

func (s countingStore) ReadReplay(ctx context.Context, after uint64, maxOps int, horizon uint64) ([]logstore.Update, error) {
	s.reads.Add(1)
	return s.Store.ReadReplay(ctx, after, maxOps, horizon)
}

func (s countingStore) Wait(ctx context.Context, after uint64) (uint64, error) {
	s.waits.Add(1)
	return s.Store.Wait(ctx, after)
}

// counting wraps a backing so that its stores count their calls.
func counting(b backing, reads, waits *atomic.Int64) backing {
	return func(ctx context.Context, name string, create bool) (logstore.Store, error) {
		s, err := b(ctx, name, create)
		if err != nil {
			return nil, err
		}
		return countingStore{Store: s, reads: reads, waits: waits}, nil
	}
}

// TestSharedCatchUp has many clients catch up from the same point at once,
// in the same pages: through the page cache, the relay reads each page
// from the store once; from the newest updates it holds in memory, not at
// all.
func TestSharedCatchUp(t *testing.T) {
	const updates, pageOps, clients = 100, 10, 20
	tests := []struct {
		name        string
		recentBytes int64
		wantReads   int64
	}{
		// Ten full pages and the empty one at the end.
		{"page cache", -1, updates/pageOps + 1},
		{"newest updates", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var reads, waits atomic.Int64
			r := startRelay(t, counting(dirBacking(t), &reads, &waits), relay.Config{RecentBytes: tc.recentBytes})
			url := relayURL(r)
			w := openAt(t, url, 0, logstore.Options{Name: "log", Create: true})
			for i := range updates {
				if _, err := w.Append(t.Context(), []logstore.Op{logstore.Set(fmt.Appendf(nil, "k%d", i), []byte("v"))}); err != nil {
					t.Fatal(err)
				}
			}
			// The relay holds the newest updates once it has read them:
			// until then a read of the last one goes to the store.
			for tc.recentBytes >= 0 {
				hits := r.srv.Stats().RecentHits
				if _, err := w.Read(t.Context(), updates-1, 0); err != nil {
					t.Fatal(err)
				}
				if r.srv.Stats().RecentHits > hits || sleepCtx(t.Context(), 5*time.Millisecond) != nil {
					break
				}
			}
			before := reads.Load()
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for range clients {
				c := openAt(t, url, 0, logstore.Options{Name: "log"})
				wg.Go(func() {
					var after uint64
					n := 0
					for {
						page, err := c.Read(t.Context(), after, pageOps)
						if err != nil {
							errs <- err
							return
						}
						if len(page) == 0 {
							break
						}
						n += len(page)
						after = page[len(page)-1].ID
					}
					if n != updates {
						errs <- fmt.Errorf("read %d updates, want %d", n, updates)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if got := reads.Load() - before; got != tc.wantReads {
				t.Errorf("%d clients catching up in pages of %d made %d store reads, want %d", clients, pageOps, got, tc.wantReads)
			}
			st := r.srv.Stats()
			t.Logf("store reads %d; cache hits %d, shared reads %d, from the newest updates %d", reads.Load()-before, st.PageHits, st.PageShared, st.RecentHits)
		})
	}
}

// TestManyWaiters holds a thousand waits on one relay, as a thousand agents
// would, and wakes them all with one append: the relay holds them with
// its HTTP handlers alone, and its store sees its one tail loop, not a wait
// per client. With long polls every wait is a call the relay holds; with
// streams, a handle's waits share its one stream.
func TestManyWaiters(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		handles   int
		perHandle int
		held      int // waits (calls) the relay holds
	}{
		// 20 connections (handles) of 50 long polls each: an agent holds
		// one wait per connection, but the relay bounds streams per
		// connection, not waits.
		{"long polls", "?stream=false", 20, 50, 1000},
		{"streams", "", 200, 5, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var reads, waits atomic.Int64
			r := startRelay(t, counting(dirBacking(t), &reads, &waits), relay.Config{})
			url := relayURL(r) + tc.query
			w := openAt(t, url, 0, logstore.Options{Name: "log", Create: true})
			first, err := w.Append(t.Context(), []logstore.Op{logstore.Set([]byte("a"), []byte("1"))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			results := make(chan error, tc.handles*tc.perHandle)
			for range tc.handles {
				c := openAt(t, url, 0, logstore.Options{Name: "log"})
				for range tc.perHandle {
					go func() {
						id, err := c.Wait(ctx, first)
						if err == nil && id <= first {
							err = fmt.Errorf("wait after %d returned %d", first, id)
						}
						results <- err
					}()
				}
			}
			for r.srv.Stats().Waiters < int64(tc.held) {
				if sleepCtx(ctx, 5*time.Millisecond) != nil {
					t.Fatalf("only %d of %d waits held", r.srv.Stats().Waiters, tc.held)
				}
			}
			waitsBefore := waits.Load()
			if _, err := w.Append(ctx, []logstore.Op{logstore.Set([]byte("a"), []byte("2"))}); err != nil {
				t.Fatal(err)
			}
			for range tc.handles * tc.perHandle {
				if err := <-results; err != nil {
					t.Fatal(err)
				}
			}
			if d := waits.Load() - waitsBefore; d > 2 {
				t.Errorf("the store saw %d waits while %d clients waited, want the tail loop's one or two", d, tc.handles*tc.perHandle)
			}
			if n := r.srv.Stats().Waiters; n > int64(tc.held) {
				t.Errorf("the relay holds %d waits, more than the %d asked", n, tc.held)
			}
		})
	}
}

// sleepCtx pauses for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// slowStore holds each read for a moment and records how many run at once.
type slowStore struct {
	logstore.Store
	now, peak *atomic.Int64
}

func (s slowStore) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	time.Sleep(20 * time.Millisecond) // widens the window in which reads overlap
	return s.Store.Read(ctx, after, maxOps)
}

// TestStoreReadsBounded reads many different pages at once through a relay
// that allows two store reads at a time: no more run at once.
func TestStoreReadsBounded(t *testing.T) {
	var now, peak atomic.Int64
	b := dirBacking(t)
	slow := func(ctx context.Context, name string, create bool) (logstore.Store, error) {
		s, err := b(ctx, name, create)
		if err != nil {
			return nil, err
		}
		return slowStore{Store: s, now: &now, peak: &peak}, nil
	}
	r := startRelay(t, slow, relay.Config{MaxStoreReads: 2})
	w := openAt(t, relayURL(r), 0, logstore.Options{Name: "log", Create: true})
	const readers = 20
	for i := range readers {
		if _, err := w.Append(t.Context(), []logstore.Op{logstore.Set(fmt.Appendf(nil, "k%d", i), nil)}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			if _, err := w.Read(t.Context(), uint64(i), 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p < 1 || p > 2 {
		t.Errorf("%d store reads ran at once, want 1 or 2", p)
	}
}
