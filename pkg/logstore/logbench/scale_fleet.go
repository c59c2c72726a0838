package logbench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// seenLog records, for each write of the load window, when it began and
// its Append returned, when the first and the last tailer applied it and
// how many tailers did. Slot i is update id base+i; ids outside the slots
// (none, with a single writer) are ignored.
type seenLog struct {
	base      uint64
	began     []atomic.Int64 // unix nanoseconds; 0: no write
	returned  []atomic.Int64
	firstSeen []atomic.Int64 // 0: no tailer yet
	lastSeen  []atomic.Int64
	seenBy    []atomic.Int32
}

func newSeenLog(base uint64, slots int) *seenLog {
	return &seenLog{base: base, began: make([]atomic.Int64, slots), returned: make([]atomic.Int64, slots),
		firstSeen: make([]atomic.Int64, slots), lastSeen: make([]atomic.Int64, slots), seenBy: make([]atomic.Int32, slots)}
}

func (l *seenLog) slot(id uint64) int {
	if l == nil || id < l.base || id-l.base >= uint64(len(l.began)) {
		return -1
	}
	return int(id - l.base)
}

// wrote records that the write that got id began at began and its Append
// returned at returned.
func (l *seenLog) wrote(id uint64, began, returned time.Time) {
	if i := l.slot(id); i >= 0 {
		l.began[i].Store(began.UnixNano())
		l.returned[i].Store(returned.UnixNano())
	}
}

// saw records that one tailer applied ups at t.
func (l *seenLog) saw(ups []logstore.Update, t time.Time) {
	now := t.UnixNano()
	for _, u := range ups {
		i := l.slot(u.ID)
		if i < 0 {
			continue
		}
		storeIf(&l.lastSeen[i], now, func(cur int64) bool { return cur < now })
		storeIf(&l.firstSeen[i], now, func(cur int64) bool { return cur == 0 || cur > now })
		l.seenBy[i].Add(1)
	}
}

// storeIf stores v in a while better says that v is better than its value.
func storeIf(a *atomic.Int64, v int64, better func(cur int64) bool) {
	for {
		cur := a.Load()
		if !better(cur) || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// complete reports whether every write has been applied by nodes tailers.
func (l *seenLog) complete(nodes int) bool {
	for i := range l.began {
		if l.began[i].Load() != 0 && int(l.seenBy[i].Load()) < nodes {
			return false
		}
	}
	return true
}

// summary returns the propagation of the writes to nodes tailers.
func (l *seenLog) summary(nodes int) propagation {
	ws := make([]writeTimes, len(l.began))
	at := func(a *atomic.Int64) time.Time {
		if v := a.Load(); v != 0 {
			return time.Unix(0, v)
		}
		return time.Time{}
	}
	for i := range ws {
		ws[i] = writeTimes{began: at(&l.began[i]), returned: at(&l.returned[i]),
			firstSeen: at(&l.firstSeen[i]), lastSeen: at(&l.lastSeen[i]), seenBy: int(l.seenBy[i].Load())}
	}
	return summarise(ws, nodes)
}

// tailer is one simulated node: the store side of a node agent without its
// cache file. It opens its own store, stands on the last update it applied
// (its tip), and loops like the agent's sync loop: read pages from the
// update before its tip (the agent's check that the log still holds it),
// apply (record) them, then Wait for a newer id for at most the check
// interval. Heartbeats go through the same store (see fleet.heartbeats).
type tailer struct {
	node  string
	store logstore.Store
	tip   atomic.Uint64
}

// errTipLost means that the log no longer holds a tailer's tip.
var errTipLost = errors.New("the log no longer holds the tailer's last update")

// catchUp reads and records pages until the log has no more. It looks up
// the seen log for every page: under steady writes one catch-up can last
// from before the write window into it.
func (t *tailer) catchUp(ctx context.Context, pageOps int, seen func() *seenLog) error {
	for {
		tip := t.tip.Load()
		ups, err := t.store.Read(ctx, tip-min(tip, 1), pageOps)
		if err != nil {
			return fmt.Errorf("tail: %w", err) // the store names the position
		}
		if tip > 0 {
			if len(ups) == 0 {
				// As the agent does: an empty page means the log lost the
				// tip, or was cut back; ask for its head.
				if _, err := t.store.Latest(ctx); err != nil {
					return fmt.Errorf("latest: %w", err)
				}
				return fmt.Errorf("update %d: %w", tip, errTipLost)
			}
			if ups[0].ID != tip {
				return fmt.Errorf("update %d, found %d: %w", tip, ups[0].ID, errTipLost)
			}
			ups = ups[1:]
		}
		if len(ups) == 0 {
			return nil
		}
		seen().saw(ups, time.Now())
		t.tip.Store(ups[len(ups)-1].ID)
	}
}

// run tails until ctx ends, counting failed store calls in errs and
// pausing after each like the agent (its first retry interval).
func (t *tailer) run(ctx context.Context, cfg ScaleConfig, seen func() *seenLog, errs *errCount) {
	for ctx.Err() == nil {
		err := t.catchUp(ctx, cfg.PageOps, seen)
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, cfg.CheckInterval)
			_, err = t.store.Wait(wctx, t.tip.Load())
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				err = nil // a quiet log: time for a check
			}
		}
		if err != nil && ctx.Err() == nil {
			errs.add(err)
			sleep(ctx, retryPause)
		}
	}
}

