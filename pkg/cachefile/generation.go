package cachefile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"sync/atomic"

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

// copyFrom adds every live record of src whose records end below end (its
// data tail), checking ctx now and then.
//
// It first marks the offsets of live records in a bitmap (one bit per 8
// bytes of data, read from the index sequentially), then copies the records
// in file order: the reads are sequential, and the new generation keeps the
// append order. Records are handled in groups, whose new index slots are
// loaded in one pass of independent loads before the inserts (see
// Writer.touch).
func (b *builder) copyFrom(ctx context.Context, src *mapping, end uint64) error {
	dataOff := src.hdr.dataOff
	end = min(end, src.size)
	if end < dataOff {
		return nil
	}
	live := make([]uint64, ((end-dataOff)/8+63)/64)
	for i := range src.slots {
		s := atomic.LoadUint64(&src.slots[i])
		if s == slotEmpty || s == slotTombstone {
			continue
		}
		off := slotOffset(s)
		if off < dataOff || off >= end {
			return corruptf("index slot %d points at offset %d, outside the data [%d, %d)", i, off, dataOff, end)
		}
		w := (off - dataOff) / 8
		live[w/64] |= 1 << (w % 64)
	}
	const group = 64
	var offs, hashes [group]uint64
	n := 0
	flush := func() error {
		var acc uint64
		for i, off := range offs[:n] {
			k, _, err := src.record(off)
			if err != nil {
				return err
			}
			hashes[i] = xxh3.HashSeed(k, b.h.seed)
			acc += b.slots[hashes[i]&b.mask]
		}
		sink.Add(acc & 1)
		for i, off := range offs[:n] {
			k, v, _ := src.record(off)
			size := recordSize(len(k), len(v))
			if b.st.tail+size > b.h.fileSize || off+size > src.size {
				return corruptf("record at offset %d does not fit the new generation", off)
			}
			if err := b.addRecord(src.mm[off:off+size], k, len(v), hashes[i]); err != nil {
				return err
			}
		}
		n = 0
		return nil
	}
	for wi, word := range live {
		if wi%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for word != 0 {
			offs[n] = dataOff + 8*(uint64(wi)*64+uint64(bits.TrailingZeros64(word)))
			word &= word - 1
			if n++; n == group {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return b.flush()
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
//
// It reports whether the new generation is now the writer's. A failure
// before the rename leaves the old one in place (and removes the new
// file); a failure after it (the directory's fsync, marking or unlinking
// the old file) is returned too, but the new generation is in use then:
// the rename is done, and the writer must not go back to the old file.
func (w *Writer) install(b *builder) (installed bool, err error) {
	prev := w.path + ".prev"
	// A path.prev left by a failed unlink is a name of a generation that
	// was already marked superseded.
	if err := remove(fpRemovePrev, prev); err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.abort()
		return false, fmt.Errorf("remove stale %s: %w", prev, err)
	}
	havePrev := false
	if err := link(fpLinkPrev, w.path, prev); err == nil {
		havePrev = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		b.abort()
		return false, fmt.Errorf("link current generation to %s: %w", prev, err)
	}
	at("gen:linked")
	if err := rename(fpRename, b.tmp, w.path); err != nil {
		if havePrev {
			_ = os.Remove(prev)
		}
		b.abort()
		return false, fmt.Errorf("install new generation: %w", err)
	}
	at("gen:renamed")
	if !w.opts.NoSync {
		err = syncDir(dir(w.path))
	}
	if !havePrev && w.m != nil {
		// The path had no file: it was removed under the writer. Readers
		// still on the old generation must move to the new one all the same.
		w.m.store(offSuperseded, 1)
	}
	if havePrev {
		err = errors.Join(err, w.retire(prev))
	}
	w.release()
	w.f, w.m, w.st = b.f, b.m, b.st
	w.reserved = w.st.tail
	w.lastCkpt = w.opts.now()
	if err != nil {
		return true, fmt.Errorf("new generation installed, but: %w", err)
	}
	return true, nil
}

// retire marks the replaced generation, still linked at prev, superseded,
// and unlinks prev. When marking fails, prev stays, for OpenWriter to
// finish the job (see settlePrev).
func (w *Writer) retire(prev string) error {
	if w.m != nil {
		w.m.store(offSuperseded, 1)
	} else if err := markSuperseded(prev); err != nil {
		return err
	}
	at("gen:marked")
	if err := remove(fpRemovePrev, prev); err != nil {
		return fmt.Errorf("remove %s: %w", prev, err)
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
	b, err := w.newBuilder(w.path, h)
	if err != nil {
		return err
	}
	if err := b.copyFrom(ctx, w.m, w.st.tail); err != nil {
		b.abort()
		return fmt.Errorf("write generation %d: %w", h.generation, err)
	}
	at("gen:copied")
	err = b.finish(w.st.applied, false, w.bootID, w.opts.now().UnixNano())
	if err == nil {
		err = b.open(true)
	}
	if err != nil {
		b.abort()
		return fmt.Errorf("write generation %d: %w", h.generation, err)
	}
	at("gen:synced")
	installed, err := w.install(b)
	if !installed {
		return err
	}
	w.compactions++
	if h.capacity > old.capacity || h.fileSize-h.dataOff > old.fileSize-old.dataOff {
		w.growths++
	}
	w.opts.Logger.V(1).Info("new cache file generation", "path", w.path, "reason", reason,
		"generation", h.generation, "capacity", h.capacity, "fileSize", h.fileSize, "liveKeys", w.st.live)
	return err
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
