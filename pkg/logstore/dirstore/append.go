package dirstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// Bounds of one group commit.
const (
	maxBatchUpdates = 4096
	maxBatchBytes   = 64 << 20
	gatherWait      = 200 * time.Microsecond
)

// appendReq is one Append waiting for the committer.
type appendReq struct {
	ctx   context.Context
	store *Store // the Store appended through, for its OnCommit
	nops  int
	rec   []byte // the encoded record; the committer sets its id and time
	id    uint64
	err   error
	done  chan struct{}
}

// Append appends one update and returns its id once it is synced to disk.
// Concurrent calls are committed together, with one write and one sync
// (group commit), each keeping its own id. When ctx ends before Append
// returns, the update may or may not be committed.
func (s *Store) Append(ctx context.Context, ops []logstore.Op) (uint64, error) {
	if err := s.isClosed(); err != nil {
		return 0, err
	}
	if err := s.limits.Check(ops); err != nil {
		return 0, fmt.Errorf("dirstore: append: %w", err)
	}
	rec := appendRecord(nil, logstore.Update{Ops: ops})
	if len(rec)-recHeaderLen > maxRecordBody {
		return 0, fmt.Errorf("dirstore: append: update encodes to %d bytes, over the record size limit of %d: %w", len(rec), maxRecordBody, logstore.ErrTooLarge)
	}
	req := &appendReq{ctx: ctx, store: s, nops: len(ops), rec: rec, done: make(chan struct{})}
	sh := s.sh
	select {
	case sh.reqs <- req:
	case <-ctx.Done():
		return 0, fmt.Errorf("dirstore: append: %w", ctx.Err())
	case <-sh.exited:
		return 0, s.isClosed()
	}
	select {
	case <-req.done:
		return req.id, req.err
	case <-ctx.Done():
		return 0, fmt.Errorf("dirstore: append: %w (the update may or may not be committed)", ctx.Err())
	case <-sh.exited:
		select {
		case <-req.done:
			return req.id, req.err
		default: // queued after the committer left
			return 0, fmt.Errorf("dirstore: append: %w", logstore.ErrClosed)
		}
	}
}

// committer commits the queued appends in batches until the last store
// closes, then fails whatever is left.
func (sh *shared) committer() {
	defer close(sh.exited)
	for {
		select {
		case req := <-sh.reqs:
			sh.commit(sh.gather(req))
		case <-sh.stop:
			for {
				select {
				case req := <-sh.reqs:
					req.err = fmt.Errorf("dirstore: append: %w", logstore.ErrClosed)
					close(req.done)
				default:
					return
				}
			}
		}
	}
}

// gather returns first with the requests queued behind it, within bounds.
// When fewer are queued than the last batch held, it waits up to
// gatherWait for the rest: writers that were acknowledged together come back
// together, and one sync for all of them beats one for each.
func (sh *shared) gather(first *appendReq) []*appendReq {
	batch, size := []*appendReq{first}, len(first.rec)
	var timeout <-chan time.Time
	for len(batch) < maxBatchUpdates && size < maxBatchBytes {
		select {
		case req := <-sh.reqs:
			batch, size = append(batch, req), size+len(req.rec)
			continue
		default:
		}
		if len(batch) >= sh.lastBatch {
			break
		}
		if timeout == nil {
			timeout = time.After(gatherWait)
		}
		select {
		case req := <-sh.reqs:
			batch, size = append(batch, req), size+len(req.rec)
			continue
		case <-timeout:
		}
		break
	}
	sh.lastBatch = len(batch)
	return batch
}

// commit writes a batch under the lock: it gives the updates consecutive
// ids, writes them in one write, syncs, and then publishes them in the head.
func (sh *shared) commit(batch []*appendReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("dirstore: append: %w", err)
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	err := sh.withLock(func(h *head) error { return sh.writeBatch(h, live) })
	if err == nil {
		// Before the appends return: a caller that counts commits sees
		// its own once Append has returned.
		reportCommit(live)
	}
	for _, r := range live {
		if err != nil {
			r.id, r.err = 0, fmt.Errorf("dirstore: append: %w", err)
		}
		close(r.done)
	}
	if err == nil {
		sh.changed.broadcast()
	}
}

// reportCommit calls the OnCommit of each Store with appends in a committed
// batch, once, with the whole batch's size: the group commit's size is what
// it reports.
func reportCommit(batch []*appendReq) {
	ops := 0
	for _, r := range batch {
		ops += r.nops
	}
	var called []*Store
	for _, r := range batch {
		if r.store.onCommit != nil && !slices.Contains(called, r.store) {
			called = append(called, r.store)
			r.store.onCommit(len(batch), ops)
		}
	}
}

// writeBatch, under the lock, writes and syncs the batch's records after the
// committed tail, rolling to a new segment first when the active one is
// full, and advances the head. On an error, the tail is cut back.
func (sh *shared) writeBatch(h *head, batch []*appendReq) error {
	if h.committed >= sh.cfg.segmentSize {
		if err := sh.roll(h); err != nil {
			return err
		}
	}
	now := time.Now()
	buf := batch[0].rec
	for i, r := range batch {
		r.id = h.latest + 1 + uint64(i)
		setRecordID(r.rec, r.id, now)
		if i > 0 {
			buf = append(buf, r.rec...)
		}
	}
	if hook := sh.hook.Load(); hook != nil {
		(*hook)()
	}
	_, err := sh.active.WriteAt(buf, h.committed)
	if err == nil {
		err = fdatasync(sh.active)
	}
	if err != nil {
		if terr := sh.active.Truncate(h.committed); terr != nil {
			sh.log.Error(terr, "Cannot cut back a failed append; the next writer will", "offset", h.committed)
		}
		return fmt.Errorf("write records: %w", err)
	}
	h.committed += int64(len(buf))
	h.latest += uint64(len(batch))
	return nil
}
