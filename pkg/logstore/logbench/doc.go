// Package logbench measures the log stores (issue 3): append throughput with
// 1, 8 and 64 concurrent writers, for single-key and 100-key updates; for
// MariaDB/MySQL and PostgreSQL, the raw ceiling of plain multi-row INSERTs
// of the same rows into a table of the same shape at the same concurrency,
// and our throughput as a ratio of it; tail read throughput; and the time
// of a history rewrite of a 1M-row log. It prints one table.
//
// The command cmd/whycache-logbench runs it; hack/bench.d/logstore.sh runs
// the command against the servers that `make bench` starts.
package logbench
