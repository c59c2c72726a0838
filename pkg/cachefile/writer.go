package cachefile

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A Writer applies batches of operations to a cache file. There is exactly
// one per file: OpenWriter takes an exclusive flock on a lock file in the
// private directory beside it (PrivateDirName), so a
// second writer, in this process or another, fails with ErrLocked.
//
// A Writer's methods may be called from several goroutines; they run one at
// a time. Readers are never blocked by it: they see each operation of a
// batch as one atomic store, and the batch's update id once all of it is in.
type Writer struct {
	mu     sync.Mutex
	path   string
	logID  [16]byte
	opts   Options
	lock   *os.File
	bootID [16]byte

	f  *os.File
	m  *mapping
	st state

	reserved uint64 // disk is allocated for the data region below this offset
	lastCkpt time.Time
	closed   bool

	compactions, growths, checkpoints int
	offs                              []uint64 // per-batch scratch
	hashes                            []uint64
	buf                               []byte
	index                             []uint64 // index of the next generation, kept between builds
}

// state is the writer's in-memory copy of the current generation's mutable
// header words. storeCounters publishes it.
type state struct {
	applied    uint64
	tail       uint64
	live       uint64
	liveBytes  uint64 // key and value bytes of live records
	garbage    uint64 // bytes of dead records below tail
	tombstones uint64
}

func (s state) used() uint64 { return s.live + s.tombstones }

// hook, when set by a test, is called at the named points of the write
// paths; crash tests kill the process there.
var hook func(point string)

func at(point string) {
	if hook != nil {
		hook(point)
	}
}

func randRead(b []byte) (int, error) { return rand.Read(b) }

// OpenWriter opens the cache file at path for writing, creating it (mode
// 0644, in an existing directory) when it does not exist, and recovering it
// when its last writer did not close it cleanly:
//
//   - after a crash of the writer process on this boot, the file is rescanned
//     and its counters recomputed; its applied id is exact;
//   - after a reboot, the file is fully verified, records written after the
//     last durable checkpoint that did not reach the disk are dropped, and the
//     applied id is rolled back to the checkpoint's; the caller re-applies
//     the batches after it (re-applying is idempotent).
//
// A sealed file found at path (a snapshot put there by hand) is verified
// and adopted as Replace does. The scans of the file (recovery,
// verification) stop with ctx's error when ctx ends.
//
// It fails with ErrLocked when another writer holds the file,
// ErrIdentityMismatch when the file belongs to another log, and ErrCorrupt
// or ErrVersion when the file cannot be used; the caller may then bootstrap
// (Replace) or remove the file.
func OpenWriter(ctx context.Context, path string, logID [16]byte, opts Options) (*Writer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	boot, err := opts.BootID()
	if err != nil {
		return nil, err
	}
	lock, err := takeLock(path, opts.LockOwner)
	if err != nil {
		return nil, fmt.Errorf("open cache file writer: %w", err)
	}
	w := &Writer{path: path, logID: logID, opts: opts, lock: lock, bootID: boot}
	if err := w.open(ctx); err != nil {
		w.release() // a generation may be installed before a later step failed
		lock.Close()
		return nil, fmt.Errorf("open cache file writer for %s: %w", path, err)
	}
	return w, nil
}

// open brings the file at w.path into service, with the lock held.
func (w *Writer) open(ctx context.Context) error {
	// Temporary files live in the private directory (older writers left
	// them beside the file).
	if err := removeTemps(privateTemp(w.path)); err != nil {
		return err
	}
	if err := removeTemps(w.path); err != nil {
		return err
	}
	if err := w.settlePrev(); err != nil {
		return err
	}
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return w.create()
	}
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	m, err := mapFile(f, true)
	if err != nil {
		f.Close()
		return err
	}
	if m.hdr.logID != w.logID {
		m.unmap()
		f.Close()
		return fmt.Errorf("file belongs to log %s, not %s: %w", formatID(m.hdr.logID), formatID(w.logID), ErrIdentityMismatch)
	}
	if m.hdr.sealed() {
		// A sealed file put in place by hand: adopt it as a new generation,
		// leaving its bytes (and checksum) untouched.
		m.unmap()
		f.Close()
		return w.adoptSealed(ctx)
	}
	w.f, w.m = f, m
	if err := w.recover(ctx); err != nil {
		w.release()
		return err
	}
	return w.startSession()
}

// create writes the first generation of a new file.
func (w *Writer) create() error {
	h := w.sizeFor(0, 0, 0, 0)
	h.generation = 1
	b, err := w.newBuilder(w.path, h)
	if err != nil {
		return err
	}
	if err = b.finish(0, false, w.bootID, w.opts.now().UnixNano()); err == nil {
		err = b.open(true)
	}
	if err != nil {
		b.abort()
		return err
	}
	if _, err := w.install(b); err != nil {
		return err
	}
	w.opts.Logger.Info("created cache file", "path", w.path, "capacity", h.capacity, "fileSize", h.fileSize)
	return nil
}

