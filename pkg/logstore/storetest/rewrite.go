package storetest

import (
	"errors"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// RunRewrite checks history rewrite against RewriteModel: sequential steps
// with heavy deletes, nodes at every position relative to the horizons, and
// a rewrite running while writers append and tailers tail.
func RunRewrite(t *testing.T, h Harness) {
	t.Run("Steps", func(t *testing.T) { testRewriteSteps(t, h) })
	t.Run("Replay", func(t *testing.T) { testReplay(t, h) })
	t.Run("All", func(t *testing.T) { testAll(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testRewriteConcurrent(t, h) })
}

// rewriteGen makes small updates over few keys, with many deletes, so that a
// rewrite has much to remove.
var rewriteGen = OpGen{Prefix: "r", Keys: 40, MaxOps: 4, MaxValue: 24, DeleteRate: 0.45}

// rewriteLog is a log under test with its model: orig is every update
// appended, cur is what the store must hold, horizon its horizon.
type rewriteLog struct {
	s       logstore.Store
	orig    []logstore.Update
	cur     []logstore.Update
	horizon uint64
}

// step is one step of testRewriteSteps: append some updates, then rewrite
// through the id of the update at index through (of every update appended so
// far) with the delete limit at index del (-1 for 0, a large index for
// beyond through).
type step struct {
	name        string
	appendN     int
	through     int
	del         int
	wantRemoved bool // the step must remove something
}

func testRewriteSteps(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	l := &rewriteLog{s: create(t, o, "log")}
	r := NewRand(t)
	steps := []step{
		{name: "first", appendN: 400, through: 299, del: 149, wantRemoved: true},
		{name: "again", through: 299, del: 149},
		{name: "lower delete limit", through: 299, del: 99},
		{name: "no deletes", appendN: 50, through: 399, del: -1, wantRemoved: true},
		{name: "second", appendN: 150, through: 549, del: 449, wantRemoved: true},
		{name: "delete limit above through", appendN: 50, through: 619, del: 1 << 20, wantRemoved: true},
		// Through stays below the last update, which therefore survives.
		{name: "nearly everything", through: 648, del: 648, wantRemoved: true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			l.orig = append(l.orig, appendRandom(t, l.s, r, rewriteGen, st.appendN)...)
			l.cur = append(l.cur, l.orig[len(l.orig)-st.appendN:]...)
			if st.name == "second" {
				testNodePositions(t, l, st)
				return
			}
			l.rewrite(t, st)
		})
	}
	if err := l.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.check(t, o)
}

// ids returns the ids for a step's limits.
func (l *rewriteLog) ids(st step) (through, del uint64) {
	through = l.orig[st.through].ID
	switch {
	case st.del < 0:
		del = 0
	case st.del >= len(l.orig):
		del = l.orig[len(l.orig)-1].ID + 1000
	default:
		del = l.orig[st.del].ID
	}
	return through, del
}

// rewrite runs one step's rewrite and checks the log against the model.
func (l *rewriteLog) rewrite(t *testing.T, st step) {
	t.Helper()
	through, del := l.ids(st)
	before := mustReadAll(t, l.s)
	want, removed, _ := RewriteModel(l.cur, through, del)
	wantHorizon := max(l.horizon, min(through, del))
	stats, err := l.s.Rewrite(t.Context(), logstore.RewriteOptions{Through: through, DeleteLimit: del, BatchSize: 5})
	if err != nil {
		t.Fatalf("Rewrite(through %d, deletes %d): %v", through, del, err)
	}
	t.Logf("Rewrite(through %d, deletes %d): %+v", through, del, stats)
	if stats.Removed != removed || stats.Examined < stats.Removed || stats.Examined > int64(CountOps(l.cur)) {
		t.Errorf("stats %+v; want Removed %d and Examined between that and %d", stats, removed, CountOps(l.cur))
	}
	if st.wantRemoved && removed == 0 {
		t.Errorf("test bug: the step removes nothing")
	}
	if stats.Horizon != wantHorizon {
		t.Errorf("stats.Horizon = %d, want %d", stats.Horizon, wantHorizon)
	}
	l.cur, l.horizon = want, wantHorizon
	l.checkLog(t, before)
}

// checkLog checks the store against the model: the updates it holds (with
// the times they had before), the horizon, reads below it, and the state of
// a full replay.
func (l *rewriteLog) checkLog(t *testing.T, before []logstore.Update) {
	t.Helper()
	ctx := t.Context()
	got := mustReadAll(t, l.s)
	if d := DiffUpdates(got, l.cur); d != "" {
		t.Fatalf("after the rewrite: %s", d)
	}
	times := map[uint64]logstore.Update{}
	for _, u := range before {
		times[u.ID] = u
	}
	for _, u := range got {
		if b, ok := times[u.ID]; !ok || !b.Time.Equal(u.Time) {
			t.Fatalf("update %d has time %v after the rewrite, %v before", u.ID, u.Time, b.Time)
		}
	}
	if hz, err := l.s.Horizon(ctx); err != nil || hz != l.horizon {
		t.Errorf("Horizon = %d, %v; want %d", hz, err, l.horizon)
	}
	last := l.orig[len(l.orig)-1].ID
	if d := StateAt(got, last).Diff(StateAt(l.orig, last)); d != "" {
		t.Errorf("full replay after the rewrite: %s", d)
	}
	for _, after := range []uint64{1, l.horizon / 2, l.horizon - 1} {
		if after == 0 || after >= l.horizon {
			continue
		}
		if _, err := l.s.Read(ctx, after, 0); !errors.Is(err, logstore.ErrBehindHorizon) {
			t.Errorf("Read after %d below the horizon %d: %v, want ErrBehindHorizon", after, l.horizon, err)
		}
	}
	if _, err := l.s.Read(ctx, l.horizon, 0); err != nil {
		t.Errorf("Read after the horizon %d: %v", l.horizon, err)
	}
}

// testNodePositions runs a rewrite while nodes sit at every kind of position
// (below the old horizon, between the old and the new horizon, between the
// new horizon and through, above through) and checks that each catches up
// to the full-replay state, bootstrapping from a snapshot at the new horizon
// when, and only when, it is behind it.
func testNodePositions(t *testing.T, l *rewriteLog, st step) {
	oldHorizon := l.horizon
	through, del := l.ids(st)
	var positions []uint64
	for _, i := range []int{0, 49, 148, 149, 150, 249, 448, 449, 450, 499, 548, 549, 550, 579, len(l.orig) - 1} {
		positions = append(positions, l.orig[i].ID)
	}
	positions = append(positions, 0, oldHorizon, through, del)
	nodes := make([]State, len(positions))
	for i, p := range positions {
		nodes[i] = StateAt(l.orig, p)
	}
	l.rewrite(t, st)
	t.Logf("horizon %d -> %d, through %d", oldHorizon, l.horizon, through)
	last := l.orig[len(l.orig)-1].ID
	want := StateAt(l.orig, last)
	for i, p := range positions {
		_, err := CatchUp(t.Context(), l.s, nodes[i], p, 1+i*7)
		behind := p != 0 && p < l.horizon
		switch {
		case behind && !errors.Is(err, logstore.ErrBehindHorizon):
			t.Errorf("node at %d, below the horizon %d: catch-up gave %v, want ErrBehindHorizon", p, l.horizon, err)
			continue
		case behind:
			nodes[i] = StateAt(l.orig, l.horizon) // bootstrap from a snapshot
			_, err = CatchUp(t.Context(), l.s, nodes[i], l.horizon, 1+i*7)
		}
		if err != nil {
			t.Errorf("node at %d (horizon %d): %v", p, l.horizon, err)
			continue
		}
		if d := nodes[i].Diff(want); d != "" {
			t.Errorf("node at %d (old horizon %d, horizon %d, through %d) ends with another state: %s", p, oldHorizon, l.horizon, through, d)
		}
	}
}
