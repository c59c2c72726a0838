package relay

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// generation is the latest id a feed knows, and a channel closed when a
// newer one is known: one broadcast wakes every waiter.
type generation struct {
	latest uint64
	next   chan struct{}
}

// feed serves one log: one store handle, one tail loop, a page cache and a
// heartbeat batcher shared by every client of the log.
type feed struct {
	name  string
	store logstore.Store
	id    logstore.LogID
	log   logr.Logger
	cfg   *Config

	gen     atomic.Pointer[generation]
	horizon atomic.Uint64
	tailErr atomic.Pointer[string] // the tail loop's last error; nil while it works

	cache  *pageCache
	recent *recent       // the newest updates, which streams and reads take first
	reads  chan struct{} // a slot per store read in flight
	hb     *batcher
	calls  singleflight.Group // Latest and Horizon asked by many clients at once
}

// newFeed starts serving the opened store until ctx ends.
func newFeed(ctx context.Context, name string, store logstore.Store, cfg *Config, log logr.Logger) (*feed, error) {
	f := &feed{name: name, store: store, id: store.ID(), cfg: cfg, log: log.WithValues("log", name),
		cache: newPageCache(cfg.CacheBytes), reads: make(chan struct{}, cfg.MaxStoreReads)}
	f.hb = newBatcher(store.Heartbeat, cfg.HeartbeatLinger)
	if hb, ok := store.(logstore.HeartbeatBatcher); ok {
		f.hb.writeAll = hb.Heartbeats
	}
	latest, err := store.Latest(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the latest id of log %q: %w", name, err)
	}
	h, err := store.Horizon(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the horizon of log %q: %w", name, err)
	}
	f.gen.Store(&generation{latest: latest, next: make(chan struct{})})
	f.horizon.Store(h)
	f.recent = newRecent(cfg.RecentBytes, latest)
	return f, nil
}

// run runs the feed's loops until ctx ends.
func (f *feed) run(ctx context.Context, done func()) {
	go func() { f.hb.run(ctx); done() }()
	go func() { f.pollHorizon(ctx); done() }()
	go func() { f.fill(ctx); done() }()
	f.tail(ctx)
	done()
}

// latest returns the latest id the feed knows.
func (f *feed) latest() uint64 { return f.gen.Load().latest }

// advance makes id the latest known id, if it is newer, and wakes the
// waiters.
func (f *feed) advance(id uint64) {
	for {
		g := f.gen.Load()
		if id <= g.latest {
			return
		}
		if f.gen.CompareAndSwap(g, &generation{latest: id, next: make(chan struct{})}) {
			close(g.next)
			return
		}
	}
}

// tail follows the log with the store's Wait, the feed's only wait on the
// store.
func (f *feed) tail(ctx context.Context) {
	pause := f.cfg.RetryInterval
	for ctx.Err() == nil {
		id, err := f.store.Wait(ctx, f.latest())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			msg := err.Error()
			f.tailErr.Store(&msg)
			f.log.Error(err, "waiting for updates failed; retrying", "retryIn", pause)
			if sleep(ctx, pause) != nil {
				return
			}
			pause = min(2*pause, 32*f.cfg.RetryInterval)
			continue
		}
		if f.tailErr.Swap(nil) != nil {
			f.log.Info("waiting for updates works again", "latest", id)
		}
		pause = f.cfg.RetryInterval
		f.advance(id)
	}
}

// pollHorizon reads the horizon now and then, so that a rewrite made
// without the relay (by a job with its own connection to the store) stops
// the cache from serving positions below the new horizon.
func (f *feed) pollHorizon(ctx context.Context) {
	t := time.NewTicker(f.cfg.HorizonInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		if _, err := f.readHorizon(ctx); err != nil && ctx.Err() == nil {
			f.log.V(1).Info("reading the horizon failed", "error", err.Error())
		}
	}
}

// readHorizon reads the horizon from the store (one read for all who ask
// at once) and notes it.
func (f *feed) readHorizon(ctx context.Context) (uint64, error) {
	v, err, _ := f.calls.Do("horizon", func() (any, error) {
		ctx, cancel := f.storeContext(ctx)
		defer cancel()
		return f.store.Horizon(ctx)
	})
	if err != nil {
		return 0, err
	}
	h := v.(uint64)
	f.noteHorizon(h)
	return h, nil
}

