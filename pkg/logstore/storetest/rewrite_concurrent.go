package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"golang.org/x/sync/errgroup"
)

// testRewriteConcurrent runs a rewrite with a small batch size while writers
// append and tailers tail, and a replayer starts from 0 in the middle of it.
// Tailers above the horizon and the replayer (bootstrapping when the rewrite
// overtakes it) must end with the state of a full replay, and the log must
// match the model.
func testRewriteConcurrent(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	s := create(t, o, "log")
	r := NewRand(t)
	seed := r.Uint64()
	gen := OpGen{Prefix: "c", Keys: 300, MaxOps: 6, MaxValue: 32, DeleteRate: 0.4}
	orig := appendRandom(t, s, r, gen, scaled(t, 4000))
	through, del := orig[len(orig)-1].ID, orig[len(orig)/2].ID
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	tailers := make([]*tailer, 2)
	for i := range tailers {
		tailers[i] = &tailer{s: open(t, o, logstore.Options{Name: "log"}), r: rand.New(rand.NewPCG(seed, uint64(i))), state: State{}}
		for tailers[i].last < through {
			if err := tailers[i].readSome(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	replayer := &tailer{s: open(t, o, logstore.Options{Name: "log"}), r: rand.New(rand.NewPCG(seed, 99)), state: State{},
		bootstrap: func(h uint64) State { return StateAt(orig, h) }}
	tailers = append(tailers, replayer)
	tailers = append(tailers, &tailer{s: open(t, o, logstore.Options{Name: "log"}), r: rand.New(rand.NewPCG(seed, 98)), state: State{}, replay: true})

	var target atomic.Uint64
	var tg errgroup.Group
	for _, tl := range tailers {
		tg.Go(func() error { return tl.run(ctx, &target) })
	}
	var wg errgroup.Group
	var stats logstore.RewriteStats
	rw := open(t, o, logstore.Options{Name: "log"})
	wg.Go(func() (err error) {
		stats, err = rw.Rewrite(ctx, logstore.RewriteOptions{Through: through, DeleteLimit: del, BatchSize: 7})
		return err
	})
	results := make([][]acked, 4)
	for w := range results {
		ws := open(t, o, logstore.Options{Name: "log"})
		if h.InAppend != nil {
			h.InAppend(ws, tinySleeps(seed, w))
		}
		wr := rand.New(rand.NewPCG(seed, uint64(100+w)))
		wg.Go(func() (err error) {
			results[w], err = writeUpdates(ctx, ws, wr, gen, scaled(t, 500))
			return err
		})
	}
	if err := wg.Wait(); err != nil {
		cancel()
		t.Fatal(err)
	}
	all := append(orig, mergeAcked(t, results)...)
	target.Store(all[len(all)-1].ID)
	if err := tg.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: concurrent rewrite: %+v; the replayer bootstrapped %d times, the ReadReplay one (if any) restarted %d times",
		h.Name, stats, replayer.bootstraps, tailers[len(tailers)-1].bootstraps)
	checkConcurrentRewrite(t, s, all, tailers, stats, through, del)
	h.check(t, o)
}

// checkConcurrentRewrite checks the log and every tailer's state after a
// concurrent rewrite.
func checkConcurrentRewrite(t *testing.T, s logstore.Store, all []logstore.Update, tailers []*tailer, stats logstore.RewriteStats, through, del uint64) {
	want, removed, _ := RewriteModel(all, through, del)
	if stats.Removed != removed {
		t.Errorf("rewrite removed %d ops, want %d", stats.Removed, removed)
	}
	if stats.Horizon != min(through, del) {
		t.Errorf("horizon %d, want %d", stats.Horizon, min(through, del))
	}
	got := mustReadAll(t, s)
	if d := DiffUpdates(got, want); d != "" {
		t.Errorf("the log after the rewrite: %s", d)
	}
	final := StateAt(all, all[len(all)-1].ID)
	if d := StateAt(got, 1<<63).Diff(final); d != "" {
		t.Errorf("full replay: %s", d)
	}
	for i, tl := range tailers {
		if d := tl.state.Diff(final); d != "" {
			t.Errorf("tailer %d: %s", i, d)
		}
	}
}

// bootstrapIfBehind handles a read refused below the horizon when the tailer
// can bootstrap: it restarts from a snapshot at the current horizon.
func (tl *tailer) bootstrapIfBehind(ctx context.Context, err error) error {
	if (tl.bootstrap == nil && !tl.replay) || !errors.Is(err, logstore.ErrBehindHorizon) {
		return err
	}
	h, herr := tl.s.Horizon(ctx)
	if herr != nil {
		return fmt.Errorf("horizon: %w", herr)
	}
	if tl.replay { // start the replay over under the new horizon
		tl.state, tl.last, tl.ids, tl.began = State{}, 0, nil, h
		tl.bootstraps++
		return nil
	}
	if h <= tl.last {
		return fmt.Errorf("read after %d refused below the horizon, which is %d: %w", tl.last, h, err)
	}
	tl.state, tl.last, tl.ids = tl.bootstrap(h), h, nil
	tl.bootstraps++
	return nil
}
