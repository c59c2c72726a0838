package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
)

// Agent keeps one instance's cache file up to date and serves its writes.
// Create it with New and run it with Run.
type Agent struct {
	cfg      Config
	log      logr.Logger
	metrics  *metrics
	inflight *inflight // bounds the write API's request bytes

	// Set once Run has opened them; read-only afterwards.
	store  logstore.Store
	w      *cachefile.Writer
	opened fileState // what openCache found at the path
	tipf   *tipFile  // the fingerprint of the file's last update, beside it
	pager  *pager    // used by the sync loop only
	tip    tip       // the last update applied; used by the sync loop only

	applied      atomic.Uint64
	head         atomic.Uint64
	behindSince  atomic.Int64 // unix nanos when a head above applied was first seen; 0 when caught up
	lastProgress atomic.Int64 // unix nanos of the main loop's last iteration
	lastContact  atomic.Int64 // unix nanos of the last successful store call
	synced       atomic.Bool  // the first catch-up after start is done
	started      chan struct{}

	appliedMu sync.Mutex
	appliedCh chan struct{} // closed and replaced whenever applied moves
	epoch     atomic.Uint64 // bumped whenever a rebuilt file is installed
	kick      chan struct{} // wakes the sync loop's wait

	stats atomic.Pointer[cachefile.Stats]

	healthAddr, tcpAddr atomic.Value // string: the listeners' actual addresses
	bootstrapping       atomic.Int64 // unix nanos when a running bootstrap started; 0 when none
	fault               atomic.Value // string: why the file is unusable while it is rebuilt; "" when it is not
}

// New checks the configuration and returns an agent ready to Run.
func New(cfg Config) (*Agent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:       cfg,
		log:       cfg.Logger.WithValues("node", cfg.NodeName, "dir", cfg.Dir),
		metrics:   newMetrics(),
		started:   make(chan struct{}),
		appliedCh: make(chan struct{}),
		kick:      make(chan struct{}, 1),
	}
	a.inflight = newInflight(cfg.MaxInFlightBytes, a.metrics)
	if c, ok := cfg.Bootstrap.(prometheus.Collector); ok {
		// A bootstrapper with metrics of its own (SnapshotBootstrapper).
		if err := a.metrics.registry.Register(c); err != nil {
			return nil, fmt.Errorf("register the bootstrapper's metrics: %w", err)
		}
	}
	a.lastProgress.Store(time.Now().UnixNano())
	a.healthAddr.Store("")
	a.tcpAddr.Store("")
	a.fault.Store("")
	return a, nil
}

// CachePath returns the path of the agent's cache file.
func (a *Agent) CachePath() string { return filepath.Join(a.cfg.Dir, agentapi.CacheFileName) }

// SocketPath returns the path of the agent's write socket.
func (a *Agent) SocketPath() string { return filepath.Join(a.cfg.Dir, agentapi.SocketName) }

// AppliedID returns the last update id applied to the cache file.
func (a *Agent) AppliedID() uint64 { return a.applied.Load() }

// Started is closed once the agent has opened its store and cache file and
// serves writes.
func (a *Agent) Started() <-chan struct{} { return a.started }

// Run runs the agent until ctx ends, then shuts down gracefully: it stops
// taking writes, finishes the batch it is applying, closes the cache file
// cleanly and closes the store. It returns an error when the agent cannot
// run at all (another agent holds the file, the file belongs to another
// log); transient store failures are retried, not returned.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("create instance directory: %w", err)
	}
	lock, err := lockInstance(a.cfg.Dir, a.cfg.NodeName)
	if err != nil {
		return err
	}
	defer lock.Close()
	servers, err := a.listen()
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if a.cfg.HealthAddr != "" {
		g.Go(func() error { return servers.serveHealth(gctx, a) })
	}
	g.Go(func() error {
		if err := a.open(gctx); err != nil {
			return err
		}
		defer a.closeAll()
		if err := servers.listenWrites(a); err != nil {
			return err
		}
		wg, wctx := errgroup.WithContext(gctx)
		wg.Go(func() error { return servers.serveWrites(wctx, a) })
		close(a.started)
		wg.Go(func() error { return a.syncLoop(wctx) })
		wg.Go(func() error { a.heartbeatLoop(wctx); return nil })
		return wg.Wait()
	})
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		a.log.Info("agent stopped")
		return nil
	}
	return err
}

// open opens the log store (retrying while it cannot be reached) and the
// cache file.
func (a *Agent) open(ctx context.Context) error {
	store, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	a.store = store
	a.pager = newPager(store, a.cfg.PageOps, a.cfg.BatchBytes/4)
	w, err := a.openCache(ctx)
	if err != nil {
		store.Close()
		return err
	}
	if a.tipf, err = openTipFile(a.CachePath(), store.ID(), a.cfg.Cache.NoSync); err != nil {
		w.Close()
		store.Close()
		return err
	}
	a.w = w
	a.setApplied(w.UpdateID())
	a.log.Info("cache file open", "path", a.CachePath(), "appliedID", w.UpdateID(), "logID", store.ID().String())
	return nil
}

