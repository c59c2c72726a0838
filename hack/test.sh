#!/usr/bin/env bash
# The test run of `make test`, inside hack/testservers (which provides
# MariaDB and PostgreSQL through $WHYCACHE_TEST_MYSQL_DSN and
# $WHYCACHE_TEST_POSTGRES_DSN):
#
# 1. every package under the race detector;
# 2. the log stores' ordering proof at the issue's full size (16 writers ×
#    10,000 updates, 3 tailers) for MariaDB and PostgreSQL, without the race
#    detector: under it their suites run the proof scaled down to fit the
#    time budget (see pkg/logstore/{mysql,pg}store/store_test.go), while the
#    directory store runs it at full size in step 1.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout "${TEST_TIMEOUT:-40m}" ${GOTESTFLAGS:-} ./...
WHYCACHE_ORDERING_SCALE=1 go test -count=1 -timeout 30m -run 'TestConformance/Ordering' ${GOTESTFLAGS:-} \
	./pkg/logstore/mysqlstore ./pkg/logstore/pgstore
