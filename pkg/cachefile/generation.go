package cachefile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/zeebo/xxh3"
)

// A generation is one file with a fixed capacity (index slots and data
// bytes). When the writer needs more room, or dead records pile up, it
// writes the live records into a new generation in a temporary file beside
// the path, makes it durable, and renames it over the path (install).

// sizeFor returns the layout of a generation for live keys whose records
// take recBytes, with room for extraKeys more keys and extraBytes more
// record bytes: the index is at most half full and the data region at most
// half used, so that capacity doubles from one growth to the next.
func (w *Writer) sizeFor(live, recBytes, extraKeys, extraBytes uint64) header {
	minCap := nextPow2(uint64(float64(w.opts.InitialKeys)/w.opts.MaxLoadFactor) + 1)
	capacity := max(minCap, nextPow2(2*(live+extraKeys)), minCapacity)
	data := max(uint64(w.opts.InitialDataSize), 2*(recBytes+extraBytes))
	dataOff := uint64(headerSize) + capacity*8
	return header{
		version: Version, logID: w.logID, capacity: capacity, indexOff: headerSize,
		dataOff: dataOff, fileSize: alignUp(dataOff+data, 4096),
	}
}

// builder writes a new generation into a temporary file.
type builder struct {
	tmp    string
	f      *os.File
	m      *mapping
	st     state
	noSync bool
}

// newBuilder creates a temporary file beside target, laid out as h (whose
// seed and creation time it fills in), with disk reserved for the header,
// the index and reserveBytes of records.
func (w *Writer) newBuilder(target string, h header, reserveBytes uint64) (*builder, error) {
	h.seed = w.opts.seed
	for h.seed == 0 {
		var b [8]byte
		if _, err := randRead(b[:]); err != nil {
			return nil, fmt.Errorf("hash seed: %w", err)
		}
		h.seed = le.Uint64(b[:])
	}
	h.created = w.opts.now().UnixNano()
	b := &builder{tmp: tempName(target), noSync: w.opts.NoSync}
	f, err := os.OpenFile(b.tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create new generation: %w", err)
	}
	b.f = f
	// Readers in other processes and users must be able to read the file,
	// whatever the umask.
	err = f.Chmod(0o644)
	if err == nil {
		err = f.Truncate(int64(h.fileSize))
	}
	if err == nil {
		err = reserve(f, 0, int64(min(h.dataOff+reserveBytes, h.fileSize)))
	}
	if err == nil {
		page := make([]byte, headerSize)
		h.encode(page)
		_, err = f.WriteAt(page, 0)
	}
	if err == nil {
		b.m, err = mapFile(f, true)
	}
	if err != nil {
		b.abort()
		return nil, fmt.Errorf("create new generation %s: %w", b.tmp, err)
	}
	b.st.tail = h.dataOff
	return b, nil
}

// addRecord copies an encoded record (from a verified file) and indexes it
// under key, which it holds. Keys must be unique.
func (b *builder) addRecord(rec, key []byte, vlen int) {
	off := b.st.tail
	copy(b.m.mm[off:], rec)
	b.st.tail += uint64(len(rec))
	b.st.live++
	b.st.liveBytes += uint64(len(key) + vlen)
	h := xxh3.HashSeed(key, b.m.hdr.seed)
	for i := h & b.m.mask; ; i = (i + 1) & b.m.mask {
		if b.m.slots[i] == slotEmpty {
			b.m.slots[i] = makeSlot(h, off)
			return
		}
	}
}

// copyFrom adds every live record of src, checking ctx now and then.
func (b *builder) copyFrom(ctx context.Context, src *mapping) error {
	n := 0
	var ctxErr error
	err := src.scan(func(off uint64, k, v []byte) bool {
		if n++; n%4096 == 0 {
			if ctxErr = ctx.Err(); ctxErr != nil {
				return false
			}
		}
		size := recordSize(len(k), len(v))
		if b.st.tail+size > b.m.size {
			ctxErr = corruptf("source records do not fit the new generation")
			return false
		}
		b.addRecord(src.mm[off:off+size], k, len(v))
		return true
	})
	if err == nil {
		err = ctxErr
	}
	return err
}

