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

// builder writes a new generation into a temporary file: the index
// through a mapping, the records with buffered pwrites.
type builder struct {
	tmp     string
	f       *os.File
	m       *mapping
	st      state
	noSync  bool
	pending []byte // records not yet written, from offset st.tail-len(pending)
}

// builderFlushSize is how many bytes of records a builder buffers.
const builderFlushSize = 1 << 20

// newBuilder creates a temporary file beside target, laid out as h (whose
// seed and creation time it fills in), with disk reserved for the header
// and the index, which are written through the mapping.
func (w *Writer) newBuilder(target string, h header) (*builder, error) {
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
		err = reserve(f, 0, int64(h.dataOff))
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
// under key, which it holds and whose hash is h. Keys must be unique.
func (b *builder) addRecord(rec, key []byte, vlen int, h uint64) error {
	off := b.st.tail
	b.pending = append(b.pending, rec...)
	b.st.tail += uint64(len(rec))
	b.st.live++
	b.st.liveBytes += uint64(len(key) + vlen)
	for i := h & b.m.mask; ; i = (i + 1) & b.m.mask {
		if b.m.slots[i] == slotEmpty {
			b.m.slots[i] = makeSlot(h, off)
			break
		}
	}
	if len(b.pending) >= builderFlushSize {
		return b.flush()
	}
	return nil
}

// flush writes the pending records.
func (b *builder) flush() error {
	if len(b.pending) == 0 {
		return nil
	}
	if _, err := b.f.WriteAt(b.pending, int64(b.st.tail)-int64(len(b.pending))); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	b.pending = b.pending[:0]
	return nil
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
			hashes[i] = xxh3.HashSeed(k, b.m.hdr.seed)
			acc += b.m.slots[hashes[i]&b.m.mask]
		}
		sink.Add(acc & 1)
		for i, off := range offs[:n] {
			k, v, _ := src.record(off)
			size := recordSize(len(k), len(v))
			if b.st.tail+size > b.m.size || off+size > src.size {
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
	b, err := w.newBuilder(w.path, h)
	if err != nil {
		return err
	}
	if err := b.copyFrom(ctx, w.m, w.st.tail); err != nil {
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
