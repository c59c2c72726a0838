package maker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
)

// maxRestarts bounds how often a replay from the start begins again
// because a concurrent history rewrite raised the horizon past it.
const maxRestarts = 5

// build applies the log to the base file (or to nothing) up to head and
// seals the result; it returns the sealed file's path.
func (o Options) build(ctx context.Context, tmp, base string, head uint64) (string, error) {
	for attempt := 0; ; attempt++ {
		path, err := o.buildOnce(ctx, tmp, base, head, attempt)
		if errors.Is(err, logstore.ErrBehindHorizon) && attempt < maxRestarts {
			if base != "" {
				o.Log.Info("the base snapshot is behind the log's horizon; replaying the whole log")
			}
			base = "" // replay from the start
			continue
		}
		return path, err
	}
}

func (o Options) buildOnce(ctx context.Context, tmp, base string, head uint64, attempt int) (string, error) {
	work := filepath.Join(tmp, fmt.Sprintf("work-%d.whycache", attempt))
	w, err := cachefile.OpenWriter(ctx, work, o.Store.ID(), o.Cache)
	if err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	defer w.Close()
	if base != "" {
		// Replace verifies the whole file (SHA-256, structure, identity).
		if err := w.Replace(ctx, base); err != nil {
			return "", fmt.Errorf("snapshot: start from %s: %w", base, err)
		}
	}
	if err := o.tail(ctx, w, head); err != nil {
		return "", err
	}
	sealed := filepath.Join(tmp, "sealed.whycache")
	inf, err := w.Seal(ctx, sealed)
	if err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	o.Log.Info("sealed", "updateID", inf.UpdateID, "keys", inf.Keys, "bytes", inf.Size)
	return sealed, nil
}

// tail applies the log after the writer's applied id, up to head.
func (o Options) tail(ctx context.Context, w *cachefile.Writer, head uint64) error {
	after := w.UpdateID()
	fromStart := after == 0
	var horizon uint64
	if fromStart {
		h, err := o.Store.Horizon(ctx)
		if err != nil {
			return fmt.Errorf("snapshot: horizon: %w", err)
		}
		horizon = h
	}
	o.Log.Info("applying the log", "from", after, "to", head)
	for after < head {
		var updates []logstore.Update
		var err error
		if fromStart {
			updates, err = o.Store.ReadReplay(ctx, after, o.PageOps, horizon)
		} else {
			updates, err = o.Store.Read(ctx, after, o.PageOps)
		}
		if err != nil {
			return fmt.Errorf("snapshot: read the log after %d: %w", after, err)
		}
		if len(updates) == 0 {
			break
		}
		last, ops := flatten(updates)
		if err := w.Apply(last, ops); err != nil {
			return fmt.Errorf("snapshot: apply through %d: %w", last, err)
		}
		after = last
	}
	return nil
}

// flatten turns log updates into one cache-file batch.
func flatten(updates []logstore.Update) (uint64, []cachefile.Op) {
	var ops []cachefile.Op
	for _, u := range updates {
		for _, op := range u.Ops {
			ops = append(ops, cachefile.Op{Delete: op.Type == logstore.OpDelete, Key: op.Key, Value: op.Value})
		}
	}
	return updates[len(updates)-1].ID, ops
}

// publish uploads the sealed file and applies retention.
func (o Options) publish(ctx context.Context, sealed string, start time.Time) (agentapi.SnapshotResult, error) {
	inf, err := cachefile.Inspect(sealed)
	if err != nil {
		return agentapi.SnapshotResult{}, fmt.Errorf("snapshot: %w", err)
	}
	up := time.Now()
	prog := progressLogger(o, "uploading")
	pub, err := o.Layout.Publish(ctx, sealed, snapshot.PublishInfo{Log: o.Store.ID(), FormatVersion: inf.Version,
		UpdateID: inf.UpdateID, ToolVersion: o.ToolVersion, Created: o.Now()}, prog)
	if err != nil {
		return agentapi.SnapshotResult{}, fmt.Errorf("snapshot: %w", err)
	}
	upSecs := time.Since(up).Seconds()
	m := pub.Manifest
	o.Log.Info("published", "object", m.Object, "updateID", m.UpdateID, "bytes", m.Size,
		"pointerMoved", pub.PointerMoved, "uploadSeconds", upSecs)
	if o.Keep > 0 {
		pr, err := o.Layout.Prune(ctx, o.Store.ID(), snapshot.PruneOptions{Keep: o.Keep, Pinned: o.Pinned})
		if err != nil {
			return agentapi.SnapshotResult{}, fmt.Errorf("snapshot: retention: %w", err)
		}
		o.Log.Info("retention", "deleted", len(pr.Deleted), "orphans", len(pr.Orphans), "keep", o.Keep)
	}
	res := agentapi.SnapshotResult{Kind: agentapi.KindSnapshot, UpdateID: m.UpdateID, Key: m.Object, Bytes: m.Size,
		Seconds: o.Now().Sub(start).Seconds(), Time: m.Created}
	if upSecs > 0 {
		res.BytesPerSecond = float64(m.Size) / upSecs
	}
	return res, nil
}

// progressLogger logs a transfer's progress at most every two seconds.
func progressLogger(o Options, msg string) func(done, total int64) {
	var mu sync.Mutex // parts report from several goroutines
	var last time.Time
	start := time.Now()
	return func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if now.Sub(last) < 2*time.Second && done < total {
			return
		}
		last = now
		rate := float64(done) / max(now.Sub(start).Seconds(), 1e-9)
		o.Log.Info(msg, "bytesDone", done, "bytesTotal", total, "bytesPerSecond", int64(rate))
	}
}
