# Helpers for shell test suites (sourced). Output is TAP: "ok N - name" / "not ok N - name".
# Checks are named sentences: check_eq "$got" "$want" "opens of the client workload".
# Cleanup: `defer CMD...` pushes a command run (last first) on exit, pass or fail.
# Waits are bounded polls on a condition, never bare sleeps: wait_for 10 "agent json" test -s f
set -u
TAP_N=0
TAP_FAILED=0
_DEFERRED=()

tap_ok()   { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
tap_fail() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
diag()     { echo "# $*"; }

check_eq() {   # check_eq GOT WANT NAME
	if [ "$1" = "$2" ]; then tap_ok "$3 ($1)"; else tap_fail "$3: got '$1', want '$2'"; fi
}
check_ge() {   # check_ge GOT MIN NAME
	if [ "$1" -ge "$2" ] 2>/dev/null; then tap_ok "$3 ($1 >= $2)"; else tap_fail "$3: got '$1', want >= $2"; fi
}
check_within() {   # check_within GOT WANT PERCENT NAME: |got-want| <= want*pct/100
	if awk -v g="$1" -v w="$2" -v p="$3" 'BEGIN{ d=g-w; if (d<0) d=-d; exit !(g!="" && d <= w*p/100) }'; then
		tap_ok "$4 ($1 vs $2, within $3%)"
	else
		tap_fail "$4: got '$1', want $2 +-$3%"
	fi
}

check_range() {   # check_range GOT MIN MAX NAME: MIN <= got <= MAX
	if [ -n "$1" ] && [ "$1" -ge "$2" ] 2>/dev/null && [ "$1" -le "$3" ]; then tap_ok "$4 ($1 in [$2, $3])"
	else tap_fail "$4: got '$1', want [$2, $3]"; fi
}

defer() { _DEFERRED+=("$*"); }
# rmcg DIR...: remove test cgroups once their processes are gone (a SIGKILLed process leaves its
# cgroup a moment later; rmdir before that fails with EBUSY and would leave the cgroup behind)
rmcg() {
	local d i
	for d in "$@"; do
		[ -d "$d" ] || continue
		for i in $(seq 100); do [ -z "$(cat "$d/cgroup.procs" 2>/dev/null)" ] && break; sleep 0.05; done
		rmdir "$d"
	done
}
_run_deferred() {
	local i
	for ((i = ${#_DEFERRED[@]} - 1; i >= 0; i--)); do eval "${_DEFERRED[$i]}" >/dev/null 2>&1 || true; done
	_DEFERRED=()
}
tap_finish() {   # called on EXIT: cleanup, then exit status reflects failures
	local rc=$?
	_run_deferred
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
	[ "$TAP_FAILED" -eq 0 ] && echo "not ok $((TAP_N + 1)) - script exited $rc"
	exit 1
}
trap tap_finish EXIT

wait_for() {   # wait_for SECONDS WHAT CMD...: poll every 50 ms until CMD succeeds
	local secs=$1 what=$2; shift 2
	local deadline=$(( $(date +%s%N) + secs * 1000000000 ))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s%N)" -gt "$deadline" ]; then diag "timed out after ${secs}s waiting for $what"; return 1; fi
		sleep 0.05
	done
}

# IDs of loaded BPF programs of the agent's L4 units (pl_traffic_*, pl_tcp_*, ...), one per line. Compare a snapshot taken before an
# agent started with one taken after it exited: new IDs mean something was left loaded. (Other
# podlens agents may legitimately run on the same machine, so absolute counts prove nothing.)
podlens_prog_ids() {
	bpftool prog list -j 2>/dev/null |
		jq -r '.[] | select(.name // "" | test("^pl_(traffic|tcp|proc|cgroup)_")) | .id' | sort -n
}
# new_prog_ids BEFORE_FILE: IDs loaded now that were not in the snapshot
new_prog_ids() { podlens_prog_ids | comm -13 "$1" - | wc -l; }

# programs_left AGENT_LOG: how many BPF programs the agent logged as loaded still exist, once the
# kernel had up to 5 s to free them (tracing programs are freed after an RCU grace period, so for a
# moment after exit they still show; a program held by a leaked link or fd stays)
programs_left() {
	local n id deadline=$(( $(date +%s%N) + 5000000000 ))
	while :; do
		n=0
		for id in $(sed -n 's/.*bpf programs: *\([0-9 ]*\).*/\1/p' "$1"); do
			bpftool prog show id "$id" >/dev/null 2>&1 && n=$((n + 1))
		done
		[ "$n" -eq 0 ] || [ "$(date +%s%N)" -gt "$deadline" ] && break
		sleep 0.05
	done
	echo "$n"
}
# programs_logged AGENT_LOG: how many program IDs the agent logged
programs_logged() { sed -n 's/.*bpf programs: *\([0-9 ]*\).*/\1/p' "$1" | wc -w; }

BUILD=${BUILD:-build}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
