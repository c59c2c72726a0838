package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
)

// snapshotTempPrefix names the downloads in the private directory.
// snapshotDownload is the one download in progress, kept with its progress
// record when it is interrupted (an agent killed, the store unreachable)
// so that the next attempt resumes it when it is of the same object
// version; other files with the prefix are leftovers and removed.
const (
	snapshotTempPrefix = ".snapshot-"
	snapshotDownload   = snapshotTempPrefix + "download.whycache"
)

// SnapshotBootstrapper is a Bootstrapper that downloads the newest usable
// snapshot of the log: one whose identity matches, whose update id lies
// between the log's horizon and its head, whose object checks out against
// its manifest, and whose download passes the SHA-256 and the cache file's
// full verification. A snapshot that fails any check is never installed:
// the next older one is tried, and the failure is logged and counted by
// reason. With no usable snapshot it replays the log (Fallback) when the
// horizon is 0, and otherwise fails with an error matching
// snapshot.ErrNoSnapshot (a replay could not rebuild what a history
// rewrite removed below the horizon).
//
// It is a prometheus.Collector: the agent registers its metrics.
type SnapshotBootstrapper struct {
	cfg SnapshotConfig
	m   *snapshotMetrics
}

// SnapshotConfig configures a SnapshotBootstrapper.
type SnapshotConfig struct {
	// Layout is where the snapshots are. Required.
	Layout *snapshot.Layout
	// Download bounds the parallel ranged reads (part size, parts in
	// flight): many nodes joining at once must not stampede the store.
	Download snapshot.DownloadOptions
	// MaxJitter is the longest random pause before a download starts, so
	// that nodes started together spread out; 0 means none.
	MaxJitter time.Duration
	// Fallback builds the file when no snapshot is usable and the horizon
	// is 0; nil means ReplayBootstrapper{}.
	Fallback Bootstrapper
	// Logger receives progress and failures.
	Logger logr.Logger
	// Now returns the current time (snapshot age); nil means time.Now.
	Now func() time.Time
}

