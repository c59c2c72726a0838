package logbench

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/whycache/whycache/pkg/logstore"
)

// rawInserter writes rows into a plain table of the ops table's shape, with
// one multi-row INSERT per update in autocommit and no id lock: the ceiling
// that the store's append is compared with.
type rawInserter interface {
	// reset creates table with the shape of the log's ops table.
	reset(ctx context.Context, log, table string) error
	// insert inserts the rows of one update with the given id.
	insert(ctx context.Context, table string, id uint64, ops []logstore.Op) error
	close()
}

// valuesSQL returns "(row),(row),..." for n rows, row built by row(i).
func valuesSQL(n int, row func(i int) string) string {
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(row(i))
	}
	return sb.String()
}

func rawValue(op logstore.Op) []byte {
	if op.Type == logstore.OpDelete {
		return nil
	}
	if op.Value == nil {
		return []byte{}
	}
	return op.Value
}

// mysqlRaw is the raw ceiling on MySQL/MariaDB, through the same driver
// settings as the store (arguments inline: one round trip per INSERT).
type mysqlRaw struct{ db *sql.DB }

func newMySQLRaw(dsn string) (*mysqlRaw, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.InterpolateParams = true
	cfg.MaxAllowedPacket = 0
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(128)
	db.SetMaxIdleConns(128)
	return &mysqlRaw{db: db}, nil
}

func (r *mysqlRaw) reset(ctx context.Context, log, table string) error {
	_, err := r.db.ExecContext(ctx, "CREATE TABLE "+table+" LIKE whycache_"+log+"_ops")
	return err
}

func (r *mysqlRaw) insert(ctx context.Context, table string, id uint64, ops []logstore.Op) error {
	args := make([]any, 0, 5*len(ops))
	for i, op := range ops {
		args = append(args, id, i, uint8(op.Type), op.Key, rawValue(op))
	}
	q := "INSERT INTO " + table + " (update_id, op_index, op_type, op_key, op_value, committed_at) VALUES " +
		valuesSQL(len(ops), func(int) string { return "(?,?,?,?,?,UTC_TIMESTAMP(6))" })
	_, err := r.db.ExecContext(ctx, q, args...)
	return err
}

func (r *mysqlRaw) close() { r.db.Close() }

// postgresRaw is the raw ceiling on PostgreSQL.
type postgresRaw struct{ pool *pgxpool.Pool }

func newPostgresRaw(ctx context.Context, dsn string) (*postgresRaw, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 128
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &postgresRaw{pool: pool}, nil
}

func (r *postgresRaw) reset(ctx context.Context, log, table string) error {
	_, err := r.pool.Exec(ctx, "CREATE TABLE "+table+" (LIKE whycache_"+log+"_ops INCLUDING ALL)")
	return err
}

func (r *postgresRaw) insert(ctx context.Context, table string, id uint64, ops []logstore.Op) error {
	args := make([]any, 0, 5*len(ops))
	for i, op := range ops {
		args = append(args, int64(id), int32(i), int16(op.Type), op.Key, rawValue(op))
	}
	q := "INSERT INTO " + table + " (update_id, op_index, op_type, op_key, op_value, committed_at) VALUES " +
		valuesSQL(len(ops), func(i int) string {
			return fmt.Sprintf("($%d,$%d,$%d,$%d,$%d,clock_timestamp())", 5*i+1, 5*i+2, 5*i+3, 5*i+4, 5*i+5)
		})
	_, err := r.pool.Exec(ctx, q, args...)
	return err
}

func (r *postgresRaw) close() { r.pool.Close() }
