#!/bin/bash
# bench/ab_agent.sh AGENT_A AGENT_B [AGENT ARGS...]: two agent builds at the same moment (not a test).
#
# bench/ab.sh's idea for the whole agent (its sock_ops and packet programs): separate runs on this VM
# differ by 40-50 ns per program run, so two builds run side by side. Two identical nginx servers
# (bench/run.sh's setup: 1 worker on CPU1, 1 KB) and two wrk (-t1 -c32, CPU0); agent A monitors one
# server (`--no-l7 --output none --host-cgroups /<its cgroup>` plus AGENT ARGS), agent B the other,
# swapped every round; kernel.bpf_stats_enabled is on for both. Per round: rps(A) / rps(B), and for
# each agent's cgroup_skb and sock_ops programs ns per run and runs per request (program ids from
# each agent's /proc/PID/fdinfo). Both agents also load the node-wide programs (resets, proc,
# cgroup): each side's twin pays them too, so they do not bias the ratio.
#
#   git worktree add /tmp/prev HEAD~1 && make -C /tmp/prev all
#   sudo bench/ab_agent.sh /tmp/prev/build/bin/podlens-agent build/bin/podlens-agent
#
# The same build in two modes: A_ARGS / B_ARGS are added to one side only, e.g.
#   sudo A_ARGS="--tcp-hooks sockops" bench/ab_agent.sh build/bin/podlens-agent build/bin/podlens-agent
#
# Environment: ROUNDS (6), DUR (wrk seconds, 4), WORKLOAD (close; or ka), PORT (18290; PORT, PORT+1),
# L7 (0; 1 = HTTP capture on the server too: --l7-cgroups /<server> instead of --no-l7), A_ARGS, B_ARGS.
# Everything it starts is stopped by PID; cgroups and the sysctl are restored on exit.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
die() { echo "ab_agent: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: bench/ab_agent.sh AGENT_A AGENT_B [agent args]"
A=$(realpath "$1") B=$(realpath "$2")
shift 2
[ -x "$A" ] && [ -x "$B" ] || die "agents must be executable"
[ "$(id -u)" = 0 ] || die "needs root (BPF, cgroups)"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs"
NGINX=$(command -v nginx || echo /usr/sbin/nginx); [ -x "$NGINX" ] || die "nginx missing (deps/bench.pkgs)"
command -v wrk >/dev/null || die "wrk missing (deps/bench.pkgs)"
ROUNDS=${ROUNDS:-6} DUR=${DUR:-4} WORKLOAD=${WORKLOAD:-close} PORT=${PORT:-18290} L7=${L7:-0}
A_ARGS=${A_ARGS:-} B_ARGS=${B_ARGS:-}
CG2=$(cg2_root) || exit 1
ports_free tcp "$PORT" $((PORT + 1))
W=$(mktemp -d /tmp/podlens-abagent.XXXXXX)
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
cg() { echo "$CG2/podlens-abagent-$$-$1"; }
NGINX_PIDS=() PA= PB=
stop() { [ -n "$1" ] && kill -TERM "$1" 2>/dev/null && wait "$1" 2>/dev/null; return 0; }
cleanup() {
	stop "$PA"; stop "$PB"
	pair_stop
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for c in a b ca cb; do mkdir "$(cg $c)" || die "mkdir cgroup"; done
pair_start
hdr=
[ "$WORKLOAD" = close ] && hdr="-H 'Connection: close'"
wrk_on() {   # wrk_on LOADCG PORT OUT
	sh -c "echo \$\$ > '$(cg "$1")/cgroup.procs' && exec taskset -c 0 wrk -t1 -c32 -d${DUR}s $hdr http://127.0.0.1:$2/" > "$3" 2>&1
}
ids_of() { grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un | tr '\n' ,; }
sysctl -qw kernel.bpf_stats_enabled=1
echo "ab_agent: A = $A"
echo "ab_agent: B = $B"
l7args() { if [ "$L7" = 1 ]; then echo "--l7-cgroups /$1"; else echo --no-l7; fi; }
echo "ab_agent: $WORKLOAD, $ROUNDS rounds of ${DUR}s, agent args: $(l7args '<server>') --output none --host-cgroups /<server> $* (A: ${A_ARGS:-nothing more}; B: ${B_ARGS:-nothing more})"
for r in $(seq "$ROUNDS"); do
	sa=a sb=b
	[ $((r % 2)) = 0 ] && sa=b sb=a
	ca=$(basename "$(cg $sa)") cb=$(basename "$(cg $sb)")
	# shellcheck disable=SC2046,SC2086
	"$A" $(l7args "$ca") --output none --host-cgroups "/$ca" "$@" $A_ARGS > "$W/a.log" 2>&1 & PA=$!
	# shellcheck disable=SC2046,SC2086
	"$B" $(l7args "$cb") --output none --host-cgroups "/$cb" "$@" $B_ARGS > "$W/b.log" 2>&1 & PB=$!
	for i in $(seq 600); do
		grep -q "counting traffic\|capturing HTTP" "$W/a.log" && grep -q "counting traffic\|capturing HTTP" "$W/b.log" && break
		kill -0 "$PA" 2>/dev/null && kill -0 "$PB" 2>/dev/null || break
		sleep 0.05
	done
	grep -q "counting traffic\|capturing HTTP" "$W/a.log" && grep -q "counting traffic\|capturing HTTP" "$W/b.log" ||
		die "an agent did not attach: $(tail -n 2 "$W/a.log" "$W/b.log")"
	ida=$(ids_of "$PA") idb=$(ids_of "$PB")
	bpftool prog show -j > "$W/pre.json"
	wrk_on ca "$PORT" "$W/wrk-a" &
	pw=$!
	wrk_on cb $((PORT + 1)) "$W/wrk-b"
	wait "$pw"
	bpftool prog show -j > "$W/post.json"
	stop "$PA"; stop "$PB"; PA= PB=
	python3 - "$W" "$sa" "$r" "$ida" "$idb" "$(dirname "$0")" <<'PY' | tee -a "$W/rows"
import re, sys
w, sa, r, ida, idb, here = sys.argv[1:]
sys.path.insert(0, here)
from progcols import prog_cols
def wrk(f):
    t = open(f).read()
    return float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)), int(re.search(r"(\d+) requests in", t).group(1))
wa, wb = (f"{w}/wrk-a", f"{w}/wrk-b") if sa == "a" else (f"{w}/wrk-b", f"{w}/wrk-a")
(ra, na), (rb, nb) = wrk(wa), wrk(wb)
cols = [f"{int(r):>3}", f"{ra / rb:.4f}"]
cols += prog_cols(w, (("A", ida, na), ("B", idb, nb)), ("cgroup_skb", "sock_ops"))
print(" ".join(cols))
PY
done
python3 - "$W/rows" <<'PY'
import re, statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"median rps(A)/rps(B) {st.median(float(x[1]) for x in rows):.4f}")
progs = {}
for x in rows:
    for c in x[2:]:
        m = re.match(r"(.+)=(\d+)ns\*([\d.]+)", c)
        progs.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3))))
for k, v in progs.items():
    print(f"  {k:28s} ns/run median {st.median(a for a, _ in v):6.0f}  runs/request {st.median(b for _, b in v):.2f}  ({len(v)} rounds)")
PY
