package cachefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A Reader looks keys up in a cache file. Open one per process and share it:
// it is safe for concurrent use by any number of goroutines.
//
// A lookup takes no lock and makes no system call: it hashes the key, loads
// index slots with atomic loads and reads the record they point at, all in
// a read-only shared mapping. Before each lookup it loads the file's
// superseded word; when the writer has replaced the file (a compaction, a
// growth or a bootstrap), the Reader reopens the path and moves to the new
// generation by itself. The old generation stays mapped until the last
// lookup or View callback in it has returned, then it is unmapped.
type Reader struct {
	path   string
	cur    atomic.Pointer[readerGen]
	mu     sync.Mutex // serialises generation switches and Close
	closed bool
}

// readerGen is one generation of the file, mapped by a Reader.
type readerGen struct {
	m    *mapping
	refs refs
	// nextTry (unix nanoseconds) rate-limits attempts to follow a superseded
	// file whose successor cannot be opened, or that is still at the path.
	nextTry atomic.Int64
	// faulted is set when a read of the mapping faulted: the file was
	// shrunk under it. The Reader then tries to reopen the path, as it
	// does for a superseded file.
	faulted atomic.Bool
}

// followRetry is how long a Reader waits before it tries again to follow a
// superseded file that it could not replace.
const followRetry = 100 * time.Millisecond

// Open opens the cache file at path for reading. It fails with an error
// matching ErrNoFile (and fs.ErrNotExist) when there is no file yet, and
// ErrCorrupt or ErrVersion when the file is not one this package can read.
func Open(path string) (*Reader, error) {
	m, err := openMapping(path)
	if err != nil {
		return nil, err
	}
	r := &Reader{path: path}
	r.cur.Store(&readerGen{m: m})
	return r, nil
}

// openMapping opens and maps path read-only; the descriptor is closed at once.
func openMapping(path string) (*mapping, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open cache file %s: %w", path, ErrNoFile)
		}
		return nil, fmt.Errorf("open cache file: %w", err)
	}
	defer f.Close()
	m, err := mapFile(f, false)
	if err != nil {
		return nil, fmt.Errorf("open cache file %s: %w", path, err)
	}
	return m, nil
}

// acquire sets rd to the current generation with one of its reference
// shards incremented; rd.end releases it. It follows the file to a new
// generation when the current one is superseded (or faulted). rd holds the
// reference from the moment it is taken, so that a fault on the superseded
// word still releases it.
func (r *Reader) acquire(rd *guardedRead) error {
	for {
		g := r.cur.Load()
		if g == nil {
			return ErrClosed
		}
		s := g.refs.shardFor()
		s.n.Add(1)
		rd.g, rd.s = g, s
		if r.cur.Load() != g {
			rd.release()
			continue
		}
		if (g.faulted.Load() || g.m.superseded()) && r.follow(g) {
			rd.release()
			continue
		}
		return nil
	}
}

// release drops a reference taken by acquire, and unmaps the generation if
// it was retired and this was the last reference.
func (g *readerGen) release(s *refShard) {
	s.n.Add(-1)
	if g.refs.retired.Load() {
		g.tryFree()
	}
}

// retire marks g as no longer current; the caller has already replaced it
// in Reader.cur.
func (g *readerGen) retire() {
	g.refs.retired.Store(true)
	g.tryFree()
}

func (g *readerGen) tryFree() {
	if g.refs.idle() && g.refs.freed.CompareAndSwap(false, true) {
		_ = g.m.unmap()
	}
}

// follow moves the Reader from the superseded generation g to the file now
// at its path. It reports whether the current generation changed. When the
// path cannot be opened, or still holds g's file, the Reader keeps serving g
// and tries again after followRetry. A generation that faulted may be
// replaced by a new mapping of the same file, once the file is whole again.
func (r *Reader) follow(g *readerGen) bool {
	now := time.Now().UnixNano()
	if now < g.nextTry.Load() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur.Load() != g {
		return true
	}
	m, err := openMapping(r.path)
	if err == nil && m.dev == g.m.dev && m.ino == g.m.ino && !g.faulted.Load() {
		_ = m.unmap()
		err = errors.New("same file")
	}
	if err != nil {
		g.nextTry.Store(now + int64(followRetry))
		return false
	}
	r.cur.Store(&readerGen{m: m})
	g.retire()
	return true
}

// Get returns a copy of key's value, or an error matching ErrNotFound when
// the key is not in the file (the sentinel itself, so that a miss does not
// allocate), ErrClosed after Close, or ErrCorrupt when the file's structure
// is damaged along the lookup's path.
func (r *Reader) Get(key []byte) (value []byte, err error) {
	var rd guardedRead
	defer rd.end(&err)
	rd.begin()
	if err = r.acquire(&rd); err != nil {
		return nil, err
	}
	v, err := rd.g.m.lookup(key)
	if err != nil {
		return nil, err
	}
	return append(make([]byte, 0, len(v)), v...), nil
}

// View calls fn with key's value, without copying it and without allocating.
//
// The slice fn receives aliases the shared mapping: it is valid only until
// fn returns, and must not be written to (the mapping is read-only, and a
// write faults) or kept. While fn runs, the generation it reads stays
// mapped, even if the writer replaces the file. View returns ErrNotFound
// (without calling fn) when the key is missing; other errors as for Get.
func (r *Reader) View(key []byte, fn func(value []byte)) (err error) {
	var rd guardedRead
	defer rd.end(&err)
	rd.begin()
	if err = r.acquire(&rd); err != nil {
		return err
	}
	v, err := rd.g.m.lookup(key)
	if err != nil {
		return err
	}
	fn(v)
	return nil
}

// Has reports whether key is in the file.
func (r *Reader) Has(key []byte) (bool, error) {
	err := r.View(key, func([]byte) {})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// header reads one header word of the current generation; 0 after Close
// or when the read faults.
func (r *Reader) header(off int) (v uint64) {
	var rd guardedRead
	defer rd.end(nil)
	rd.begin()
	if r.acquire(&rd) != nil {
		return 0
	}
	return rd.g.m.load(off)
}

// headerCopy returns the current generation's decoded header.
func (r *Reader) headerCopy() (h header) {
	var rd guardedRead
	defer rd.end(nil)
	rd.begin()
	if r.acquire(&rd) != nil {
		return header{}
	}
	return rd.g.m.hdr
}

// UpdateID returns the last update id fully applied to the file: every
// operation of every batch up to it is visible to lookups that start after
// UpdateID returns. It returns 0 after Close.
func (r *Reader) UpdateID() uint64 { return r.header(offUpdateID) }

// Len returns the number of keys in the file, as of the last applied batch.
func (r *Reader) Len() int { return int(r.header(offLiveKeys)) }

// Generation returns the generation number of the file the Reader is on.
func (r *Reader) Generation() uint64 { return r.headerCopy().generation }

// LogID returns the identity of the log the file is fed from.
func (r *Reader) LogID() [16]byte { return r.headerCopy().logID }

// Path returns the path the Reader was opened with.
func (r *Reader) Path() string { return r.path }

// Close releases the Reader. Lookups that are in flight finish normally;
// the mapping is unmapped when the last of them returns. Later calls fail
// with ErrClosed. Close is idempotent.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if g := r.cur.Swap(nil); g != nil {
		g.retire()
	}
	return nil
}
