package pgstore

import (
	"context"
	"fmt"
	"math"
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
		if _, err := s.pool.Exec(ctx, "UPDATE "+s.t.meta+" SET horizon = GREATEST(horizon, $1) WHERE singleton = 1", int64(deleteLimit)); err != nil {
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
	rs, err := s.pool.Query(ctx, fmt.Sprintf("SELECT update_id, op_index, op_type, length(op_key) <= %[1]d,"+
		" CASE WHEN length(op_key) <= %[1]d THEN op_key ELSE sha256(op_key) END FROM %[2]s"+
		" WHERE update_id <= $1 ORDER BY update_id, op_index", sqlkit.ShortKey, s.t.ops), int64(min(through, math.MaxInt64)))
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		var id int64
		var idx int32
		var typ int16
		var short bool
		var key []byte
		if err := rs.Scan(&id, &idx, &typ, &short, &key); err != nil {
			return err
		}
		pos := sqlkit.Pos{ID: uint64(id), Index: int(idx)}
		if err := fn(pos, logstore.OpType(typ), sqlkit.KeyIdentity(short, key)); err != nil {
			return err
		}
	}
	return rs.Err()
}

// remove deletes the rows at the given positions in one statement (one
// transaction).
func (s *Store) remove(ctx context.Context, batch []sqlkit.Pos) (int64, error) {
	ids := make([]int64, len(batch))
	idx := make([]int32, len(batch))
	for i, p := range batch {
		ids[i], idx[i] = int64(p.ID), int32(p.Index)
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM "+s.t.ops+" WHERE (update_id, op_index) IN"+
		" (SELECT * FROM unnest($1::bigint[], $2::integer[]))", ids, idx)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
