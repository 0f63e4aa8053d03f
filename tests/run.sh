#!/bin/bash
# Run every podlens test suite and print one closing line "N passed, N failed".
#
# Suites (each prints TAP lines "ok N - name" / "not ok N - name"; run in this order):
#   unit         $BUILD/tests/*           cmocka runners built with ASan + UBSan
#   fuzz         $BUILD/fuzz/*            libFuzzer targets, FUZZ_SECONDS each (default 15), seeded
#                                         from tests/fuzz/corpus/<target>/
#   integration  tests/integration/*.sh   real kernel, real BPF (root)
#   e2e          e2e/run.sh               containerd lab + pods (root)
# SUITES="unit fuzz" limits what runs; ONLY=regex limits integration/e2e scripts by name.
# A suite that exits non-zero without printing a "not ok" line counts as one failure, so a
# crash or a missing prerequisite can never pass silently.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
SUITES=${SUITES:-unit fuzz integration e2e}
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"
passed=0 failed=0 failures=()

run_suite() {   # run_suite NAME CMD...
	local name=$1; shift
	local log=$LOGDIR/$name.log rc p f
	printf '== %s\n' "$name"
	"$@" >"$log" 2>&1 </dev/null; rc=$?
	grep -E '^(not )?ok ' "$log" | sed 's/^/   /'
	p=$(grep -cE '^ok ' "$log"); f=$(grep -cE '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1; echo "   not ok - $name exited $rc without a failing check (see $log)"
	fi
	if [ "$f" -gt 0 ]; then
		failures+=("$name"); echo "   -- log tail ($log):"; tail -25 "$log" | sed 's/^/   | /'
	fi
	passed=$((passed + p)); failed=$((failed + f))
}

need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "not ok 1 - $1 needs root (BPF, cgroups, containerd): run the test command as root"
		return 1
	fi
}

fuzz_one() {   # fuzz_one TARGET: seeded, time-bounded, corpus copied so the repo stays clean
	local t=$1 name corpus
	name=$(basename "$t")
	corpus=$(mktemp -d)
	[ -d tests/fuzz/corpus/$name ] && cp -r tests/fuzz/corpus/$name/. "$corpus/"
	if "$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$LOGDIR/$name-" "$corpus" >"$LOGDIR/fuzz-$name.log" 2>&1; then
		echo "ok - $name: $(grep -oE '#[0-9]+' "$LOGDIR/fuzz-$name.log" | tail -1 | tr -d '#') runs, no crash"
	else
		echo "not ok - $name: crash or leak, see $LOGDIR/fuzz-$name.log"; tail -30 "$LOGDIR/fuzz-$name.log"
	fi
	rm -rf "$corpus"
}

for suite in $SUITES; do
	case $suite in
	unit)
		for t in "$BUILD"/tests/*; do
			[ -x "$t" ] && [ -f "$t" ] || continue
			run_suite "unit-$(basename "$t")" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
		done ;;
	fuzz)
		for t in "$BUILD"/fuzz/*; do
			[ -x "$t" ] && [ -f "$t" ] || continue
			run_suite "fuzz-$(basename "$t")" fuzz_one "$t"
		done ;;
	integration)
		for t in tests/integration/*.sh; do
			[ -f "$t" ] || continue
			[[ "$(basename "$t")" =~ ${ONLY:-.} ]] || continue
			if need_root "$t" >/dev/null; then run_suite "integration-$(basename "$t" .sh)" bash "$t"
			else run_suite "integration-$(basename "$t" .sh)" need_root "$t"; fi
		done ;;
	e2e)
		if [ -f e2e/run.sh ]; then
			if need_root e2e >/dev/null; then run_suite e2e bash e2e/run.sh
			else run_suite e2e need_root e2e; fi
		fi ;;
	*) echo "unknown suite $suite"; failed=$((failed + 1)) ;;
	esac
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failing suites: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
