package sqlkit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Notifier tracks the highest update id known to exist and wakes every
// waiter when it rises. Appends in this process publish to it directly; a
// backend-specific source (LISTEN/NOTIFY, polling) publishes what other
// processes append.
type Notifier struct {
	mu     sync.Mutex
	latest uint64
	ch     chan struct{}
}

// NewNotifier returns a notifier that knows of no update yet.
func NewNotifier() *Notifier {
	return &Notifier{ch: make(chan struct{})}
}

// Publish records that id exists and wakes the waiters when it is new.
func (n *Notifier) Publish(id uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id <= n.latest {
		return
	}
	n.latest = id
	close(n.ch)
	n.ch = make(chan struct{})
}

// Wake wakes every waiter without news, so that they read the store again
// (after a lost notification connection, for example).
func (n *Notifier) Wake() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

// State returns the highest id known and a channel that is closed at the
// next Publish or Wake.
func (n *Notifier) State() (uint64, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.latest, n.ch
}

// Backoff returns how long a waiter sleeps before its attempt-th check of
// the store (attempt counts from 0 after each wake-up).
type Backoff func(attempt int) time.Duration

// Fixed returns a Backoff that always waits d.
func Fixed(d time.Duration) Backoff { return func(int) time.Duration { return d } }

// Doubling returns a Backoff that starts at min and doubles up to max.
func Doubling(min, max time.Duration) Backoff {
	return func(attempt int) time.Duration {
		d := min
		for i := 0; i < attempt && d < max; i++ {
			d *= 2
		}
		return min2(d, max)
	}
}

func min2(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// Wait blocks until an id above after is known, and returns the highest
// known id. It reads the store with refresh first, then whenever the
// backoff's delay passes without a wake-up, and after a Wake.
func (n *Notifier) Wait(ctx context.Context, after uint64, refresh func(context.Context) (uint64, error), backoff Backoff) (uint64, error) {
	stale := true
	for attempt := 0; ; {
		latest, ch := n.State()
		if latest > after {
			return latest, nil
		}
		if stale {
			id, err := refresh(ctx)
			if err != nil {
				if ctx.Err() != nil {
					// Drivers report a query cut short by its context
					// in their own words; callers test for ctx's error.
					return 0, ctx.Err()
				}
				return 0, fmt.Errorf("wait: %w", err)
			}
			n.Publish(id)
			if id > after {
				return id, nil
			}
		}
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ch:
			// A Publish above after ends the loop at its top without a
			// read; anything else (a Wake) reads the store again.
			stale, attempt = true, 0
		case <-t.C:
			stale = true
			attempt++
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
		t.Stop()
	}
}
