// Package e2e holds whycache's end-to-end tests on one machine: node agents
// (in this process, or as real `whycache agent` processes) acting as several
// nodes over one log, for every log store backend (local directory,
// MariaDB, PostgreSQL), with the client library and the CLI.
//
// The servers come from internal/testserver (see `make test`).
package e2e
