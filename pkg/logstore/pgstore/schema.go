package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/whycache/whycache/pkg/logstore"
)

// SchemaVersion is the version of the tables that this package writes. Open
// migrates older tables up to it and refuses newer ones.
const SchemaVersion = 1

// tables holds the names of a log's tables and notification channel.
type tables struct {
	meta, ops, nodes, channel string
}

func tablesFor(name string) tables {
	p := "whycache_" + name
	return tables{meta: p + "_meta", ops: p + "_ops", nodes: p + "_nodes", channel: p}
}

// createSQL returns the statements that create a log's tables.
// docs/logstore-sql.md shows them.
func (t tables) createSQL() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + t.meta + ` (
  singleton smallint PRIMARY KEY CHECK (singleton = 1),
  schema_version integer NOT NULL,
  log_id bytea NOT NULL CHECK (length(log_id) = 16),
  last_id bigint NOT NULL,
  horizon bigint NOT NULL,
  created_at timestamptz NOT NULL
) WITH (fillfactor = 10)`,
		`CREATE TABLE IF NOT EXISTS ` + t.ops + ` (
  update_id bigint NOT NULL,
  op_index integer NOT NULL,
  op_type smallint NOT NULL,
  op_key bytea NOT NULL,
  op_value bytea,
  committed_at timestamptz NOT NULL,
  PRIMARY KEY (update_id, op_index)
)`,
		`CREATE TABLE IF NOT EXISTS ` + t.nodes + ` (
  node text COLLATE "C" PRIMARY KEY,
  applied_id bigint NOT NULL,
  heartbeat_at timestamptz NOT NULL
)`,
	}
}

// lockKey is the advisory lock that serialises migrations of one log.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("whycache_migrate:" + name))
	return int64(h.Sum64())
}

// metaRow is what the meta row says about the log.
type metaRow struct {
	version int32
	id      logstore.LogID
}

// migrate creates the log's tables and meta row when opts.Create allows,
// in one transaction under an advisory lock, and returns the meta row.
func migrate(ctx context.Context, pool *pgxpool.Pool, t tables, opts logstore.Options) (metaRow, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return metaRow{}, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(opts.Name)); err != nil {
		return metaRow{}, fmt.Errorf("migrate: take lock: %w", err)
	}
	m, err := readMeta(ctx, tx, t)
	switch {
	case err == nil:
		return checkVersion(m)
	case !errors.Is(err, logstore.ErrNotFound):
		return metaRow{}, err
	case !opts.Create:
		return metaRow{}, fmt.Errorf("log %q: %w", opts.Name, logstore.ErrNotFound)
	}
	for _, stmt := range t.createSQL() {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return metaRow{}, fmt.Errorf("migrate: create tables: %w", err)
		}
	}
	id := logstore.NewLogID()
	if _, err := tx.Exec(ctx, "INSERT INTO "+t.meta+" (singleton, schema_version, log_id, last_id, horizon, created_at)"+
		" VALUES (1, $1, $2, 0, 0, clock_timestamp()) ON CONFLICT (singleton) DO NOTHING", SchemaVersion, id[:]); err != nil {
		return metaRow{}, fmt.Errorf("migrate: create meta row: %w", err)
	}
	if m, err = readMeta(ctx, tx, t); err != nil {
		return metaRow{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return metaRow{}, fmt.Errorf("migrate: commit: %w", err)
	}
	return m, nil
}

// readMeta reads the meta row; ErrNotFound when the table or row is missing.
func readMeta(ctx context.Context, tx pgx.Tx, t tables) (metaRow, error) {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t.meta).Scan(&exists); err != nil {
		return metaRow{}, fmt.Errorf("look for the meta table: %w", err)
	}
	if !exists {
		return metaRow{}, logstore.ErrNotFound
	}
	var m metaRow
	var id []byte
	err := tx.QueryRow(ctx, "SELECT schema_version, log_id FROM "+t.meta+" WHERE singleton = 1").Scan(&m.version, &id)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, logstore.ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("read meta row: %w", err)
	}
	copy(m.id[:], id)
	return m, nil
}

// checkVersion accepts the tables' schema version when this program can
// use them. Version 1 is the first; a later version adds its upgrade steps
// to migrate, each ending with its update of meta.schema_version.
func checkVersion(m metaRow) (metaRow, error) {
	if m.version > SchemaVersion {
		return m, fmt.Errorf("log tables are at schema version %d, newer than this program's %d: upgrade whycache", m.version, SchemaVersion)
	}
	if m.version < 1 {
		return m, fmt.Errorf("log tables are at unknown schema version %d", m.version)
	}
	return m, nil
}
