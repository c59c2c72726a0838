package logbench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// warmup is excluded from each throughput measurement.
const warmup = 300 * time.Millisecond

// measureAppend measures appends of keys-key updates by writers goroutines
// through one Store (so that the store may group them), then the raw
// ceiling with the same rows and concurrency.
func measureAppend(ctx context.Context, b *backend, cfg Config, writers, keys int) (Result, error) {
	name := logName("append", keys, writers)
	s, err := openLog(ctx, b, name)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	rate, err := runWriters(ctx, writers, cfg.Duration, func(ctx context.Context, w, seq int) error {
		_, err := s.Append(ctx, updateOps(w, seq, keys))
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("append: %w", err)
	}
	r := Result{Backend: b.name, Measure: "append", Writers: writers, Keys: keys, Ours: rate * float64(keys), Updates: rate}
	if b.raw == nil {
		return r, nil
	}
	table := "whycache_raw_" + name
	if err := b.raw.reset(ctx, name, table); err != nil {
		return r, fmt.Errorf("raw table: %w", err)
	}
	var next atomic.Uint64
	raw, err := runWriters(ctx, writers, cfg.Duration, func(ctx context.Context, w, seq int) error {
		return b.raw.insert(ctx, table, next.Add(1), updateOps(w, seq, keys))
	})
	if err != nil {
		return r, fmt.Errorf("raw insert: %w", err)
	}
	r.Raw = raw * float64(keys)
	return r, nil
}

// runWriters runs writers goroutines calling do for d after a warm-up, and
// returns the calls per second. The window lasts until at least one call
// has completed in it, so that a slow store (or a loaded machine) reads as
// a low rate, never as zero.
func runWriters(ctx context.Context, writers int, d time.Duration, do func(ctx context.Context, w, seq int) error) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var count atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for seq := 0; !stop.Load(); seq++ {
				if err := do(ctx, w, seq); err != nil {
					errs <- err
					cancel()
					return
				}
				count.Add(1)
			}
		})
	}
	time.Sleep(warmup)
	start, n0 := time.Now(), count.Load()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	for count.Load() == n0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	n1, elapsed := count.Load(), time.Since(start)
	stop.Store(true)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(n1-n0) / elapsed.Seconds(), nil
}

// value is the value of every benchmark set: 64 bytes.
var value = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

// updateOps returns the keys-key update number seq of writer w.
func updateOps(w, seq, keys int) []logstore.Op {
	ops := make([]logstore.Op, keys)
	for i := range ops {
		ops[i] = logstore.Set(fmt.Appendf(nil, "w%03d-%08d-%03d", w, seq, i), value)
	}
	return ops
}
