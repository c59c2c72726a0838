package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-sql-driver/mysql"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends/sqlkit"
)

var timeUTC = time.UTC

// Pool sizes. Appends need one connection per in-flight group; the rest
// serve readers, waiters and rewrites.
const (
	maxOpenConns   = 32
	commitWorkers  = 2
	maxGroupOps    = 20000
	maxGroupBytes  = 8 << 20
	maxStatementSz = 4 << 20
)

// Store is a log in a MySQL or MariaDB database. It implements
// logstore.Store.
type Store struct {
	db        *sql.DB
	t         tables
	opts      logstore.Options
	log       logr.Logger
	id        logstore.LogID
	maxPacket int
	committer *sqlkit.Committer
	notifier  *sqlkit.Notifier
	pager     sqlkit.Pager
	closed    atomic.Bool

	// beforeCommit, when set by tests, runs inside each append transaction
	// just before COMMIT.
	beforeCommit func()
}

var (
	_ logstore.Store            = (*Store)(nil)
	_ logstore.HeartbeatBatcher = (*Store)(nil)
)

// Open opens the log opts.Name in the database that dsn (a
// go-sql-driver/mysql DSN) names, creating its tables when opts.Create is
// set and they are missing.
func Open(ctx context.Context, dsn string, opts logstore.Options) (*Store, error) {
	opts, err := opts.Validate()
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: %w", err)
	}
	log := opts.Logger.WithValues("log", opts.Name, "dsn", RedactDSN(dsn))
	cfg, err := driverConfig(dsn, log)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: %w", err)
	}
	if err := checkColumnLimits(opts.Limits); err != nil {
		return nil, fmt.Errorf("mysqlstore: %w", err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s, err := open(ctx, db, cfg.DBName, opts, log)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlstore: open log %q at %s: %w", opts.Name, RedactDSN(dsn), err)
	}
	log.Info("opened log", "id", s.id.String(), "maxAllowedPacket", s.maxPacket)
	return s, nil
}

func open(ctx context.Context, db *sql.DB, dbName string, opts logstore.Options, log logr.Logger) (*Store, error) {
	s := &Store{db: db, t: tablesFor(opts.Name), opts: opts, log: log, notifier: sqlkit.NewNotifier()}
	packet, err := maxAllowedPacket(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := checkPacket(packet, opts.Limits); err != nil {
		return nil, err
	}
	s.maxPacket = packet
	m, err := migrate(ctx, db, s.t, dbName, opts)
	if err != nil {
		return nil, err
	}
	if !opts.ExpectID.IsZero() && opts.ExpectID != m.id {
		return nil, fmt.Errorf("log has identity %s, expected %s: %w", m.id, opts.ExpectID, logstore.ErrIdentityMismatch)
	}
	s.id = m.id
	s.pager.Query = s.queryRows
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
	var id uint64
	if err := s.db.QueryRowContext(ctx, "SELECT last_id FROM "+s.t.meta+" WHERE singleton = 1").Scan(&id); err != nil {
		return 0, fmt.Errorf("latest: %w", err)
	}
	return id, nil
}

// Horizon returns the log's horizon.
func (s *Store) Horizon(ctx context.Context) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("horizon: %w", logstore.ErrClosed)
	}
	return s.horizon(ctx)
}

// horizon reads the horizon with a locking read, like the rows of a page
// (see queryRows): a consistent read could miss a raise that committed
// before the removals that the page's rows already show.
func (s *Store) horizon(ctx context.Context) (uint64, error) {
	var h uint64
	if err := s.db.QueryRowContext(ctx, "SELECT horizon FROM "+s.t.meta+" WHERE singleton = 1 LOCK IN SHARE MODE").Scan(&h); err != nil {
		return 0, fmt.Errorf("read horizon: %w", err)
	}
	return h, nil
}

// Wait blocks until the log holds an id above after, polling the meta row
// (see the package documentation for the latency).
func (s *Store) Wait(ctx context.Context, after uint64) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("wait: %w", logstore.ErrClosed)
	}
	return s.notifier.Wait(ctx, after, s.Latest, sqlkit.Doubling(2*time.Millisecond, 50*time.Millisecond))
}

// Close waits for queued appends to commit and closes the connections.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return fmt.Errorf("close: %w", logstore.ErrClosed)
	}
	s.committer.Close()
	s.notifier.Wake()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("mysqlstore: close: %w", err)
	}
	return nil
}
