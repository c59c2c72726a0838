package dirstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/whycache/whycache/pkg/logstore"
)

// Defaults of the store's tunables (see the Option functions).
const (
	DefaultSegmentSize  = 64 << 20
	DefaultPollInterval = 10 * time.Millisecond
	defaultPageOps      = 10_000
)

// Store is a log in a local directory. It implements [logstore.Store]; see
// the package documentation for the format and the guarantees.
type Store struct {
	dir    string // the log's directory: <dir>/<name>
	id     logstore.LogID
	limits logstore.Limits
	cfg    config
	log    logr.Logger

	lock    flock    // LOCK: appends, rolls, recovery and head updates
	rwLock  flock    // REWRITE.LOCK: one rewrite at a time
	headF   *os.File // HEAD, read and written in place
	changed *notifier
	watch   watcher

	segMu  sync.Mutex
	segs   []*segment // the newest generation of each segment, by base
	layout uint64     // the head's layout generation when segs was listed

	// Appends: the committer goroutine serves reqs; active is its write
	// handle on the active segment.
	reqs     chan *appendReq
	active   *os.File
	activeAt uint64
	inAppend func() // a test hook, called inside the lock before writing

	rewriteMu sync.Mutex
	closed    chan struct{}
	closeOnce sync.Once
	done      sync.WaitGroup
}

var _ logstore.Store = (*Store)(nil)

// config holds the tunables set by Options.
type config struct {
	segmentSize  int64
	pollInterval time.Duration
}

// Option tunes a Store.
type Option func(*config)

// WithSegmentSize sets the size at which the active segment is sealed and a
// new one started (default 64 MiB). Rewrites work a segment at a time.
func WithSegmentSize(n int64) Option { return func(c *config) { c.segmentSize = max(n, segHeaderLen+1) } }

// WithPollInterval sets how often Wait polls when it cannot watch the log
// directory with inotify (default 10ms); with inotify it polls at a hundred
// times that, as a safety net.
func WithPollInterval(d time.Duration) Option { return func(c *config) { c.pollInterval = max(d, time.Millisecond) } }

// Open opens the log opts.Name under dir, creating it (and dir) when
// opts.Create is set. Opening a missing log without Create fails with
// logstore.ErrNotFound, and a log whose identity is not opts.ExpectID with
// logstore.ErrIdentityMismatch. Open repairs a torn tail left by a crash.
func Open(ctx context.Context, dir string, opts logstore.Options, options ...Option) (*Store, error) {
	opts, err := opts.Validate()
	if err != nil {
		return nil, fmt.Errorf("dirstore: open: %w", err)
	}
	cfg := config{segmentSize: DefaultSegmentSize, pollInterval: DefaultPollInterval}
	for _, o := range options {
		o(&cfg)
	}
	logDir := filepath.Join(dir, opts.Name)
	if err := ensureLog(dir, opts.Name, opts.Create); err != nil {
		return nil, fmt.Errorf("dirstore: open log %q in %s: %w", opts.Name, dir, err)
	}
	id, err := readIdentity(logDir)
	if err != nil {
		return nil, fmt.Errorf("dirstore: open log %q in %s: %w", opts.Name, dir, err)
	}
	if !opts.ExpectID.IsZero() && id != opts.ExpectID {
		return nil, fmt.Errorf("dirstore: log %q in %s has identity %s, want %s: %w", opts.Name, dir, id, opts.ExpectID, logstore.ErrIdentityMismatch)
	}
	s := &Store{
		dir: logDir, id: id, limits: opts.Limits, cfg: cfg,
		log:     opts.Logger.WithValues("store", "dir", "log", opts.Name),
		changed: newNotifier(), reqs: make(chan *appendReq, 256), closed: make(chan struct{}),
	}
	if err := s.openFiles(ctx); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("dirstore: open log %q in %s: %w", opts.Name, dir, err)
	}
	s.done.Add(1)
	go s.committer()
	return s, nil
}

// openFiles opens the lock, head and watch, and recovers the tail.
func (s *Store) openFiles(ctx context.Context) error {
	var err error
	if s.lock, err = openFlock(filepath.Join(s.dir, lockFile)); err != nil {
		return err
	}
	if s.rwLock, err = openFlock(filepath.Join(s.dir, rewriteLockFile)); err != nil {
		return err
	}
	if s.headF, err = os.OpenFile(filepath.Join(s.dir, headFile), os.O_RDWR, 0); err != nil {
		return fmt.Errorf("open head: %w", err)
	}
	if err := s.recoverOnOpen(ctx); err != nil {
		return err
	}
	s.watch = newWatcher(s.log, filepath.Join(s.dir, headFile), s.changed)
	return nil
}

// ID returns the log's identity.
func (s *Store) ID() logstore.LogID { return s.id }

// Limits returns the limits that Append enforces.
func (s *Store) Limits() logstore.Limits { return s.limits }

// Dir returns the log's directory.
func (s *Store) Dir() string { return s.dir }

// Close stops the store and releases its files. Appends waiting to commit
// fail with logstore.ErrClosed; calls after Close fail with it too.
func (s *Store) Close() error {
	err := logstore.ErrClosed
	s.closeOnce.Do(func() {
		close(s.closed)
		s.done.Wait()
		err = s.closeFiles()
	})
	return err
}

// closeFiles closes whatever openFiles opened.
func (s *Store) closeFiles() error {
	var errs []error
	if s.watch != nil {
		errs = append(errs, s.watch.close())
	}
	for _, f := range []*os.File{s.headF, s.active, s.lock.f, s.rwLock.f} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	s.segMu.Lock()
	for _, sg := range s.segs {
		errs = append(errs, sg.f.Close())
	}
	s.segs = nil
	s.segMu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dirstore: close: %w", err)
	}
	return nil
}

// isClosed returns logstore.ErrClosed once Close has been called.
func (s *Store) isClosed() error {
	select {
	case <-s.closed:
		return fmt.Errorf("dirstore: log %s: %w", s.dir, logstore.ErrClosed)
	default:
		return nil
	}
}
