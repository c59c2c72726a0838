package mysqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"

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
	var ups []logstore.Update
	var err error
	for try := 0; try < 3; try++ {
		if ups, err = s.pager.Read(ctx, after, maxOps); !isLockConflict(err) {
			break
		}
	}
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
//
// It is a locking read (LOCK IN SHARE MODE), which reads the newest
// committed rows and waits for an uncommitted row in its way. A plain
// consistent read is not enough: on MariaDB 10.11, a snapshot was seen to
// include an append while missing one that had committed before it (about
// one read in ten thousand under 16 concurrent writers, in REPEATABLE READ
// and READ COMMITTED alike), which would make a tailer skip an id.
// TestSnapshotGaps shows it.
func (s *Store) queryRows(ctx context.Context, from sqlkit.Pos, limit int, each func(sqlkit.Row) bool) (int, sqlkit.Pos, error) {
	rs, err := s.db.QueryContext(ctx, "SELECT update_id, op_index, op_type, op_key, op_value, committed_at FROM "+s.t.ops+
		" WHERE update_id > ? OR (update_id = ? AND op_index > ?) ORDER BY update_id, op_index LIMIT ? LOCK IN SHARE MODE",
		from.ID, from.ID, from.Index, limit)
	if err != nil {
		return 0, from, err
	}
	defer rs.Close()
	n := 0
	for rs.Next() {
		var r sqlkit.Row
		var typ uint8
		if err := rs.Scan(&r.ID, &r.Index, &typ, &r.Op.Key, &r.Op.Value, &r.Time); err != nil {
			return n, from, err
		}
		r.Op.Type = logstore.OpType(typ)
		n++
		from = sqlkit.Pos{ID: r.ID, Index: r.Index}
		if !each(r) {
			break
		}
	}
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
	_, err := s.db.ExecContext(ctx, "INSERT INTO "+s.t.nodes+" (node, applied_id, heartbeat_at) VALUES (?, ?, UTC_TIMESTAMP(6))"+
		" ON DUPLICATE KEY UPDATE applied_id = VALUES(applied_id), heartbeat_at = VALUES(heartbeat_at)", p.Node, p.AppliedID)
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
	return sqlkit.HeartbeatChunks(ps, func(chunk []logstore.NodeProgress) error {
		var q strings.Builder
		args := make([]any, 0, 2*len(chunk))
		q.WriteString("INSERT INTO " + s.t.nodes + " (node, applied_id, heartbeat_at) VALUES ")
		for i, p := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, UTC_TIMESTAMP(6))")
			args = append(args, p.Node, p.AppliedID)
		}
		q.WriteString(" ON DUPLICATE KEY UPDATE applied_id = VALUES(applied_id), heartbeat_at = VALUES(heartbeat_at)")
		if _, err := s.db.ExecContext(ctx, q.String(), args...); err != nil {
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
	rs, err := s.db.QueryContext(ctx, "SELECT node, applied_id, heartbeat_at FROM "+s.t.nodes+" ORDER BY node")
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	defer rs.Close()
	out := []logstore.NodeProgress{}
	for rs.Next() {
		var p logstore.NodeProgress
		if err := rs.Scan(&p.Node, &p.AppliedID, &p.Heartbeat); err != nil {
			return nil, fmt.Errorf("nodes: %w", err)
		}
		out = append(out, p)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	return out, nil
}

// isLockConflict reports whether err is a deadlock or lock wait timeout,
// after which a locking read is simply tried again.
func isLockConflict(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}
