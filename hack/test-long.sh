#!/usr/bin/env bash
# The full-size runs of `make test-long`, inside hack/testservers (which
# provides MariaDB and PostgreSQL through $WHYCACHE_TEST_MYSQL_DSN and
# $WHYCACHE_TEST_POSTGRES_DSN): the log stores' ordering proof at the size
# the stores were specified with (16 writers x 10,000 updates, 3 tailers)
# for MariaDB and PostgreSQL, and through relays in front of the directory
# store, MariaDB and PostgreSQL, without the race detector. `make test` runs
# the same proof at a tenth of that size under the race detector (see
# pkg/logstore/{mysql,pg}store/store_test.go); the directory store runs it
# at full size there.
set -euo pipefail
cd "$(dirname "$0")/.."
WHYCACHE_ORDERING_SCALE=1 go test -count=1 -timeout 60m -run 'TestConformance/Ordering' ${GOTESTFLAGS:-} \
	./pkg/logstore/mysqlstore ./pkg/logstore/pgstore
WHYCACHE_ORDERING_SCALE=1 go test -count=1 -timeout 60m -run 'TestConformance(Dir|MySQL|Postgres)/Ordering' ${GOTESTFLAGS:-} \
	./pkg/logstore/relaystore