func (a *Agent) openStore(ctx context.Context) (logstore.Store, error) {
	opts := logstore.Options{
		Name:   a.cfg.LogName,
		Create: a.cfg.CreateLog,
		Limits: a.cfg.Limits,
		Logger: a.log.WithName("store"),
		OnCommit: func(updates, _ int) {
			a.metrics.groupCommitSize.Observe(float64(updates))
		},
	}
	b := newBackoff(a.cfg.RetryInterval)
	for {
		store, err := a.cfg.OpenStore(ctx, opts)
		if err == nil {
			a.contact()
			return store, nil
		}
		if errors.Is(err, logstore.ErrInvalid) || errors.Is(err, logstore.ErrIdentityMismatch) {
			return nil, fmt.Errorf("open log store: %w", err)
		}
		a.metrics.storeErrors.Inc()
		if errors.Is(err, logstore.ErrNotFound) && !a.cfg.CreateLog {
			a.log.Info("the log does not exist yet; waiting for it to be created (or start the agent with --create-log)",
				"log", a.cfg.LogName, "error", err.Error(), "retryIn", b.peek())
		} else {
			a.log.Error(err, "cannot open log store; retrying", "retryIn", b.peek())
		}
		if err := b.sleep(ctx); err != nil {
			return nil, err
		}
	}
}

// openCache opens the cache file as its writer. A corrupt file is moved
// aside (for inspection) and replaced by an empty one; what to do about an
// empty file is decided by reconcile.
func (a *Agent) openCache(ctx context.Context) (*cachefile.Writer, error) {
	path := a.CachePath()
	_, statErr := os.Stat(path)
	a.opened = fileUsable
	if errors.Is(statErr, os.ErrNotExist) {
		a.opened = fileNew
	}
	w, err := cachefile.OpenWriter(ctx, path, a.store.ID(), a.cfg.Cache)
	if errors.Is(err, cachefile.ErrCorrupt) || errors.Is(err, cachefile.ErrVersion) {
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		a.log.Error(err, "cache file is unusable; moving it aside and rebuilding", "movedTo", aside)
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("move unusable cache file aside: %w (after: %w)", rerr, err)
		}
		a.metrics.bootstraps.WithLabelValues("corrupt").Inc()
		a.pruneAside()
		a.opened = fileCorrupt
		w, err = cachefile.OpenWriter(ctx, path, a.store.ID(), a.cfg.Cache)
	}
	if err != nil {
		return nil, fmt.Errorf("open cache file: %w", err)
	}
	return w, nil
}

// closeAll closes the cache file cleanly, then the store.
func (a *Agent) closeAll() {
	if err := a.w.Close(); err != nil {
		a.log.Error(err, "close cache file")
	}
	if err := a.tipf.sync(); err != nil {
		a.log.Error(err, "sync the cache file's tip")
	}
	if err := a.tipf.close(); err != nil {
		a.log.Error(err, "close the cache file's tip")
	}
	if err := a.store.Close(); err != nil {
		a.log.Error(err, "close log store")
	}
}

// bootstrap rebuilds the cache file with b.
func (a *Agent) bootstrap(ctx context.Context, b Bootstrapper, reason string) error {
	w := a.w
	start := time.Now()
	a.bootstrapping.Store(start.UnixNano())
	defer a.bootstrapping.Store(0)
	a.log.Info("bootstrapping cache file", "reason", reason)
	if err := a.installFrom(ctx, b, w); err != nil {
		return fmt.Errorf("bootstrap (%s): %w", reason, err)
	}
	a.pager = newPager(a.store, a.cfg.PageOps, a.cfg.BatchBytes/4)
	a.epoch.Add(1)
	a.setApplied(w.UpdateID())
	a.refreshStats()
	d := time.Since(start)
	a.metrics.bootstraps.WithLabelValues(reason).Inc()
	a.metrics.bootstrapSecs.Observe(d.Seconds())
	a.log.Info("bootstrapped cache file", "reason", reason, "appliedID", w.UpdateID(), "duration", d)
	return nil
}

// installFrom puts b's file into w: through b's own Install when it has
// one, else by Replace with the file Bootstrap wrote.
func (a *Agent) installFrom(ctx context.Context, b Bootstrapper, w *cachefile.Writer) error {
	if in, ok := b.(Installer); ok {
		return in.Install(ctx, a.store, w, a.cfg.Dir, a.cfg.Cache)
	}
	// Its temporary files go where readers cannot open them.
	path, err := b.Bootstrap(ctx, a.store, filepath.Join(a.cfg.Dir, cachefile.PrivateDirName), a.cfg.Cache)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	if err := w.Replace(ctx, path); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}

// setApplied records a new applied id and wakes the writes waiting for it.
func (a *Agent) setApplied(id uint64) {
	a.applied.Store(id)
	a.metrics.appliedID.Set(float64(id))
	a.appliedMu.Lock()
	close(a.appliedCh)
	a.appliedCh = make(chan struct{})
	a.appliedMu.Unlock()
}

// waitApplied blocks until the cache file holds update id, or ctx ends.
// For an id the log reused (see update), the file holds it only once it
// has been rebuilt after epoch.
func (a *Agent) waitApplied(ctx context.Context, id uint64, reused bool, epoch uint64) error {
	for {
		a.appliedMu.Lock()
		ch := a.appliedCh
		a.appliedMu.Unlock()
		if a.holds(id, reused, epoch) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// holds reports whether the cache file holds update id (see waitApplied).
func (a *Agent) holds(id uint64, reused bool, epoch uint64) bool {
	return a.applied.Load() >= id && (!reused || a.epoch.Load() > epoch)
}

// kickSync wakes the sync loop from its wait, to check the log now.
func (a *Agent) kickSync() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *Agent) contact()  { a.lastContact.Store(time.Now().UnixNano()) }
func (a *Agent) progress() { a.lastProgress.Store(time.Now().UnixNano()) }
