package dirstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/whycache/whycache/pkg/logstore"
)

// Defaults of the store's tunables (see the Option functions).
const (
	// DefaultSegmentSize is the size at which a segment is sealed.
	DefaultSegmentSize = 64 << 20
	// DefaultPollInterval is how often Wait polls without inotify.
	DefaultPollInterval = 10 * time.Millisecond
	// defaultPageOps is Read's page when maxOps <= 0.
	defaultPageOps = 10_000
)

// Store is a log in a local directory. It implements [logstore.Store]; see
// the package documentation for the format and the guarantees.
type Store struct {
	dir      string // the log's directory: <dir>/<name>
	id       logstore.LogID
	limits   logstore.Limits
	log      logr.Logger
	onCommit func(updates, ops int) // opts.OnCommit
	sh       *shared                // the process-wide write side and watch of this log

	rwLock    flock // REWRITE.LOCK: one rewrite at a time
	rewriteMu sync.Mutex

	segMu   sync.Mutex
	segs    []*segment // the newest generation of each segment, by base
	layout  uint64     // the head's layout generation when segs was listed
	rewinds uint64     // sh.rewinds when segs was listed
	stale   bool       // a record did not match the index: list and index afresh

	closed    chan struct{}
	closeOnce sync.Once
}

var _ logstore.Store = (*Store)(nil)

// config holds the tunables set by Options.
type config struct {
	segmentSize  int64
	pollInterval time.Duration
	noInotify    bool // tests: exercise the polling fallback
}

// Option tunes a Store.
type Option func(*config)

// WithSegmentSize sets the size at which the active segment is sealed and a
// new one started (default 64 MiB). Rewrites work a segment at a time.
func WithSegmentSize(n int64) Option {
	return func(c *config) { c.segmentSize = max(n, segHeaderLen+1) }
}

// WithPollInterval sets how often Wait polls when it cannot watch the log
// directory with inotify (default 10ms); with inotify it polls at a hundred
// times that, as a safety net.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) { c.pollInterval = max(d, time.Millisecond) }
}

// Open opens the log opts.Name under dir, creating it (and dir) when
// opts.Create is set. Opening a missing log without Create fails with
// logstore.ErrNotFound, and a log whose identity is not opts.ExpectID with
// logstore.ErrIdentityMismatch. The first Open of a log in a process
// repairs a torn tail left by a crash; the Stores of one process on one log
// share their write side, so that their appends commit together.
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
	s := &Store{dir: logDir, id: id, limits: opts.Limits, log: opts.Logger.WithValues("store", "dir", "log", opts.Name),
		onCommit: opts.OnCommit, closed: make(chan struct{})}
	if s.rwLock, err = openFlock(filepath.Join(logDir, rewriteLockFile)); err != nil {
		return nil, fmt.Errorf("dirstore: open log %q in %s: %w", opts.Name, dir, err)
	}
	if s.sh, err = acquire(ctx, logDir, id, cfg, s.log); err != nil {
		s.rwLock.close()
		return nil, fmt.Errorf("dirstore: open log %q in %s: %w", opts.Name, dir, err)
	}
	return s, nil
}

// ID returns the log's identity.
func (s *Store) ID() logstore.LogID { return s.id }

// Limits returns the limits that Append enforces.
func (s *Store) Limits() logstore.Limits { return s.limits }

// Dir returns the log's directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the store's files, once a running Rewrite has finished the
// segment it is on. Appends already queued still commit while another Store
// of this process has the log open, and fail with logstore.ErrClosed
// otherwise; calls after Close fail with it.
func (s *Store) Close() error {
	err := fmt.Errorf("dirstore: close: %w", logstore.ErrClosed)
	s.closeOnce.Do(func() {
		close(s.closed)
		s.rewriteMu.Lock() // a running rewrite stops after its current segment
		defer s.rewriteMu.Unlock()
		errs := []error{s.rwLock.close()}
		s.segMu.Lock()
		for _, sg := range s.segs {
			errs = append(errs, sg.f.Close())
		}
		s.segs = nil
		s.segMu.Unlock()
		errs = append(errs, s.sh.release())
		if err = errors.Join(errs...); err != nil {
			err = fmt.Errorf("dirstore: close: %w", err)
		}
	})
	return err
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
