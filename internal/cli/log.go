package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
)

func newLogCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Read the log of updates in the store (--store)",
	}
	cmd.AddCommand(newLogTailCommand(g), newLogLatestCommand(g), newLogNodesCommand(g))
	return cmd
}

func newLogTailCommand(g *globals) *cobra.Command {
	var after uint64
	var follow bool
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print the updates after an id, one operation per line: id time op key [value]",
		Long: `tail prints the log's updates after --after (default: all of them), one
operation per line. It reads the log as it is now: after a history rewrite,
the operations that the rewrite removed are not there. With -f it then waits
for new updates and prints them as they come, until interrupted.`,
		Args: cobra.NoArgs,
		RunE: g.withStore(func(ctx context.Context, store logstore.Store, _ []string) error {
			return tail(ctx, g, store, after, follow)
		}),
	}
	cmd.Flags().Uint64Var(&after, "after", 0, "print the updates with ids above this one")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new updates as they come")
	return cmd
}

// tail prints the updates after after. A position below the horizon cannot
// be read incrementally, so from there it reads from the start and skips
// the updates up to after.
func tail(ctx context.Context, g *globals, store logstore.Store, after uint64, follow bool) error {
	from := after
	if after > 0 {
		h, err := store.Horizon(ctx)
		if err != nil {
			return err
		}
		if after < h {
			from = 0
		}
	}
	for u, err := range logstore.All(ctx, store, logstore.AllOptions{After: from, Follow: follow}) {
		if err != nil {
			if follow && ctx.Err() != nil {
				return nil
			}
			return err
		}
		if u.ID > after {
			printUpdate(g, u)
		}
	}
	return nil
}

func printUpdate(g *globals, u logstore.Update) {
	for _, op := range u.Ops {
		if op.Type == logstore.OpSet {
			fmt.Fprintf(g.out, "%d\t%s\tset\t%s\t%s\n", u.ID, u.Time.UTC().Format(time.RFC3339Nano), printable(op.Key), printable(op.Value))
		} else {
			fmt.Fprintf(g.out, "%d\t%s\tdelete\t%s\n", u.ID, u.Time.UTC().Format(time.RFC3339Nano), printable(op.Key))
		}
	}
}

func newLogLatestCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "latest",
		Short: "Print the log's identity, latest update id and horizon",
		Args:  cobra.NoArgs,
		RunE: g.withStore(func(ctx context.Context, store logstore.Store, _ []string) error {
			latest, err := store.Latest(ctx)
			if err != nil {
				return err
			}
			horizon, err := store.Horizon(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "log_id\t%s\nlatest\t%d\nhorizon\t%d\n", store.ID(), latest, horizon)
			return nil
		}),
	}
}

func newLogNodesCommand(g *globals) *cobra.Command {
	staleAfter := defaultStaleAfter
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the nodes that follow the log: applied id, lag, last heartbeat and its age",
		Long: `nodes lists the nodes that follow the log, with the last update id each has
applied, its lag (updates in the log it has not applied), its last heartbeat
and how old it is. A node whose heartbeat is older than --stale-after is
stale: its agent is down or cannot reach the store.`,
		Args: cobra.NoArgs,
		RunE: g.withStore(func(ctx context.Context, store logstore.Store, _ []string) error {
			latest, err := store.Latest(ctx)
			if err != nil {
				return err
			}
			nodes, err := store.Nodes(ctx)
			if err != nil {
				return err
			}
			printNodes(g.out, latest, nodeRows(nodes, latest, time.Now(), staleAfter))
			return nil
		}),
	}
	cmd.Flags().DurationVar(&staleAfter, "stale-after", defaultStaleAfter, "call a node stale when its last heartbeat is older than this")
	return cmd
}

func newRewriteCommand(g *globals) *cobra.Command {
	var opts logstore.RewriteOptions
	var safe bool
	var sf snapshotFlags
	var liveAge time.Duration
	cmd := &cobra.Command{
		Use:   "rewrite-history",
		Short: "Remove log entries whose effect a later entry overwrote",
		Long: `rewrite-history keeps, for each key, only its last operation at or below
--through (default: the latest id), at its original id, and removes the rest.
Delete markers are removed only at or below --delete-limit (default 0: none),
which must be an id that every node has applied and a snapshot covers; the
log's horizon rises to it, and nodes below it must bootstrap from a snapshot.

With --safe, the limits are computed instead: delete markers go only up to
the newest snapshot in --snapshot-url and the applied id of every live node
(heartbeat younger than --live-age); with no snapshot none go. It then
prints one result line ("` + agentapi.ResultPrefix + `{...}") saying what it did and why.`,
		Args: cobra.NoArgs,
		RunE: g.withStore(func(ctx context.Context, store logstore.Store, _ []string) error {
			if safe {
				if opts.DeleteLimit != 0 {
					return errors.New("--safe computes the delete limit; do not give --delete-limit")
				}
				res, err := safeRewrite(ctx, store, &sf, liveAge, opts.Through, opts.BatchSize, time.Now)
				if err != nil {
					return err
				}
				return emitResult(g.out, res, agentapi.TerminationMessagePath)
			}
			var err error
			if opts.Through == 0 {
				if opts.Through, err = store.Latest(ctx); err != nil {
					return err
				}
			}
			stats, err := rewrite(ctx, store, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "through\t%d\nexamined\t%d\nremoved\t%d\nhorizon\t%d\nduration\t%s\n",
				opts.Through, stats.Examined, stats.Removed, stats.Horizon, stats.Duration)
			return nil
		}),
	}
	cmd.Flags().Uint64Var(&opts.Through, "through", 0, "rewrite the history up to this update id (default: the latest)")
	cmd.Flags().Uint64Var(&opts.DeleteLimit, "delete-limit", 0, "remove delete markers up to this update id")
	cmd.Flags().IntVar(&opts.BatchSize, "batch-size", 0, "rows removed per transaction (default: the store's)")
	cmd.Flags().BoolVar(&safe, agentapi.FlagSafe, false, "compute the limits from the newest snapshot and the live nodes (see above)")
	cmd.Flags().DurationVar(&liveAge, agentapi.FlagLiveAge, 5*time.Minute, "with --safe: a node is live while its last heartbeat is younger than this")
	sf.register(cmd.Flags())
	return cmd
}

func rewrite(ctx context.Context, store logstore.Store, opts logstore.RewriteOptions) (logstore.RewriteStats, error) {
	if opts.DeleteLimit > opts.Through {
		return logstore.RewriteStats{}, errors.New("--delete-limit must not be above --through")
	}
	return store.Rewrite(ctx, opts)
}
