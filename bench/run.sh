#!/bin/bash
# make bench: overhead of podlens on an HTTP server (issue 4). Not a test.
#
# nginx (Debian nginx-light, 1 worker pinned to CPU1, 1 KB file, keep-alive) in cgroup
# podlens-bench-srv, wrk pinned to CPU0 (-t1 -c32) in cgroup podlens-bench-cli, on 127.0.0.1 only.
# Workloads: ka (keep-alive) and close (Connection: close = one connection per request).
# Conditions, interleaved in every round (order rotated each round, `off` twice per round):
#   off   nothing of ours loaded
#   l4    build/podlens-agent --no-l7 --output none
#   l7    build/podlens-agent --output none --l7-cgroups /<nginx cgroup> (L4 + L7 on nginx's cgroup);
#         with an agent without --l7-cgroups: the agent plus build/l7-probe-test attached to nginx's
#         cgroup (same BPF programs, same aggregation); the output says which
#   (without build/podlens-agent: l7 = the probe driver alone, and no l4 condition)
# Throughput ratio = rps(condition) / mean rps(off) of the same round and workload; the table shows
# the median and min..max over rounds. Agent/driver CPU % (of one core) and RSS over the wrk window.
# BPF ns per run comes from separate runs with kernel.bpf_stats_enabled=1 (stats cost time on every
# program run, so they are kept out of the throughput rounds), per program id of our own processes
# (others may run BPF on this machine: only ids held by our PIDs are counted). The sysctl is
# restored on exit.
#
# Environment: ROUNDS (5) DUR (wrk seconds, 5) WORKLOADS ("ka close") PORT (18090)
#              BENCH_AGENT_ARGS (extra agent flags)   NO_AGENT=1 (probe driver only)
#              CONDITIONS="off l7 l7e l7s2 off" (throughput conditions, e.g. to add cost-study ones)
#              COST=1 (add the L7 cost build-up: empty programs and the path cut after each stage)   Results: $BUILD/bench/<time>/ + table on stdout.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-5}
WORKLOADS=${WORKLOADS:-ka close}
PORT=${PORT:-18090}
AGENT=$BUILD/podlens-agent
DRIVER=$BUILD/l7-probe-test
AGENT_ARGS=${BENCH_AGENT_ARGS:-}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (BPF, cgroups)"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (server on CPU1, load on CPU0)"
[ -x "$DRIVER" ] || die "$DRIVER missing: make all"
NGINX=$(command -v nginx || echo /usr/sbin/nginx); [ -x "$NGINX" ] || die "nginx missing (deps/bench.pkgs)"
command -v wrk >/dev/null || die "wrk missing (deps/bench.pkgs)"
if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then CG2=/sys/fs/cgroup/unified
elif [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then CG2=/sys/fs/cgroup
else die "no cgroup2 hierarchy"; fi
if ss -Hltn "sport = :$PORT" | grep -q .; then die "port $PORT busy (PORT=...)"; fi

[ -n "${NO_AGENT:-}" ] && AGENT=/nonexistent
AGENT_L7=
if [ -x "$AGENT" ] && "$AGENT" --help 2>&1 | grep -q -- --l7-cgroups; then
	AGENT_L7=1; CONDS=(off l4 l7 off); STATS_CONDS=(l4 l7); L7_DESC="agent --l7-cgroups <nginx cgroup>"
elif [ -x "$AGENT" ]; then CONDS=(off l4 l7 off); STATS_CONDS=(l4 l7); L7_DESC="agent + probe driver"
else CONDS=(off l7 off); STATS_CONDS=(l7); L7_DESC="probe driver alone (no build/podlens-agent)"; fi
[ -n "${CONDITIONS:-}" ] && read -r -a CONDS <<< "$CONDITIONS"

OUT=$BUILD/bench/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT/logs" || die "mkdir $OUT"
WORK=$(mktemp -d /tmp/podlens-bench.XXXXXX)
SRV_CG=$CG2/podlens-bench-srv-$$
CLI_CG=$CG2/podlens-bench-cli-$$
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
NGINX_PID= AGENT_PID= DRIVER_PID=

stop_pid() {   # stop_pid PID: SIGTERM, bounded wait, then SIGKILL; only our own children
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
stop_cond() { stop_pid "$DRIVER_PID"; DRIVER_PID=; stop_pid "$AGENT_PID"; AGENT_PID=; }
cleanup() {
	stop_cond
	if [ -n "$NGINX_PID" ]; then kill -QUIT "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; fi
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	rmdir "$SRV_CG" "$CLI_CG" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir "$SRV_CG" "$CLI_CG" || die "mkdir cgroups"
chmod 755 "$WORK"   # the nginx worker runs as www-data
mkdir -p "$WORK/www" "$WORK/tmp" "$WORK/logs"
head -c 1024 /dev/zero | tr '\0' 'a' > "$WORK/www/index.html"
cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
worker_cpu_affinity 10;
daemon off;
master_process on;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 1024; use epoll; multi_accept off; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    open_file_cache max=100 inactive=60s;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    types { text/html html; }
    server {
        listen 127.0.0.1:$PORT;
        root $WORK/www;
        location / { index index.html; }
    }
}
EOF
# the listening socket is created inside the server cgroup, so accepted sockets belong to it
sh -c "echo \$\$ > '$SRV_CG/cgroup.procs' && exec taskset -c 1 '$NGINX' -c '$WORK/nginx.conf' -p '$WORK/'" \
	2> "$OUT/logs/nginx.err" &
NGINX_PID=$!
for i in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/" || die "nginx did not come up: $(cat "$OUT/logs/nginx.err")"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
prog_ids() {   # BPF program ids held (fd or link) by the given PIDs
	local pid
	for pid in "$@"; do
		[ -n "$pid" ] && grep -h '^prog_id:' /proc/"$pid"/fdinfo/* 2>/dev/null | awk '{print $2}'
	done | sort -un | tr '\n' ' '
}
wait_quiet() {   # wait (bounded, 15 s) until PID has attached and its CPU use settles
	local pid=$1 t0 t1 i
	t0=$(cpu_ticks "$pid")
	for i in $(seq 30); do
		sleep 0.5
		kill -0 "$pid" 2>/dev/null || return 1
		t1=$(cpu_ticks "$pid")
		[ "$t1" = "$t0" ] && [ -n "$(prog_ids "$pid")" ] && return 0
		t0=$t1
	done
	return 0
}
start_cond() {   # start_cond COND LOGPREFIX
	case $1 in
	off) return 0 ;;
	l4) "$AGENT" --no-l7 --output none $AGENT_ARGS > "$2.agent" 2>&1 & AGENT_PID=$! ;;
	l7)
		if [ -n "$AGENT_L7" ]; then
			"$AGENT" --output none --l7-cgroups "/${SRV_CG##*/}" $AGENT_ARGS > "$2.agent" 2>&1 & AGENT_PID=$!
			for i in $(seq 300); do grep -q 'l7: capturing HTTP of' "$2.agent" && break; kill -0 $AGENT_PID || break; sleep 0.05; done
			grep -q 'l7: capturing HTTP of' "$2.agent" || { echo "bench: agent did not attach L7: $(tail -3 "$2.agent")" >&2; return 1; }
			wait_quiet "$AGENT_PID"
			return 0
		fi
		if [ -x "$AGENT" ]; then "$AGENT" --output none $AGENT_ARGS > "$2.agent" 2>&1 & AGENT_PID=$!; fi
		"$DRIVER" "$SRV_CG" > "$2.driver" 2>&1 & DRIVER_PID=$!
		for i in $(seq 200); do grep -q '"attached"' "$2.driver" && break; kill -0 $DRIVER_PID || break; sleep 0.05; done
		grep -q '"attached"' "$2.driver" || { echo "bench: driver failed: $(cat "$2.driver")" >&2; return 1; } ;;
	l7e | l7n | l7s[0-9])   # cost study: the probe driver alone: empty programs, no in-kernel
		local flag=-E           # aggregation (every request through the ring buffer), or a cut path
		[ "$1" = l7n ] && flag=-N
		[ "${1#l7s}" != "$1" ] && flag="-S ${1#l7s}"
		"$DRIVER" $flag "$SRV_CG" > "$2.driver" 2>&1 & DRIVER_PID=$!
		for i in $(seq 200); do grep -q '"attached"' "$2.driver" && break; kill -0 $DRIVER_PID || break; sleep 0.05; done
		grep -q '"attached"' "$2.driver" || { echo "bench: driver failed: $(cat "$2.driver")" >&2; return 1; } ;;
	esac
	if [ -n "$AGENT_PID" ] && ! wait_quiet "$AGENT_PID"; then
		echo "bench: agent exited: $(tail -3 "$2.agent")" >&2; return 1
	fi
	return 0
}