// retryPause is the node agent's first pause after a failing store call.
const retryPause = 250 * time.Millisecond

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// fleet is N tailers running, and the heartbeats they send.
type fleet struct {
	tailers []*tailer
	seen    atomic.Pointer[seenLog]
	// errs counts failed reads and waits; hbErrs failed heartbeats.
	errs, hbErrs errCount
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

// openFleet opens n stores (opening at most cfg.OpenConcurrency at once)
// positioned at tip. It stops at the first store that fails to open, or
// when the machine runs short of memory, and returns the stores opened so
// far with the error.
func openFleet(ctx context.Context, cfg ScaleConfig, t Target, log string, n int, tip uint64) (*fleet, error) {
	f := &fleet{tailers: make([]*tailer, n)}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, cfg.OpenConcurrency)
	var wg sync.WaitGroup
	for i := range n {
		if err := lowMemory(cfg); err != nil {
			cancel(err)
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			s, err := cfg.Open(ctx, t.Store, logstore.Options{Name: log})
			if err != nil {
				cancel(fmt.Errorf("open store %d of %d: %w", i+1, n, err))
				return
			}
			tl := &tailer{node: fmt.Sprintf("scale-node-%05d", i), store: s}
			tl.tip.Store(tip)
			f.tailers[i] = tl
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

func lowMemory(cfg ScaleConfig) error {
	if avail := memAvailable(); avail >= 0 && avail < cfg.MinAvailableMemory {
		return fmt.Errorf("only %d MiB of memory available (the benchmark stops below %d MiB)", avail>>20, cfg.MinAvailableMemory>>20)
	}
	return nil
}

// errCount counts errors and keeps the first, to show what went wrong.
type errCount struct {
	n     atomic.Int64
	first atomic.Pointer[string]
}

func (c *errCount) add(err error) {
	c.n.Add(1)
	msg := err.Error()
	c.first.CompareAndSwap(nil, &msg)
}

// String returns the first error, or "".
func (c *errCount) String() string {
	if p := c.first.Load(); p != nil {
		return *p
	}
	return ""
}

// behind returns how many tailers stand below id.
func (f *fleet) behind(id uint64) int {
	n := 0
	for _, t := range f.tailers {
		if t.tip.Load() < id {
			n++
		}
	}
	return n
}

// start runs every tailer and the heartbeats until stop.
func (f *fleet) start(ctx context.Context, cfg ScaleConfig) {
	ctx, f.cancel = context.WithCancel(ctx)
	load := f.seen.Load
	for _, t := range f.tailers {
		f.wg.Go(func() { t.run(ctx, cfg, load, &f.errs) })
	}
	f.wg.Go(func() { f.heartbeats(ctx, cfg) })
}

// heartbeats sends every tailer's heartbeat once per interval, spread
// evenly over it like agents started at different times, from a few
// goroutines rather than one per tailer: 1,000 tailers then fit on two
// cores. A heartbeat that fails is counted; the tailer's next one is due
// an interval later.
func (f *fleet) heartbeats(ctx context.Context, cfg ScaleConfig) {
	jobs := make(chan *tailer)
	var wg sync.WaitGroup
	for range heartbeatWorkers {
		wg.Go(func() {
			for t := range jobs {
				err := t.store.Heartbeat(ctx, logstore.NodeProgress{Node: t.node, AppliedID: t.tip.Load()})
				if err != nil && ctx.Err() == nil {
					f.hbErrs.add(err)
				}
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)
	tick := time.NewTicker(max(cfg.HeartbeatInterval/time.Duration(len(f.tailers)), time.Millisecond))
	defer tick.Stop()
	for i := 0; ; i = (i + 1) % len(f.tailers) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case jobs <- f.tailers[i]:
		case <-ctx.Done():
			return
		}
	}
}

// heartbeatWorkers is how many heartbeats may be in flight at once.
const heartbeatWorkers = 8

// stop ends the tailers and closes their stores.
func (f *fleet) stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
	f.close()
}

func (f *fleet) close() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, t := range f.tailers {
		if t == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = t.store.Close()
		})
	}
	wg.Wait()
}
