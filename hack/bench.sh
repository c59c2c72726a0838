#!/usr/bin/env bash
# Runs every benchmark suite. Each suite compares whycache with its peers in
# the same run and prints a table with the ratios. hack/testservers provides
# the servers (see `make bench`).
set -euo pipefail
cd "$(dirname "$0")/.."
for suite in hack/bench.d/*.sh; do
	[ -e "$suite" ] || continue
	echo "== $(basename "$suite" .sh)"
	bash "$suite"
done
