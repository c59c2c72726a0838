package cachefile

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/zeebo/xxh3"
)

// Op is one operation of a batch: set Key to Value, or delete Key.
type Op struct {
	// Delete makes the operation a delete; Value must then be empty.
	Delete bool
	// Key is the key, 1 to Options.MaxKeySize bytes. The empty key is
	// invalid (the original whycache reserved it).
	Key []byte
	// Value is the value of a set, 0 to Options.MaxValueSize bytes.
	Value []byte
}

// Apply applies a batch of operations tagged with its update id, in order.
//
// Batches at or below UpdateID are ignored, so re-applying after a restart
// is harmless. Every operation is validated before the file is touched: an
// empty key fails the batch with ErrInvalid, an oversized key or value with
// ErrTooLarge (naming the key and the limit), and nothing of it is applied.
//
// Each operation becomes visible to readers as one atomic store; the
// header's applied id moves to updateID only after the whole batch is in.
// Apply may first write a new generation, when the batch does not fit the
// current one or dead records pass the compaction threshold.
func (w *Writer) Apply(updateID uint64, ops []Op) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if updateID <= w.st.applied {
		return nil
	}
	keys, recBytes, err := w.validate(ops)
	if err == nil {
		err = w.makeRoom(keys, recBytes)
	}
	if err != nil {
		return fmt.Errorf("apply update %d to %s: %w", updateID, w.path, err)
	}
	if err := w.applyOps(ops); err != nil {
		return fmt.Errorf("apply update %d to %s: %w", updateID, w.path, err)
	}
	w.storeCounters()
	at("apply:published")
	w.m.store(offUpdateID, updateID)
	w.st.applied = updateID
	at("apply:done")
	if iv := w.opts.CheckpointInterval; iv > 0 && w.opts.now().Sub(w.lastCkpt) >= iv {
		if err := w.checkpoint(); err != nil {
			return fmt.Errorf("checkpoint after update %d: %w", updateID, err)
		}
	}
	return nil
}

// validate checks every operation against the limits and returns how many
// index slots (sets) and record bytes the batch may need.
func (w *Writer) validate(ops []Op) (keys, recBytes uint64, err error) {
	for i, op := range ops {
		switch {
		case len(op.Key) == 0:
			return 0, 0, fmt.Errorf("operation %d: empty key: %w", i, ErrInvalid)
		case len(op.Key) > w.opts.MaxKeySize:
			return 0, 0, fmt.Errorf("operation %d: key %s is %d bytes, over the key size limit of %d: %w",
				i, quoteKey(op.Key), len(op.Key), w.opts.MaxKeySize, ErrTooLarge)
		case op.Delete && len(op.Value) > 0:
			return 0, 0, fmt.Errorf("operation %d: delete of key %s has a value: %w", i, quoteKey(op.Key), ErrInvalid)
		case len(op.Value) > w.opts.MaxValueSize:
			return 0, 0, fmt.Errorf("operation %d: value of key %s is %d bytes, over the value size limit of %d: %w",
				i, quoteKey(op.Key), len(op.Value), w.opts.MaxValueSize, ErrTooLarge)
		}
		if !op.Delete {
			keys++
			recBytes += recordSize(len(op.Key), len(op.Value))
		}
	}
	if recBytes > maxDataEnd/4 {
		return 0, 0, fmt.Errorf("batch needs %d bytes of records: %w", recBytes, ErrTooLarge)
	}
	return keys, recBytes, nil
}

// makeRoom moves to a new generation when the batch does not fit the current
// one or garbage passes the threshold.
func (w *Writer) makeRoom(keys, recBytes uint64) error {
	h := w.m.hdr
	used := w.st.tail - h.dataOff
	reason := ""
	switch {
	case float64(w.st.used()+keys) > w.opts.MaxLoadFactor*float64(h.capacity):
		reason = "index full"
	case w.st.tail+recBytes > h.fileSize:
		reason = "data region full"
	case int64(w.st.garbage) >= w.opts.MinGarbageBytes && float64(w.st.garbage) > w.opts.MaxGarbageRatio*float64(used):
		reason = "garbage"
	}
	if reason != "" {
		if err := w.rebuild(context.Background(), keys, recBytes, reason); err != nil {
			return err
		}
	}
	return nil
}

