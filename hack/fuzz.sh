#!/usr/bin/env bash
# Runs every Go fuzz target in the module for $FUZZTIME (default 10s) each.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
found=0
while IFS=: read -r file name; do
	pkg=./$(dirname "$file")
	found=1
	echo "fuzz: $pkg $name for $FUZZTIME"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 200x "$pkg"
done < <(git ls-files '*_test.go' | xargs -r grep -Ho '^func Fuzz[A-Za-z0-9_]*' | sed 's/func //' | sort -u)
[ "$found" = 1 ] || echo "fuzz: no fuzz targets"
