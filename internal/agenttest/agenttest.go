// Package agenttest runs node agents inside a test's process: Start runs
// one until the test ends and fails the test if it does not start or does
// not stop cleanly.
package agenttest

import (
	"context"
	"testing"
	"time"

	nodeagent "github.com/whycache/whycache/node-agent"
)

// startTimeout bounds an agent's start-up: opening its store (a database
// server may still be starting) and its cache file.
const startTimeout = 60 * time.Second

// Agent is an agent running in the test's process.
type Agent struct {
	*nodeagent.Agent
	cancel context.CancelFunc
	done   chan error
}

// Start runs an agent with cfg until the test ends or Stop is called.
func Start(tb testing.TB, cfg nodeagent.Config) *Agent {
	tb.Helper()
	a, err := nodeagent.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &Agent{Agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	select {
	case <-a.Started():
	case err := <-ta.done:
		cancel()
		tb.Fatalf("agent %s stopped during start-up: %v", cfg.NodeName, err)
	case <-time.After(startTimeout):
		cancel()
		tb.Fatalf("agent %s did not start within %s", cfg.NodeName, startTimeout)
	}
	tb.Cleanup(func() { ta.Stop(tb) })
	return ta
}

// Stop stops the agent and fails the test if Run returned an error. It is
// idempotent.
func (a *Agent) Stop(tb testing.TB) {
	tb.Helper()
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	if err := <-a.done; err != nil {
		tb.Errorf("agent Run: %v", err)
	}
}

// WaitApplied waits until the agent has applied update id, and fails the
// test after 30 seconds.
func (a *Agent) WaitApplied(tb testing.TB, id uint64) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for a.AppliedID() < id {
		if time.Now().After(deadline) {
			tb.Fatalf("agent applied %d, want %d", a.AppliedID(), id)
		}
		time.Sleep(time.Millisecond)
	}
}
