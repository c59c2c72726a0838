package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends/sqlkit"
)

// Rewrite keeps, for each key, only its last operation at or below
// opts.Through (capped at the latest id), and removes delete markers up to
// opts.DeleteLimit after raising the horizon. It scans the log once in
// primary-key order, grouping keys in memory (keys longer than
// sqlkit.ShortKey by their SHA-256), and removes rows in transactions of
// opts.BatchSize rows while the scan goes on.
func (s *Store) Rewrite(ctx context.Context, opts logstore.RewriteOptions) (logstore.RewriteStats, error) {
	if s.closed.Load() {
		return logstore.RewriteStats{}, fmt.Errorf("rewrite: %w", logstore.ErrClosed)
	}
	start := time.Now()
	latest, err := s.Latest(ctx)
	if err != nil {
		return logstore.RewriteStats{}, fmt.Errorf("rewrite: %w", err)
	}
	through := min(opts.Through, latest)
	deleteLimit := min(opts.DeleteLimit, through)
	if deleteLimit > 0 {
		if _, err := s.db.ExecContext(ctx, "UPDATE "+s.t.meta+" SET horizon = GREATEST(horizon, ?) WHERE singleton = 1", deleteLimit); err != nil {
			return logstore.RewriteStats{}, fmt.Errorf("rewrite: raise horizon: %w", err)
		}
	}
	ex, rm, err := sqlkit.RunRewrite(ctx, s.scan, s.remove, through, deleteLimit, opts.BatchSize)
	st := logstore.RewriteStats{Examined: ex, Removed: rm, Duration: time.Since(start)}
	if err != nil {
		return st, fmt.Errorf("rewrite through %d: %w", through, err)
	}
	if st.Horizon, err = s.horizon(ctx); err != nil {
		return st, fmt.Errorf("rewrite: %w", err)
	}
	s.log.Info("rewrote history", "through", through, "deleteLimit", deleteLimit, "examined", ex,
		"removed", rm, "horizon", st.Horizon, "duration", st.Duration)
	return st, nil
}

// scan streams the operations with ids up to through in log order; keys
// longer than sqlkit.ShortKey come as their SHA-256.
func (s *Store) scan(ctx context.Context, through uint64, fn func(sqlkit.Pos, logstore.OpType, string) error) error {
	rs, err := s.db.QueryContext(ctx, fmt.Sprintf("SELECT update_id, op_index, op_type, LENGTH(op_key) <= %[1]d,"+
		" IF(LENGTH(op_key) <= %[1]d, op_key, UNHEX(SHA2(op_key, 256))) FROM %[2]s"+
		" WHERE update_id <= ? ORDER BY update_id, op_index", sqlkit.ShortKey, s.t.ops), through)
	if err != nil {
		return err
	}
	defer rs.Close()
	var key sql.RawBytes
	for rs.Next() {
		var pos sqlkit.Pos
		var typ uint8
		var short bool
		if err := rs.Scan(&pos.ID, &pos.Index, &typ, &short, &key); err != nil {
			return err
		}
		if err := fn(pos, logstore.OpType(typ), sqlkit.KeyIdentity(short, key)); err != nil {
			return err
		}
	}
	return rs.Err()
}

// remove deletes the rows at the given positions in one statement (one
// transaction, autocommit).
func (s *Store) remove(ctx context.Context, batch []sqlkit.Pos) (int64, error) {
	var sb strings.Builder
	sb.WriteString("DELETE FROM " + s.t.ops + " WHERE (update_id, op_index) IN (")
	args := make([]any, 0, 2*len(batch))
	for i, p := range batch {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?)")
		args = append(args, p.ID, p.Index)
	}
	sb.WriteByte(')')
	res, err := s.db.ExecContext(ctx, sb.String(), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
