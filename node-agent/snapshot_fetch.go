package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
)

// fetch downloads one snapshot into dir, resuming an interrupted download
// of the same object version, verifies it completely as it arrives
// (cachefile.SealCheck), checks its header against the manifest and the
// log, and hands it to accept. The file is removed unless accept keeps it,
// or the download was interrupted and can resume. noSync says the file
// will not be made durable (cachefile.Options.NoSync).
func (b *SnapshotBootstrapper) fetch(ctx context.Context, store logstore.Store, dir string, m snapshot.Manifest, noSync bool,
	accept acceptFunc) error {
	path := filepath.Join(dir, snapshotDownload)
	opts := b.cfg.Download
	opts.Progress = b.progress(m)
	opts.Resume = true
	opts.NoWriteback = opts.NoWriteback || noSync // never fsynced: no head start to give
	// The check verifies the file's structure as Verify does. Its bytes
	// are vouched for either by the manifest's XXH3-128, taken from the
	// bytes Seal wrote and checked at a twentieth of the CPU of the
	// SHA-256, or, in a manifest without one, by the file's own SHA-256
	// (see the snapshot package's documentation); the manifest's CRC64NVME
	// was compared with the store's before the download.
	check := cachefile.NewSealCheck(m.Size)
	opts.Checksum = snapshot.ChecksumNone
	if m.XXH3 != "" {
		opts.Checksum = snapshot.ChecksumXXH3
		check.SkipSum()
	}
	sum, walk := check.Parts()
	opts.Also = []io.Writer{sum, walk}
	b.cfg.Logger.Info("downloading snapshot", "object", m.Object, "updateID", m.UpdateID, "bytes", m.Size)
	st, err := b.cfg.Layout.Download(ctx, m, path, opts)
	b.m.fetched(st)
	if st.Resumed > 0 {
		b.cfg.Logger.Info("resumed an interrupted snapshot download", "object", m.Object, "bytesKept", st.Resumed, "bytesFetched", st.Fetched)
	}
	if err != nil {
		reason := "download"
		if errors.Is(err, snapshot.ErrCorrupt) {
			reason = "checksum"
		} else if errors.Is(err, snapshot.ErrChanged) {
			reason = "changed"
		}
		if ctx.Err() == nil {
			b.m.failure(reason)
		}
		return err
	}
	reason, err := b.verifyDownload(ctx, path, store.ID(), m, check)
	if err == nil {
		err = accept(path, check)
		reason = "corrupt"
		if errors.Is(err, cachefile.ErrIdentityMismatch) {
			reason = "identity"
		} else if errors.Is(err, cachefile.ErrVersion) {
			reason = "version"
		}
	}
	if err != nil {
		os.Remove(path)
		if ctx.Err() == nil && (refused(err) || errors.Is(err, snapshot.ErrCorrupt)) {
			b.m.failure(reason)
		}
		return fmt.Errorf("snapshot %s: %w", m.Key, err)
	}
	return nil
}

// verifyDownload finishes the check of a download and compares its header
// with the manifest and the log.
func (b *SnapshotBootstrapper) verifyDownload(ctx context.Context, path string, log logstore.LogID, m snapshot.Manifest,
	check *cachefile.SealCheck) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "download", err
	}
	defer f.Close()
	if _, err := check.Finish(ctx, f); err != nil {
		reason := "corrupt"
		if errors.Is(err, cachefile.ErrVersion) {
			reason = "version"
		}
		return reason, err
	}
	return checkHeader(path, log, m)
}

// checkHeader compares the file's header with the manifest and the log:
// the cheap checks, before the full verification.
func checkHeader(path string, log logstore.LogID, m snapshot.Manifest) (string, error) {
	inf, err := cachefile.Inspect(path)
	switch {
	case errors.Is(err, cachefile.ErrVersion):
		return "version", err
	case err != nil:
		return "corrupt", err
	case inf.LogID != log:
		return "identity", fmt.Errorf("file of log %s in the snapshots of log %s: %w", logstore.LogID(inf.LogID), log, snapshot.ErrCorrupt)
	case !inf.Sealed || inf.UpdateID != m.UpdateID:
		return "corrupt", fmt.Errorf("file sealed=%v at update %d, manifest says %d: %w", inf.Sealed, inf.UpdateID, m.UpdateID, snapshot.ErrCorrupt)
	}
	return "", nil
}

// removeStaleDownloads removes what earlier bootstraps left behind in dir,
// but the files named keep.
func removeStaleDownloads(dir string, log logr.Logger, keep ...string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), snapshotTempPrefix) && !slices.Contains(keep, e.Name()) {
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err == nil {
				log.Info("removed an interrupted snapshot download", "path", p)
			}
		}
	}
}
