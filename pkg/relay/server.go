package relay

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/semaphore"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// Server is a relay: it serves the logs of one store to many clients over
// HTTP (see Handler).
type Server struct {
	cfg Config
	log logr.Logger

	ctx    context.Context // ends on Close: stops the feeds
	cancel context.CancelFunc
	loops  sync.WaitGroup

	mu     sync.Mutex
	slots  map[string]*slot
	closed bool
	// missing notes the logs of cfg.Logs that the store says do not exist
	// yet: an agent may create them through the relay, so the relay is
	// ready meanwhile.
	missing map[string]bool

	drainOnce sync.Once
	drain     chan struct{} // closed by Drain
	waiters   atomic.Int64  // waits and streams held
	streams   atomic.Int64  // streams held (see Config.MaxFrameRate)
	inFlight  *semaphore.Weighted
	metrics   *metrics
}

// slot is a log being opened, or open.
type slot struct {
	ready chan struct{} // closed once f or err is set
	f     *feed
	err   error
}

// New returns a relay. It opens cfg.Logs in the background (retrying until
// they open); Close stops it.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, slots: map[string]*slot{}, missing: map[string]bool{},
		drain: make(chan struct{}), inFlight: semaphore.NewWeighted(cfg.MaxInFlightBytes)}
	if s.metrics, err = newMetrics(s, cfg.Registry); err != nil {
		cancel()
		return nil, err
	}
	s.cfg.Open = s.metrics.countOpens(cfg.Open)
	for _, name := range cfg.Logs {
		s.loops.Go(func() { s.openRequired(name) })
	}
	return s, nil
}

// openRequired opens a log of cfg.Logs, retrying until it opens or the
// relay closes.
func (s *Server) openRequired(name string) {
	pause := s.cfg.RetryInterval
	for {
		_, err := s.feed(s.ctx, name, false)
		s.mu.Lock()
		s.missing[name] = errors.Is(err, logstore.ErrNotFound)
		s.mu.Unlock()
		if err == nil || s.ctx.Err() != nil {
			return
		}
		s.log.Error(err, "opening the log failed; retrying", "log", name, "retryIn", pause)
		if sleep(s.ctx, pause) != nil {
			return
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// feed returns the open feed of the log name, opening it first when needed.
func (s *Server) feed(ctx context.Context, name string, create bool) (*feed, error) {
	if _, err := (logstore.Options{Name: name}).Validate(); err != nil {
		return nil, err
	}
	for range 2 {
		sl, opener, err := s.slot(name)
		if err != nil {
			return nil, err
		}
		if opener {
			s.open(ctx, sl, name, create)
		}
		select {
		case <-sl.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if sl.err == nil {
			return sl.f, nil
		}
		if opener || !create {
			return nil, sl.err
		}
		// Another client's open without create failed; try with ours.
	}
	return nil, fmt.Errorf("open log %q: %w", name, relaywire.ErrUnavailable)
}

// slot returns the slot of name, and whether the caller must open it.
func (s *Server) slot(name string) (*slot, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, fmt.Errorf("relay is closed: %w", relaywire.ErrUnavailable)
	}
	if sl := s.slots[name]; sl != nil {
		return sl, false, nil
	}
	if len(s.slots) >= s.cfg.MaxLogs {
		return nil, false, fmt.Errorf("the relay serves at most %d logs: %w", s.cfg.MaxLogs, relaywire.ErrUnavailable)
	}
	sl := &slot{ready: make(chan struct{})}
	s.slots[name] = sl
	return sl, true, nil
}

// open opens a log into its slot and starts its feed. A failed open frees
// the slot for the next try.
func (s *Server) open(ctx context.Context, sl *slot, name string, create bool) {
	defer close(sl.ready)
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.StoreTimeout)
	defer cancel()
	store, err := s.cfg.Open(octx, name, create)
	var f *feed
	if err == nil {
		if f, err = newFeed(octx, name, store, &s.cfg, s.log); err != nil {
			_ = store.Close()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.closed {
		_ = store.Close()
		err = fmt.Errorf("relay is closed: %w", relaywire.ErrUnavailable)
	}
	if err != nil {
		delete(s.slots, name)
		sl.err = err
		return
	}
	sl.f = f
	s.loops.Add(4)
	go f.run(s.ctx, s.loops.Done)
	s.log.Info("serving log", "log", name, "id", f.id.String(), "latest", f.latest())
}

// Drain makes the relay refuse new calls and end the waits it holds as
// unavailable, so that its clients move to another relay; the calls in
// progress finish. Call it before shutting the HTTP server down.
func (s *Server) Drain() {
	s.drainOnce.Do(func() { close(s.drain) })
}

// draining tells whether Drain was called.
func (s *Server) draining() bool {
	select {
	case <-s.drain:
		return true
	default:
		return false
	}
}

// Close drains the relay, stops its loops and closes its stores.
func (s *Server) Close() error {
	s.Drain()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	slots := maps.Clone(s.slots)
	s.mu.Unlock()
	s.cancel()
	s.loops.Wait()
	var errs []error
	for name, sl := range slots {
		<-sl.ready
		if sl.f != nil {
			if err := sl.f.store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close log %q: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Ready returns nil when the relay serves: not draining, every log of
// cfg.Logs open, and every open log followed without error.
func (s *Server) Ready() error {
	if s.draining() {
		return errors.New("draining")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range s.cfg.Logs {
		if sl := s.slots[name]; (sl == nil || !isClosed(sl.ready) || sl.f == nil) && !s.missing[name] {
			return fmt.Errorf("log %q is not open yet", name)
		}
	}
	for _, sl := range s.slots {
		if isClosed(sl.ready) && sl.f != nil {
			if err := sl.f.healthy(); err != nil {
				return err
			}
		}
	}
	return nil
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Stats counts what a relay did, over all its logs.
type Stats struct {
	// PageLoads are the pages read from the store; PageHits, the reads
	// answered from the page cache; PageShared, the reads that shared
	// another client's store read in flight.
	PageLoads, PageHits, PageShared, PageEvictions int64
	// RecentHits are the pages (of reads and streams) taken from the
	// newest updates held in memory (Config.RecentBytes).
	RecentHits int64
	// CacheBytes is the memory the kept pages take.
	CacheBytes int64
	// Waiters is the number of waits and streams held now; Streams, of
	// streams.
	Waiters, Streams int64
	// HeartbeatFlushes are the batches of heartbeats written,
	// HeartbeatsWritten the heartbeats they held (each node once per
	// batch), HeartbeatCalls the store calls they took.
	HeartbeatFlushes, HeartbeatsWritten, HeartbeatCalls int64
}

// Stats returns the relay's counters.
func (s *Server) Stats() Stats {
	st := Stats{Waiters: s.waiters.Load(), Streams: s.streams.Load()}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sl := range s.slots {
		if !isClosed(sl.ready) || sl.f == nil {
			continue
		}
		cs, used := sl.f.cache.snapshot()
		st.PageLoads += cs.Loads
		st.PageHits += cs.Hits
		st.RecentHits += sl.f.recent.hits.Load()
		st.PageShared += cs.Shared
		st.PageEvictions += cs.Evictions
		st.CacheBytes += used
		sl.f.hb.mu.Lock()
		st.HeartbeatFlushes += sl.f.hb.flushes
		st.HeartbeatsWritten += sl.f.hb.written
		st.HeartbeatCalls += sl.f.hb.calls
		sl.f.hb.mu.Unlock()
	}
	return st
}
