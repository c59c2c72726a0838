package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"golang.org/x/sync/errgroup"
)

// ScaleEnv names the environment variable that scales the ordering and
// concurrent tests: a factor such as 0.1 or 2. Without it, the tests run at
// full size, or at a tenth under testing.Short().
const ScaleEnv = "WHYCACHE_ORDERING_SCALE"

// Scale returns the factor for the larger tests' sizes.
func Scale(t testing.TB) float64 {
	if v := os.Getenv(ScaleEnv); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			t.Fatalf("$%s=%q: want a positive number", ScaleEnv, v)
		}
		return f
	}
	if testing.Short() {
		return 0.1
	}
	return 1
}

// scaled returns n times the scale, at least 1.
func scaled(t testing.TB, n int) int { return max(1, int(float64(n)*Scale(t))) }

// orderingConfig sizes the ordering test.
type orderingConfig struct {
	Writers, UpdatesPerWriter, Tailers int
}

// RunOrdering is the core proof of the ordering guarantee: 16 writers append
// 10,000 updates each through separate handles, with random sizes and random
// tiny sleeps inside the append transaction (through Harness.InAppend),
// while 3 tailers follow the log with Wait and Read. Each tailer must see
// every id exactly once, in increasing order, with no gap against the final
// log, and end with the final state; the acknowledged ids must be exactly
// the ids in the log, each with the operations its writer appended.
func RunOrdering(t *testing.T, h Harness) {
	cfg := orderingConfig{Writers: 16, UpdatesPerWriter: scaled(t, 10_000), Tailers: 3}
	testOrdering(t, h, cfg)
}

// acked is an update a writer got acknowledged.
type acked = logstore.Update

func testOrdering(t *testing.T, h Harness, cfg orderingConfig) {
	o := h.NewNamespace(t)
	create(t, o, "log") // the log exists before any handle races to open it
	gen := OpGen{Prefix: "k", Keys: 2000, MaxOps: 8, MaxValue: 64, DeleteRate: 0.2}
	seed := NewRand(t).Uint64()
	start := time.Now()
	var target atomic.Uint64 // the last acknowledged id, once writers are done
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()

	tailers := make([]*tailer, cfg.Tailers)
	var tg errgroup.Group
	for i := range tailers {
		tailers[i] = &tailer{s: open(t, o, logstore.Options{Name: "log"}), r: rand.New(rand.NewPCG(seed, uint64(1000+i))), state: State{}}
		tg.Go(func() error { return tailers[i].run(ctx, &target) })
	}
	results := make([][]acked, cfg.Writers)
	var wg errgroup.Group
	for w := range cfg.Writers {
		s := open(t, o, logstore.Options{Name: "log"})
		r := rand.New(rand.NewPCG(seed, uint64(w)))
		if h.InAppend != nil {
			h.InAppend(s, tinySleeps(seed, w))
		}
		wg.Go(func() error {
			var err error
			results[w], err = writeUpdates(ctx, s, r, gen, cfg.UpdatesPerWriter)
			return err
		})
	}
	if err := wg.Wait(); err != nil {
		cancel()
		t.Fatalf("writer: %v", err)
	}
	written := time.Since(start)
	all := mergeAcked(t, results)
	target.Store(all[len(all)-1].ID)
	if err := tg.Wait(); err != nil {
		t.Fatalf("tailer: %v", err)
	}
	n := len(all)
	t.Logf("%s: %d writers appended %d updates in %v (%.0f updates/s); tailers done after %v",
		h.Name, cfg.Writers, n, written.Round(time.Millisecond), float64(n)/written.Seconds(), time.Since(start).Round(time.Millisecond))
	checkOrdering(t, o, all, tailers)
	h.check(t, o)
}

// tinySleeps returns an InAppend hook that now and then sleeps a few
// microseconds, and otherwise yields.
func tinySleeps(seed uint64, w int) func() {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, uint64(500+w)))
	return func() {
		mu.Lock()
		d := time.Duration(0)
		if r.IntN(32) == 0 {
			d = time.Duration(r.IntN(100)) * time.Microsecond
		}
		mu.Unlock()
		if d > 0 {
			time.Sleep(d)
		}
	}
}

