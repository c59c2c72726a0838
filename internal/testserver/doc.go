// Package testserver starts throwaway MariaDB, PostgreSQL, Redis and S3 servers on
// 127.0.0.1 for tests and benchmarks, and stops them again.
//
// Servers listen on free loopback ports, keep their data in a temporary
// directory, and are started with the parent-death signal set, so a test
// binary that is killed does not leave them behind.
//
// Tests get their servers through [MySQL], [Postgres], [Redis] and [S3]. Each first
// looks at an environment variable (see [EnvMySQLDSN], [EnvPostgresDSN],
// [EnvRedisAddr]) so that `make test` can start one server for every package,
// and a developer can point the tests at servers of their own. When the
// variable is unset, the server is started once per test binary; the package's
// TestMain must then call [Main], which stops it after the tests. When
// CI=true, a test that cannot get its server fails; otherwise it is skipped
// with a message saying how to get the server.
package testserver