// NewSnapshotBootstrapper returns a bootstrapper for cfg.
func NewSnapshotBootstrapper(cfg SnapshotConfig) (*SnapshotBootstrapper, error) {
	if cfg.Layout == nil {
		return nil, errors.New("snapshot bootstrap: a snapshot layout is required")
	}
	if cfg.Fallback == nil {
		cfg.Fallback = ReplayBootstrapper{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &SnapshotBootstrapper{cfg: cfg, m: newSnapshotMetrics()}, nil
}

// Bootstrap writes the newest usable snapshot (or a replay) into dir,
// verified completely (cachefile.Verify), and returns its path.
func (b *SnapshotBootstrapper) Bootstrap(ctx context.Context, store logstore.Store, dir string, opts cachefile.Options) (string, error) {
	var out string
	err := b.run(ctx, store, dir, opts, func(path string, checked *cachefile.SealCheck) error {
		if checked == nil { // a replay
			if _, err := cachefile.Verify(ctx, path); err != nil {
				return err
			}
			out = path
			return nil
		}
		out = filepath.Join(dir, snapshotTempPrefix+"bootstrap.whycache")
		return os.Rename(path, out) // off the download's name, which the next download reuses
	})
	return out, err
}

// Install puts the newest usable snapshot (or a replay) into w: a download
// into the private directory beside w's file, verified completely as it
// arrives (cachefile.SealCheck), becomes the new generation with
// Writer.AdoptChecked, without a second pass over it nor a copy; a replay
// goes through Writer.Adopt, and a file outside w's directories through
// Writer.Replace. A snapshot refused is skipped for the next older one.
func (b *SnapshotBootstrapper) Install(ctx context.Context, store logstore.Store, w *cachefile.Writer, dir string, opts cachefile.Options) error {
	// Downloads go where readers cannot open them, and stay there when
	// interrupted, to be resumed.
	if private := filepath.Join(dir, cachefile.PrivateDirName); filepath.Dir(filepath.Clean(w.Path())) == filepath.Clean(dir) {
		dir = private
	}
	return b.run(ctx, store, dir, opts, func(path string, checked *cachefile.SealCheck) error {
		defer os.Remove(path) // gone already when adopted
		home := filepath.Dir(filepath.Clean(w.Path()))
		switch {
		case filepath.Dir(path) != home && filepath.Dir(path) != filepath.Join(home, cachefile.PrivateDirName):
			return w.Replace(ctx, path)
		case checked != nil:
			return w.AdoptChecked(ctx, path, checked)
		default:
			return w.Adopt(ctx, path)
		}
	})
}

// run finds a usable snapshot, downloads it into dir and hands it to
// accept, falling back to older snapshots while accept refuses them as
// corrupt, and to the Fallback when the horizon allows.
func (b *SnapshotBootstrapper) run(ctx context.Context, store logstore.Store, dir string, opts cachefile.Options, accept acceptFunc) error {
	start := b.cfg.Now()
	removeStaleDownloads(dir, b.cfg.Logger, snapshotDownload, snapshotDownload+snapshot.ProgressSuffix)
	if err := b.jitter(ctx); err != nil {
		return err
	}
	horizon, head, err := bounds(ctx, store)
	if err != nil {
		return fmt.Errorf("snapshot bootstrap: %w", err)
	}
	m, err := b.fromSnapshots(ctx, store, dir, horizon, head, opts.NoSync, accept)
	if err == nil {
		b.m.done("snapshot", m.Size, b.cfg.Now().Sub(start), b.cfg.Now().Sub(m.Created))
		b.cfg.Logger.Info("bootstrapped from a snapshot", "updateID", m.UpdateID, "object", m.Object,
			"bytes", m.Size, "age", b.cfg.Now().Sub(m.Created).Round(time.Second), "duration", b.cfg.Now().Sub(start))
		return nil
	}
	if !errors.Is(err, snapshot.ErrNoSnapshot) {
		return err
	}
	if horizon > 0 {
		b.m.failure("no_snapshot")
		return fmt.Errorf("snapshot bootstrap: the log's horizon is %d, so it cannot be replayed, and %w", horizon, err)
	}
	b.cfg.Logger.Info("no usable snapshot; replaying the log")
	path, err := b.cfg.Fallback.Bootstrap(ctx, store, dir, opts)
	if err != nil {
		return err
	}
	var size int64
	if fi, serr := os.Stat(path); serr == nil {
		size = fi.Size()
	}
	if err := accept(path, nil); err != nil {
		os.Remove(path)
		return fmt.Errorf("snapshot bootstrap: replayed file: %w", err)
	}
	b.m.done("replay", size, b.cfg.Now().Sub(start), 0)
	return nil
}

func bounds(ctx context.Context, store logstore.Store) (horizon, head uint64, err error) {
	if horizon, err = store.Horizon(ctx); err != nil {
		return 0, 0, err
	}
	if head, err = store.Latest(ctx); err != nil {
		return 0, 0, err
	}
	return horizon, head, nil
}

func (b *SnapshotBootstrapper) jitter(ctx context.Context) error {
	if b.cfg.MaxJitter <= 0 {
		return nil
	}
	d := rand.N(b.cfg.MaxJitter)
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewestUsable returns the newest snapshot that a bootstrap would try
// first: of this log, between the horizon and the head, its object in
// place as its manifest says. It downloads nothing; the start-up decision
// uses it to choose between a download, a replay and a wait.
func (b *SnapshotBootstrapper) NewestUsable(ctx context.Context, store logstore.Store) (snapshot.Manifest, error) {
	horizon, head, err := bounds(ctx, store)
	if err != nil {
		return snapshot.Manifest{}, fmt.Errorf("newest usable snapshot: %w", err)
	}
	var found snapshot.Manifest
	err = b.eachCandidate(ctx, store, horizon, head, func(m snapshot.Manifest) (bool, error) {
		found = m
		return true, nil
	})
	return found, err
}

// NewestSnapshot implements SnapshotLister: the update id of
// NewestUsable's snapshot, and false when there is none.
func (b *SnapshotBootstrapper) NewestSnapshot(ctx context.Context, store logstore.Store) (uint64, bool, error) {
	m, err := b.NewestUsable(ctx, store)
	switch {
	case errors.Is(err, snapshot.ErrNoSnapshot):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	return m.UpdateID, true, nil
}

// eachCandidate calls try with the snapshots a bootstrap may use, newest
// first: the pointer's target (saving a LIST), then the listed ones, each
// once, skipping (and counting) those out of bounds or whose object does
// not match. It stops when try says so; ErrNoSnapshot when none was taken.
func (b *SnapshotBootstrapper) eachCandidate(ctx context.Context, store logstore.Store, horizon, head uint64,
	try func(snapshot.Manifest) (bool, error)) error {
	seen := map[string]bool{}
	consider := func(m snapshot.Manifest) (bool, error) {
		if seen[m.Key] {
			return false, nil
		}
		seen[m.Key] = true
		if reason := b.unusable(ctx, m, horizon, head); reason != "" {
			return false, nil
		}
		return try(m)
	}
	if m, err := b.cfg.Layout.Pointed(ctx, store.ID()); err == nil {
		if ok, err := consider(m); ok || err != nil {
			return err
		}
	} else if !errors.Is(err, snapshot.ErrNotFound) && !errors.Is(err, snapshot.ErrCorrupt) {
		return err
	}
	all, err := b.cfg.Layout.List(ctx, store.ID())
	if err != nil {
		return err
	}
	for _, m := range all {
		if ok, err := consider(m); ok || err != nil {
			return err
		}
	}
	return fmt.Errorf("log %s: %w", store.ID(), snapshot.ErrNoSnapshot)
}

// unusable says why a snapshot cannot be used ("" when it can), logging
// and counting the reason.
func (b *SnapshotBootstrapper) unusable(ctx context.Context, m snapshot.Manifest, horizon, head uint64) string {
	reason, detail := "", ""
	switch {
	case m.FormatVersion != cachefile.Version:
		reason, detail = "version", fmt.Sprintf("format version %d, this agent reads %d", m.FormatVersion, cachefile.Version)
	case horizon > 0 && m.UpdateID < horizon:
		reason, detail = "behind_horizon", fmt.Sprintf("update id %d below the horizon %d", m.UpdateID, horizon)
	case m.UpdateID > head:
		reason, detail = "ahead_of_log", fmt.Sprintf("update id %d above the log's head %d", m.UpdateID, head)
	default:
		if err := b.cfg.Layout.Check(ctx, m); err != nil {
			reason, detail = "object_mismatch", err.Error()
			if errors.Is(err, snapshot.ErrNotFound) {
				reason = "object_missing"
			}
		}
	}
	if reason != "" {
		b.m.failure(reason)
		b.cfg.Logger.Info("skipping snapshot", "manifest", m.Key, "reason", reason, "detail", detail)
	}
	return reason
}

// fromSnapshots downloads candidates and hands them to accept until one
// passes.
func (b *SnapshotBootstrapper) fromSnapshots(ctx context.Context, store logstore.Store, dir string, horizon, head uint64,
	noSync bool, accept acceptFunc) (snapshot.Manifest, error) {
	var used snapshot.Manifest
	err := b.eachCandidate(ctx, store, horizon, head, func(m snapshot.Manifest) (bool, error) {
		err := b.fetch(ctx, store, dir, m, noSync, accept)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if !refused(err) && !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrChanged) &&
				!errors.Is(err, snapshot.ErrNotFound) {
				return false, err // not the snapshot's fault: the store or the disk
			}
			b.cfg.Logger.Error(err, "snapshot unusable; falling back to the previous one", "manifest", m.Key)
			return false, nil
		}
		used = m
		return true, nil
	})
	return used, err
}

// acceptFunc installs a downloaded (or replayed) file. checked, when not
// nil, is the check that verified the download completely as it arrived;
// a nil one (a replay) leaves the verification to acceptFunc.
type acceptFunc func(path string, checked *cachefile.SealCheck) error

// refused reports whether the cache file layer refused a file as not a
// good snapshot of this log.
func refused(err error) bool {
	return errors.Is(err, cachefile.ErrCorrupt) || errors.Is(err, cachefile.ErrVersion) ||
		errors.Is(err, cachefile.ErrIdentityMismatch) || errors.Is(err, cachefile.ErrInvalid)
}

// The agent chooses with the snapshots on offer and installs through
// Writer.Replace's own verification.
var (
	_ SnapshotLister = (*SnapshotBootstrapper)(nil)
	_ Installer      = (*SnapshotBootstrapper)(nil)
)
