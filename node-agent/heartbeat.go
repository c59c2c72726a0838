package nodeagent

import (
	"context"
	"fmt"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// heartbeatLogEvery bounds how often a run of failing heartbeats is logged.
const heartbeatLogEvery = time.Minute

// heartbeatLoop records this node's applied id in the store every
// HeartbeatInterval until ctx ends. It runs beside the sync loop, with its
// own backoff, so that a store that takes reads but not writes (full, read
// only, failing over) slows neither applying nor the writes that wait for
// it, and readiness does not depend on it. Failures are counted and logged,
// at most once a minute while they last.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	b := newBackoff(a.cfg.RetryInterval)
	var failures int
	var logged time.Time
	for {
		var err error
		wait := a.cfg.HeartbeatInterval
		if a.heartbeatDue() {
			err = a.heartbeat(ctx)
		} else {
			wait = min(wait, a.cfg.CheckInterval) // look again soon
		}
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			failures++
			a.metrics.heartbeatErrors.Inc()
			a.metrics.storeErrors.Inc()
			wait = min(b.advance(), a.cfg.HeartbeatInterval)
			if time.Since(logged) >= heartbeatLogEvery {
				a.log.Error(err, "heartbeat failed; applying goes on", "failures", failures, "retryIn", wait)
				logged = time.Now()
			}
		case failures > 0:
			a.log.Info("heartbeat recorded again", "failures", failures)
			failures, logged = 0, time.Time{}
			b.reset()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// heartbeatDue reports whether the applied id is worth recording: only once
// the file has been reconciled with the log and caught up, and not while it
// is found unusable (its applied id may be one the log no longer has).
func (a *Agent) heartbeatDue() bool {
	f, _ := a.fault.Load().(string)
	return a.synced.Load() && f == ""
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
