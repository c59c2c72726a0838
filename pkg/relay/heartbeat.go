package relay

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// maxHeartbeatBatch is the number of waiting heartbeats that starts a flush
// before the linger is over.
const maxHeartbeatBatch = 1000

// heartbeatRequest is one agent's heartbeat waiting for its batch.
type heartbeatRequest struct {
	p    logstore.NodeProgress
	done chan error
}

// batcher gathers the heartbeats that arrive within a linger and writes
// them to the store together: each node once per batch, with the last
// applied id it sent, in the order of the node names (so that two relays'
// batches lock a table's rows in the same order). Each caller returns once
// its node's heartbeat is written, so that what it sent is in the store
// when it returns, as with the store itself.
type batcher struct {
	write func(ctx context.Context, p logstore.NodeProgress) error
	// writeAll, when set, writes a whole batch in one call (a store that
	// implements logstore.HeartbeatBatcher).
	writeAll func(ctx context.Context, ps []logstore.NodeProgress) error
	linger   time.Duration

	mu      sync.Mutex
	pending []*heartbeatRequest
	wake    chan struct{}

	flushes, written, calls int64 // under mu
}

func newBatcher(write func(context.Context, logstore.NodeProgress) error, linger time.Duration) *batcher {
	return &batcher{write: write, linger: linger, wake: make(chan struct{}, 1)}
}

// submit queues p and waits until its batch is written.
func (b *batcher) submit(ctx context.Context, p logstore.NodeProgress) error {
	r := &heartbeatRequest{p: p, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, r)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run writes batches until ctx ends, then fails what is still queued.
func (b *batcher) run(ctx context.Context) {
	defer b.fail(fmt.Errorf("heartbeat: %w", logstore.ErrClosed))
	for {
		select {
		case <-b.wake:
		case <-ctx.Done():
			return
		}
		if b.queued() < maxHeartbeatBatch && b.linger > 0 {
			t := time.NewTimer(b.linger)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		b.flush(ctx)
	}
}

func (b *batcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// flush writes what is queued.
func (b *batcher) flush(ctx context.Context) {
	b.mu.Lock()
	reqs := b.pending
	b.pending = nil
	b.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	batch := coalesce(reqs)
	errs := make(map[string]error, len(batch))
	calls := 1
	if b.writeAll == nil || b.writeAll(ctx, batch) != nil {
		// One by one, so that a node the store refuses (a name too long)
		// fails alone, with its own error.
		calls = len(batch)
		for _, p := range batch {
			errs[p.Node] = b.write(ctx, p)
		}
	}
	b.mu.Lock()
	b.flushes++
	b.written += int64(len(batch))
	b.calls += int64(calls)
	b.mu.Unlock()
	for _, r := range reqs {
		r.done <- errs[r.p.Node]
	}
}

// fail answers every queued heartbeat with err.
func (b *batcher) fail(err error) {
	b.mu.Lock()
	reqs := b.pending
	b.pending = nil
	b.mu.Unlock()
	for _, r := range reqs {
		r.done <- err
	}
}

// coalesce returns one heartbeat per node, the last one that arrived,
// ordered by node name.
func coalesce(reqs []*heartbeatRequest) []logstore.NodeProgress {
	last := make(map[string]logstore.NodeProgress, len(reqs))
	for _, r := range reqs {
		last[r.p.Node] = r.p
	}
	out := make([]logstore.NodeProgress, 0, len(last))
	for _, p := range last {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b logstore.NodeProgress) int { return cmp.Compare(a.Node, b.Node) })
	return out
}
