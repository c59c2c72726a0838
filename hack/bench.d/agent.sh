#!/usr/bin/env bash
# Node agent benchmarks (issue 4): write → visible latency per log store,
# acknowledged writes/s through one agent, Get vs Redis, agent memory with a
# 1 GiB cache file. Each run prints the Go benchmark lines, then a summary
# table with the comparisons.
set -euo pipefail
cd "$(dirname "$0")/../.."
bench() { go test -run '^$' -count=1 -timeout 60m ./test/bench/agent -bench "$@"; }
bench 'WriteToVisible' -benchtime "${AGENT_BENCH_VISIBLE:-500x}"
bench 'AckedWrites' -benchtime "${AGENT_BENCH_WRITES:-3s}"
bench 'GetVsRedis' -benchtime 1s
bench 'AgentMemory' -benchtime 1x
