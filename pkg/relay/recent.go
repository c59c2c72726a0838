package relay

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/whycache/whycache/pkg/logstore"
)

// recent keeps the newest updates of a log in memory, in order and without
// gaps, up to a number of bytes: reads and streams at any position among
// them cost no store read, however many agents stand at however many
// positions. The feed fills it with one store read per new batch of ids.
type recent struct {
	max  int64 // bytes of keys and values held at most; negative: none
	hits atomic.Int64

	mu      sync.RWMutex
	start   uint64 // no update of the log lies between start and ups[0]
	ups     []logstore.Update
	end     uint64 // the last update held; start when none is
	bytes   int64
	changed chan struct{} // closed and replaced when end moves or it is reset
}

func newRecent(maxBytes int64, at uint64) *recent {
	return &recent{max: maxBytes, start: at, end: at, changed: make(chan struct{})}
}

// page returns the updates after after, about maxOps operations in all (at
// least one; maxOps <= 0 for no bound), ending early once they hold
// logstore.MinPageBytes. ok is false when after is not among the positions
// held (before start, or past end). With ok, an empty page means that
// after is the end; wake is closed when that changes.
func (r *recent) page(after uint64, maxOps int) (page []logstore.Update, end uint64, wake <-chan struct{}, ok bool) {
	if r.max < 0 {
		return nil, 0, nil, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if after < r.start || after > r.end {
		return nil, r.end, r.changed, false
	}
	i := sort.Search(len(r.ups), func(i int) bool { return r.ups[i].ID > after })
	j, ops, bytes := i, 0, 0
	for j < len(r.ups) && (j == i || (maxOps <= 0 || ops+len(r.ups[j].Ops) <= maxOps) && bytes < logstore.MinPageBytes) {
		ops += len(r.ups[j].Ops)
		bytes += int(r.ups[j].Bytes())
		j++
	}
	if j > i {
		r.hits.Add(1)
	}
	return r.ups[i:j:j], r.end, r.changed, true
}

// last returns the last id held, or where it stands when it holds none.
func (r *recent) last() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.end
}

// add appends updates that follow end, then drops the oldest past max.
func (r *recent) add(ups []logstore.Update) {
	if len(ups) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range ups {
		if u.ID <= r.end {
			continue // a page raced with a reset; its start is held already
		}
		r.ups = append(r.ups, u)
		r.bytes += u.Bytes()
		r.end = u.ID
	}
	drop := 0
	for drop < len(r.ups)-1 && r.bytes > r.max {
		r.bytes -= r.ups[drop].Bytes()
		drop++
	}
	if drop > 0 {
		r.start = r.ups[drop-1].ID
		r.ups = append([]logstore.Update(nil), r.ups[drop:]...)
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// reset drops every update held and stands at at: after a rewrite (the
// updates held may have lost operations since), or when the store no
// longer has the updates after end.
func (r *recent) reset(at uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ups, r.bytes = nil, 0
	r.start, r.end = at, at
	close(r.changed)
	r.changed = make(chan struct{})
}

// fill keeps the feed's recent updates up to its latest id: whenever the
// feed knows a newer id, it reads the pages after the last one held.
func (f *feed) fill(ctx context.Context) {
	if f.recent.max < 0 {
		return
	}
	pause := f.cfg.RetryInterval
	for ctx.Err() == nil {
		g := f.gen.Load()
		end := f.recent.last()
		if g.latest <= end {
			select {
			case <-g.next:
			case <-ctx.Done():
				return
			}
			continue
		}
		ups, err := f.loadRecent(ctx, end)
		switch {
		case errors.Is(err, logstore.ErrBehindHorizon):
			// A rewrite passed the updates held: start again at the
			// latest id; positions below it are read through the cache.
			f.recent.reset(g.latest)
			continue
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			f.log.V(1).Info("reading the newest updates failed; retrying", "after", end, "error", err.Error(), "retryIn", pause)
			if sleep(ctx, pause) != nil {
				return
			}
			pause = min(2*pause, 32*f.cfg.RetryInterval)
			continue
		case len(ups) == 0:
			// Not visible to this read yet (the store makes ids visible
			// in order, so this is brief): try again in a moment.
			if sleep(ctx, f.cfg.RetryInterval) != nil {
				return
			}
			continue
		}
		pause = f.cfg.RetryInterval
		f.recent.add(ups)
	}
}

// loadRecent reads the page after after from the store, taking a slot of
// the store reads.
func (f *feed) loadRecent(ctx context.Context, after uint64) ([]logstore.Update, error) {
	select {
	case f.reads <- struct{}{}:
		defer func() { <-f.reads }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ctx, cancel := f.storeContext(ctx)
	defer cancel()
	return f.store.Read(ctx, after, 0)
}