# one run: cond, workload, round, kind (tput|stats) -> a TSV line in $OUT/runs.tsv
printf 'kind\tround\tworkload\tcond\trps\twrk_requests\tl7_events\tagent_cpu_pct\tagent_rss_kb\tdriver_cpu_pct\tdriver_rss_kb\tprogs\n' > "$OUT/runs.tsv"
printf 'round\tworkload\tcond\towner\tprog_id\tprog_name\tprog_type\truns\trun_ns\n' > "$OUT/bpf_stats.tsv"
run_one() {
	local cond=$1 wl=$2 r=$3 kind=$4 log="$OUT/logs/$4-r$3-$2-$1" hdr= a0 a1 d0 d1 ids rps req ev
	[ "$wl" = close ] && hdr="-H 'Connection: close'"
	start_cond "$cond" "$log" || return 1
	ids=$(prog_ids $AGENT_PID $DRIVER_PID)
	[ "$kind" = stats ] && bpftool prog show -j > "$log.pre.json"
	a0=$(cpu_ticks "${AGENT_PID:-0}"); d0=$(cpu_ticks "${DRIVER_PID:-0}")
	sh -c "echo \$\$ > '$CLI_CG/cgroup.procs' && exec taskset -c 0 wrk -t1 -c32 -d${DUR}s $hdr http://127.0.0.1:$PORT/" > "$log.wrk" 2>&1
	a1=$(cpu_ticks "${AGENT_PID:-0}"); d1=$(cpu_ticks "${DRIVER_PID:-0}")
	[ "$kind" = stats ] && bpftool prog show -j > "$log.post.json"
	local arss=0 drss=0
	[ -n "$AGENT_PID" ] && arss=$(rss_kb "$AGENT_PID")
	[ -n "$DRIVER_PID" ] && drss=$(rss_kb "$DRIVER_PID")
	stop_cond
	rps=$(awk '/Requests\/sec/{print $2}' "$log.wrk")
	req=$(awk '/requests in/{print $1}' "$log.wrk")
	ev=-
	[ -f "$log.driver" ] && ev=$(grep '"cgroups"' "$log.driver" | jq '[.cgroups[].http[].count] | add // 0')
	local tck; tck=$(getconf CLK_TCK)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$r" "$wl" "$cond" "${rps:-0}" "${req:-0}" "$ev" \
		"$(awk -v a="$a0" -v b="$a1" -v t="$tck" -v d="$DUR" 'BEGIN{printf "%.2f", (b-a)/t/d*100}')" "$arss" \
		"$(awk -v a="$d0" -v b="$d1" -v t="$tck" -v d="$DUR" 'BEGIN{printf "%.2f", (b-a)/t/d*100}')" "$drss" \
		"${ids// /,}" >> "$OUT/runs.tsv"
	if [ "$kind" = stats ]; then
		python3 - "$log.pre.json" "$log.post.json" "$r" "$wl" "$cond" "$ids" >> "$OUT/bpf_stats.tsv" <<'PY'
import json, sys
pre = {p["id"]: p for p in json.load(open(sys.argv[1]))}
ids = {int(x) for x in sys.argv[6].split()}
for p in json.load(open(sys.argv[2])):
    q = pre.get(p["id"])
    if p["id"] not in ids or not q:
        continue
    owner = "l7" if p.get("name", "").startswith("pl_l7") else "agent"
    print("\t".join(map(str, [sys.argv[3], sys.argv[4], sys.argv[5], owner, p["id"], p.get("name"), p.get("type"),
                              p.get("run_cnt", 0) - q.get("run_cnt", 0), p.get("run_time_ns", 0) - q.get("run_time_ns", 0)])))
PY
	fi
	tail -1 "$OUT/runs.tsv" | cut -f2-8 | tr '\t' ' ' | sed 's/^/  /'
}

echo "podlens bench: nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), wrk -t1 -c32 ${DUR}s, $ROUNDS rounds, workloads: $WORKLOADS"
echo "conditions: ${CONDS[*]}  (l7 = $L7_DESC)   results: $OUT"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on these 2 CPUs makes every number noisy)"
sysctl -qw kernel.bpf_stats_enabled=0
N=${#CONDS[@]}
for r in $(seq 1 "$ROUNDS"); do
	for wl in $WORKLOADS; do
		for k in $(seq 0 $((N - 1))); do
			run_one "${CONDS[$(((k + r - 1) % N))]}" "$wl" "$r" tput || exit 1
		done
	done
done
echo "bpf_stats runs (kernel.bpf_stats_enabled=1, not used for ratios):"
sysctl -qw kernel.bpf_stats_enabled=1
# COST=1: also the cost build-up of the L7 programs (empty programs = dispatch + bpf_stats, then the
# path cut after each stage; see l7_stage in bpf/l7.bpf.c), interleaved with the full program
if [ -n "${COST:-}" ]; then STATS_CONDS+=(l7e l7n); for st in ${COST_STAGES:-1 2 3 4}; do STATS_CONDS+=(l7s$st); done; fi
for wl in $WORKLOADS; do
	for c in "${STATS_CONDS[@]}"; do run_one "$c" "$wl" 1 stats || exit 1; done
done
sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 bench/analyze.py "$OUT" "$L7_DESC" | tee "$OUT/summary.txt"