// writeUpdates appends n random updates through s and returns them with
// their acknowledged ids.
func writeUpdates(ctx context.Context, s logstore.Store, r *rand.Rand, gen OpGen, n int) ([]acked, error) {
	out := make([]acked, 0, n)
	for range n {
		ops := gen.Ops(r)
		id, err := s.Append(ctx, ops)
		if err != nil {
			return out, fmt.Errorf("append: %w", err)
		}
		if len(out) > 0 && id <= out[len(out)-1].ID {
			return out, fmt.Errorf("append returned id %d after %d from the same writer", id, out[len(out)-1].ID)
		}
		out = append(out, acked{ID: id, Ops: ops})
	}
	return out, nil
}

// mergeAcked puts the writers' acknowledged updates in id order and fails
// when two writers were given the same id.
func mergeAcked(t *testing.T, results [][]acked) []acked {
	var all []acked
	for _, r := range results {
		all = append(all, r...)
	}
	slices.SortFunc(all, func(a, b acked) int { return cmpID(a.ID, b.ID) })
	for i := 1; i < len(all); i++ {
		if all[i].ID == all[i-1].ID {
			t.Fatalf("id %d was acknowledged to two writers", all[i].ID)
		}
	}
	return all
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// tailer follows a log with Wait and Read and records what it saw.
type tailer struct {
	s     logstore.Store
	r     *rand.Rand
	ids   []uint64
	state State
	last  uint64
	// bootstrap, when set, returns a snapshot's state at a horizon, for a
	// tailer that may fall behind it; bootstraps counts its uses.
	bootstrap  func(horizon uint64) State
	bootstraps int
	// replay, when set, makes the tailer a full replay through
	// Store.ReadReplay that began under the horizon began, and starts
	// over from 0 when a rewrite raises the horizon.
	replay bool
	began  uint64
}

// run tails until it has read the target id, once the target is set.
func (tl *tailer) run(ctx context.Context, target *atomic.Uint64) error {
	for {
		if t := target.Load(); t != 0 && tl.last >= t {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err := tl.s.Wait(wctx, tl.last)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				continue
			}
			return fmt.Errorf("wait after %d: %w", tl.last, err)
		}
		if err := tl.readSome(ctx); err != nil {
			return err
		}
	}
}

// readSome reads one or a few pages after the tailer's position.
func (tl *tailer) readSome(ctx context.Context) error {
	for range 1 + tl.r.IntN(3) {
		page, err := tl.read(ctx, 1+tl.r.IntN(300))
		if err != nil {
			return tl.bootstrapIfBehind(ctx, fmt.Errorf("read after %d: %w", tl.last, err))
		}
		if len(page) == 0 {
			return nil
		}
		for _, u := range page {
			if u.ID <= tl.last {
				return fmt.Errorf("tailer read id %d after %d", u.ID, tl.last)
			}
			tl.ids = append(tl.ids, u.ID)
			tl.state.Apply(u)
			tl.last = u.ID
		}
	}
	return nil
}

// read reads one page after the tailer's position.
func (tl *tailer) read(ctx context.Context, maxOps int) ([]logstore.Update, error) {
	if tl.replay {
		return tl.s.ReadReplay(ctx, tl.last, maxOps, tl.began)
	}
	return tl.s.Read(ctx, tl.last, maxOps)
}

// checkOrdering compares the acknowledged updates, a full read through a
// fresh handle and what each tailer saw.
func checkOrdering(t *testing.T, o Opener, all []acked, tailers []*tailer) {
	s := open(t, o, logstore.Options{Name: "log"})
	full := mustReadAll(t, s)
	if d := DiffUpdates(full, all); d != "" {
		t.Errorf("the log differs from the acknowledged updates: %s", d)
	}
	if latest, err := s.Latest(t.Context()); err != nil || latest != all[len(all)-1].ID {
		t.Errorf("Latest = %d, %v; want %d", latest, err, all[len(all)-1].ID)
	}
	want := StateAt(all, all[len(all)-1].ID)
	if d := StateAt(full, 1<<63).Diff(want); d != "" {
		t.Errorf("full replay state: %s", d)
	}
	fullIDs := make([]uint64, len(full))
	for i, u := range full {
		fullIDs[i] = u.ID
	}
	for i, tl := range tailers {
		if d := diffIDs(tl.ids, fullIDs); d != "" {
			t.Errorf("tailer %d: %s", i, d)
		}
		if d := tl.state.Diff(want); d != "" {
			t.Errorf("tailer %d state: %s", i, d)
		}
	}
}

// diffIDs describes the first difference between the ids a tailer saw and
// the ids of the log.
func diffIDs(got, want []uint64) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("saw id %d at position %d where the log has %d (a skipped or repeated id)", got[i], i, want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("saw %d ids, the log has %d", len(got), len(want))
	}
	return ""
}
