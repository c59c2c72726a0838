package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
)

// fileFlag adds --file, which names a cache file directly instead of --dir.
func fileFlag(cmd *cobra.Command, file *string) {
	cmd.Flags().StringVar(file, "file", "", "cache file to read (default: the one in --dir)")
}

func (g *globals) fileOrDir(file string) (string, error) {
	if file != "" {
		return file, nil
	}
	return g.cachePath()
}

func newInspectCommand(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Print a cache file's header, sizes, generation, applied id and garbage, as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := g.fileOrDir(file)
			if err != nil {
				return err
			}
			info, err := cachefile.Inspect(path)
			if err != nil {
				return err
			}
			return writeJSON(g.out, info)
		},
	}
	fileFlag(cmd, &file)
	return cmd
}

func newVerifyCommand(g *globals) *cobra.Command {
	var file string
	var replay bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a cache file's structure and checksums, and optionally its contents against the log",
		Long: `verify checks a cache file's header, index, records and checksums (a sealed
file's whole-file checksum too) and exits non-zero when anything is wrong.

With --replay it also replays the log (--store) from the start through the
file's applied id and checks that the file holds exactly the same keys and
values. History rewrites keep that replay exact, except when a rewrite went
past the file's applied id; run it on a node that has caught up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := g.fileOrDir(file)
			if err != nil {
				return err
			}
			if _, err := cachefile.Verify(cmd.Context(), path); err != nil {
				return fmt.Errorf("verify %s: %w", path, err)
			}
			fmt.Fprintf(g.out, "%s: structure and checksums ok\n", path)
			if !replay {
				return nil
			}
			n, err := g.verifyReplay(cmd.Context(), path)
			if err != nil {
				return fmt.Errorf("verify %s against the log: %w", path, err)
			}
			fmt.Fprintf(g.out, "%s: equal to the log's replay through update %d (%d keys)\n", path, n.through, n.keys)
			return nil
		},
	}
	fileFlag(cmd, &file)
	cmd.Flags().BoolVar(&replay, "replay", false, "also compare the contents with a full replay of the log (needs --store)")
	return cmd
}

// ErrMismatch means that a cache file differs from the log's replay.
var ErrMismatch = errors.New("cache file differs from the log")

type replayResult struct {
	through uint64
	keys    int
}

// verifyReplay replays the log through the file's applied id and compares
// the result with the file.
func (g *globals) verifyReplay(ctx context.Context, path string) (replayResult, error) {
	r, err := cachefile.Open(path)
	if err != nil {
		return replayResult{}, err
	}
	defer r.Close()
	store, err := g.openStore(ctx, false)
	if err != nil {
		return replayResult{}, err
	}
	defer store.Close()
	if r.LogID() != store.ID() {
		return replayResult{}, fmt.Errorf("file belongs to log %s, store holds log %s: %w",
			logstore.LogID(r.LogID()), store.ID(), logstore.ErrIdentityMismatch)
	}
	through := r.UpdateID()
	want, err := replayLog(ctx, store, through)
	if err != nil {
		return replayResult{}, err
	}
	if err := compareFile(r, want); err != nil {
		return replayResult{}, err
	}
	return replayResult{through: through, keys: len(want)}, nil
}

// replayLog applies the log's updates with ids up to through to a map.
func replayLog(ctx context.Context, store logstore.Store, through uint64) (map[string][]byte, error) {
	began, err := store.Horizon(ctx)
	if err != nil {
		return nil, err
	}
	state := map[string][]byte{}
	var after uint64
	for after < through {
		updates, err := store.ReadReplay(ctx, after, 0, began)
		if err != nil {
			return nil, err
		}
		if len(updates) == 0 {
			break
		}
		for _, u := range updates {
			if u.ID > through {
				return state, nil
			}
			for _, op := range u.Ops {
				if op.Type == logstore.OpSet {
					state[string(op.Key)] = op.Value
				} else {
					delete(state, string(op.Key))
				}
			}
			after = u.ID
		}
	}
	return state, nil
}

// compareFile reports the first few differences between a file and a
// replayed state.
func compareFile(r *cachefile.Reader, want map[string][]byte) error {
	var diffs []string
	report := func(format string, args ...any) {
		if len(diffs) < 10 {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	seen := 0
	for k, v := range r.All() {
		w, ok := want[string(k)]
		switch {
		case !ok:
			report("key %s is in the file but not in the log", printable(k))
		case !bytes.Equal(v, w):
			report("key %s is %d bytes in the file, %d in the log, and differs", printable(k), len(v), len(w))
		default:
			seen++
		}
	}
	for _, k := range sortedKeys(want) {
		if seen == len(want) {
			break
		}
		if _, err := r.Get([]byte(k)); errors.Is(err, cachefile.ErrNotFound) {
			report("key %s is in the log but not in the file", printable([]byte(k)))
		}
	}
	if len(diffs) > 0 || seen != len(want) {
		return fmt.Errorf("%w: %d of %d keys match; %v", ErrMismatch, seen, len(want), diffs)
	}
	return nil
}
