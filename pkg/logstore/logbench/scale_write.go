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
// the next; seq numbers the calls from 0. On a loaded machine a ticker's
// ticks come late or not at all, so each tick starts every call due by
// then. It returns once the calls have ended.
func paced(ctx context.Context, rate int, do func(seq int) error) writeStats {
	rate = max(rate, 1)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	sem := make(chan struct{}, maxWritesInFlight)
	var wg sync.WaitGroup
	var ok, errs atomic.Int64
	start := time.Now()
	seq := 0
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			continue
		case <-tick.C:
		}
		for due := callsDue(time.Since(start), rate); seq < due && ctx.Err() == nil; seq++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				continue
			}
			n := seq // seq lives on after this iteration
			wg.Go(func() {
				defer func() { <-sem }()
				if err := do(n); err != nil {
					errs.Add(1)
					return
				}
				ok.Add(1)
			})
		}
	}
	elapsed := time.Since(start)
	wg.Wait()
	return writeStats{rate: float64(ok.Load()) / elapsed.Seconds(), errs: errs.Load()}
}

// callsDue is the number of calls due after elapsed at rate a second: one
// at once, then one every 1/rate.
func callsDue(elapsed time.Duration, rate int) int {
	return 1 + int(elapsed.Seconds()*float64(rate))
}
