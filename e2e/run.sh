#!/bin/bash
# e2e/run.sh - the podlens end-to-end suite, as one TAP stream (tests/run.sh runs it; needs root).
#   1. host fingerprint (e2e/lab/fingerprint.sh)      2. e2e/lab/up.sh
#   3. every scenario, in name order (default e2e/scenarios/*.sh; each one is its own process and
#      removes its own pods)                          4. e2e/lab/down.sh (always: on failure, ^C, TERM)
#   5. fingerprint again: must equal the first
# Options: --scenarios 'GLOB'   e.g. e2e/run.sh --scenarios 'e2e/scenarios/1*.sh'
#          --keep               leave the lab up afterwards (no down, no fingerprint check)
# Env: E2E_SCENARIOS (same as --scenarios), ONLY=regex (scenario basename filter, like tests/run.sh),
#      E2E_SCENARIO_TIMEOUT (seconds per scenario, default 300),
#      lab settings of e2e/lab/env.sh (E2E_RUN, E2E_BRIDGE, E2E_SUBNET, E2E_CGROUP_ROOT).
# Concurrent runs on the same run dir are serialised by a lock ($E2E_RUN.lock, waits up to 10 min).
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/lib.sh
. e2e/lab/env.sh

SCEN=${E2E_SCENARIOS:-e2e/scenarios/[0-9]*.sh}
E2E_SCENARIO_TIMEOUT=${E2E_SCENARIO_TIMEOUT:-300}
KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--scenarios) SCEN=$2; shift 2 ;;
	--scenarios=*) SCEN=${1#*=}; shift ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: e2e/run.sh [--scenarios GLOB] [--keep]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { tap_fail "e2e needs root (containerd, cgroups, bridge, BPF)"; exit 1; }
scripts/deps.sh e2e >&2 || { tap_fail "e2e packages (deps/e2e.pkgs) installed"; exit 1; }

mkdir -p "$(dirname "$E2E_RUN")"
exec 9>"$E2E_RUN.lock"
if ! flock -w 600 9; then tap_fail "lock $E2E_RUN.lock (another e2e run on this run dir for 10 min)"; exit 1; fi

T0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - T0) / 1000000 )); }
LOGDIR=$top/$BUILD/test-logs/e2e      # per-scenario TAP, stderr, agent output; up/down logs
[ "$E2E_BRIDGE" = podlens0 ] || LOGDIR=$LOGDIR-$E2E_BRIDGE
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"

if p=$(e2e/lab/containerd.sh pid); then   # a lab someone brought up by hand (or --keep): not ours to remove
	tap_fail "a lab is up in $E2E_RUN (containerd pid $p): e2e/lab/down.sh it, or use another E2E_RUN/E2E_BRIDGE/E2E_SUBNET"
	exit 1
fi
if [ -e "$E2E_RUN" ]; then      # left over from an interrupted run: clean it before fingerprinting
	diag "$E2E_RUN exists: running down.sh first"
	e2e/lab/down.sh >"$LOGDIR/down-stale.log" 2>&1 || { tap_fail "stale lab cleaned (see $LOGDIR/down-stale.log)"; exit 1; }
fi
e2e/lab/fingerprint.sh >"$LOGDIR/fingerprint.before" 2>&1

SCEN_PID=
on_signal() {   # stop the running scenario (its own defers run), then exit -> EXIT trap -> down.sh
	trap '' INT TERM
	diag "interrupted"
	if [ -n "$SCEN_PID" ]; then
		kill -TERM "$SCEN_PID" 2>/dev/null
		wait_for 30 "scenario to clean up" sh -c "[ ! -e /proc/$SCEN_PID/stat ] || grep -q ') Z ' /proc/$SCEN_PID/stat"
	fi
	exit 130
}
trap on_signal INT TERM

if [ $KEEP = 0 ]; then
	defer "e2e/lab/down.sh >'$LOGDIR/down.log' 2>&1"
