package pgstore

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends/sqlkit"
)

// Read returns whole updates with ids above after, about maxOps operations
// in all. It reads the horizon after the rows, so that a rewrite that
// raised it meanwhile is noticed.
func (s *Store) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	return s.read(ctx, after, maxOps, func(h uint64) error { return sqlkit.CheckHorizon(after, h) })
}

// ReadReplay reads like Read for a full replay that began when the horizon
// was horizon: it serves positions below the horizon while the horizon has
// not moved (see logstore.Store.ReadReplay).
func (s *Store) ReadReplay(ctx context.Context, after uint64, maxOps int, horizon uint64) ([]logstore.Update, error) {
	return s.read(ctx, after, maxOps, func(h uint64) error { return sqlkit.CheckReplayHorizon(after, horizon, h) })
}

// read reads a page, then the horizon, which check judges.
func (s *Store) read(ctx context.Context, after uint64, maxOps int, check func(horizon uint64) error) ([]logstore.Update, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read: %w", logstore.ErrClosed)
	}
	if after > math.MaxInt64 {
		return []logstore.Update{}, nil
	}
	ups, err := s.pager.Read(ctx, after, maxOps)
	if err != nil {
		return nil, fmt.Errorf("read after %d: %w", after, err)
	}
	h, err := s.horizon(ctx)
	if err != nil {
		return nil, fmt.Errorf("read after %d: %w", after, err)
	}
	if err := check(h); err != nil {
		return nil, err
	}
	return ups, nil
}

// queryRows is the pager's query: rows after from, in log order.
func (s *Store) queryRows(ctx context.Context, from sqlkit.Pos, limit int, each func(sqlkit.Row) bool) (int, sqlkit.Pos, error) {
	rs, err := s.pool.Query(ctx, "SELECT update_id, op_index, op_type, op_key, op_value, committed_at FROM "+s.t.ops+
		" WHERE (update_id, op_index) > ($1, $2) ORDER BY update_id, op_index LIMIT $3",
		int64(from.ID), int32(min(from.Index, math.MaxInt32)), limit)
	if err != nil {
		return 0, from, err
	}
	defer rs.Close()
	n := 0
	for rs.Next() {
		var r sqlkit.Row
		var id int64
		var idx int32
		var typ int16
		if err := rs.Scan(&id, &idx, &typ, &r.Op.Key, &r.Op.Value, &r.Time); err != nil {
			return n, from, err
		}
		r.ID, r.Index, r.Op.Type = uint64(id), int(idx), logstore.OpType(typ)
		n++
		from = sqlkit.Pos{ID: r.ID, Index: r.Index}
		if !each(r) {
			break
		}
	}
	rs.Close()
	return n, from, rs.Err()
}

// Heartbeat records a node's applied id and the server's current time.
func (s *Store) Heartbeat(ctx context.Context, p logstore.NodeProgress) error {
	if s.closed.Load() {
		return fmt.Errorf("heartbeat: %w", logstore.ErrClosed)
	}
	if err := sqlkit.CheckNode(p.Node); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if p.AppliedID > math.MaxInt64 {
		return fmt.Errorf("heartbeat: applied id %d out of range: %w", p.AppliedID, logstore.ErrInvalid)
	}
	_, err := s.pool.Exec(ctx, "INSERT INTO "+s.t.nodes+" (node, applied_id, heartbeat_at) VALUES ($1, $2, clock_timestamp())"+
		" ON CONFLICT (node) DO UPDATE SET applied_id = EXCLUDED.applied_id, heartbeat_at = EXCLUDED.heartbeat_at",
		p.Node, int64(p.AppliedID))
	if err != nil {
		return fmt.Errorf("heartbeat of node %q: %w", p.Node, err)
	}
	return nil
}

// Heartbeats records the heartbeats of many nodes, up to
// sqlkit.MaxHeartbeatRows per statement.
func (s *Store) Heartbeats(ctx context.Context, ps []logstore.NodeProgress) error {
	if s.closed.Load() {
		return fmt.Errorf("heartbeats: %w", logstore.ErrClosed)
	}
	for _, p := range ps {
		if p.AppliedID > math.MaxInt64 {
			return fmt.Errorf("heartbeat of node %q: applied id %d out of range: %w", p.Node, p.AppliedID, logstore.ErrInvalid)
		}
	}
	return sqlkit.HeartbeatChunks(ps, func(chunk []logstore.NodeProgress) error {
		var q strings.Builder
		args := make([]any, 0, 2*len(chunk))
		q.WriteString("INSERT INTO " + s.t.nodes + " (node, applied_id, heartbeat_at) VALUES ")
		for i, p := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "($%d, $%d, clock_timestamp())", 2*i+1, 2*i+2)
			args = append(args, p.Node, int64(p.AppliedID))
		}
		q.WriteString(" ON CONFLICT (node) DO UPDATE SET applied_id = EXCLUDED.applied_id, heartbeat_at = EXCLUDED.heartbeat_at")
		if _, err := s.pool.Exec(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("heartbeats of %d nodes: %w", len(chunk), err)
		}
		return nil
	})
}

// Nodes lists the nodes that have sent a heartbeat, by name.
func (s *Store) Nodes(ctx context.Context) ([]logstore.NodeProgress, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("nodes: %w", logstore.ErrClosed)
	}
	rs, err := s.pool.Query(ctx, "SELECT node, applied_id, heartbeat_at FROM "+s.t.nodes+" ORDER BY node")
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	out, err := pgx.CollectRows(rs, func(row pgx.CollectableRow) (logstore.NodeProgress, error) {
		var p logstore.NodeProgress
		var id int64
		err := row.Scan(&p.Node, &id, &p.Heartbeat)
		p.AppliedID = uint64(id)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	if out == nil {
		out = []logstore.NodeProgress{}
	}
	return out, nil
}
