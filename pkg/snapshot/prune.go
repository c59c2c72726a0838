package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/whycache/whycache/pkg/logstore"
)

// PruneOptions say which snapshots retention keeps.
type PruneOptions struct {
	// Keep is how many of the newest snapshots at or below the pointer's
	// target to keep; at least 1 (the pointer's target is always kept).
	Keep int
	// Pinned are update ids whose snapshots are kept whatever their age:
	// the one a history rewrite relied on, say.
	Pinned []uint64
}

// Pruned says what Prune removed.
type Pruned struct {
	// Deleted are the manifests of the snapshots removed.
	Deleted []Manifest
	// Orphans are objects removed that no manifest named (left by runs
	// that failed between the upload and the manifest).
	Orphans []string
}

// Prune deletes old snapshots of the log: all but the newest opts.Keep at
// or below the pointer's target, never the target itself, nothing above it
// (a run that has written its manifest but not yet moved the pointer), no
// pinned one, and never the one the last history rewrite relied on (see
// PinForRewrite): with a rewrite pin that does not parse it deletes
// nothing. A snapshot's manifest goes before its object, so no reader
// trusts a manifest whose object is being deleted. Without a pointer,
// nothing is deleted.
func (l *Layout) Prune(ctx context.Context, log logstore.LogID, opts PruneOptions) (Pruned, error) {
	if opts.Keep < 1 {
		return Pruned{}, fmt.Errorf("prune: keep %d, want at least 1: %w", opts.Keep, ErrInvalid)
	}
	p, _, err := l.readPointer(ctx, log)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		return Pruned{}, nil
	}
	if err != nil {
		return Pruned{}, fmt.Errorf("prune: %w", err)
	}
	relied, err := l.RewritePinned(ctx, log)
	if err != nil {
		return Pruned{}, fmt.Errorf("prune: %w", err)
	}
	all, err := l.List(ctx, log)
	if err != nil {
		return Pruned{}, fmt.Errorf("prune: %w", err)
	}
	var res Pruned
	kept, named := 0, map[string]bool{}
	oldestKept := p.UpdateID
	for _, m := range all {
		named[m.Object] = true
		keep := m.UpdateID > p.UpdateID || m.Key == p.Manifest || m.Key == relied || slices.Contains(opts.Pinned, m.UpdateID)
		if !keep && kept < opts.Keep && m.UpdateID <= p.UpdateID {
			keep = true
		}
		if m.UpdateID <= p.UpdateID && keep {
			kept++
			oldestKept = min(oldestKept, m.UpdateID)
		}
		if keep {
			continue
		}
		if err := l.store.Delete(ctx, m.Key); err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
		if err := l.store.Delete(ctx, m.Object); err != nil {
			return res, fmt.Errorf("prune: %w", err)
		}
		res.Deleted = append(res.Deleted, m)
	}
	orphans, err := l.orphans(ctx, log, named, oldestKept)
	if err != nil {
		return res, err
	}
	res.Orphans = orphans
	return res, nil
}

// orphans deletes snapshot objects that no manifest names and whose update
// id is below the oldest snapshot kept (a newer one may belong to a run in
// progress).
func (l *Layout) orphans(ctx context.Context, log logstore.LogID, named map[string]bool, below uint64) ([]string, error) {
	objs, err := l.store.List(ctx, l.Dir(log))
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	var out []string
	for _, o := range objs {
		id, ok := objectUpdateID(o.Key)
		if !ok || !strings.HasSuffix(o.Key, objectSuffix) || named[o.Key] || id >= below {
			continue
		}
		if err := l.store.Delete(ctx, o.Key); err != nil {
			return out, fmt.Errorf("prune: %w", err)
		}
		out = append(out, o.Key)
	}
	return out, nil
}
