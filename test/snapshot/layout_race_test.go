package snapshot_test

import (
	"sync"
	"testing"

	"github.com/go-logr/logr/testr"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/snapshot/maker"
)

// TestRacingSnapshotRuns: several snapshot runs at once, with writes going
// on, all succeed, every snapshot they leave checks out, and the pointer
// names the highest update id any of them reached.
func TestRacingSnapshotRuns(t *testing.T) {
	store := openStore(t, t.TempDir()+"/log")
	layout, _ := s3Layout(t)
	write(t, store, 0, 200)
	snap(t, store, layout)
	var wg sync.WaitGroup
	results := make([]agentapi.SnapshotResult, 3)
	errs := make([]error, 3)
	for i := range results {
		write(t, store, 200+i*20, 20)
		wg.Go(func() {
			results[i], errs[i] = maker.Create(t.Context(), maker.Options{Layout: layout, Store: store, TempDir: t.TempDir(),
				Cache: cachefile.Options{NoSync: true}, Log: testr.New(t).WithName("maker")})
		})
	}
	wg.Wait()
	var highest uint64
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		highest = max(highest, results[i].UpdateID)
	}
	m, err := layout.Latest(t.Context(), store.ID())
	if err != nil || m.UpdateID != highest {
		t.Fatalf("latest after the race: %d (%v), want %d", m.UpdateID, err, highest)
	}
	all, err := layout.List(t.Context(), store.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if err := layout.Check(t.Context(), m); err != nil {
			t.Errorf("after the race: %v", err)
		}
	}
}

// TestRetention: with Keep 2, only the two newest snapshots remain after
// each run, plus a pinned one.
func TestRetention(t *testing.T) {
	store := openStore(t, t.TempDir()+"/log")
	layout, _ := s3Layout(t)
	var ids []uint64
	for i := range 5 {
		write(t, store, i*30, 30)
		var pinned []uint64
		if len(ids) > 0 {
			pinned = ids[:1]
		}
		res, err := maker.Create(t.Context(), maker.Options{Layout: layout, Store: store, TempDir: t.TempDir(), Keep: 2,
			Pinned: pinned, Cache: cachefile.Options{NoSync: true}, Log: testr.New(t).WithName("maker")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.UpdateID)
	}
	all, err := layout.List(t.Context(), store.ID())
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, m := range all {
		got = append(got, m.UpdateID)
		if err := layout.Check(t.Context(), m); err != nil {
			t.Errorf("kept: %v", err)
		}
	}
	want := []uint64{ids[4], ids[3], ids[0]}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("after retention: %v, want %v", got, want)
	}
}
