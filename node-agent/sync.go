package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// syncLoop tails the log until ctx ends: catch up, record progress, wait
// for the next update. Store failures are logged and retried with backoff.
func (a *Agent) syncLoop(ctx context.Context) error {
	b := newBackoff(a.cfg.RetryInterval)
	var lastBeat time.Time
	for {
		a.progress()
		err := a.catchUp(ctx)
		if errors.Is(err, logstore.ErrBehindHorizon) {
			err = a.bootstrap(ctx, a.w, "behind-horizon")
		}
		if err == nil && time.Since(lastBeat) >= a.cfg.HeartbeatInterval {
			if err = a.heartbeat(ctx); err == nil {
				lastBeat = time.Now()
			}
		}
		if err == nil {
			err = a.waitForUpdates(ctx, time.Until(lastBeat.Add(a.cfg.HeartbeatInterval)))
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			a.metrics.storeErrors.Inc()
			a.log.Error(err, "sync failed; retrying", "appliedID", a.applied.Load(), "retryIn", b.peek())
			if b.sleep(ctx) != nil {
				return nil
			}
			continue
		}
		b.reset()
	}
}

// catchUp reads and applies updates until the log has no more. Pages are
// merged into batches of up to BatchOps operations and BatchBytes bytes, so
// that a node far behind applies (and publishes its applied id) in large
// steps with bounded memory. Once it has caught up after at least one full
// batch, it hands the heap that the batches took back to the operating
// system, rather than holding it until the runtime's scavenger gets to it.
func (a *Agent) catchUp(ctx context.Context) error {
	var applied int64
	for {
		var batch []logstore.Update
		after, ops, bytes := a.applied.Load(), 0, int64(0)
		for ops < a.cfg.BatchOps && bytes < a.cfg.BatchBytes {
			page, n, b, err := a.pager.next(ctx, after, a.cfg.BatchOps-ops)
			if err != nil {
				if len(batch) > 0 {
					if aerr := a.apply(batch); aerr != nil {
						return aerr
					}
				}
				return fmt.Errorf("read log after %d: %w", after, err)
			}
			a.contact()
			if len(page) == 0 {
				break
			}
			batch = append(batch, page...)
			after = page[len(page)-1].ID
			ops += n
			bytes += b
		}
		if len(batch) == 0 {
			a.synced.Store(true)
			a.observeHead(a.applied.Load())
			if applied >= a.cfg.BatchBytes {
				debug.FreeOSMemory()
			}
			return nil
		}
		if err := a.apply(batch); err != nil {
			return err
		}
		applied += bytes
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// apply applies a batch of updates to the cache file.
func (a *Agent) apply(batch []logstore.Update) error {
	last, ops := flatten(batch)
	start := time.Now()
	if err := a.w.Apply(last, ops); err != nil {
		return fmt.Errorf("apply updates %d..%d to the cache file: %w", batch[0].ID, last, err)
	}
	a.metrics.applySeconds.Observe(time.Since(start).Seconds())
	a.metrics.applyBatchOps.Observe(float64(len(ops)))
	a.metrics.appliedUpdates.Add(float64(len(batch)))
	a.metrics.appliedOps.Add(float64(len(ops)))
	a.setApplied(last)
	a.observeHead(last)
	a.refreshStats()
	return nil
}

// refreshStats publishes the cache file's statistics for /metrics. After a
// new generation (a compaction, a growth, a bootstrap) it hands the memory
// that building it took back to the operating system: it is large, and it
// will not be needed again until the next generation.
func (a *Agent) refreshStats() {
	s := a.w.Stats()
	if old := a.stats.Swap(&s); old != nil && old.Generation != s.Generation {
		debug.FreeOSMemory()
	}
	a.metrics.fileBytes.Set(float64(s.FileSize))
	a.metrics.garbageRatio.Set(s.GarbageRatio)
	a.metrics.liveKeys.Set(float64(s.LiveKeys))
	a.metrics.generation.Set(float64(s.Generation))
	a.metrics.compactions.Set(float64(s.Compactions))
}

// waitForUpdates blocks until the log has updates past the applied id, or
// for at most d (so that heartbeats keep flowing).
func (a *Agent) waitForUpdates(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	head, err := a.store.Wait(wctx, a.applied.Load())
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil // quiet log: time for a heartbeat.
		}
		return fmt.Errorf("wait for updates: %w", err)
	}
	a.contact()
	a.observeHead(head)
	return nil
}

