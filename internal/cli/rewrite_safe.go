package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/rewritepolicy"
	"github.com/whycache/whycache/pkg/snapshot"
)

// safeRewrite gathers the inputs of the rewrite policy (the log's head and
// horizon, the newest usable snapshot, the nodes' progress), rewrites
// within the limits it computes, and returns the result line's content.
func safeRewrite(ctx context.Context, store logstore.Store, sf *snapshotFlags, liveAge time.Duration,
	through uint64, batch int, now func() time.Time) (agentapi.RewriteResult, error) {
	start := now()
	in := rewritepolicy.Input{Now: start, LiveAge: liveAge, Through: through}
	var err error
	if in.Head, err = store.Latest(ctx); err != nil {
		return agentapi.RewriteResult{}, fmt.Errorf("rewrite: %w", err)
	}
	if in.Horizon, err = store.Horizon(ctx); err != nil {
		return agentapi.RewriteResult{}, fmt.Errorf("rewrite: %w", err)
	}
	if in.Nodes, err = store.Nodes(ctx); err != nil {
		return agentapi.RewriteResult{}, fmt.Errorf("rewrite: %w", err)
	}
	if sf.url != "" {
		layout, err := sf.open(ctx)
		if err != nil {
			return agentapi.RewriteResult{}, err
		}
		m, err := layout.Latest(ctx, store.ID())
		switch {
		case err == nil:
			in.Snapshot, in.HasSnapshot = m.UpdateID, true
		case !errors.Is(err, snapshot.ErrNoSnapshot):
			return agentapi.RewriteResult{}, fmt.Errorf("rewrite: newest snapshot: %w", err)
		}
	}
	lim := rewritepolicy.Compute(in)
	stats, err := store.Rewrite(ctx, logstore.RewriteOptions{Through: lim.Through, DeleteLimit: lim.DeleteLimit, BatchSize: batch})
	if err != nil {
		return agentapi.RewriteResult{}, fmt.Errorf("rewrite through %d, delete markers through %d: %w", lim.Through, lim.DeleteLimit, err)
	}
	end := now()
	return agentapi.RewriteResult{Kind: agentapi.KindRewrite, Through: lim.Through, DeleteLimit: lim.DeleteLimit,
		Removed: stats.Removed, Horizon: stats.Horizon, Reason: lim.Reason, Seconds: end.Sub(start).Seconds(), Time: end}, nil
}
