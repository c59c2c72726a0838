package pgstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends/sqlkit"
)

// Pool and group sizes.
const (
	maxConns      = 32
	commitWorkers = 2
	maxGroupOps   = 20000
	maxGroupBytes = 8 << 20
	// maxColumn is the most a bytea value may hold.
	maxColumn = 1<<30 - 1
)

// Store is a log in a PostgreSQL database. It implements logstore.Store.
type Store struct {
	pool      *pgxpool.Pool
	t         tables
	opts      logstore.Options
	log       logr.Logger
	id        logstore.LogID
	committer *sqlkit.Committer
	notifier  *sqlkit.Notifier
	pager     sqlkit.Pager
	listener  *listener
	closed    atomic.Bool
	// appendLock is the advisory lock key that append transactions queue on.
	appendLock int64

	// beforeCommit, when set by tests, runs inside each append
	// transaction, after the ids are allocated and before COMMIT.
	beforeCommit func()
}

var (
	_ logstore.Store            = (*Store)(nil)
	_ logstore.HeartbeatBatcher = (*Store)(nil)
)

// Open opens the log opts.Name in the database that dsn (a pgx connection
// string: a postgres:// URL or keyword/value pairs) names, creating its
// tables when opts.Create is set and they are missing.
func Open(ctx context.Context, dsn string, opts logstore.Options) (*Store, error) {
	opts, err := opts.Validate()
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if opts.Limits.MaxKeySize > maxColumn || opts.Limits.MaxValueSize > maxColumn {
		return nil, fmt.Errorf("pgstore: key and value size limits must be at most %d bytes (bytea): %w", maxColumn, logstore.ErrInvalid)
	}
	log := opts.Logger.WithValues("log", opts.Name, "dsn", RedactDSN(dsn))
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: parse DSN %s: %w", RedactDSN(dsn), redactErr(err, dsn))
	}
	cfg.MaxConns = maxConns
	// A pool_min_conns of the DSN may ask for more.
	cfg.MinConns = max(cfg.MinConns, int32(min(opts.MinConns, maxConns)))
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
	cfg.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s, err := open(ctx, pool, opts, log)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: open log %q at %s: %w", opts.Name, RedactDSN(dsn), err)
	}
	log.Info("opened log", "id", s.id.String())
	return s, nil
}

func open(ctx context.Context, pool *pgxpool.Pool, opts logstore.Options, log logr.Logger) (*Store, error) {
	s := &Store{pool: pool, t: tablesFor(opts.Name), opts: opts, log: log, notifier: sqlkit.NewNotifier()}
	m, err := migrate(ctx, pool, s.t, opts)
	if err != nil {
		return nil, err
	}
	if !opts.ExpectID.IsZero() && opts.ExpectID != m.id {
		return nil, fmt.Errorf("log has identity %s, expected %s: %w", m.id, opts.ExpectID, logstore.ErrIdentityMismatch)
	}
	s.id = m.id
	s.appendLock = lockKey("append:" + opts.Name)
	s.pager.Query = s.queryRows
	s.listener = newListener(s)
	s.committer = sqlkit.NewCommitter(s.commitGroup, sqlkit.CommitConfig{
		Workers: commitWorkers, MaxOps: maxGroupOps, MaxBytes: maxGroupBytes, OnCommit: opts.OnCommit,
	})
	return s, nil
}

// ID returns the log's identity.
func (s *Store) ID() logstore.LogID { return s.id }

// Limits returns the limits that Append enforces.
func (s *Store) Limits() logstore.Limits { return s.opts.Limits }

// Latest returns the committed last id of the log.
func (s *Store) Latest(ctx context.Context) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("latest: %w", logstore.ErrClosed)
	}
	var id int64
	if err := s.pool.QueryRow(ctx, "SELECT last_id FROM "+s.t.meta+" WHERE singleton = 1").Scan(&id); err != nil {
		return 0, fmt.Errorf("latest: %w", err)
	}
	return uint64(id), nil
}

// Horizon returns the log's horizon.
func (s *Store) Horizon(ctx context.Context) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("horizon: %w", logstore.ErrClosed)
	}
	return s.horizon(ctx)
}

func (s *Store) horizon(ctx context.Context) (uint64, error) {
	var h int64
	if err := s.pool.QueryRow(ctx, "SELECT horizon FROM "+s.t.meta+" WHERE singleton = 1").Scan(&h); err != nil {
		return 0, fmt.Errorf("read horizon: %w", err)
	}
	return uint64(h), nil
}

// Wait blocks until the log holds an id above after; see the package
// documentation for how it learns of new ids.
func (s *Store) Wait(ctx context.Context, after uint64) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("wait: %w", logstore.ErrClosed)
	}
	s.listener.start(ctx)
	return s.notifier.Wait(ctx, after, s.Latest, sqlkit.Fixed(time.Second))
}

// Close waits for queued appends to commit, stops the listener and closes
// the connections.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return fmt.Errorf("close: %w", logstore.ErrClosed)
	}
	s.committer.Close()
	s.listener.stop()
	s.notifier.Wake()
	s.pool.Close()
	return nil
}