// heartbeat records this node's applied id in the store.
func (a *Agent) heartbeat(ctx context.Context) error {
	err := a.store.Heartbeat(ctx, logstore.NodeProgress{Node: a.cfg.NodeName, AppliedID: a.applied.Load()})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	a.contact()
	return nil
}

// observeHead records a head id seen in the log and updates the lag.
func (a *Agent) observeHead(head uint64) {
	for {
		cur := a.head.Load()
		if head <= cur || a.head.CompareAndSwap(cur, head) {
			break
		}
	}
	head, applied := a.head.Load(), a.applied.Load()
	a.metrics.headID.Set(float64(head))
	if applied >= head {
		a.behindSince.Store(0)
		a.metrics.lagIDs.Set(0)
		return
	}
	a.behindSince.CompareAndSwap(0, time.Now().UnixNano())
	a.metrics.lagIDs.Set(float64(head - applied))
}

// lag returns how many updates and how long the agent is behind.
func (a *Agent) lag(now time.Time) (uint64, time.Duration) {
	head, applied := a.head.Load(), a.applied.Load()
	if applied >= head {
		return 0, 0
	}
	var d time.Duration
	if since := a.behindSince.Load(); since != 0 {
		d = now.Sub(time.Unix(0, since))
	}
	return head - applied, d
}

// readiness says whether the agent is ready, and why not.
func (a *Agent) readiness(now time.Time) error {
	select {
	case <-a.started:
	default:
		return errors.New("not started: opening the log store and the cache file")
	}
	if !a.synced.Load() {
		return errors.New("first catch-up with the log not finished")
	}
	if contact := time.Unix(0, a.lastContact.Load()); now.Sub(contact) > a.cfg.MaxLag {
		return fmt.Errorf("no contact with the log store for %s (limit %s)", now.Sub(contact).Round(time.Second), a.cfg.MaxLag)
	}
	ids, d := a.lag(now)
	if ids > a.cfg.MaxLagIDs {
		return fmt.Errorf("%d updates behind the log (limit %d)", ids, a.cfg.MaxLagIDs)
	}
	if d > a.cfg.MaxLag {
		return fmt.Errorf("behind the log for %s (limit %s)", d.Round(time.Millisecond), a.cfg.MaxLag)
	}
	return nil
}

// liveness says whether the main loop is making progress.
func (a *Agent) liveness(now time.Time) error {
	if start := a.bootstrapping.Load(); start != 0 {
		if d := now.Sub(time.Unix(0, start)); d > a.cfg.BootstrapTimeout {
			return fmt.Errorf("bootstrap running for %s (limit %s)", d.Round(time.Second), a.cfg.BootstrapTimeout)
		}
		return nil
	}
	last := time.Unix(0, a.lastProgress.Load())
	if stalled := now.Sub(last); stalled > a.cfg.StallTimeout {
		return fmt.Errorf("main loop made no progress for %s (limit %s)", stalled.Round(time.Second), a.cfg.StallTimeout)
	}
	return nil
}

// backoff is an exponential retry pause, capped at 32 times its base.
type backoff struct{ base, cur time.Duration }

func newBackoff(base time.Duration) *backoff { return &backoff{base: base, cur: base} }

func (b *backoff) peek() time.Duration { return b.cur }
func (b *backoff) reset()              { b.cur = b.base }

func (b *backoff) sleep(ctx context.Context) error {
	t := time.NewTimer(b.cur)
	defer t.Stop()
	b.cur = min(b.cur*2, b.base*32)
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
