#!/usr/bin/env bash
# Log store benchmarks (issue 3): append throughput with 1, 8 and 64 writers
# for 1-key and 100-key updates, with the raw multi-row INSERT ceiling and our
# ratio to it for MariaDB and PostgreSQL; tail read throughput; history
# rewrite of a 1M-row log. `make bench` provides the servers through
# $WHYCACHE_TEST_MYSQL_DSN and $WHYCACHE_TEST_POSTGRES_DSN.
#
#   LOGSTORE_BENCH_DURATION  length of each append measurement (default 3s)
#   LOGSTORE_BENCH_ROWS      rows of the tail-read and rewrite log (default 1000000)
#   LOGSTORE_BENCH_BACKENDS  backends (default dir,mysql,postgres)
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./cmd/whycache-logbench \
	-backends "${LOGSTORE_BENCH_BACKENDS:-dir,mysql,postgres}" \
	-duration "${LOGSTORE_BENCH_DURATION:-3s}" \
	-rows "${LOGSTORE_BENCH_ROWS:-1000000}"
