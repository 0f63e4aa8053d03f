#!/bin/bash
# Collector ingest + query benchmark for `make bench` (the lead calls it): builds collector-bench,
# runs it pinned to one core on a fresh database in a temp dir, prints records/s and query latency.
#   BUILD=build collector/bench/run.sh [collector-bench options]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
make --no-print-directory -s "$BUILD/test-bin/collector-bench"
dir=$(mktemp -d /tmp/podlens-collector-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
# one batch per commit (the slow case: every Export call alone in its round) then 10 per commit
taskset -c 0 "$BUILD/test-bin/collector-bench" "$dir/a" --batches 400 --per-commit 1 "$@"
taskset -c 0 "$BUILD/test-bin/collector-bench" "$dir/b" --batches 400 --per-commit 10 "$@" | grep ingest
