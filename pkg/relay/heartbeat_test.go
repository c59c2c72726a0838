package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

func TestCoalesce(t *testing.T) {
	hb := func(node string, id uint64) *heartbeatRequest {
		return &heartbeatRequest{p: logstore.NodeProgress{Node: node, AppliedID: id}}
	}
	tests := []struct {
		name string
		reqs []*heartbeatRequest
		want string
	}{
		{"one", []*heartbeatRequest{hb("a", 1)}, "a=1"},
		{"sorted by node", []*heartbeatRequest{hb("c", 3), hb("a", 1), hb("b", 2)}, "a=1 b=2 c=3"},
		{"last one wins", []*heartbeatRequest{hb("a", 5), hb("b", 1), hb("a", 7)}, "a=7 b=1"},
		{"last one wins even if lower", []*heartbeatRequest{hb("a", 7), hb("a", 5)}, "a=5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			for i, p := range coalesce(tc.reqs) {
				if i > 0 {
					got += " "
				}
				got += fmt.Sprintf("%s=%d", p.Node, p.AppliedID)
			}
			if got != tc.want {
				t.Errorf("coalesce = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBatcher sends heartbeats of many nodes at once: they are written in
// one batch, once per node, each caller gets its node's outcome, and
// closing fails what is queued.
func TestBatcher(t *testing.T) {
	var mu sync.Mutex
	var written []logstore.NodeProgress
	bad := errors.New("node refused")
	write := func(_ context.Context, p logstore.NodeProgress) error {
		mu.Lock()
		defer mu.Unlock()
		written = append(written, p)
		if p.Node == "bad" {
			return bad
		}
		return nil
	}
	b := newBatcher(write, time.Millisecond)
	nodes := []string{"n1", "n2", "n3", "n1", "bad", "n2"}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = b.submit(t.Context(), logstore.NodeProgress{Node: n, AppliedID: uint64(i)}) })
	}
	// Start writing once all are queued, so that they make one batch.
	for b.queued() < len(nodes) {
		if sleep(t.Context(), time.Millisecond) != nil {
			t.Fatal("heartbeats not queued")
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { b.run(ctx); close(stopped) }()
	wg.Wait()
	for i, n := range nodes {
		if want := map[bool]error{true: bad, false: nil}[n == "bad"]; !errors.Is(errs[i], want) && errs[i] != want {
			t.Errorf("heartbeat %d of %s: %v, want %v", i, n, errs[i], want)
		}
	}
	var names []string
	for _, p := range written {
		names = append(names, p.Node)
	}
	if got := fmt.Sprint(names); got != "[bad n1 n2 n3]" {
		t.Errorf("written for nodes %s, want each node once, by name: [bad n1 n2 n3]", got)
	}
	if b.flushes != 1 || b.written != 4 {
		t.Errorf("%d flushes wrote %d heartbeats, want 1 and 4", b.flushes, b.written)
	}
	cancel()
	<-stopped
	// Closing fails what is still queued.
	late := make(chan error, 1)
	go func() { late <- b.submit(t.Context(), logstore.NodeProgress{Node: "late"}) }()
	for b.queued() < 1 {
		if sleep(t.Context(), time.Millisecond) != nil {
			t.Fatal("heartbeat not queued")
		}
	}
	b.fail(logstore.ErrClosed)
	if err := <-late; !errors.Is(err, logstore.ErrClosed) {
		t.Errorf("heartbeat queued at close: %v, want ErrClosed", err)
	}
}

// TestBatcherWriteAll writes batches in one call, and falls back to one
// call per node when the batch fails, so that only a refused node fails.
func TestBatcherWriteAll(t *testing.T) {
	refused := errors.New("refused")
	tests := []struct {
		name      string
		allFails  bool
		wantCalls int64
		wantErrs  map[string]error
	}{
		{"one call", false, 1, map[string]error{"a": nil, "b": nil, "bad": nil}},
		{"batch refused: one by one", true, 3, map[string]error{"a": nil, "b": nil, "bad": refused}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			one := func(_ context.Context, p logstore.NodeProgress) error {
				if p.Node == "bad" {
					return refused
				}
				return nil
			}
			b := newBatcher(one, 0)
			b.writeAll = func(_ context.Context, ps []logstore.NodeProgress) error {
				if tc.allFails {
					return refused
				}
				return nil
			}
			var reqs []*heartbeatRequest
			for _, n := range []string{"a", "bad", "b"} {
				r := &heartbeatRequest{p: logstore.NodeProgress{Node: n}, done: make(chan error, 1)}
				reqs = append(reqs, r)
			}
			b.pending = reqs
			b.flush(t.Context())
			for _, r := range reqs {
				if err := <-r.done; !errors.Is(err, tc.wantErrs[r.p.Node]) && err != tc.wantErrs[r.p.Node] {
					t.Errorf("node %s: %v, want %v", r.p.Node, err, tc.wantErrs[r.p.Node])
				}
			}
			if b.calls != tc.wantCalls {
				t.Errorf("%d store calls, want %d", b.calls, tc.wantCalls)
			}
		})
	}
}
