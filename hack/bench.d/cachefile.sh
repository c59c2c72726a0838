#!/usr/bin/env bash
# Cache file benchmarks (pkg/cachefile): zero-copy and copying lookups on
# 1M keys against a Go map and bbolt in the same run, the reference-count
# overhead, the fault guard's overhead, writer apply throughput, file size
# after compaction, and reader process scaling; then the comparison table
# with ratios and targets.
#
# CACHEFILE_BENCH_KEYS (default 1048576) sets the data set size,
# CACHEFILE_BENCH_COUNT (default 3) the number of runs of each benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
count=${CACHEFILE_BENCH_COUNT:-3}
go test -run '^$' -bench 'Get|RefCount|FaultGuard|FileSize|ReaderProcesses' -benchmem \
	-benchtime 2000000x -count "$count" -timeout 30m ./pkg/cachefile/ | tee "$out"
go test -run '^$' -bench 'Apply' -benchmem -benchtime 3s -count "$count" -timeout 30m ./pkg/cachefile/ | tee -a "$out"
go run ./cmd/whycache-cachefile-bench <"$out"
