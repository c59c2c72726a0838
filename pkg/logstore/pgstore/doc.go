// Package pgstore is the log store in a PostgreSQL database, through
// github.com/jackc/pgx/v5 (pgxpool).
//
// A log named N lives in three tables that the store creates in the first
// schema of the search path (see docs/logstore-sql.md for the SQL):
// whycache_N_meta holds one row with the schema version, the log's
// identity, the last id and the horizon; whycache_N_ops holds one row per
// key operation, keyed by (update_id, op_index); whycache_N_nodes holds
// each node agent's applied id and heartbeat. One database holds any number
// of logs. The tables are created in one transaction under an advisory
// lock, so concurrent opens are safe.
//
// # Ordering and group commit
//
// An append is one statement: a CTE that takes the meta row's lock and the
// id range (UPDATE ... RETURNING), inserts the rows from arrays, and calls
// pg_notify. The row lock serialises allocation and commit, so ids become
// visible in id order. Concurrent Append calls in one process share that
// statement; each caller still gets its own id and returns only after the
// commit.
//
// # Waiting
//
// Wait listens on the channel whycache_N with a dedicated connection,
// opened at the first Wait; every append notifies it with its last id, and
// the listener wakes all waiters. When the listening connection breaks, it
// reconnects with backoff, rereads the last id and wakes the waiters;
// meanwhile, waiters poll once a second.
package pgstore
