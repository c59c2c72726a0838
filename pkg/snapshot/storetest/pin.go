package storetest

import (
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
)

// testPruneRewritePin: retention never deletes the snapshot the last
// history rewrite relied on, whatever Keep says; a later rewrite's pin
// releases it; a pin that does not parse stops retention.
func testPruneRewritePin(t *testing.T, s snapshot.Store) {
	ctx := ctxOf(t)
	l := snapshot.NewLayout(s, "rewrite-pin")
	log := logstore.NewLogID()
	if got, err := l.RewritePinned(ctx, log); err != nil || got != "" {
		t.Fatalf("rewrite pin of a new log: %q, %v", got, err)
	}
	relied, _ := publish(t, l, log, 2, 100)
	if err := l.PinForRewrite(ctx, log, relied.Manifest); err != nil {
		t.Fatal(err)
	}
	if got, err := l.RewritePinned(ctx, log); err != nil || got != relied.Manifest.Key {
		t.Fatalf("rewrite pin: %q, %v, want %q", got, err, relied.Manifest.Key)
	}
	for id := uint64(3); id <= 5; id++ {
		publish(t, l, log, id, 100)
	}
	if _, err := l.Prune(ctx, log, snapshot.PruneOptions{Keep: 1}); err != nil {
		t.Fatal(err)
	}
	if left := leftIDs(t, l, log); left != "[2 5]" {
		t.Fatalf("after prune keep 1 with the rewrite pin on 2: left %s, want [2 5]", left)
	}
	// A newer rewrite relies on 5: 2 is no longer needed.
	newest, err := l.Latest(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.PinForRewrite(ctx, log, newest); err != nil {
		t.Fatal(err)
	}
	publish(t, l, log, 6, 100)
	if _, err := l.Prune(ctx, log, snapshot.PruneOptions{Keep: 1}); err != nil {
		t.Fatal(err)
	}
	if left := leftIDs(t, l, log); left != "[5 6]" {
		t.Fatalf("after prune keep 1 with the rewrite pin moved to 5: left %s, want [5 6]", left)
	}
	if _, err := s.PutBytes(ctx, l.Dir(log)+"rewrite-pin", []byte("{"), snapshot.Condition{}); err != nil {
		t.Fatal(err)
	}
	publish(t, l, log, 7, 100)
	if _, err := l.Prune(ctx, log, snapshot.PruneOptions{Keep: 1}); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("prune with an unreadable rewrite pin: %v, want ErrCorrupt", err)
	}
	if left := leftIDs(t, l, log); left != "[5 6 7]" {
		t.Fatalf("prune with an unreadable rewrite pin deleted snapshots: left %s", left)
	}
}

// leftIDs lists the update ids of the log's snapshots, in order, checking
// each one's object.
func leftIDs(t *testing.T, l *snapshot.Layout, log logstore.LogID) string {
	t.Helper()
	all, err := l.List(ctxOf(t), log)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, m := range all {
		if err := l.Check(ctxOf(t), m); err != nil {
			t.Errorf("kept snapshot %d: %v", m.UpdateID, err)
		}
		ids = append(ids, int(m.UpdateID))
	}
	sort.Ints(ids)
	return fmt.Sprint(ids)
}
