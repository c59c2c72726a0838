#!/usr/bin/env bash
# Runs every Go fuzz target in the module for $FUZZTIME (default 10s) each.
#
# Go 1.26's fuzzing coordinator can fail a target at the end of a -fuzztime
# window with a bare "context deadline exceeded" and no failing input
# (go.dev/issue/75804, fixed in Go 1.27): a race between the deadline and
# its workers, more likely on a loaded machine. A target that fails that way,
# having written no input under testdata/fuzz, runs once more; a second such
# failure, a written input, or any other failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
found=0

# fuzz_once runs one target; its output is kept in $out.
fuzz_once() {
	local pkg=$1 name=$2
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 200x "$pkg" 2>&1 | tee "$out"
	return "${PIPESTATUS[0]}"
}

# coordinator_race says whether the failed run in $out is the coordinator's
# race: the bare deadline message and no new input in the target's corpus.
coordinator_race() {
	local pkg=$1 name=$2 before=$3
	grep -q '^    context deadline exceeded$' "$out" || return 1
	[ "$(git status --porcelain --untracked-files=all -- "$pkg/testdata/fuzz/$name")" = "$before" ]
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
while IFS=: read -r file name; do
	pkg=./$(dirname "$file")
	found=1
	echo "fuzz: $pkg $name for $FUZZTIME"
	before=$(git status --porcelain --untracked-files=all -- "$pkg/testdata/fuzz/$name")
	if fuzz_once "$pkg" "$name"; then
		continue
	fi
	if coordinator_race "$pkg" "$name" "$before"; then
		echo "fuzz: $name failed with a bare deadline and no input (go.dev/issue/75804); running it once more"
		fuzz_once "$pkg" "$name" && continue
	fi
	echo "fuzz: $pkg $name failed" >&2
	exit 1
done < <(git ls-files '*_test.go' | xargs -r grep -Ho '^func Fuzz[A-Za-z0-9_]*' | sed 's/func //' | sort -u)
[ "$found" = 1 ] || echo "fuzz: no fuzz targets"
