package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
)

// syncLoop tails the log until ctx ends: check the file, catch up, wait
// for the next update (or the next check). At start, and whenever it finds
// the file unusable (behind the horizon, ahead of the log, fed from another
// history, changed under it), it reconciles the file with the log first.
// Store failures are logged and retried with backoff. Heartbeats run on
// their own (heartbeatLoop), so a store that cannot take them does not
// hold up applying.
func (a *Agent) syncLoop(ctx context.Context) error {
	// A fault in the mapping of a file truncated under the writer becomes a
	// panic that apply recovers, not a crash of the agent.
	debug.SetPanicOnFault(true)
	b := newBackoff(a.cfg.RetryInterval)
	fault, reconciled := "", false
	for {
		a.progress()
		err := a.step(ctx, fault, &reconciled)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errRefused) {
			return err
		}
		// A fault found while tailing rebuilds at once; a rebuild that fails
		// (whatever its error) is retried with backoff below.
		if r := faultReason(err); r != "" && reconciled {
			// Rebuild at once: the file is wrong, not the store.
			a.log.Error(err, "cache file is unusable; rebuilding it", "reason", r, "appliedID", a.applied.Load())
			a.metrics.faults.WithLabelValues(r).Inc()
			a.notReady(r + ": " + err.Error())
			fault, reconciled = r, false
			continue
		}
		if err != nil {
			a.metrics.storeErrors.Inc()
			a.metrics.syncRetries.Inc()
			a.log.Error(err, "sync failed; retrying", "appliedID", a.applied.Load(), "retryIn", b.peek())
			if b.sleep(ctx) != nil {
				return nil
			}
			continue
		}
		fault = ""
		b.reset()
	}
}

// step is one iteration of the sync loop.
func (a *Agent) step(ctx context.Context, fault string, reconciled *bool) error {
	if !*reconciled {
		if err := a.reconcile(ctx, fault); err != nil {
			if fault != "" {
				a.notReady(fault + ": rebuilding: " + err.Error())
			}
			return err
		}
		*reconciled = true
		a.notReady("")
	}
	if err := a.checkFile(ctx); err != nil {
		return err
	}
	if err := a.catchUp(ctx); err != nil {
		return err
	}
	return a.waitForUpdates(ctx, a.cfg.CheckInterval)
}

// catchUp reads and applies updates until the log has no more. Pages are
// merged into batches of up to BatchOps operations and BatchBytes bytes, so
// that a node far behind applies (and publishes its applied id) in large
// steps with bounded memory. Each page checks that the log still holds the
// update before it (see pager.nextChecked). Once it has caught up after at
// least one full batch, it hands the heap that the batches took back to
// the operating system, rather than holding it until the runtime's
// scavenger gets to it.
func (a *Agent) catchUp(ctx context.Context) error {
	var applied int64
	progress := newCatchUpProgress(time.Now(), a.applied.Load())
	for {
		var batch []logstore.Update
		t, ops, bytes := a.tip, 0, int64(0)
		for ops < a.cfg.BatchOps && bytes < a.cfg.BatchBytes {
			pg, err := a.pager.nextChecked(ctx, t, a.cfg.BatchOps-ops)
			if err != nil {
				if len(batch) > 0 && faultReason(err) == "" {
					if aerr := a.apply(ctx, batch); aerr != nil {
						return aerr
					}
				}
				return fmt.Errorf("read log after %d: %w", t.ID, err)
			}
			a.contact()
			if len(pg.updates) == 0 {
				break
			}
			batch = append(batch, pg.updates...)
			t = tipOf(pg.updates[len(pg.updates)-1])
			ops += pg.ops
			bytes += pg.bytes
		}
		if len(batch) == 0 {
			progress.done(a.log, time.Now(), a.applied.Load())
			a.synced.Store(true)
			a.observeHead(a.applied.Load())
			if applied >= a.cfg.BatchBytes {
				debug.FreeOSMemory()
			}
			return a.tipf.sync()
		}
		if err := a.apply(ctx, batch); err != nil {
			return err
		}
		applied += bytes
		progress.report(a.log, time.Now(), a.applied.Load(), func() uint64 {
			if latest, err := a.store.Latest(ctx); err == nil {
				a.observeHead(latest)
			}
			return a.head.Load()
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// apply applies a batch of updates to the cache file, after checking that
// the file is still in place and recording the batch's last update beside
// it.
func (a *Agent) apply(ctx context.Context, batch []logstore.Update) (err error) {
	if err := a.checkFile(ctx); err != nil {
		return err
	}
	t := tipOf(batch[len(batch)-1])
	if err := a.tipf.write(t); err != nil {
		return err
	}
	last, ops := flatten(batch)
	start := time.Now()
	if err := a.applyGuarded(last, ops); err != nil {
		return fmt.Errorf("apply updates %d..%d to the cache file: %w", batch[0].ID, last, err)
	}
	a.tip = t
	a.metrics.applySeconds.Observe(time.Since(start).Seconds())
	a.metrics.applyBatchOps.Observe(float64(len(ops)))
	a.metrics.appliedUpdates.Add(float64(len(batch)))
	a.metrics.appliedOps.Add(float64(len(ops)))
	a.setApplied(last)
	a.observeHead(last)
	a.refreshStats()
	return nil
}

// applyGuarded applies ops, turning a memory fault (the file was truncated
// under the writer since it was last checked) into a fault error.
func (a *Agent) applyGuarded(last uint64, ops []cachefile.Op) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if re, ok := r.(interface{ Addr() uintptr }); ok {
				err = &faultError{"file-truncated", fmt.Errorf("memory fault writing the cache file at %#x: %v", re.Addr(), r)}
				return
			}
			panic(r)
		}
	}()
	return a.w.Apply(last, ops)
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
// for at most d (so that the file and the log are checked again).
func (a *Agent) waitForUpdates(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	go func() {
		select {
		case <-a.kick:
			cancel()
		case <-wctx.Done():
		}
	}()
	head, err := a.store.Wait(wctx, a.applied.Load())
	if err != nil {
		if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			return nil // quiet log, or woken by a write: time for a check.
		}
		return fmt.Errorf("wait for updates: %w", err)
	}
	a.contact()
	a.observeHead(head)
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
	if f, _ := a.fault.Load().(string); f != "" {
		return fmt.Errorf("cache file unusable: %s", f)
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

// advance returns the current pause and doubles the next one.
func (b *backoff) advance() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, b.base*32)
	return d
}

func (b *backoff) sleep(ctx context.Context) error {
	t := time.NewTimer(b.advance())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
