package dirstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/whycache/whycache/pkg/logstore"
	"golang.org/x/sys/unix"
)

// shared is what every Store of one process on one log shares: the write
// side (lock, head, active segment, group-commit queue) and the watch. Two
// handles in one process therefore commit their appends together, as
// concurrent Appends on one handle do; handles in different processes meet
// only through the lock and the files.
type shared struct {
	key  string // the log directory's device and inode, and the log's identity
	refs int    // open Stores using it, under registry.mu

	dir string
	cfg config
	log logr.Logger

	// mu serialises this process's lock holders, which share one file
	// description and therefore one flock.
	mu       sync.Mutex
	lock     flock
	headF    *os.File // read without mu: ReadAt is safe for concurrent use
	active   *os.File
	activeAt uint64

	reqs      chan *appendReq
	lastBatch int           // the size of the last batch, for the committer
	stop      chan struct{} // closed when the last Store closes
	exited    chan struct{} // closed when the committer has left
	hook      atomic.Pointer[func()]
	changed   *notifier
	watch     watcher

	// maxLatest is the latest id in the head as this process last read it,
	// and rewinds counts the reads that found it lower: the log's files were
	// restored from an earlier copy under this process (see noteLatest).
	maxLatest atomic.Uint64
	rewinds   atomic.Uint64
}

// registry maps open log directories to their shared state.
var registry = struct {
	mu sync.Mutex
	m  map[string]*shared
}{m: map[string]*shared{}}

// acquire returns the shared state of the log id in dir, opening it (and
// recovering the tail) when this process has none open. The key holds the
// identity too, so that a log removed and created again, whose directory
// may get the same inode, is never taken for the old one.
func acquire(ctx context.Context, dir string, id logstore.LogID, cfg config, log logr.Logger) (*shared, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return nil, fmt.Errorf("stat log directory: %w", err)
	}
	key := fmt.Sprintf("%d:%d:%s", st.Dev, st.Ino, id)
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if sh := registry.m[key]; sh != nil {
		sh.refs++
		return sh, nil
	}
	sh := &shared{key: key, refs: 1, dir: dir, cfg: cfg, log: log, changed: newNotifier(),
		reqs: make(chan *appendReq, 1024), stop: make(chan struct{}), exited: make(chan struct{})}
	if err := sh.open(ctx); err != nil {
		sh.closeFiles()
		return nil, err
	}
	registry.m[key] = sh
	go sh.committer()
	return sh, nil
}

// open opens the lock and the head, recovers the tail and starts watching.
func (sh *shared) open(ctx context.Context) error {
	var err error
	if sh.lock, err = openFlock(filepath.Join(sh.dir, lockFile)); err != nil {
		return err
	}
	if sh.headF, err = os.OpenFile(filepath.Join(sh.dir, headFile), os.O_RDWR, 0); err != nil {
		return fmt.Errorf("open head: %w", err)
	}
	if err := sh.recoverOnOpen(ctx); err != nil {
		return err
	}
	sh.watch = pollWatcher{}
	if !sh.cfg.noInotify {
		sh.watch = newWatcher(sh.log, filepath.Join(sh.dir, headFile), sh.changed)
	}
	return nil
}

// release drops one Store's reference; the last one stops the committer and
// closes the files.
func (sh *shared) release() error {
	registry.mu.Lock()
	sh.refs--
	last := sh.refs == 0
	if last {
		delete(registry.m, sh.key)
	}
	registry.mu.Unlock()
	if !last {
		return nil
	}
	close(sh.stop)
	<-sh.exited
	return sh.closeFiles()
}

// closeFiles closes whatever open opened.
func (sh *shared) closeFiles() error {
	var err error
	if sh.watch != nil {
		err = sh.watch.close()
	}
	for _, f := range []*os.File{sh.headF, sh.active, sh.lock.f} {
		if f != nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	return err
}

// head reads the head file.
func (sh *shared) head() (head, error) {
	h, err := readHead(sh.headF)
	if err == nil {
		sh.noteLatest(h.latest)
	}
	return h, err
}

// noteLatest counts a rewind when the head's latest id is below the one
// read before. A healthy log's latest id never falls; one that does had its
// files copied back from an earlier copy (a restore), and what readers in
// this process know about the segments (their record indexes, built from
// the files as they were) is stale: they list and index the segments again.
func (sh *shared) noteLatest(latest uint64) {
	for {
		seen := sh.maxLatest.Load()
		if latest == seen {
			return
		}
		if sh.maxLatest.CompareAndSwap(seen, latest) {
			if latest < seen {
				sh.rewinds.Add(1)
				sh.log.Info("The log's latest id went back: its files were restored from a copy; reading them afresh", "latest", latest, "before", seen)
			}
			return
		}
	}
}