fi
if e2e/lab/up.sh >"$LOGDIR/up.log" 2>&1; then
	tap_ok "lab up in $(ms) ms ($E2E_BRIDGE $E2E_SUBNET, $E2E_RUN)"
else
	tap_fail "lab up (see $LOGDIR/up.log)"; sed 's/^/# /' "$LOGDIR/up.log" | tail -20
	exit 1
fi

# run one scenario in the background (so a signal reaches us at once) and fold its TAP lines into
# ours: "ok N - x" -> "ok M - <scenario>: x"; its plan line is dropped, diagnostics pass through
run_scenario() {
	local s=$1 name rc line t
	name=$(basename "$s" .sh)
	t=$(date +%s%N)
	mkfifo "$LOGDIR/$name.fifo"
	# timeout forwards our TERM to the scenario, and bounds a hung one (its defers still run)
	BUILD=$BUILD E2E_LOGDIR=$LOGDIR timeout -k 30 "$E2E_SCENARIO_TIMEOUT" bash "$s" \
		>"$LOGDIR/$name.fifo" 2>"$LOGDIR/$name.stderr" </dev/null &
	SCEN_PID=$!
	local fails_before=$TAP_FAILED
	while IFS= read -r line; do
		echo "$line" >>"$LOGDIR/$name.log"
		case $line in
		"ok "*) tap_ok "$name: ${line#ok * - }" ;;
		"not ok "*) tap_fail "$name: ${line#not ok * - }" ;;
		"1.."*) ;;
		*) echo "$line" ;;
		esac
	done <"$LOGDIR/$name.fifo"
	wait "$SCEN_PID"; rc=$?
	SCEN_PID=
	rm -f "$LOGDIR/$name.fifo"
	if [ $rc -eq 124 ]; then
		tap_fail "$name: timed out after $E2E_SCENARIO_TIMEOUT s (E2E_SCENARIO_TIMEOUT)"
	elif [ $rc -ne 0 ] && [ $TAP_FAILED -eq $fails_before ]; then
		tap_fail "$name: exited $rc without a failing check (stderr: $LOGDIR/$name.stderr)"
	fi
	[ -s "$LOGDIR/$name.stderr" ] && [ $TAP_FAILED -ne $fails_before ] && tail -15 "$LOGDIR/$name.stderr" | sed 's/^/# stderr: /'
	diag "$name took $(( ($(date +%s%N) - t) / 1000000 )) ms"
}

n=0
for s in $SCEN; do
	[ -f "$s" ] || continue
	[[ "$(basename "$s")" =~ ${ONLY:-.} ]] || continue
	n=$((n + 1))
	run_scenario "$s"
done
[ $n -gt 0 ] || tap_fail "no scenario matched '$SCEN'"

[ $KEEP = 1 ] && { diag "lab left up (--keep): e2e/lab/down.sh to remove it"; exit 0; }
t=$(date +%s%N)
_run_deferred   # down.sh now, so that the fingerprint can be compared
if grep -q ' clean$' "$LOGDIR/down.log"; then
	tap_ok "lab down in $(( ($(date +%s%N) - t) / 1000000 )) ms, nothing left"
else
	tap_fail "lab down (see $LOGDIR/down.log)"; tail -20 "$LOGDIR/down.log" | sed 's/^/# /'
fi
e2e/lab/fingerprint.sh >"$LOGDIR/fingerprint.after" 2>&1
if diff -u "$LOGDIR/fingerprint.before" "$LOGDIR/fingerprint.after" >"$LOGDIR/fingerprint.diff"; then
	tap_ok "host fingerprint after == before ($(grep -vc '^#' "$LOGDIR/fingerprint.before") facts)"
else
	tap_fail "host fingerprint changed"; sed 's/^/# /' "$LOGDIR/fingerprint.diff"
fi
diag "e2e total $(ms) ms"
