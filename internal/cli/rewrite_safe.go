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
	var layout *snapshot.Layout
	var newest snapshot.Manifest
	if sf.url != "" {
		if layout, err = sf.open(ctx); err != nil {
			return agentapi.RewriteResult{}, err
		}
		newest, err = layout.Latest(ctx, store.ID())
		switch {
		case err == nil:
			in.Snapshot, in.HasSnapshot = newest.UpdateID, true
		case !errors.Is(err, snapshot.ErrNoSnapshot):
			return agentapi.RewriteResult{}, fmt.Errorf("rewrite: newest snapshot: %w", err)
		}
	}
	lim := rewritepolicy.Compute(in)
	res := agentapi.RewriteResult{Kind: agentapi.KindRewrite, Through: lim.Through, DeleteLimit: lim.DeleteLimit, Reason: lim.Reason}
	if lim.DeleteLimit > 0 {
		// The delete markers go only because this snapshot covers them:
		// retention must keep it before the first one is removed.
		if err := pinRelied(ctx, layout, store.ID(), newest); err != nil {
			return agentapi.RewriteResult{}, err
		}
		res.SnapshotID, res.SnapshotManifest = newest.UpdateID, newest.Key
	}
	stats, err := store.Rewrite(ctx, logstore.RewriteOptions{Through: lim.Through, DeleteLimit: lim.DeleteLimit, BatchSize: batch})
	if err != nil {
		return agentapi.RewriteResult{}, fmt.Errorf("rewrite through %d, delete markers through %d: %w", lim.Through, lim.DeleteLimit, err)
	}
	end := now()
	res.Removed, res.Horizon, res.Seconds, res.Time = stats.Removed, stats.Horizon, end.Sub(start).Seconds(), end
	return res, nil
}

// pinRelied pins the snapshot m for the rewrite, then checks that it is
// still in place: a retention run that read the layout before the pin may
// have deleted it, and then the rewrite must not rely on it.
func pinRelied(ctx context.Context, layout *snapshot.Layout, log logstore.LogID, m snapshot.Manifest) error {
	if layout == nil {
		return fmt.Errorf("rewrite: delete markers would go without a snapshot layout to pin: %w", snapshot.ErrInvalid)
	}
	if err := layout.PinForRewrite(ctx, log, m); err != nil {
		return fmt.Errorf("rewrite: %w", err)
	}
	if err := layout.Check(ctx, m); err != nil {
		return fmt.Errorf("rewrite: the snapshot it relies on went away while it was pinned; run it again: %w", err)
	}
	return nil
}
