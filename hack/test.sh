#!/usr/bin/env bash
# The test run of `make test`, inside hack/testservers (which provides
# MariaDB and PostgreSQL through $WHYCACHE_TEST_MYSQL_DSN and
# $WHYCACHE_TEST_POSTGRES_DSN):
#
# every package under the race detector. The SQL stores' ordering proof runs
# here at a tenth of its full size (16 writers x 1,000 updates, 3 tailers; see
# pkg/logstore/{mysql,pg}store/store_test.go), enough to catch a tailer that
# skips a late commit; `make test-long` (hack/test-long.sh) runs it at full
# size. The directory store runs it at full size here.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout "${TEST_TIMEOUT:-40m}" ${GOTESTFLAGS:-} ./...
