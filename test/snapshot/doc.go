// Package snapshot holds the integration tests of snapshots and bootstrap:
// real log stores (directory, MariaDB, PostgreSQL), a real S3-compatible
// server (versitygw, see internal/testserver), in-process agents and, for
// the kill -9 test, a child process.
package snapshot