// finish stores the header's mutable words and makes the file durable.
func (b *builder) finish(applied uint64, clean bool, bootID [16]byte, now int64) error {
	m := b.m
	b.st.applied = applied
	m.store(offTail, b.st.tail)
	m.store(offLiveBytes, b.st.liveBytes)
	m.store(offGarbage, 0)
	m.store(offTombstones, 0)
	m.store(offLiveKeys, b.st.live)
	m.store(offUpdateID, applied)
	if clean {
		m.store(offClean, 1)
	}
	copy(m.mm[offBootID:offBootID+16], bootID[:])
	encodeCheckpoint(m.mm, checkpoint{updateID: applied, tail: b.st.tail, time: now})
	if b.noSync {
		return nil
	}
	if err := msync(m.mm); err != nil {
		return err
	}
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("fsync new generation: %w", err)
	}
	return nil
}

func (b *builder) abort() {
	if b.m != nil {
		_ = b.m.unmap()
	}
	_ = b.f.Close()
	_ = os.Remove(b.tmp)
}

// install makes a finished builder's file the current generation:
//
//  1. link the current file to path.prev (so that a crash after step 2
//     leaves a name by which the restarted writer finds the old file);
//  2. rename the new file over path, fsync the directory;
//  3. set the old file's superseded word (readers reopen the path);
//  4. unlink path.prev.
//
// OpenWriter finishes steps 3 and 4 when a crash interrupted them.
func (w *Writer) install(b *builder) error {
	prev := w.path + ".prev"
	havePrev := false
	if err := os.Link(w.path, prev); err == nil {
		havePrev = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		b.abort()
		return fmt.Errorf("link current generation to %s: %w", prev, err)
	}
	at("gen:linked")
	if err := os.Rename(b.tmp, w.path); err != nil {
		if havePrev {
			_ = os.Remove(prev)
		}
		b.abort()
		return fmt.Errorf("install new generation: %w", err)
	}
	at("gen:renamed")
	var syncErr error
	if !w.opts.NoSync {
		syncErr = syncDir(dir(w.path))
	}
	if havePrev {
		if w.m != nil {
			w.m.store(offSuperseded, 1)
		} else if err := markSuperseded(prev); err != nil && syncErr == nil {
			syncErr = err
		}
		at("gen:marked")
		if err := os.Remove(prev); err != nil && syncErr == nil {
			syncErr = fmt.Errorf("remove %s: %w", prev, err)
		}
	}
	w.release()
	w.f, w.m, w.st = b.f, b.m, b.st
	w.reserved = w.st.tail
	w.lastCkpt = w.opts.now()
	if syncErr != nil {
		w.opts.Logger.Error(syncErr, "new generation installed, but cleaning up after it failed", "path", w.path)
	}
	return nil
}

// rebuild writes the live records into a new generation with room for
// extraKeys more keys and extraBytes more record bytes, and installs it.
func (w *Writer) rebuild(ctx context.Context, extraKeys, extraBytes uint64, reason string) error {
	old := w.m.hdr
	recBytes := w.st.tail - old.dataOff - w.st.garbage
	h := w.sizeFor(w.st.live, recBytes, extraKeys, extraBytes)
	h.generation = old.generation + 1
	b, err := w.newBuilder(w.path, h, recBytes)
	if err != nil {
		return err
	}
	if err := b.copyFrom(ctx, w.m); err != nil {
		b.abort()
		return fmt.Errorf("write generation %d: %w", h.generation, err)
	}
	at("gen:copied")
	if err := b.finish(w.st.applied, false, w.bootID, w.opts.now().UnixNano()); err != nil {
		b.abort()
		return fmt.Errorf("write generation %d: %w", h.generation, err)
	}
	at("gen:synced")
	if err := w.install(b); err != nil {
		return err
	}
	w.compactions++
	if h.capacity > old.capacity || h.fileSize-h.dataOff > old.fileSize-old.dataOff {
		w.growths++
	}
	w.opts.Logger.V(1).Info("new cache file generation", "path", w.path, "reason", reason,
		"generation", h.generation, "capacity", h.capacity, "fileSize", h.fileSize, "liveKeys", w.st.live)
	return nil
}

// Compact writes a new, compact generation now, whatever the thresholds.
func (w *Writer) Compact(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.rebuild(ctx, 0, 0, "requested"); err != nil {
		return fmt.Errorf("compact %s: %w", w.path, err)
	}
	return nil
}
