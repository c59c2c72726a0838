package dirstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// withLock runs fn with the log's lock held and the tail in order. fn may
// change the head, which is written back when it did.
func (sh *shared) withLock(fn func(h *head) error) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if err := sh.lock.lock(); err != nil {
		return err
	}
	defer sh.lock.unlock()
	h, err := sh.syncTail()
	if err != nil {
		return err
	}
	before := h
	if err := fn(&h); err != nil {
		return err
	}
	if h != before {
		return writeHead(sh.headF, h)
	}
	return nil
}

// syncTail, under the lock, reads the head and checks that the active
// segment ends where the head says. A process that died while appending
// leaves more (complete records it did not publish, which are synced and
// adopted, or a torn record, which is cut off); a segment shorter than the
// head says is repaired the same way.
func (sh *shared) syncTail() (head, error) {
	h, err := sh.head()
	if errors.Is(err, errCorrupt) {
		sh.log.Error(err, "Head file corrupt; rebuilding it from the segments")
		return sh.rebuildHead()
	}
	if err != nil {
		return h, err
	}
	if err := sh.openActive(h.active); err != nil {
		return h, err
	}
	fi, err := sh.active.Stat()
	if err != nil {
		return h, fmt.Errorf("stat active segment: %w", err)
	}
	if fi.Size() == h.committed {
		return h, nil
	}
	from := h.committed
	if fi.Size() < h.committed {
		sh.log.Error(nil, "Active segment shorter than committed; rescanning it", "segment", sh.activeAt, "size", fi.Size(), "committed", h.committed)
		from = segHeaderLen
	}
	if _, err := sh.repairActive(&h, from); err != nil {
		return h, err
	}
	return h, writeHead(sh.headF, h)
}

// repairActive scans the active segment from offset from to its end, cuts
// off anything after the last whole record, syncs what it keeps and sets
// the head's committed length and latest id from it. It returns the id of
// the last record it kept (the one before from when it kept none).
func (sh *shared) repairActive(h *head, from int64) (uint64, error) {
	size, err := fileSize(sh.active)
	if err != nil {
		return 0, err
	}
	prev := h.latest
	if from == segHeaderLen {
		prev = h.active - 1
	}
	last := prev
	end, err := scan(sh.active, from, size, func(off int64, rec []byte) error {
		id, _, err := recordMeta(rec)
		if err == nil && id <= last {
			err = fmt.Errorf("record id %d after %d: %w", id, last, errCorrupt)
		}
		if err == nil {
			last = id
		}
		return err
	})
	if err != nil && !errors.Is(err, errCorrupt) {
		return 0, fmt.Errorf("repair active segment: %w", err)
	}
	if end > from && from == h.committed {
		sh.log.Info("Adopting records that a writer left unpublished", "segment", sh.activeAt, "from", from, "to", end, "latest", last)
	}
	if end < size {
		if err := sh.cutTail(*h, end, size, err); err != nil {
			return 0, err
		}
	}
	if err := fdatasync(sh.active); err != nil {
		return 0, err
	}
	h.committed = end
	h.latest = max(h.latest, last)
	return last, nil
}

// cutTail cuts the active segment at end, where scanning stopped with
// reason. Past the committed length, that is a torn tail. Inside it, the
// disk lost or damaged synced data: when whole records follow the damage,
// cutting would drop acknowledged updates, so cutTail refuses and the log
// does not open until someone looks at it; when none follow, the damage is
// the end of the segment and is cut off like a torn tail.
func (sh *shared) cutTail(h head, end, size int64, reason error) error {
	if end < h.committed {
		if sh.wholeRecordAfter(end, size) {
			return fmt.Errorf("active segment %d: damaged record at offset %d (%v) with whole records after it, inside the committed data; not cutting off acknowledged updates: %w",
				sh.activeAt, end, reason, errCorrupt)
		}
		sh.log.Error(reason, "Cutting off damaged records at the end of the committed data", "segment", sh.activeAt, "offset", end, "committed", h.committed)
	}
	sh.log.Info("Cutting off a torn tail", "segment", sh.activeAt, "offset", end, "bytes", size-end, "reason", reason.Error())
	if err := sh.active.Truncate(end); err != nil {
		return fmt.Errorf("truncate torn tail: %w", err)
	}
	return nil
}

// wholeRecordAfter reports whether a whole, checksummed record starts
// anywhere in (from, to) of the active segment.
func (sh *shared) wholeRecordAfter(from, to int64) bool {
	b := make([]byte, to-from)
	if _, err := sh.active.ReadAt(b, from); err != nil {
		return false
	}
	for off := 1; off+recHeaderLen < len(b); off++ {
		if _, err := recordLen(b[off:]); err == nil {
			return true
		}
	}
	return false
}

// openActive opens the active segment (whose generation is always 0) for
// writing, when it is not the one already open.
func (sh *shared) openActive(base uint64) error {
	if sh.active != nil && sh.activeAt == base {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(sh.dir, segRef{base: base}.name()), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open active segment: %w", err)
	}
	if sh.active != nil {
		sh.active.Close()
	}
	sh.active, sh.activeAt = f, base
	return nil
}

