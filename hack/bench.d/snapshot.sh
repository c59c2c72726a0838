#!/usr/bin/env bash
# Snapshot benchmarks: publishing and bootstrapping a sealed cache file
# against plain parallel PutObject/GetObject of the same size on the same
# S3 server in the same run, an incremental snapshot run, and the time from
# agent start to Ready. 100 MiB by default; WHYCACHE_SNAPSHOT_BENCH_MIB=1024
# for the 1 GiB case. hack/testservers provides the S3 server (make bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -count=1 -timeout 60m ./test/bench/snapshot -bench 'Snapshot' -benchtime 1x