// settlePrev finishes a generation switch that a crash interrupted between
// the rename and the marking of the old file (see install).
func (w *Writer) settlePrev() error {
	prev := w.path + ".prev"
	pfi, err := os.Stat(prev)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat %s: %w", prev, err)
	}
	fi, err := os.Stat(w.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Cannot happen with install's order; restore the file.
		if err := rename(fpRename, prev, w.path); err != nil {
			return fmt.Errorf("restore %s: %w", prev, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("stat: %w", err)
	case !os.SameFile(fi, pfi):
		if err := markSuperseded(prev); err != nil {
			return err
		}
	}
	if err := remove(fpRemovePrev, prev); err != nil {
		return fmt.Errorf("remove %s: %w", prev, err)
	}
	return nil
}

// markSuperseded sets the superseded word of the file at path. A write
// through the file is seen at once by every mapping of it.
func markSuperseded(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("mark superseded: %w", err)
	}
	defer f.Close()
	var page [headerSize]byte
	if n, _ := f.ReadAt(page[:], 0); n < headerSize || !bytes.Equal(page[:8], magic[:]) {
		return nil // not a cache file: nobody can be reading it as one
	}
	var one [8]byte
	le.PutUint64(one[:], 1)
	if err := pwrite(fpMarkOld, f, one[:], offSuperseded); err != nil {
		return fmt.Errorf("mark %s superseded: %w", path, err)
	}
	return nil
}

// startSession records that a writer of this boot has the file open and
// not yet closed, durably, before anything else is changed.
func (w *Writer) startSession() error {
	w.m.store(offClean, 0)
	w.m.store(offSuperseded, 0) // only a hand-made file at the path can have it set
	copy(w.m.mm[offBootID:offBootID+16], w.bootID[:])
	if err := w.syncHeader(); err != nil {
		return err
	}
	w.lastCkpt = w.opts.now()
	return nil
}

func (w *Writer) syncHeader() error {
	if w.opts.NoSync {
		return nil
	}
	return msyncAt(fpMsyncHeader, w.m.mm[:headerSize])
}

// storeCounters publishes the in-memory counters to the header. The applied
// id is stored separately, last.
func (w *Writer) storeCounters() {
	m := w.m
	m.store(offTail, w.st.tail)
	m.store(offLiveBytes, w.st.liveBytes)
	m.store(offGarbage, w.st.garbage)
	m.store(offTombstones, w.st.tombstones)
	m.store(offLiveKeys, w.st.live)
}

// Checkpoint makes everything applied so far durable (msync of the whole
// mapping) and then records the applied id and tail in the header's
// checkpoint block, durably. After a reboot, a file that was not closed
// cleanly is rolled back to its last checkpoint. Apply checkpoints by itself
// every Options.CheckpointInterval.
func (w *Writer) Checkpoint() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	return w.checkpoint()
}

func (w *Writer) checkpoint() error {
	if !w.opts.NoSync {
		if err := msyncAt(fpMsyncFile, w.m.mm); err != nil {
			return err
		}
	}
	at("checkpoint:synced")
	encodeCheckpoint(w.m.mm, checkpoint{updateID: w.st.applied, tail: w.st.tail, time: w.opts.now().UnixNano()})
	if err := w.syncHeader(); err != nil {
		return err
	}
	w.lastCkpt = w.opts.now()
	w.checkpoints++
	return nil
}

func (w *Writer) usable() error {
	if w.closed {
		return ErrClosed
	}
	return nil
}

// Close makes the file durable, marks it cleanly closed and releases the
// lock. Readers keep reading it. Close is idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.storeCounters()
	err := w.checkpoint()
	if err == nil {
		at("close:checkpointed")
		w.m.store(offClean, 1)
		err = w.syncHeader()
	}
	w.release()
	if cerr := w.lock.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("release lock: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("close cache file %s: %w", w.path, err)
	}
	return nil
}

// release unmaps and closes the current generation.
func (w *Writer) release() {
	if w.m != nil {
		_ = w.m.unmap()
		w.m = nil
	}
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
}

// UpdateID returns the last fully applied update id.
func (w *Writer) UpdateID() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.applied
}

// LogID returns the identity of the log the file is fed from.
func (w *Writer) LogID() [16]byte { return w.logID }

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// Stats describes the writer's current generation.
type Stats struct {
	Generation   uint64
	UpdateID     uint64
	FileSize     int64   // apparent size, holes included
	DiskSize     int64   // bytes of disk allocated
	Capacity     int     // index slots
	DataCapacity int64   // bytes of the data region
	DataUsed     int64   // bytes of the data region in use (live and dead records)
	LiveKeys     int     // keys in the file
	LiveBytes    int64   // their keys' and values' bytes
	IndexBytes   int64   // bytes of the index
	GarbageBytes int64   // bytes of dead records
	GarbageRatio float64 // GarbageBytes / DataUsed
	Tombstones   int     // index slots of deleted keys
	LoadFactor   float64 // (LiveKeys + Tombstones) / Capacity
	Compactions  int     // new generations this writer wrote (growths included)
	Growths      int     // of which the index or data capacity grew
	Checkpoints  int
}

// Stats returns statistics on the current generation.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		return Stats{UpdateID: w.st.applied}
	}
	h := w.m.hdr
	s := Stats{
		Generation: h.generation, UpdateID: w.st.applied,
		FileSize: int64(h.fileSize), DiskSize: diskUsage(w.f), Capacity: int(h.capacity),
		DataCapacity: int64(h.fileSize - h.dataOff), DataUsed: int64(w.st.tail - h.dataOff),
		LiveKeys: int(w.st.live), LiveBytes: int64(w.st.liveBytes), IndexBytes: int64(h.capacity * 8),
		GarbageBytes: int64(w.st.garbage), Tombstones: int(w.st.tombstones),
		LoadFactor:  float64(w.st.used()) / float64(h.capacity),
		Compactions: w.compactions, Growths: w.growths, Checkpoints: w.checkpoints,
	}
	if s.DataUsed > 0 {
		s.GarbageRatio = float64(s.GarbageBytes) / float64(s.DataUsed)
	}
	return s
}

// dir returns the directory of path.
func dir(path string) string { return filepath.Dir(path) }
