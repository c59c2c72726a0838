package sqlkit

import (
	"context"
	"fmt"
	"sync"

	"github.com/whycache/whycache/pkg/logstore"
)

// DefaultRewriteBatch is the number of rows a rewrite removes per
// transaction when RewriteOptions.BatchSize is zero.
const DefaultRewriteBatch = 5000

// removeWorkers is the number of removal transactions in flight at once:
// removing rows is the slow part of a rewrite, and the server spreads
// concurrent transactions over its cores.
const removeWorkers = 3

// ScanFunc streams every operation with id <= through, in log order, to fn.
type ScanFunc func(ctx context.Context, through uint64, fn func(pos Pos, typ logstore.OpType, identity string) error) error

// RemoveFunc removes the operations at the given positions in one
// transaction and returns how many rows it removed.
type RemoveFunc func(ctx context.Context, batch []Pos) (int64, error)

// RunRewrite plans and performs a history rewrite: it scans the log through
// through, and removes what the [Planner] returns in transactions of batch
// rows, removeWorkers at a time, while the scan goes on. The caller has
// raised the horizon to deleteLimit (when it removes delete markers)
// beforehand.
func RunRewrite(ctx context.Context, scan ScanFunc, remove RemoveFunc, through, deleteLimit uint64, batch int) (examined, removed int64, err error) {
	if batch <= 0 {
		batch = DefaultRewriteBatch
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rm := startRemover(ctx, cancel, remove)
	p := NewPlanner(deleteLimit)
	cur := make([]Pos, 0, batch)
	add := func(pos Pos) {
		if cur = append(cur, pos); len(cur) == batch {
			rm.send(cur)
			cur = make([]Pos, 0, batch)
		}
	}
	serr := scan(ctx, through, func(pos Pos, typ logstore.OpType, identity string) error {
		if old, ok := p.Add(pos, typ, identity); ok {
			add(old)
		}
		return nil
	})
	if serr == nil {
		for _, pos := range p.Finish() {
			add(pos)
		}
		rm.send(cur)
	}
	removed, rerr := rm.wait()
	if rerr != nil {
		return p.Examined(), removed, rerr
	}
	if serr != nil {
		return p.Examined(), removed, fmt.Errorf("scan: %w", serr)
	}
	return p.Examined(), removed, nil
}

// remover runs removal transactions from a queue of batches.
type remover struct {
	remove  RemoveFunc
	batches chan []Pos
	wg      sync.WaitGroup
	mu      sync.Mutex
	removed int64
	err     error
}

func startRemover(ctx context.Context, cancel context.CancelFunc, remove RemoveFunc) *remover {
	r := &remover{remove: remove, batches: make(chan []Pos, removeWorkers)}
	for range removeWorkers {
		r.wg.Go(func() {
			for b := range r.batches {
				if ctx.Err() == nil {
					r.run(ctx, cancel, b)
				}
			}
		})
	}
	return r
}

func (r *remover) run(ctx context.Context, cancel context.CancelFunc, b []Pos) {
	n, err := r.remove(ctx, b)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed += n
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("remove %d rows: %w", len(b), err)
		cancel()
	}
}

// send queues a batch, sorted so that its removals touch pages in order.
func (r *remover) send(b []Pos) {
	if len(b) > 0 {
		sortPos(b)
		r.batches <- b
	}
}

// wait waits for the queued removals and returns how many rows they removed.
func (r *remover) wait() (int64, error) {
	close(r.batches)
	r.wg.Wait()
	return r.removed, r.err
}
