package mysqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/whycache/whycache/pkg/logstore"
)

// SchemaVersion is the version of the tables that this package writes. Open
// migrates older tables up to it and refuses newer ones.
const SchemaVersion = 1

// tables holds the quoted names of a log's tables.
type tables struct {
	meta, ops, nodes string
}

func tablesFor(name string) tables {
	p := "`whycache_" + name
	return tables{meta: p + "_meta`", ops: p + "_ops`", nodes: p + "_nodes`"}
}

// createSQL returns the statements that create a log's tables. They are
// idempotent. docs/logstore-sql.md shows them.
func (t tables) createSQL() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + t.meta + ` (
  singleton TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  schema_version INT UNSIGNED NOT NULL,
  log_id BINARY(16) NOT NULL,
  last_id BIGINT UNSIGNED NOT NULL,
  horizon BIGINT UNSIGNED NOT NULL,
  created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB`,
		`CREATE TABLE IF NOT EXISTS ` + t.ops + ` (
  update_id BIGINT UNSIGNED NOT NULL,
  op_index INT UNSIGNED NOT NULL,
  op_type TINYINT UNSIGNED NOT NULL,
  op_key MEDIUMBLOB NOT NULL,
  op_value LONGBLOB NULL,
  committed_at DATETIME(6) NOT NULL,
  PRIMARY KEY (update_id, op_index)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC`,
		`CREATE TABLE IF NOT EXISTS ` + t.nodes + ` (
  node VARBINARY(253) NOT NULL PRIMARY KEY,
  applied_id BIGINT UNSIGNED NOT NULL,
  heartbeat_at DATETIME(6) NOT NULL
) ENGINE=InnoDB`,
	}
}

// lockName is the advisory lock that serialises migrations of one log
// across processes: GET_LOCK names are server-wide and at most 64 bytes.
func lockName(db, name string) string {
	sum := sha256.Sum256([]byte(db + "." + name))
	return "whycache_migrate_" + hex.EncodeToString(sum[:12])
}

// metaRow is what the meta row says about the log.
type metaRow struct {
	version uint32
	id      logstore.LogID
}

// migrate creates the log's tables and meta row when opts.Create allows,
// under an advisory lock, and returns the meta row.
func migrate(ctx context.Context, db *sql.DB, t tables, dbName string, opts logstore.Options) (metaRow, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return metaRow{}, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	lock := lockName(dbName, opts.Name)
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", lock).Scan(&got); err != nil {
		return metaRow{}, fmt.Errorf("migrate: take lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return metaRow{}, fmt.Errorf("migrate: another process held lock %s for 60s", lock)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", lock) //nolint:errcheck // the lock also ends with the session
	m, err := readMeta(ctx, conn, t)
	switch {
	case err == nil:
		return checkVersion(m)
	case !errors.Is(err, logstore.ErrNotFound):
		return metaRow{}, err
	case !opts.Create:
		return metaRow{}, fmt.Errorf("log %q: %w", opts.Name, logstore.ErrNotFound)
	}
	for _, stmt := range t.createSQL() {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return metaRow{}, fmt.Errorf("migrate: create tables: %w", err)
		}
	}
	id := logstore.NewLogID()
	if _, err := conn.ExecContext(ctx, "INSERT IGNORE INTO "+t.meta+
		" (singleton, schema_version, log_id, last_id, horizon, created_at) VALUES (1, ?, ?, 0, 0, UTC_TIMESTAMP(6))",
		SchemaVersion, id[:]); err != nil {
		return metaRow{}, fmt.Errorf("migrate: create meta row: %w", err)
	}
	return readMeta(ctx, conn, t)
}

// readMeta reads the meta row; ErrNotFound when the table or row is missing.
func readMeta(ctx context.Context, conn *sql.Conn, t tables) (metaRow, error) {
	var m metaRow
	var id []byte
	err := conn.QueryRowContext(ctx, "SELECT schema_version, log_id FROM "+t.meta+" WHERE singleton = 1").Scan(&m.version, &id)
	if errors.Is(err, sql.ErrNoRows) || isNoSuchTable(err) {
		return m, logstore.ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("read meta row: %w", err)
	}
	if len(id) != len(m.id) {
		return m, fmt.Errorf("meta row: log id of %d bytes", len(id))
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

// isNoSuchTable reports whether err is MySQL's ER_NO_SUCH_TABLE.
func isNoSuchTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1146
}
