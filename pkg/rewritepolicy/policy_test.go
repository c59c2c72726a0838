package rewritepolicy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/rewritepolicy"
)

func TestCompute(t *testing.T) {
	now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	node := func(name string, applied uint64, ago time.Duration) logstore.NodeProgress {
		return logstore.NodeProgress{Node: name, AppliedID: applied, Heartbeat: now.Add(-ago)}
	}
	tests := []struct {
		name      string
		in        rewritepolicy.Input
		through   uint64
		deleteLim uint64
		bounded   string
		live      string
		away      string
	}{
		{name: "no snapshot: no delete markers",
			in:      rewritepolicy.Input{Head: 100, Nodes: []logstore.NodeProgress{node("a", 100, 0)}},
			through: 100, deleteLim: 0, bounded: "no-snapshot", live: "[a]", away: "[]"},
		{name: "snapshot bounds when nodes are ahead",
			in:      rewritepolicy.Input{Head: 100, HasSnapshot: true, Snapshot: 80, Nodes: []logstore.NodeProgress{node("a", 100, time.Second), node("b", 90, 0)}},
			through: 100, deleteLim: 80, bounded: "snapshot", live: "[a b]", away: "[]"},
		{name: "the slowest live node bounds",
			in:      rewritepolicy.Input{Head: 100, HasSnapshot: true, Snapshot: 80, Nodes: []logstore.NodeProgress{node("a", 100, 0), node("b", 60, time.Second), node("c", 70, 0)}},
			through: 100, deleteLim: 60, bounded: "node:b", live: "[a b c]", away: "[]"},
		{name: "a node away does not bound",
			in:      rewritepolicy.Input{Head: 100, HasSnapshot: true, Snapshot: 80, Nodes: []logstore.NodeProgress{node("a", 100, 0), node("gone", 5, time.Hour)}},
			through: 100, deleteLim: 80, bounded: "snapshot", live: "[a]", away: "[gone]"},
		{name: "a heartbeat exactly LiveAge old is away",
			in:      rewritepolicy.Input{Head: 100, HasSnapshot: true, Snapshot: 80, Nodes: []logstore.NodeProgress{node("edge", 5, time.Minute)}},
			through: 100, deleteLim: 80, bounded: "snapshot", live: "[]", away: "[edge]"},
		{name: "a heartbeat from the future (clock skew) is live",
			in:      rewritepolicy.Input{Head: 100, HasSnapshot: true, Snapshot: 80, Nodes: []logstore.NodeProgress{node("skew", 10, -time.Minute)}},
			through: 100, deleteLim: 10, bounded: "node:skew", live: "[skew]", away: "[]"},
		{name: "a requested through below the snapshot bounds both",
			in:      rewritepolicy.Input{Head: 100, Through: 50, HasSnapshot: true, Snapshot: 80},
			through: 50, deleteLim: 50, bounded: "through", live: "[]", away: "[]"},
		{name: "a requested through above the head is the head",
			in:      rewritepolicy.Input{Head: 100, Through: 500, HasSnapshot: true, Snapshot: 100},
			through: 100, deleteLim: 100, bounded: "snapshot", live: "[]", away: "[]"},
		{name: "a snapshot ahead of the log removes no delete marker",
			in:      rewritepolicy.Input{Head: 100, HasSnapshot: true, Snapshot: 150},
			through: 100, deleteLim: 0, bounded: "snapshot-ahead-of-log", live: "[]", away: "[]"},
		{name: "snapshot at id 0 (an empty log) removes nothing",
			in:      rewritepolicy.Input{Head: 0, HasSnapshot: true, Snapshot: 0},
			through: 0, deleteLim: 0, bounded: "snapshot", live: "[]", away: "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now, tc.in.LiveAge = now, time.Minute
			got := rewritepolicy.Compute(tc.in)
			if got.Through != tc.through || got.DeleteLimit != tc.deleteLim || got.BoundedBy != tc.bounded ||
				fmt.Sprint(nilEmpty(got.Live)) != tc.live || fmt.Sprint(nilEmpty(got.Away)) != tc.away {
				t.Fatalf("Compute = through %d delete %d by %q live %v away %v; want %d %d %q %s %s (%s)",
					got.Through, got.DeleteLimit, got.BoundedBy, got.Live, got.Away,
					tc.through, tc.deleteLim, tc.bounded, tc.live, tc.away, got.Reason)
			}
			if got.DeleteLimit > got.Through || got.Reason == "" {
				t.Fatalf("delete limit %d above through %d, or no reason %q", got.DeleteLimit, got.Through, got.Reason)
			}
		})
	}
}

func nilEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