// applyOps writes the batch's records past the tail, advances the tail, and
// then publishes the operations in order, each with one atomic store. When
// writing the records fails, nothing is published.
//
// Large batches are written with one pwrite (cheaper than the page faults
// of first touching fresh pages through the mapping); small ones through
// the mapping, into space reserved with fallocate (a store into a hole on a
// full disk would fault, where fallocate reports ENOSPC), saving a system
// call per batch.
func (w *Writer) applyOps(ops []Op) error {
	m := w.m
	w.offs = w.offs[:0]
	size := uint64(0)
	for _, op := range ops {
		if !op.Delete {
			size += recordSize(len(op.Key), len(op.Value))
		}
	}
	var dst []byte
	if size <= smallBatch {
		if err := w.reserveData(w.st.tail + size); err != nil {
			return err
		}
		dst = m.mm[w.st.tail : w.st.tail+size]
	} else {
		dst = slices.Grow(w.buf[:0], int(size))[:size]
	}
	n := uint64(0)
	for _, op := range ops {
		if op.Delete {
			continue
		}
		rs := recordSize(len(op.Key), len(op.Value))
		putRecord(dst[n:n+rs], op.Key, op.Value)
		w.offs = append(w.offs, w.st.tail+n)
		n += rs
	}
	if size > smallBatch {
		if err := pwrite(fpWriteBatch, w.f, dst, int64(w.st.tail)); err != nil {
			return fmt.Errorf("write records: %w", err)
		}
		if cap(dst) <= maxKeptBuffer {
			w.buf = dst[:0]
		}
	}
	// The tail is stored before any slot points past the old one, so that
	// a restarted writer never writes over a published record.
	w.st.tail += size
	m.store(offTail, w.st.tail)
	at("apply:records")
	j := 0
	for start := 0; start < len(ops); start += touchWindow {
		window := ops[start:min(start+touchWindow, len(ops))]
		hashes := w.touch(window)
		for i, op := range window {
			if start+i == len(ops)/2 {
				at("apply:half")
			}
			if op.Delete {
				w.remove(op.Key, hashes[i])
				continue
			}
			w.set(op.Key, hashes[i], len(op.Value), w.offs[j])
			j++
		}
	}
	return nil
}

// touchWindow is how many operations touch loads the memory of at once.
const touchWindow = 256

// sink keeps touch loads from being optimised away.
var sink atomic.Uint64

// touch hashes the keys of ops and loads their home slots, and then the
// records those slots point at when the tags match, before the operations
// run: the loads are independent, so their cache misses overlap, where the
// probes would take them one at a time.
func (w *Writer) touch(ops []Op) []uint64 {
	m := w.m
	w.hashes = w.hashes[:0]
	var acc uint64
	for _, op := range ops {
		h := xxh3.HashSeed(op.Key, m.hdr.seed)
		w.hashes = append(w.hashes, h)
		acc += m.slots[h&m.mask]
	}
	for _, h := range w.hashes {
		if s := m.slots[h&m.mask]; s>>tagShift == h>>tagShift && s != slotTombstone {
			if off := slotOffset(s); off < m.size {
				acc += uint64(m.mm[off])
			}
		}
	}
	sink.Add(acc & 1)
	return w.hashes
}

// maxKeptBuffer bounds the record buffer a Writer keeps between batches.
const maxKeptBuffer = 8 << 20

// smallBatch is the largest batch, in record bytes, written through the
// mapping; reserveChunk is how far ahead of the tail disk is reserved for
// such writes.
const (
	smallBatch   = 64 << 10
	reserveChunk = 4 << 20
)

// reserveData makes sure disk blocks are allocated for the data region up
// to end, reserving a chunk ahead.
func (w *Writer) reserveData(end uint64) error {
	if end <= w.reserved {
		return nil
	}
	from := max(w.reserved, w.st.tail)
	to := min(max(end, from+reserveChunk), w.m.hdr.fileSize)
	err := fail(fpReserveData)
	if err == nil {
		err = reserve(w.f, int64(from), int64(to-from))
	}
	if err != nil {
		return err
	}
	w.reserved = to
	return nil
}

// find probes for key. It returns the slot holding it (found), or else the
// slot an insert should use: the first tombstone on the probe path, or the
// empty slot that ended it.
func (w *Writer) find(key []byte, h uint64) (slot uint64, found bool) {
	m := w.m
	tag := h >> tagShift
	free := int64(-1)
	i := h & m.mask
	for n := uint64(0); n <= m.mask; n++ {
		s := m.slots[i]
		switch {
		case s == slotEmpty:
			if free >= 0 {
				return uint64(free), false
			}
			return i, false
		case s == slotTombstone:
			if free < 0 {
				free = int64(i)
			}
		case s>>tagShift == tag:
			if k, _, err := m.record(slotOffset(s)); err == nil && bytes.Equal(k, key) {
				return i, true
			}
		}
		i = (i + 1) & m.mask
	}
	// The load factor keeps empty slots; a full index is a corrupt one,
	// which recovery has ruled out. Fall back to a tombstone.
	return uint64(max(free, 0)), false
}

// set publishes the record at off as key's value; h is key's hash.
func (w *Writer) set(key []byte, h uint64, vlen int, off uint64) {
	i, found := w.find(key, h)
	if found {
		w.forget(w.m.slots[i])
	} else if w.m.slots[i] == slotTombstone {
		w.st.tombstones--
	}
	atomic.StoreUint64(&w.m.slots[i], makeSlot(h, off))
	w.st.live++
	w.st.liveBytes += uint64(len(key) + vlen)
}

// remove deletes key, whose hash is h, leaving a tombstone.
func (w *Writer) remove(key []byte, h uint64) {
	i, found := w.find(key, h)
	if !found {
		return
	}
	old := w.m.slots[i]
	atomic.StoreUint64(&w.m.slots[i], slotTombstone)
	w.st.tombstones++
	w.forget(old)
}

// forget accounts for the record a live slot pointed at becoming garbage.
func (w *Writer) forget(s uint64) {
	k, v, _ := w.m.record(slotOffset(s))
	w.st.garbage += recordSize(len(k), len(v))
	w.st.live--
	w.st.liveBytes -= uint64(len(k) + len(v))
}