// noteHorizon records a horizon read from the store. A higher one means a
// rewrite: the kept pages may hold what it removed, so they go.
func (f *feed) noteHorizon(h uint64) {
	for {
		old := f.horizon.Load()
		if h <= old {
			return
		}
		if f.horizon.CompareAndSwap(old, h) {
			f.cache.clear()
			f.recent.reset(f.recent.last())
			return
		}
	}
}

// readLatest reads the latest id from the store (one read for all who ask
// at once) and wakes the waiters if it is new.
func (f *feed) readLatest(ctx context.Context) (uint64, error) {
	v, err, _ := f.calls.Do("latest", func() (any, error) {
		ctx, cancel := f.storeContext(ctx)
		defer cancel()
		return f.store.Latest(ctx)
	})
	if err != nil {
		return 0, err
	}
	f.advance(v.(uint64))
	return v.(uint64), nil
}

// wait blocks until the feed knows an id above after, for at most d, and
// returns the latest id it knows; drain ends it with ErrUnavailable.
func (f *feed) wait(ctx context.Context, after uint64, d time.Duration, drain <-chan struct{}) (uint64, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		g := f.gen.Load()
		if g.latest > after {
			return g.latest, nil
		}
		select {
		case <-g.next:
		case <-t.C:
			return g.latest, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-drain:
			return 0, fmt.Errorf("relay is shutting down: %w", relaywire.ErrUnavailable)
		}
	}
}

// behind tells whether a read after after, as a replay under began or not,
// stands below the horizon h: the stores' rule.
func behind(after, h uint64, replay bool, began uint64) bool {
	return after != 0 && after < h && !(replay && h == began)
}

// read returns the encoded page after after, from the cache or the store.
// known is the highest id the client knows to exist.
func (f *feed) read(ctx context.Context, key pageKey, known uint64) ([]byte, error) {
	p, err := f.readPage(ctx, key, known)
	return p.body, err
}

// readPage is read that also returns the id of the page's last update.
func (f *feed) readPage(ctx context.Context, key pageKey, known uint64) (encodedPage, error) {
	h := f.horizon.Load()
	if key.replay && key.horizon > h {
		// The client saw a newer horizon than the feed (through another
		// relay): catch up before judging by it.
		var err error
		if h, err = f.readHorizon(ctx); err != nil {
			return encodedPage{}, err
		}
	}
	if behind(key.after, h, key.replay, key.horizon) {
		return encodedPage{}, fmt.Errorf("read after %d, below the horizon %d: %w", key.after, h, logstore.ErrBehindHorizon)
	}
	need := max(f.latest(), known)
	if !key.replay {
		if ups, end, _, ok := f.recent.page(key.after, key.maxOps); ok && (end >= need || len(ups) > 0 && ups[len(ups)-1].ID < end) {
			p := encodedPage{body: relaywire.AppendPage(make([]byte, 0, relaywire.PageSize(ups)), ups)}
			if len(ups) > 0 {
				p.last = ups[len(ups)-1].ID
			}
			return p, nil
		}
	}
	loadCtx, cancel := f.storeContext(ctx)
	defer cancel()
	return f.cache.getPage(ctx, loadCtx, key, need, func(ctx context.Context) ([]byte, uint64, error) {
		return f.load(ctx, key)
	})
}

// load reads a page from the store and encodes it.
func (f *feed) load(ctx context.Context, key pageKey) ([]byte, uint64, error) {
	select {
	case f.reads <- struct{}{}:
		defer func() { <-f.reads }()
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	var page []logstore.Update
	var err error
	if key.replay {
		page, err = f.store.ReadReplay(ctx, key.after, key.maxOps, key.horizon)
	} else {
		page, err = f.store.Read(ctx, key.after, key.maxOps)
	}
	if err != nil {
		if errors.Is(err, logstore.ErrBehindHorizon) {
			_, _ = f.readHorizon(ctx)
		}
		return nil, 0, err
	}
	var last uint64
	if len(page) > 0 {
		last = page[len(page)-1].ID
	}
	return relaywire.AppendPage(make([]byte, 0, relaywire.PageSize(page)), page), last, nil
}

// storeContext returns the context of a store call that other clients may
// share: not ended by the client that started it, but bounded.
func (f *feed) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), f.cfg.StoreTimeout)
}

// healthy returns the tail loop's last error, or nil.
func (f *feed) healthy() error {
	if msg := f.tailErr.Load(); msg != nil {
		return fmt.Errorf("log %q: waiting for updates fails: %s", f.name, *msg)
	}
	return nil
}

// sleep pauses for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
