package cachefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// PathState says whether a Writer's path still names the file it writes,
// as it wrote it. Someone with access to the directory can remove the file,
// rename another over it, or truncate or overwrite it in place; the writer
// goes on writing to its own open file, so without a check readers would
// see no file, a foreign file, or zeros.
type PathState int

const (
	// PathOK means the path names the writer's file, at its size, with its
	// header.
	PathOK PathState = iota
	// PathMissing means there is no file at the path: it was removed. The
	// writer's own file is intact; Republish puts it back.
	PathMissing
	// PathReplaced means another file is at the path (renamed over it). The
	// writer's own file is intact; Republish puts it back.
	PathReplaced
	// PathExtended means the writer's file grew past its generation's size
	// (readers refuse a file whose size is not the header's) while its
	// header is intact, so its content is too; Republish writes it anew.
	PathExtended
	// PathTruncated means the writer's file is shorter than its generation:
	// its content is lost. CheckPath has extended it back to its size with
	// zeros, so that the writer's mapping can be touched again without a
	// fault, and the caller must Replace the file (or rebuild it elsewhere).
	PathTruncated
	// PathOverwritten means the writer's file no longer starts with the
	// header the writer wrote: something wrote over it in place (a cp onto
	// the path). Its content is lost; the caller must Replace it.
	PathOverwritten
)

// String returns the state's name as used in logs and metric labels.
func (s PathState) String() string {
	switch s {
	case PathOK:
		return "ok"
	case PathMissing:
		return "missing"
	case PathReplaced:
		return "replaced"
	case PathExtended:
		return "extended"
	case PathTruncated:
		return "truncated"
	case PathOverwritten:
		return "overwritten"
	default:
		return fmt.Sprintf("PathState(%d)", int(s))
	}
}

// ContentLost reports whether the writer's data is gone (truncated or
// overwritten): the file must be rebuilt from elsewhere, not republished.
func (s PathState) ContentLost() bool { return s == PathTruncated || s == PathOverwritten }

// CheckPath compares the file at the writer's path with the file the
// writer has open: same file (device and inode), same size as its
// generation, same header. It costs two stats and a read of the header's
// first 128 bytes. When the file was truncated it extends it back (see
// PathTruncated) before it returns.
func (w *Writer) CheckPath() (PathState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return PathOK, err
	}
	mine, err := w.f.Stat()
	if err != nil {
		return PathOK, fmt.Errorf("check %s: %w", w.path, err)
	}
	there, err := os.Stat(w.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return PathMissing, nil
	case err != nil:
		return PathOK, fmt.Errorf("check %s: %w", w.path, err)
	case !os.SameFile(mine, there):
		return PathReplaced, nil
	}
	size := int64(w.m.hdr.fileSize)
	if mine.Size() < size {
		err := fail(fpExtend)
		if err == nil {
			err = w.f.Truncate(size)
		}
		if err != nil {
			return PathTruncated, fmt.Errorf("extend truncated %s back to %d bytes: %w", w.path, size, err)
		}
		w.reserved = 0 // the blocks went with the truncation
		return PathTruncated, nil
	}
	var got, want [offHeaderCRC + 4]byte
	if _, err := w.f.ReadAt(got[:], 0); err != nil {
		return PathOK, fmt.Errorf("check %s: read header: %w", w.path, err)
	}
	var page [headerSize]byte
	w.m.hdr.encode(page[:])
	copy(want[:], page[:])
	switch {
	case !bytes.Equal(got[:], want[:]):
		return PathOverwritten, nil
	case mine.Size() > size:
		return PathExtended, nil
	}
	return PathOK, nil
}

// Republish writes the writer's current content into a new generation at
// its path, as a compaction does, after CheckPath found the path missing,
// replaced or extended. A cache file found at the path is marked superseded
// first, so that readers that opened it move to the new generation.
func (w *Writer) Republish(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := markSuperseded(w.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("republish %s: %w", w.path, err)
	}
	if err := w.rebuild(ctx, 0, 0, "republish"); err != nil {
		return fmt.Errorf("republish %s: %w", w.path, err)
	}
	return nil
}