// roll, under the lock, seals the active segment and starts a new one whose
// base is the next id. It first removes segment files above the active one:
// those are left by a roll that died before it updated the head.
func (sh *shared) roll(h *head) error {
	if h.committed == segHeaderLen {
		return nil // the active segment is empty already
	}
	l, err := listDir(sh.dir)
	if err != nil {
		return err
	}
	for _, r := range l.segs {
		if r.base > h.active {
			if err := removeOrphan(sh.dir, r); err != nil {
				return err
			}
		}
	}
	next := segRef{base: h.latest + 1}
	if err := writeFileAtomic(sh.dir, next.name(), segHeader{base: next.base}.encode()); err != nil {
		return fmt.Errorf("roll: %w", err)
	}
	if err := sh.openActive(next.base); err != nil {
		return err
	}
	h.active, h.committed = next.base, segHeaderLen
	sh.log.V(1).Info("Started a segment", "base", next.base)
	return nil
}

// removeOrphan removes a segment file that a crashed roll left above the
// active segment. Such a file never holds records.
func removeOrphan(dir string, r segRef) error {
	path := filepath.Join(dir, r.name())
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat orphan segment: %w", err)
	}
	if fi.Size() > segHeaderLen {
		return fmt.Errorf("segment %s above the active one holds %d bytes: %w", r.name(), fi.Size(), errCorrupt)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove orphan segment: %w", err)
	}
	return nil
}

// recoverOnOpen checks the whole active segment under the lock, adopts a
// segment that a roll created before a crash lost the head's update,
// restores the horizon from its durable file, and removes leftovers.
func (sh *shared) recoverOnOpen(ctx context.Context) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if err := sh.lock.lockCtx(ctx); err != nil {
		return err
	}
	defer sh.lock.unlock()
	h, err := sh.syncTail()
	if err != nil {
		return err
	}
	last, err := sh.repairActive(&h, segHeaderLen)
	if err != nil {
		return err
	}
	l, err := listDir(sh.dir)
	if err != nil {
		return err
	}
	if err := sh.adoptLater(&h, l, last); err != nil {
		return err
	}
	hz, err := readHorizon(sh.dir)
	if err != nil {
		return err
	}
	h.horizon = max(h.horizon, hz)
	if err := writeHead(sh.headF, h); err != nil {
		return err
	}
	return sh.removeLeftovers(l)
}

// adoptLater handles segments above the active one after a crash: one
// whose base is above every id of the active segment (last being the
// highest) becomes the active segment, as its roll finished but the head's
// update was lost; the others are orphans of a roll that never took effect.
func (sh *shared) adoptLater(h *head, l listing, last uint64) error {
	i := l.find(h.active)
	if i < 0 {
		return fmt.Errorf("active segment %d missing: %w", h.active, errCorrupt)
	}
	for _, r := range l.segs[i+1:] {
		if r.gen != 0 || r.base <= last {
			if err := removeOrphan(sh.dir, r); err != nil {
				return err
			}
			continue
		}
		sh.log.Info("Adopting a segment whose start was not recorded", "base", r.base)
		if err := sh.openActive(r.base); err != nil {
			return err
		}
		h.active, h.committed = r.base, segHeaderLen
		h.latest = max(h.latest, r.base-1)
		var err error
		if last, err = sh.repairActive(h, segHeaderLen); err != nil {
			return err
		}
	}
	return nil
}

// removeLeftovers removes older generations of rewritten segments and, when
// no rewrite is running, temporary files; and heartbeat files that a crash
// left half-written.
func (sh *shared) removeLeftovers(l listing) error {
	if err := removeOldTemp(filepath.Join(sh.dir, nodesDir), time.Minute); err != nil {
		return err
	}
	for _, r := range l.stale {
		if err := os.Remove(filepath.Join(sh.dir, r.name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove old segment generation: %w", err)
		}
	}
	if len(l.tmp) == 0 {
		return nil
	}
	rw, err := openFlock(filepath.Join(sh.dir, rewriteLockFile))
	if err != nil {
		return err
	}
	defer rw.close()
	if ok, err := rw.tryLock(); err != nil || !ok {
		return err
	}
	for _, name := range l.tmp {
		if err := os.RemoveAll(filepath.Join(sh.dir, name)); err != nil {
			return fmt.Errorf("remove temporary file: %w", err)
		}
	}
	return nil
}

// rebuildHead, under the lock, rebuilds a lost or corrupt head from the
// segments and the horizon file.
func (sh *shared) rebuildHead() (head, error) {
	l, err := listDir(sh.dir)
	if err != nil {
		return head{}, err
	}
	if len(l.segs) == 0 {
		return head{}, fmt.Errorf("no segments: %w", errCorrupt)
	}
	last := l.segs[len(l.segs)-1]
	h := head{layout: uint64(time.Now().UnixNano()), active: last.base, committed: segHeaderLen, latest: last.base - 1}
	if h.horizon, err = readHorizon(sh.dir); err != nil {
		return h, err
	}
	if err := sh.openActive(last.base); err != nil {
		return h, err
	}
	if _, err := sh.repairActive(&h, segHeaderLen); err != nil {
		return h, err
	}
	return h, writeHead(sh.headF, h)
}

// fileSize returns a file's length.
func fileSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return fi.Size(), nil
}

// removeOldTemp removes temporary files older than age from dir.
func removeOldTemp(dir string, age time.Duration) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove temporary file: %w", err)
			}
		}
	}
	return nil
}
