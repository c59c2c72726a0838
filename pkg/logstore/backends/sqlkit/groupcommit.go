package sqlkit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/whycache/whycache/pkg/logstore"
)

// Request states.
const (
	stateQueued int32 = iota
	stateTaken
	stateAbandoned
)

// Request is one caller's update waiting in the group-commit queue.
type Request struct {
	// Ops are the update's operations, already checked against the limits.
	Ops []logstore.Op
	// Bytes is the sum of the keys' and values' lengths.
	Bytes int

	state atomic.Int32
	id    uint64
	done  chan error
}

// CommitFunc writes a group of updates in one transaction, giving them
// consecutive ids in order, and returns the first id once the transaction
// has committed. On error nothing of the group may be visible, unless the
// error leaves the outcome unknown (a connection lost during COMMIT); the
// transaction then guarantees that each update is whole or absent.
type CommitFunc func(ctx context.Context, group []*Request) (first uint64, err error)

// CommitConfig tunes a [Committer].
type CommitConfig struct {
	// Workers is the number of groups that may be in flight at once. A
	// second worker overlaps building and sending a group with the previous
	// group's commit; it helps when the database releases the id lock before
	// its log flush (InnoDB). Zero means 1.
	Workers int
	// MaxOps bounds the operations in one group (a single larger update
	// still goes alone). Zero means 20000.
	MaxOps int
	// MaxBytes bounds the key and value bytes in one group (a single larger
	// update still goes alone). Zero means 8 MiB.
	MaxBytes int
	// OnCommit, when set, is called after each committed group with the
	// number of updates and operations it held.
	OnCommit func(updates, ops int)
}

func (c CommitConfig) withDefaults() CommitConfig {
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.MaxOps <= 0 {
		c.MaxOps = 20000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 8 << 20
	}
	return c
}

// Committer batches concurrent appends into shared transactions: every
// caller gets its own id and returns only after the transaction holding its
// update has committed.
type Committer struct {
	commit CommitFunc
	cfg    CommitConfig

	mu      sync.Mutex
	cond    *sync.Cond
	pending []*Request
	closed  bool
	wg      sync.WaitGroup
}

// NewCommitter starts a committer whose workers call commit.
func NewCommitter(commit CommitFunc, cfg CommitConfig) *Committer {
	c := &Committer{commit: commit, cfg: cfg.withDefaults()}
	c.cond = sync.NewCond(&c.mu)
	for range c.cfg.Workers {
		c.wg.Add(1)
		go c.work()
	}
	return c
}

// Append queues ops and waits for the transaction that commits them. When
// ctx ends while the update is still queued, it is dropped unwritten and
// ctx's error returned; once a transaction holds it, Append waits for that
// transaction's outcome, so that its answer is always exact.
func (c *Committer) Append(ctx context.Context, ops []logstore.Op) (uint64, error) {
	r := &Request{Ops: ops, Bytes: OpsBytes(ops), done: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, fmt.Errorf("append: %w", logstore.ErrClosed)
	}
	c.pending = append(c.pending, r)
	c.cond.Signal()
	c.mu.Unlock()
	select {
	case err := <-r.done:
		return r.id, err
	case <-ctx.Done():
		if r.state.CompareAndSwap(stateQueued, stateAbandoned) {
			return 0, fmt.Errorf("append: %w", ctx.Err())
		}
		err := <-r.done
		return r.id, err
	}
}

// Close stops accepting appends, commits what is queued, and waits for the
// workers to finish.
func (c *Committer) Close() {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Committer) work() {
	defer c.wg.Done()
	for {
		group, ops := c.take()
		if group == nil {
			return
		}
		if len(group) == 0 {
			continue
		}
		first, err := c.commit(context.Background(), group)
		if err == nil && c.cfg.OnCommit != nil {
			c.cfg.OnCommit(len(group), ops)
		}
		for i, r := range group {
			if err == nil {
				r.id = first + uint64(i)
			}
			r.done <- err
		}
	}
}

// take waits for pending requests and removes a group of them from the
// queue. It returns nil when the committer is closed and drained, and an
// empty group when every request it looked at had been abandoned.
func (c *Committer) take() ([]*Request, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.pending) == 0 {
		if c.closed {
			return nil, 0
		}
		c.cond.Wait()
	}
	group := []*Request{}
	ops, bytes, n := 0, 0, 0
	for _, r := range c.pending {
		if len(group) > 0 && (ops+len(r.Ops) > c.cfg.MaxOps || bytes+r.Bytes > c.cfg.MaxBytes) {
			break
		}
		n++
		if !r.state.CompareAndSwap(stateQueued, stateTaken) {
			continue
		}
		group = append(group, r)
		ops += len(r.Ops)
		bytes += r.Bytes
	}
	rest := copy(c.pending, c.pending[n:])
	clear(c.pending[rest:])
	c.pending = c.pending[:rest]
	return group, ops
}

// OpsBytes returns the sum of the lengths of ops' keys and values.
func OpsBytes(ops []logstore.Op) int {
	n := 0
	for _, op := range ops {
		n += len(op.Key) + len(op.Value)
	}
	return n
}
