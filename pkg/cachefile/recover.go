package cachefile

import (
	"context"
	"fmt"
	"sync/atomic"
)

// recover checks the mapped file w.m (every index slot and the record it
// points at), brings it into a consistent state, and recomputes the
// writer's counters from it. See OpenWriter for the cases.
func (w *Writer) recover(ctx context.Context) error {
	m := w.m
	ck, err := decodeCheckpoint(m.mm)
	if err != nil {
		return err
	}
	st := state{
		applied: m.load(offUpdateID), tail: m.load(offTail), live: m.load(offLiveKeys),
		liveBytes: m.load(offLiveBytes), garbage: m.load(offGarbage), tombstones: m.load(offTombstones),
	}
	var boot [16]byte
	copy(boot[:], m.mm[offBootID:])
	base := st.tail
	mode := "writer crash"
	clean := m.load(offClean) == 1
	if clean {
		// Checked all the same: the writer trusts the index it appends to.
		mode = "clean close"
	} else if boot != w.bootID {
		mode = "reboot"
		repaired, err := w.repairAfterReboot(ctx, ck)
		if err != nil {
			return fmt.Errorf("file was not closed cleanly before a reboot and is damaged below its last checkpoint (update %d): %w", ck.updateID, err)
		}
		st.applied, base = ck.updateID, ck.tail
		w.opts.Logger.Info("cache file was not closed cleanly before a reboot: rolled back to its last checkpoint",
			"path", w.path, "updateID", ck.updateID, "droppedSlots", repaired)
	}
	c, err := checkIndex(ctx, m, func(f slotFault) error { return f.err })
	if err != nil {
		return fmt.Errorf("recover after %s: %w", mode, err)
	}
	tail := max(base, c.maxEnd)
	if tail < m.hdr.dataOff || tail > m.hdr.fileSize || c.recBytes > tail-m.hdr.dataOff {
		return corruptf("recover after %s: data tail %d outside the data region [%d, %d]", mode, tail, m.hdr.dataOff, m.hdr.fileSize)
	}
	if c.live+c.tombstones >= m.hdr.capacity {
		return corruptf("recover after %s: index has no empty slot", mode)
	}
	st.tail, st.live, st.liveBytes, st.tombstones = tail, c.live, c.liveBytes, c.tombstones
	st.garbage = tail - m.hdr.dataOff - c.recBytes
	w.st = st
	w.storeCounters()
	m.store(offUpdateID, st.applied)
	if !clean {
		w.opts.Logger.Info("recovered cache file", "path", w.path, "after", mode, "updateID", st.applied, "liveKeys", st.live)
	}
	return nil
}

// repairAfterReboot drops the index slots that a reboot may have left
// inconsistent: the machine wrote back some of the pages changed after the
// last checkpoint and not others. Every page holds its content as of the
// checkpoint or later, so a slot that fails a check can only be one that
// was stored after it, pointing at a record appended after it (at or past
// the checkpoint's tail). Such slots become tombstones; the batches after
// the checkpoint are re-applied by the caller and set those keys again. A
// key found twice was moved after the checkpoint; its newer record is kept.
// A failing slot below the checkpoint's tail is real damage.
func (w *Writer) repairAfterReboot(ctx context.Context, ck checkpoint) (int, error) {
	m := w.m
	repaired := 0
	_, err := checkIndex(ctx, m, func(f slotFault) error {
		victim := f.slot
		switch {
		case f.dupOf >= 0:
			if other := slotOffset(atomic.LoadUint64(&m.slots[f.dupOf])); other < f.off {
				victim = uint64(f.dupOf)
			}
		case f.off < ck.tail:
			return f.err
		}
		atomic.StoreUint64(&m.slots[victim], slotTombstone)
		repaired++
		return nil
	})
	return repaired, err
}
