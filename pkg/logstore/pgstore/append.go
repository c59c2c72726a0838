package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

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

// appendSQL is the statement of one append transaction. It first takes an
// advisory lock ($7; the InitPlan of the EXISTS runs before the scan), so
// that writers queue in the lock manager, which grants the lock to one
// waiter at a time: queueing on the meta row's lock instead wakes every
// waiter at each commit, and collapses under many writers. Then it takes
// the meta row and the id range, inserts every row of the group from arrays
// (back is an update's distance from the last id), and notifies waiters.
// All rows get the same commit time, read once the lock is held. It needs
// READ COMMITTED, where the UPDATE follows the row to its newest version.
func (t tables) appendSQL() string {
	return `WITH m AS (
  UPDATE ` + t.meta + ` SET last_id = last_id + $1
  WHERE singleton = 1 AND EXISTS (SELECT pg_advisory_xact_lock($7))
  RETURNING last_id, clock_timestamp() AS ts
), ins AS (
  INSERT INTO ` + t.ops + ` (update_id, op_index, op_type, op_key, op_value, committed_at)
  SELECT m.last_id - u.back, u.idx, u.typ, u.k, u.v, m.ts
  FROM m, unnest($2::bigint[], $3::integer[], $4::smallint[], $5::bytea[], $6::bytea[]) AS u(back, idx, typ, k, v)
)
SELECT last_id, pg_notify('` + t.channel + `', last_id::text)::text FROM m`
}

// groupArgs are the arrays of a group's rows.
type groupArgs struct {
	back  []int64
	idx   []int32
	typ   []int16
	key   [][]byte
	value [][]byte
}

func newGroupArgs(group []*sqlkit.Request) groupArgs {
	n := 0
	for _, r := range group {
		n += len(r.Ops)
	}
	a := groupArgs{back: make([]int64, 0, n), idx: make([]int32, 0, n), typ: make([]int16, 0, n),
		key: make([][]byte, 0, n), value: make([][]byte, 0, n)}
	for i, r := range group {
		back := int64(len(group) - 1 - i)
		for j, op := range r.Ops {
			a.back = append(a.back, back)
			a.idx = append(a.idx, int32(j))
			a.typ = append(a.typ, int16(op.Type))
			a.key = append(a.key, op.Key)
			a.value = append(a.value, valueArg(op))
		}
	}
	return a
}

// valueArg is the op_value of op: NULL for a delete, never NULL for a set.
func valueArg(op logstore.Op) []byte {
	if op.Type == logstore.OpDelete {
		return nil
	}
	if op.Value == nil {
		return []byte{}
	}
	return op.Value
}

// commitGroup writes a group of updates in one transaction: one statement
// in autocommit, or, with the test hook set, that statement and the hook
// inside an explicit transaction.
func (s *Store) commitGroup(ctx context.Context, group []*sqlkit.Request) (uint64, error) {
	a := newGroupArgs(group)
	args := []any{int64(len(group)), a.back, a.idx, a.typ, a.key, a.value, s.appendLock}
	var last int64
	var err error
	for try := 0; try < 3; try++ {
		if s.beforeCommit == nil {
			err = s.commitStatement(ctx, args, &last)
		} else {
			err = s.commitWithHook(ctx, args, &last)
		}
		if !pgconn.SafeToRetry(err) {
			break // pgx says SafeToRetry only when nothing reached the server
		}
	}
	if err != nil {
		return 0, err
	}
	s.notifier.Publish(uint64(last))
	return uint64(last) - uint64(len(group)) + 1, nil
}

func (s *Store) commitStatement(ctx context.Context, args []any, last *int64) error {
	var ignored string
	if err := s.pool.QueryRow(ctx, s.t.appendSQL(), args...).Scan(last, &ignored); err != nil {
		return fmt.Errorf("append: %w (each update is either wholly present or absent)", err)
	}
	return nil
}

func (s *Store) commitWithHook(ctx context.Context, args []any, last *int64) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("append: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	var ignored string
	if err := tx.QueryRow(ctx, s.t.appendSQL(), args...).Scan(last, &ignored); err != nil {
		return fmt.Errorf("append: %w (nothing was committed)", err)
	}
	s.beforeCommit()
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("append: commit: %w (each update is either wholly present or absent)", err)
	}
	return nil
}
