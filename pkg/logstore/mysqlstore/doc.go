// Package mysqlstore is the log store in a MySQL or MariaDB database, through
// github.com/go-sql-driver/mysql.
//
// A log named N lives in three tables that the store creates (see
// docs/logstore-sql.md for the SQL): whycache_N_meta holds one row with the
// schema version, the log's identity, the last id and the horizon;
// whycache_N_ops holds one row per key operation, keyed by (update_id,
// op_index); whycache_N_nodes holds each node agent's applied id and
// heartbeat. One database holds any number of logs.
//
// # Ordering and group commit
//
// Append allocates ids inside the committing transaction, with
// UPDATE ... SET last_id = LAST_INSERT_ID(last_id + n) on the meta row: the
// row lock serialises allocation and commit, so ids become visible in id
// order and a reader that sees id n sees every id below it. Concurrent
// Append calls in one process are grouped into one transaction (one id
// range, multi-row INSERTs, one commit); each caller still gets its own id
// and returns only after the commit.
//
// # Reading
//
// Read pages through the ops table with a locking read (LOCK IN SHARE
// MODE), and reads the horizon the same way after the rows: MariaDB's
// consistent snapshots were seen to miss a commit that came before one they
// include, which would make a tailer skip an id (see TestSnapshotGaps and
// docs/logstore-sql.md).
//
// # Waiting
//
// MySQL has no notifications, so Wait polls the meta row with an interval
// that starts at 2 ms and doubles up to 50 ms while nothing arrives: an
// update from another process is seen within about 50 ms (within 2 ms on a
// busy log); appends made through the same Store wake waiters at once.
//
// # Sizes
//
// Statements carry their arguments inline (interpolateParams), where a
// byte may be escaped into two, so Open fails unless the server's
// max_allowed_packet holds twice the largest row the limits allow (a
// largest key plus a largest value); raise it, or lower the limits.
package mysqlstore
