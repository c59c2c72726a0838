package cachefile

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"

	"github.com/zeebo/xxh3"
)

// counts are what a walk of the index finds.
type counts struct {
	live, tombstones    uint64
	liveBytes, recBytes uint64 // key+value bytes; record bytes (padding included)
	maxEnd              uint64 // end of the last live record
}

// checkCtxEvery is how many index slots checkIndex checks between checks
// of its context.
const checkCtxEvery = 1 << 16

// slotFault is a live index slot that fails a check.
type slotFault struct {
	slot, off uint64
	dupOf     int64 // for a duplicate key: the other slot; else -1
	err       error
}

// checkIndex walks every index slot of m and checks each live one: the
// record lies in the data region, its CRC-32C matches, its key is not empty,
// the slot's tag matches the key's hash, the key is reachable from its home
// slot (no empty slot between), and no earlier slot on that path holds the
// same key. fault is called for each failing slot; when it returns an error,
// the walk stops with it. Slots that fail are not counted.
//
// On a file that a writer is changing, a key that moves (deleted and set
// again) can look duplicated; such a pair is re-read and ignored when either
// slot changed. The walk stops with ctx's error when ctx ends.
func checkIndex(ctx context.Context, m *mapping, fault func(slotFault) error) (counts, error) {
	var c counts
	for i := range m.slots {
		if i%checkCtxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return c, fmt.Errorf("check the index: %w", err)
			}
		}
		s := atomic.LoadUint64(&m.slots[i])
		switch s {
		case slotEmpty:
			continue
		case slotTombstone:
			c.tombstones++
			continue
		}
		f := checkSlot(m, uint64(i), s)
		if f.err != nil {
			if err := fault(f); err != nil {
				return c, err
			}
			continue
		}
		k, v, _ := m.record(f.off)
		c.live++
		c.liveBytes += uint64(len(k) + len(v))
		c.recBytes += recordSize(len(k), len(v))
		c.maxEnd = max(c.maxEnd, f.off+recordSize(len(k), len(v)))
	}
	return c, nil
}

// checkSlot checks the live slot i holding s.
func checkSlot(m *mapping, i, s uint64) slotFault {
	f := slotFault{slot: i, off: slotOffset(s), dupOf: -1}
	k, v, err := m.record(f.off)
	if err == nil && f.off+recordSize(len(k), len(v)) > m.size {
		err = corruptf("record at offset %d: padding runs past the end of the file", f.off)
	}
	if err != nil {
		f.err = fmt.Errorf("index slot %d: %w", i, err)
		return f
	}
	rec := m.mm[f.off:]
	if got, want := le.Uint32(rec[8:]), recordCRC(rec, k, v); got != want {
		f.err = corruptf("index slot %d: record at offset %d: CRC-32C is %#08x, computed %#08x", i, f.off, got, want)
		return f
	}
	if len(k) == 0 {
		f.err = corruptf("index slot %d: record at offset %d has an empty key", i, f.off)
		return f
	}
	h := xxh3.HashSeed(k, m.hdr.seed)
	if s>>tagShift != h>>tagShift {
		f.err = corruptf("index slot %d: tag %#x does not match key %s (hash tag %#x)", i, s>>tagShift, quoteKey(k), h>>tagShift)
		return f
	}
	for j := h & m.mask; j != i; j = (j + 1) & m.mask {
		t := atomic.LoadUint64(&m.slots[j])
		if t == slotEmpty {
			f.err = corruptf("index slot %d: key %s is unreachable: slot %d on its probe path is empty", i, quoteKey(k), j)
			return f
		}
		if t == slotTombstone || t>>tagShift != s>>tagShift {
			continue
		}
		if k2, _, err := m.record(slotOffset(t)); err == nil && bytes.Equal(k, k2) {
			if atomic.LoadUint64(&m.slots[i]) != s || atomic.LoadUint64(&m.slots[j]) != t {
				continue // moved by a live writer
			}
			f.dupOf = int64(j)
			f.err = corruptf("index slot %d: key %s is also in slot %d", i, quoteKey(k), j)
			return f
		}
	}
	return f
}
