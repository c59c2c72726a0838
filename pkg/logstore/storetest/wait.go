package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// testWait checks Wait: at once when there is data, woken by an append
// through another handle, and ended by its context.
func testWait(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	s := create(t, o, "log")
	w := open(t, o, logstore.Options{Name: "log"})
	op := []logstore.Op{logstore.Set([]byte("k"), []byte("v"))}
	first := appendOps(t, s, op).ID

	t.Run("data exists", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if got, err := w.Wait(ctx, first-1); err != nil || got < first {
			t.Fatalf("Wait after %d = %d, %v; want at least %d at once", first-1, got, err, first)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Wait with data there took %v", d)
		}
	})
	t.Run("woken by another handle", func(t *testing.T) {
		var worst time.Duration
		for range 5 {
			worst = max(worst, waitForAppend(t, s, w, op))
		}
		t.Logf("%s: slowest wake-up after an append through another handle: %v", h.Name, worst)
	})
	t.Run("context ends", func(t *testing.T) {
		latest, err := w.Latest(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if got, err := w.Wait(ctx, latest); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait with nothing new = %d, %v; want context.DeadlineExceeded", got, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Wait took %v to notice its context's deadline of 100ms", d)
		}
	})
}

// waitForAppend starts a Wait through w, checks that it blocks, appends ops
// through s, and returns how long Wait took to wake up.
func waitForAppend(t *testing.T, s, w logstore.Store, ops []logstore.Op) time.Duration {
	latest, err := w.Latest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		id  uint64
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		id, err := w.Wait(t.Context(), latest)
		done <- result{id, err, time.Now()}
	}()
	select {
	case r := <-done:
		t.Fatalf("Wait after the latest id %d returned %d, %v without an append", latest, r.id, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	id := appendOps(t, s, ops).ID
	appended := time.Now()
	select {
	case r := <-done:
		if r.err != nil || r.id < id {
			t.Fatalf("Wait = %d, %v; want at least %d", r.id, r.err, id)
		}
		return r.at.Sub(appended)
	case <-time.After(10 * time.Second):
		t.Fatalf("Wait after %d did not wake up within 10s of the append of %d", latest, id)
	}
	return 0
}

// testNodes checks heartbeats: recorded in place, with the store's clock,
// listed by name, and seen through another handle.
func testNodes(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	s := create(t, o, "log")
	ctx := t.Context()
	if nodes, err := s.Nodes(ctx); err != nil || len(nodes) != 0 {
		t.Fatalf("Nodes of a new log = %v, %v; want none", nodes, err)
	}
	if err := s.Heartbeat(ctx, logstore.NodeProgress{}); !errors.Is(err, logstore.ErrInvalid) {
		t.Errorf("Heartbeat with no node name: %v, want ErrInvalid", err)
	}
	old := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		p    logstore.NodeProgress
		want map[string]uint64
	}{
		{logstore.NodeProgress{Node: "node-b", AppliedID: 5, Heartbeat: old}, map[string]uint64{"node-b": 5}},
		{logstore.NodeProgress{Node: "ip-10-0-0-1.ec2.internal", AppliedID: 3}, map[string]uint64{"node-b": 5, "ip-10-0-0-1.ec2.internal": 3}},
		{logstore.NodeProgress{Node: "node-b", AppliedID: 9}, map[string]uint64{"node-b": 9, "ip-10-0-0-1.ec2.internal": 3}},
		{logstore.NodeProgress{Node: "a", AppliedID: 0}, map[string]uint64{"a": 0, "node-b": 9, "ip-10-0-0-1.ec2.internal": 3}},
	}
	other := open(t, o, logstore.Options{Name: "log"})
	last := map[string]time.Time{}
	for i, step := range steps {
		before := time.Now()
		if err := s.Heartbeat(ctx, step.p); err != nil {
			t.Fatalf("step %d: Heartbeat(%+v): %v", i, step.p, err)
		}
		for _, st := range []logstore.Store{s, other} {
			nodes, err := st.Nodes(ctx)
			if err != nil {
				t.Fatalf("step %d: Nodes: %v", i, err)
			}
			checkNodes(t, i, nodes, step.want, before, last)
		}
	}
}

// checkNodes checks a Nodes listing against the applied ids wanted, the
// order by name, and heartbeat times from the store's clock that never go
// back.
func checkNodes(t *testing.T, step int, nodes []logstore.NodeProgress, want map[string]uint64, before time.Time, last map[string]time.Time) {
	t.Helper()
	const skew = 5 * time.Minute
	if len(nodes) != len(want) {
		t.Fatalf("step %d: Nodes = %+v, want %v", step, nodes, want)
	}
	for i, n := range nodes {
		if i > 0 && nodes[i-1].Node >= n.Node {
			t.Errorf("step %d: Nodes not sorted by name: %q before %q", step, nodes[i-1].Node, n.Node)
		}
		if id, ok := want[n.Node]; !ok || id != n.AppliedID {
			t.Errorf("step %d: node %q applied %d, want %v", step, n.Node, n.AppliedID, want)
		}
		if n.Heartbeat.Before(before.Add(-skew)) || n.Heartbeat.After(time.Now().Add(skew)) {
			t.Errorf("step %d: node %q heartbeat %v, not the store's clock near %v", step, n.Node, n.Heartbeat, before)
		}
		if n.Heartbeat.Before(last[n.Node]) {
			t.Errorf("step %d: node %q heartbeat went back from %v to %v", step, n.Node, last[n.Node], n.Heartbeat)
		}
		last[n.Node] = n.Heartbeat
	}
}
