#!/bin/bash
# bench/ab_dns.sh SIDE_A SIDE_B: two DNS monitoring builds (or cost-study stages) at the same moment,
# measured by CPU per query and bpf_stats (not a test).
#
# bench/run.sh's dnscpu pair: two dnsmasq (CPU1, answering *.bench.test / *.nx.test from memory) and
# two dnsperf (CPU0, -c 8 -q 100, as fast as they go). Side A monitors one twin, side B the other,
# swapped every round; kernel.bpf_stats_enabled is on for both. A SIDE is
#   an agent binary          run as AGENT --output none --host-cgroups /<twin> --l7-cgroups /<twin>
#                            --dns-ports PORT,PORT+1 $SIDE_ARGS_A|B
#   an l7-probe-test binary  run as DRIVER -P PORT,PORT+1 $SIDE_ARGS_A|B <twin's cgroup> (-E: the
#                            empty programs; -S N: the DNS path cut at stage N, l7_stage in bpf/l7.bpf.c)
#   none                     nothing on that twin
# Per round and side: CPU per query of the twin (cgroup cpu.stat usage_usec of its dnsmasq + its
# dnsperf / queries it completed; this kernel has no IRQ_TIME_ACCOUNTING, so the loopback softirq and
# both packet programs are in it), the side's own process CPU per query, and its cgroup_skb
# programs' ns per run and runs per query. Medians at the end; B/A of CPU per query is the
# same-moment cost ratio of B against A.
#
#   git worktree add /tmp/prev HEAD~1 && make -C /tmp/prev all
#   sudo bench/ab_dns.sh /tmp/prev/build/bin/podlens-agent build/bin/podlens-agent
#
# Environment: ROUNDS (6), DUR (dnsperf seconds, 4), PORT (18310; PORT, PORT+1, UDP), SIDE_ARGS_A,
# SIDE_ARGS_B. Everything it starts is stopped by PID; cgroups and the sysctl are restored on exit.
set -uo pipefail
die() { echo "ab_dns: $*" >&2; exit 1; }
source "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || die "usage: bench/ab_dns.sh SIDE_A SIDE_B (agent or l7-probe-test binary, or none)"
side_bin() { if [ "$1" = none ]; then echo none; else realpath "$1"; fi; }
A=$(side_bin "$1") B=$(side_bin "$2")
for s in "$A" "$B"; do [ "$s" = none ] || [ -x "$s" ] || die "$s: not executable"; done
[ "$(id -u)" = 0 ] || die "needs root (BPF, cgroups)"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq); [ -x "$DNSMASQ" ] || die "dnsmasq missing (deps/bench.pkgs)"
command -v dnsperf >/dev/null || die "dnsperf missing (deps/bench.pkgs)"
ROUNDS=${ROUNDS:-6} DUR=${DUR:-4} PORT=${PORT:-18310}
SIDE_ARGS_A=${SIDE_ARGS_A:-} SIDE_ARGS_B=${SIDE_ARGS_B:-}
CG2=$(cg2_root) || exit 1
ports_free udp "$PORT" $((PORT + 1))
W=$(mktemp -d /tmp/podlens-abdns.XXXXXX)
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
cg() { echo "$CG2/podlens-abdns-$$-$1"; }
DNS_PIDS=() PA= PB=
stop() { stop_pid "$1"; }
cleanup() {
	local p c i
	stop "$PA"; stop "$PB"
	for p in "${DNS_PIDS[@]}"; do stop "$p"; done
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	for c in a b ca cb; do
		for i in $(seq 20); do rmdir "$(cg $c)" 2>/dev/null && break; [ -d "$(cg $c)" ] || break; sleep 0.1; done
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for c in a b ca cb; do mkdir "$(cg $c)" || die "mkdir cgroup"; done
{ for i in $(seq 40); do echo "host$i.bench.test A"; done
  for i in $(seq 8); do echo "host$i.bench.test AAAA"; echo "miss$i.nx.test A"; done; } > "$W/queries"
for s in a b; do
	port=$PORT; [ $s = b ] && port=$((PORT + 1))
	sh -c "echo \$\$ > '$(cg $s)/cgroup.procs' && exec taskset -c 1 '$DNSMASQ' --keep-in-foreground \
		--conf-file=/dev/null --no-resolv --no-hosts --no-poll --bind-interfaces --listen-address=127.0.0.1 \
		--port=$port --pid-file='$W/dnsmasq-$s.pid' --user=root --address=/bench.test/10.9.0.1 --address=/nx.test/ \
		--log-facility=/dev/null" 2> "$W/dnsmasq-$s.err" &
	DNS_PIDS+=($!)
	ok=
	for i in $(seq 100); do ss -Hlun "sport = :$port" | grep -q . && ok=1 && break; sleep 0.1; done
	[ -n "$ok" ] || die "dnsmasq $s did not come up: $(cat "$W/dnsmasq-$s.err")"
done
dnsperf_on() {   # dnsperf_on LOADCG PORT OUT
	sh -c "echo \$\$ > '$(cg "$1")/cgroup.procs' && exec taskset -c 0 dnsperf -s 127.0.0.1 -p $2 -d '$W/queries' \
		-l $DUR -c 8 -q 100 -T 1" > "$3" 2>&1
}
side_start() {   # side_start BIN TWIN LOG ARGS: SIDE_PID; the side is attached when it returns 0
	local bin=$1 twin=$2 log=$3 args=$4 pid i ready
	SIDE_PID=
	case $bin in
	none) return 0 ;;
	*probe*) "$bin" -P "$PORT,$((PORT + 1))" $args "$(cg "$twin")" > "$log" 2>&1 & pid=$! ready='"attached"' ;;
	*) "$bin" --output none --host-cgroups "/$(basename "$(cg "$twin")")" --l7-cgroups "/$(basename "$(cg "$twin")")" \
		--dns-ports "$PORT,$((PORT + 1))" $args > "$log" 2>&1 & pid=$! ready="l7: capturing" ;;
	esac
	for i in $(seq 1200); do   # up to 60 s: an agent starts slowly on a loaded machine
		grep -q "$ready" "$log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	SIDE_PID=$pid
	grep -q "$ready" "$log" || { echo "ab_dns: $bin did not attach (i=$i): $(tail -n 2 "$log")" >&2; return 1; }
	sleep 1   # the agent's start-up work (cgroup scan, first harvest) out of the window
}
ids_of() { [ -n "$1" ] && grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un | tr '\n' ,; }
usec() { awk '/^usage_usec/{print $2}' "$(cg "$1")/cpu.stat"; }
sched_us() {   # on-CPU time of all threads of PID, microseconds (0 for none)
	local t s=0
	[ -n "$1" ] || { echo 0; return; }
	for t in /proc/"$1"/task/*/schedstat; do [ -r "$t" ] && s=$((s + $(cut -d' ' -f1 "$t"))); done
	echo $((s / 1000))
}
sysctl -qw kernel.bpf_stats_enabled=1
echo "ab_dns: A = $A $SIDE_ARGS_A"
echo "ab_dns: B = $B $SIDE_ARGS_B"
echo "ab_dns: $ROUNDS rounds of ${DUR}s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$W/rows"
for r in $(seq "$ROUNDS"); do
	sa=a sb=b
	[ $((r % 2)) = 0 ] && sa=b sb=a
	side_start "$A" "$sa" "$W/a.log" "$SIDE_ARGS_A"; rc=$? PA=$SIDE_PID
	[ $rc = 0 ] || die "side A"
	side_start "$B" "$sb" "$W/b.log" "$SIDE_ARGS_B"; rc=$? PB=$SIDE_PID
	[ $rc = 0 ] || die "side B"
	ida=$(ids_of "$PA") idb=$(ids_of "$PB")
	bpftool prog show -j > "$W/pre.json"
	u0="$(usec $sa) $(usec c$sa) $(usec $sb) $(usec c$sb) $(sched_us "$PA") $(sched_us "$PB")"
	dnsperf_on "c$sa" "$([ $sa = a ] && echo "$PORT" || echo $((PORT + 1)))" "$W/load-A" &
	pw=$!
	dnsperf_on "c$sb" "$([ $sb = a ] && echo "$PORT" || echo $((PORT + 1)))" "$W/load-B"
	wait "$pw"
	u1="$(usec $sa) $(usec c$sa) $(usec $sb) $(usec c$sb) $(sched_us "$PA") $(sched_us "$PB")"
	bpftool prog show -j > "$W/post.json"
	stop "$PA"; stop "$PB"; PA= PB=
	python3 - "$W" "$r" "$ida" "$idb" "$u0" "$u1" "$(dirname "$0")" <<'PY' | tee -a "$W/rows"
import re, sys
w, r, ida, idb, u0, u1, here = sys.argv[1:]
sys.path.insert(0, here)
from progcols import prog_cols
d = [int(b) - int(a) for a, b in zip(u0.split(), u1.split())]
def queries(f):
    m = re.search(r"Queries completed:\s+(\d+)", open(f).read())
    return int(m.group(1)) if m else 0
qa, qb = queries(f"{w}/load-A"), queries(f"{w}/load-B")
if not qa or not qb:
    sys.exit(f"ab_dns: dnsperf completed no queries ({qa}, {qb})")
cpa, cpb = (d[0] + d[1]) * 1000 / qa, (d[2] + d[3]) * 1000 / qb
cols = [f"{int(r):>3}", f"cpuq_A={cpa:.0f}", f"cpuq_B={cpb:.0f}", f"B/A={cpb / cpa:.4f}",
        f"proc_A={d[4] * 1000 / qa:.0f}", f"proc_B={d[5] * 1000 / qb:.0f}", f"q={qa}/{qb}"]
cols += prog_cols(w, (("A", ida, qa), ("B", idb, qb)), ("cgroup_skb",))
print(" ".join(cols))
PY
done
python3 - "$W/rows" <<'PY'
import re, statistics as st, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def col(x, k):
    return float(next(c for c in x if c.startswith(k + "=")).split("=")[1])
for k, what in (("cpuq_A", "twin CPU ns per query, A"), ("cpuq_B", "twin CPU ns per query, B"),
                ("B/A", "B / A (same moment)"), ("proc_A", "A's own process CPU ns per query"),
                ("proc_B", "B's own process CPU ns per query")):
    v = sorted(col(x, k) for x in rows)
    print(f"{what:36s} median {st.median(v):9.4g}  ({v[0]:.4g}..{v[-1]:.4g}, {len(v)} rounds)")
progs = {}
for x in rows:
    for c in x[7:]:
        m = re.match(r"(.+)=(\d+)ns\*([\d.]+)", c)
        if m:
            progs.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3))))
for k, v in progs.items():
    print(f"  {k:28s} ns/run median {st.median(a for a, _ in v):6.0f}  runs/query {st.median(b for _, b in v):.2f}  ({len(v)} rounds)")
PY
echo "ab_dns: load average after $(cut -d' ' -f1-3 /proc/loadavg)"
