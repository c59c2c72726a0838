package dirstore

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"golang.org/x/sync/errgroup"
)

// TestMultiProcessAppend runs two writer processes, four goroutines each,
// appending to one log at once (one of them also rewriting its history over
// and over) while this process tails it with Wait and Read. Ids must be unique, increase for each writer goroutine, match what
// each process was acknowledged, and reach the tailer in order, each once.
func TestMultiProcessAppend(t *testing.T) {
	const perWriter = 150
	dir := t.TempDir()
	s, err := Open(t.Context(), dir, logstore.Options{Name: "log", Create: true}, WithSegmentSize(32<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	var mu sync.Mutex
	acks := map[uint64]ack{}
	var g errgroup.Group
	for _, c := range []childConfig{
		{tag: "a", writers: 4, count: perWriter, segment: 32 << 10, rewrite: "keep-deletes"},
		{tag: "b", writers: 4, count: perWriter, segment: 32 << 10},
	} {
		tag := c.tag
		cmd, out := startChild(t, dir, c)
		g.Go(func() error {
			err := readAcks(out, tag, func(a ack) {
				mu.Lock()
				defer mu.Unlock()
				if old, ok := acks[a.id]; ok {
					t.Errorf("id %d acknowledged to %+v and %+v", a.id, old, a)
				}
				acks[a.id] = a
			})
			if werr := cmd.Wait(); err == nil {
				err = werr
			}
			return err
		})
	}
	total := 2 * 4 * perWriter
	var seen []uint64
	tailErr := make(chan error, 1)
	go func() {
		ids, err := tailUntil(ctx, s, total)
		seen = ids
		tailErr <- err
	}()
	if err := g.Wait(); err != nil {
		t.Fatalf("writer process: %v", err)
	}
	if err := <-tailErr; err != nil {
		t.Fatalf("tailer: %v", err)
	}
	if len(acks) != total {
		t.Fatalf("%d acknowledgements, want %d", len(acks), total)
	}
	checkMultiProcess(t, s, acks, seen)
}

// tailUntil follows the log with Wait and Read until it has seen n updates
// and returns their ids in the order read.
func tailUntil(ctx context.Context, s logstore.Store, n int) ([]uint64, error) {
	var ids []uint64
	var last uint64
	for len(ids) < n {
		if _, err := s.Wait(ctx, last); err != nil {
			return ids, err
		}
		page, err := s.Read(ctx, last, 37)
		if err != nil {
			return ids, err
		}
		for _, u := range page {
			ids = append(ids, u.ID)
			last = u.ID
		}
	}
	return ids, nil
}

// checkMultiProcess checks the log, the acknowledgements and what the
// tailer saw against each other.
func checkMultiProcess(t *testing.T, s logstore.Store, acks map[uint64]ack, seen []uint64) {
	all := checkChildLog(t, s, acks, 0)
	ids := make([]uint64, len(all))
	for i, u := range all {
		ids[i] = u.ID
	}
	if !slices.Equal(seen, ids) {
		t.Errorf("the tailer saw %d ids, the log has %d, or in another order", len(seen), len(ids))
	}
	last := map[[2]any]int{}
	for _, id := range ids {
		a := acks[id]
		k := [2]any{a.tag, a.g}
		if prev, ok := last[k]; ok && a.seq <= prev {
			t.Errorf("writer %v: seq %d at id %d after seq %d", k, a.seq, id, prev)
		}
		last[k] = a.seq
	}
	checkFiles(t, s.(*Store).Dir())
}

// TestCrossProcessWake measures how soon Wait wakes after an append by
// another process: through inotify, and by polling where inotify is not
// available.
func TestCrossProcessWake(t *testing.T) {
	tests := []struct {
		name    string
		options []Option
		within  time.Duration
	}{
		{"inotify", nil, 100 * time.Millisecond},
		{"polling", []Option{func(c *config) { c.noInotify = true }, WithPollInterval(20 * time.Millisecond)}, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(t.Context(), dir, logstore.Options{Name: "log", Create: true}, tc.options...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			cmd, out := startChild(t, dir, childConfig{tag: "w", writers: 1, count: 20, segment: 1 << 20, pace: 30 * time.Millisecond})
			acks := make(chan ack, 20)
			go func() { readAcks(out, "w", func(a ack) { acks <- a }); close(acks) }()
			var worst time.Duration
			var last uint64
			for range 20 {
				latest, err := s.Wait(t.Context(), last)
				woke := time.Now()
				if err != nil {
					t.Fatal(err)
				}
				a := <-acks
				worst = max(worst, woke.Sub(a.at))
				last = latest
			}
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			t.Logf("slowest wake-up after another process's append: %v", worst)
			if worst > tc.within {
				t.Errorf("Wait woke %v after an append by another process, want within %v", worst, tc.within)
			}
		})
	}
}
