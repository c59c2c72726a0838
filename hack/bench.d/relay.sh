#!/usr/bin/env bash
# Relay benchmark: N tailers following one log directly from the store vs
# through one relay, in the same run, for the directory store, MariaDB and
# PostgreSQL: write → seen by all N latency (p50, p99), store reads per
# write, and the catch-up of a burst of writes, with the ratios.
# `make bench` provides the servers.
#
#   RELAY_BENCH_TAILERS   tailers (default 50)
#   RELAY_BENCH_BACKENDS  backends (default dir,mysql,postgres)
#   RELAY_BENCH_WRITES    writes measured per run (default 200)
#   RELAY_BENCH_BURST     updates of the burst (default 2000)
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -count=1 -timeout 30m ./test/bench/relay -bench 'Tailers' -benchtime "${RELAY_BENCH_WRITES:-200}x"
