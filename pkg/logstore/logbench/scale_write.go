package logbench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// maxWritesInFlight bounds the appends of the write window that may be in
// flight at once: a store slower than the rate makes the rate fall, not
// the goroutines pile up.
const maxWritesInFlight = 64

// writeStats is what paced did.
type writeStats struct {
	// rate is the successful calls per second; errs the failed calls.
	rate float64
	errs int64
}

// paced calls do rate times a second until ctx ends, each call in its own
// goroutine (up to maxWritesInFlight), so that a slow call does not delay
// the next; seq numbers the calls from 0. It returns once the calls have
// ended.
func paced(ctx context.Context, rate int, do func(seq int) error) writeStats {
	tick := time.NewTicker(time.Second / time.Duration(max(rate, 1)))
	defer tick.Stop()
	sem := make(chan struct{}, maxWritesInFlight)
	var wg sync.WaitGroup
	var ok, errs atomic.Int64
	start := time.Now()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := do(seq); err != nil {
				errs.Add(1)
				return
			}
			ok.Add(1)
		})
	}
	elapsed := time.Since(start)
	wg.Wait()
	return writeStats{rate: float64(ok.Load()) / elapsed.Seconds(), errs: errs.Load()}
}
