// Package maker creates snapshots: it starts from the newest snapshot of
// the log (or a given sealed file), applies the log's tail to it in a
// temporary cache file, seals a compact generation and publishes it
// (object, manifest, pointer), then applies retention. It runs as its own
// process (`whycache snapshot`, the controller's Job) and never touches a
// node's file or its apply loop. Only when the log has no snapshot, or the
// newest is behind the log's horizon, does it replay the whole log.
package maker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
)

// ErrAhead means that the newest snapshot holds updates the log does not:
// the log was restored or replaced, and no snapshot of it may be trusted.
var ErrAhead = errors.New("maker: snapshot is ahead of the log")

// Options configure Create.
type Options struct {
	// Layout is where snapshots live. Required.
	Layout *snapshot.Layout
	// Store is the log. Required.
	Store logstore.Store
	// TempDir holds the working files (about twice the snapshot's size);
	// empty means the system's temporary directory.
	TempDir string
	// From, when set, is a local sealed cache file to start from instead
	// of downloading the newest snapshot.
	From string
	// Keep is how many snapshots retention keeps; 0 disables retention.
	Keep int
	// Pinned are update ids retention must keep (the snapshot a history
	// rewrite relied on).
	Pinned []uint64
	// Download configures the download of the base snapshot.
	Download snapshot.DownloadOptions
	// Cache configures the working cache file.
	Cache cachefile.Options
	// PageOps bounds each read of the log; 0 means the store's default.
	PageOps int
	// ToolVersion goes into the manifest.
	ToolVersion string
	// Log receives progress; the zero value discards it.
	Log logr.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Create makes and publishes a snapshot of the log and returns the result
// line's content. When the newest snapshot already holds the log's head,
// nothing is uploaded and the result says Skipped.
func Create(ctx context.Context, o Options) (agentapi.SnapshotResult, error) {
	if o.Layout == nil || o.Store == nil {
		return agentapi.SnapshotResult{}, fmt.Errorf("maker: a layout and a log store are required: %w", snapshot.ErrInvalid)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	start := o.Now()
	head, err := o.Store.Latest(ctx)
	if err != nil {
		return agentapi.SnapshotResult{}, fmt.Errorf("snapshot: log head: %w", err)
	}
	tmp, err := os.MkdirTemp(o.TempDir, "whycache-snapshot-")
	if err != nil {
		return agentapi.SnapshotResult{}, fmt.Errorf("snapshot: %w", err)
	}
	defer os.RemoveAll(tmp)
	base, skip, err := o.base(ctx, tmp, head)
	if err != nil || skip != nil {
		if skip != nil {
			return o.skipped(*skip, start), nil
		}
		return agentapi.SnapshotResult{}, err
	}
	sealed, err := o.build(ctx, tmp, base, head)
	if err != nil {
		return agentapi.SnapshotResult{}, err
	}
	return o.publish(ctx, sealed, start)
}

func (o Options) skipped(m snapshot.Manifest, start time.Time) agentapi.SnapshotResult {
	o.Log.Info("newest snapshot already holds the log's head; nothing to do", "updateID", m.UpdateID, "object", m.Object)
	return agentapi.SnapshotResult{Kind: agentapi.KindSnapshot, UpdateID: m.UpdateID, Key: m.Object, Bytes: m.Size,
		Seconds: o.Now().Sub(start).Seconds(), Skipped: true, Time: m.Created}
}

// base finds the file to start from: From, or the newest snapshot that
// downloads and verifies (falling back to older ones), or none ("").
// It returns the manifest instead when that snapshot is already current.
func (o Options) base(ctx context.Context, tmp string, head uint64) (string, *snapshot.Manifest, error) {
	if o.From != "" {
		return o.From, nil, nil
	}
	id := o.Store.ID()
	all, err := o.Layout.List(ctx, id)
	if err != nil {
		return "", nil, fmt.Errorf("snapshot: %w", err)
	}
	for i, m := range all {
		if m.UpdateID > head {
			return "", nil, fmt.Errorf("snapshot %s holds update %d, the log's head is %d: %w", m.Key, m.UpdateID, head, ErrAhead)
		}
		if err := o.Layout.Check(ctx, m); err != nil {
			o.Log.Error(err, "snapshot unusable; trying an older one")
			continue
		}
		if m.UpdateID == head {
			return "", &all[i], nil
		}
		path := filepath.Join(tmp, fmt.Sprintf("base-%d.whycache", i))
		o.Log.Info("downloading the newest snapshot", "object", m.Object, "updateID", m.UpdateID, "bytes", m.Size)
		dl := o.Download
		dl.Checksum = snapshot.ChecksumCRC64NVME // Replace checks the file's own SHA-256
		if m.XXH3 != "" {
			dl.Checksum = snapshot.ChecksumXXH3 // the same, at less CPU
		}
		dl.NoWriteback = true // a temporary base, never made durable
		if _, err := o.Layout.Download(ctx, m, path, dl); err != nil {
			o.Log.Error(err, "snapshot download failed; trying an older one")
			continue
		}
		return path, nil, nil
	}
	return "", nil, nil
}
