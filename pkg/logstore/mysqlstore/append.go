package mysqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends/sqlkit"
)

// Append appends one update and returns its id once it has committed.
// Concurrent calls share transactions (see the package documentation).
func (s *Store) Append(ctx context.Context, ops []logstore.Op) (uint64, error) {
	if s.closed.Load() {
		return 0, fmt.Errorf("append: %w", logstore.ErrClosed)
	}
	if err := s.opts.Limits.Check(ops); err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	return s.committer.Append(ctx, ops)
}

// commitGroup writes a group of updates in one transaction. The
// transaction's statements travel together, so the meta row's lock is
// held only while the server runs them, not across network round trips:
//
//	START TRANSACTION;
//	UPDATE meta SET last_id = LAST_INSERT_ID(last_id + n) WHERE singleton = 1;
//	INSERT INTO ops VALUES (LAST_INSERT_ID() - (n-1), ...), ...;
//	COMMIT
//
// A group too large for one statement sends further INSERTs before the
// COMMIT.
func (s *Store) commitGroup(ctx context.Context, group []*sqlkit.Request) (uint64, error) {
	batches := s.buildBatches(group)
	var last uint64
	var err error
	for try := 0; try < 3; try++ {
		if last, err = s.runOnConn(ctx, batches); !errors.Is(err, errNotSent) {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	s.notifier.Publish(last)
	return last - uint64(len(group)) + 1, nil
}

// errNotSent marks a failure before anything reached the server (a pooled
// connection found dead), after which the group is tried again on another
// connection.
var errNotSent = errors.New("connection found dead before sending")

// runOnConn runs the batches on one pooled connection.
func (s *Store) runOnConn(ctx context.Context, batches []batch) (uint64, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	defer conn.Close()
	var last uint64
	err = conn.Raw(func(dc any) error {
		var err error
		last, err = s.runBatches(ctx, dc.(driver.ExecerContext), batches)
		return err
	})
	return last, err
}

// batch is one round trip: SQL text with its arguments.
type batch struct {
	sql  string
	args []driver.NamedValue
}

// runBatches sends the batches on one connection and returns the last id
// allocated. On an error before COMMIT it rolls back; when that fails too,
// it returns driver.ErrBadConn so that the pool drops the connection.
func (s *Store) runBatches(ctx context.Context, ex driver.ExecerContext, batches []batch) (uint64, error) {
	var last uint64
	for i, b := range batches {
		if i == len(batches)-1 && s.beforeCommit != nil {
			s.beforeCommit()
		}
		res, err := ex.ExecContext(ctx, b.sql, b.args)
		if i == 0 && errors.Is(err, driver.ErrBadConn) {
			// The driver says ErrBadConn only when nothing was sent.
			return 0, errors.Join(errNotSent, driver.ErrBadConn)
		}
		if err != nil {
			if i == len(batches)-1 {
				return 0, fmt.Errorf("append: commit: %w (each update is either wholly present or absent)", err)
			}
			if _, rerr := ex.ExecContext(context.WithoutCancel(ctx), "ROLLBACK", nil); rerr != nil {
				return 0, errors.Join(fmt.Errorf("append: %w (nothing was committed)", err), driver.ErrBadConn)
			}
			return 0, fmt.Errorf("append: %w (nothing was committed)", err)
		}
		if i == 0 {
			ids := res.(mysql.Result).AllLastInsertIds()
			last = uint64(ids[1]) // START TRANSACTION; UPDATE ...
		}
	}
	return last, nil
}

// buildBatches turns a group into round trips: the first starts the
// transaction and allocates the ids, the last commits. Without a test hook
// and with rows that fit one statement, that is a single round trip.
func (s *Store) buildBatches(group []*sqlkit.Request) []batch {
	n := uint64(len(group))
	head := "START TRANSACTION;UPDATE " + s.t.meta + " SET last_id = LAST_INSERT_ID(last_id + ?) WHERE singleton = 1"
	cur := batch{args: []driver.NamedValue{{Ordinal: 1, Value: n}}}
	var sb strings.Builder
	sb.WriteString(head)
	var out []batch
	rows, bytes := 0, 0
	flush := func() {
		cur.sql = sb.String()
		out = append(out, cur)
		cur = batch{}
		sb.Reset()
		rows, bytes = 0, 0
	}
	for i, r := range group {
		back := n - 1 - uint64(i) // the update's distance from the last id
		for j, op := range r.Ops {
			sz := statementBytes(op)
			if rows > 0 && bytes+sz > maxStatementSz {
				flush()
			}
			if rows == 0 {
				if sb.Len() > 0 {
					sb.WriteByte(';')
				}
				sb.WriteString("INSERT INTO " + s.t.ops + " (update_id, op_index, op_type, op_key, op_value, committed_at) VALUES ")
			} else {
				sb.WriteByte(',')
			}
			sb.WriteString("(LAST_INSERT_ID()-?,?,?,?,?,UTC_TIMESTAMP(6))")
			cur.args = appendArgs(cur.args, back, int64(j), int64(op.Type), op.Key, valueArg(op))
			rows++
			bytes += sz
		}
	}
	if s.beforeCommit == nil {
		sb.WriteString(";COMMIT")
		flush()
		return out
	}
	flush()
	return append(out, batch{sql: "COMMIT"})
}

func appendArgs(args []driver.NamedValue, vs ...driver.Value) []driver.NamedValue {
	for _, v := range vs {
		args = append(args, driver.NamedValue{Ordinal: len(args) + 1, Value: v})
	}
	return args
}

// valueArg is the op_value of op: NULL for a delete, never NULL for a set.
func valueArg(op logstore.Op) driver.Value {
	if op.Type == logstore.OpDelete {
		return nil
	}
	if op.Value == nil {
		return []byte{}
	}
	return op.Value
}
