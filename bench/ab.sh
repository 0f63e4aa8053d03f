#!/bin/bash
# bench/ab.sh A_DRIVER B_DRIVER: two builds of the L7 programs at the same moment (not a test).
#
# For a change to the L7 path worth a few ns per packet: separate runs on this VM differ by
# 40-50 ns per program run and 10-15% in throughput (the host's other tenants), so a change is
# measured against the previous build *simultaneously*. Two identical nginx servers (bench/run.sh's
# setup: 1 worker, CPU1, 1 KB, keep-alive) share CPU1, two wrk (-t1 -c32) share CPU0; driver A
# (an l7-probe-test binary, e.g. from a worktree of the previous commit) is attached to one
# server's cgroup, driver B to the other's, swapped every round; kernel.bpf_stats_enabled is on
# (the same cost for both). Per round: rps(A) / rps(B) and the ns per run of each driver's
# ingress and egress programs. Summary: medians.
#
#   git worktree add /tmp/prev HEAD~1 && make -C /tmp/prev all
#   sudo bench/ab.sh /tmp/prev/build/test-bin/l7-probe-test build/test-bin/l7-probe-test
#
# Environment: ROUNDS (8), DUR (wrk seconds, 6), PORT (18190; uses PORT and PORT+1).
# Everything it starts is stopped by PID; cgroups and the sysctl are restored on exit.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
die() { echo "ab: $*" >&2; exit 1; }
[ $# = 2 ] || die "usage: bench/ab.sh A_DRIVER B_DRIVER (two l7-probe-test binaries)"
A=$(realpath "$1") B=$(realpath "$2")
[ -x "$A" ] && [ -x "$B" ] || die "drivers must be executable: $1 $2"
[ "$(id -u)" = 0 ] || die "needs root (BPF, cgroups)"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || die "nginx missing (deps/bench.pkgs)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v wrk >/dev/null || die "wrk missing (deps/bench.pkgs)"
ROUNDS=${ROUNDS:-8} DUR=${DUR:-6} PORT=${PORT:-18190}
CG2=$(cg2_root) || exit 1
ports_free tcp "$PORT" $((PORT + 1))

W=$(mktemp -d /tmp/podlens-ab.XXXXXX)
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
cg() { echo "$CG2/podlens-ab-$$-$1"; }
NGINX_PIDS=() DA= DB=
stop() { [ -n "$1" ] && kill -INT "$1" 2>/dev/null && wait "$1" 2>/dev/null; return 0; }
cleanup() {
	stop "$DA"; stop "$DB"
	pair_stop
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for c in a b ca cb; do mkdir "$(cg $c)" || die "mkdir cgroup"; done
pair_start
sysctl -qw kernel.bpf_stats_enabled=1
wrk_on() {   # wrk_on LOADCG PORT OUT
	sh -c "echo \$\$ > '$(cg "$1")/cgroup.procs' && exec taskset -c 0 wrk -t1 -c32 -d${DUR}s http://127.0.0.1:$2/" > "$3" 2>&1
}
echo "ab: A = $A"
echo "ab: B = $B"
echo "round  rps(A)/rps(B)  A ns/run in/out  B ns/run in/out"
for r in $(seq "$ROUNDS"); do
	sa=a sb=b
	[ $((r % 2)) = 0 ] && sa=b sb=a
	"$A" "$(cg $sa)" > "$W/da.out" 2> "$W/da.err" & DA=$!
	"$B" "$(cg $sb)" > "$W/db.out" 2> "$W/db.err" & DB=$!
	for i in $(seq 200); do grep -q attached "$W/da.out" && grep -q attached "$W/db.out" && break; sleep 0.05; done
	grep -q attached "$W/da.out" && grep -q attached "$W/db.out" || die "a driver failed: $(cat "$W/da.err" "$W/db.err")"
	bpftool prog show -j > "$W/pre.json"
	wrk_on ca "$PORT" "$W/wrk-a" &
	pw=$!
	wrk_on cb $((PORT + 1)) "$W/wrk-b"
	wait "$pw"
	bpftool prog show -j > "$W/post.json"
	stop "$DA"; stop "$DB"; DA= DB=
	python3 - "$W" "$sa" "$r" <<'PY' | tee -a "$W/rows"
import json, re, sys
w, sa, r = sys.argv[1:]
pre = {p["id"]: p for p in json.load(open(f"{w}/pre.json"))}
post = {p["id"]: p for p in json.load(open(f"{w}/post.json"))}
def rps(f):
    return float(re.search(r"Requests/sec:\s+([\d.]+)", open(f).read()).group(1))
def ns(f):
    d = json.loads(open(f).readline())
    out = []
    for k in ("ingress_prog_id", "egress_prog_id"):
        a, b = pre[d[k]], post[d[k]]
        n = b.get("run_cnt", 0) - a.get("run_cnt", 0)
        out.append((b.get("run_time_ns", 0) - a.get("run_time_ns", 0)) / n if n else float("nan"))
    return out
ra, rb = rps(f"{w}/wrk-a"), rps(f"{w}/wrk-b")
if sa == "b":
    ra, rb = rb, ra
a, b = ns(f"{w}/da.out"), ns(f"{w}/db.out")
print(f"{r:>5}  {ra / rb:13.4f}  {a[0]:7.0f} / {a[1]:5.0f}  {b[0]:7.0f} / {b[1]:5.0f}")
PY
done
python3 - "$W/rows" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
col = lambda i: [float(x[i]) for x in rows]
print(f"median {st.median(col(1)):13.4f}  {st.median(col(2)):7.0f} / {st.median(col(4)):5.0f}  "
      f"{st.median(col(5)):7.0f} / {st.median(col(7)):5.0f}   (rps ratio min..max {min(col(1)):.4f}..{max(col(1)):.4f})")
PY
