#!/bin/bash
# make bench: overhead of podlens on an HTTP server (issue 4). Not a test.
#
# nginx (Debian nginx-light, 1 worker pinned to CPU1, 1 KB file) in its own cgroup, wrk pinned to
# CPU0 (-t1 -c32) in another, on 127.0.0.1 only. Workloads: ka (keep-alive) and close
# (Connection: close = one connection per request). nginx is the monitored workload (as a pod would
# be); wrk is the load and is not monitored, except in l4all.
#
# Conditions:
#   off    nothing of ours loaded
#   l4     build/bin/podlens-agent --no-l7 --output none --host-cgroups /<nginx cgroup>: the packet
#          programs attach to nginx's cgroup only (traffic attach mode "workloads")
#   l7     the same with --l7-cgroups /<nginx cgroup>: traffic + HTTP in one program per packet
#   l4all  build/bin/podlens-agent --no-l7 --output none: every cgroup monitored (the plain-host default),
#          so the traffic programs attach once at the cgroup2 root and wrk's sockets pay too
#
# Phase 1, sequential (the issue's design): one nginx; per round each condition runs once (off twice),
#   order rotated per round; ratio = rps(condition) / mean rps(off) of the same round; the table shows
#   the median and min..max over rounds. This VM's speed drifts by +-10-15% within seconds (other
#   tenants of the host), so these ratios are noisy.
# Phase 2, paired (PAIRED_ROUNDS, default 10; 0 = skip): two identical nginx servers share CPU1 and two
#   wrk share CPU0, run at the same time, and only one server is monitored (the other side each
#   round). Both see the same machine at the same moment, and the scheduler shares CPU1 fairly, so
#   ratio = rps(monitored) / rps(unmonitored) is the per-request cost ratio without the drift. none
#   (nobody monitored) shows what the setup alone gives (should be 1); l7e (empty cgroup_skb programs
#   on the monitored server) is the floor of any packet-hook design.
# Phase 3, BPF ns per run: separate runs with kernel.bpf_stats_enabled=1 (stats cost time on every
#   program run, so they are kept out of the throughput runs), per program id of our own processes
#   (others may run BPF on this machine: only ids held by our PIDs are counted); l7e = empty
#   cgroup_skb programs on nginx's cgroup (build/test-bin/l7-probe-test -E): the kernel's dispatch plus the
#   bpf_stats clock reads, which any cgroup_skb program pays. The sysctl is restored on exit.
#
# Phase 4, other protocols and the tool a user would run instead, paired like phase 2 (PROTO_ROUNDS,
#   default 5, per phase; monitored = agent L4+L7 on the monitored server's cgroup, nothing else;
#   dns and h2 also l7e, the empty-program floor on that server):
#   dns  dnsmasq (1 process, CPU1, a local zone: *.bench.test -> A, *.nx.test -> NXDOMAIN) twice,
#        dnsperf (UDP, 8 clients, 100 outstanding) twice on CPU0; ratio of queries/s (target 0.98).
#   h2   the nginx of phase 2 with `listen ... http2` (h2c, prior knowledge), h2load -c32 -m10 twice;
#        ratio of requests/s (target 0.97), agent CPU and RSS at that load. It measures whatever the
#        agent's L7 does with HTTP/2 today; an HTTP/2 module registered in agent/l7 is measured
#        without changes here (H2_AGENT_ARGS for a flag it may need).
#   bt   bench/syscall_latency.bt (bpftrace, raw syscall tracepoints filtered by the monitored
#        server's cgroup id) against keep-alive nginx (phase 2's pair), next to none and l7 in the
#        same rounds (workload "bt" in the tables).
#   dnscpu  (not in the default PHASES) the dns pair at a fixed rate (dnsperf -Q DNSCPU_QPS per
#        twin, default 15000: neither CPU saturated, so no bottleneck to flip; 0 = as fast as it
#        goes: both CPUs saturated, no wake-up cost in the figure) and the CPU each twin
#        spent per query: cgroup cpu.stat usage_usec of its dnsmasq and its dnsperf (this kernel has
#        no IRQ_TIME_ACCOUNTING: loopback softirq, both BPF programs included, is charged to the
#        task it interrupts, i.e. to the twin), the agent's CPU (/proc/PID/schedstat) and
#        ksoftirqd's. DNSCPU_ROUNDS (8) rounds of none, l7e, l7, monitored side alternating;
#        dnscpu.tsv, summarized by bench/dns_cpu.py.
#   Each phase then has one side-by-side run (bpf_stats on, agent JSON at exit; bt: agent and
#   bpftrace on the same server at once): what each tool counted against what the load tool
#   completed, latency, CPU, RSS, BPF ns per run and runs per request (the node-wide tracepoints
#   run for every syscall of every process). bpftrace missing or unable to attach: reported as
#   unavailable with its reason, the other phases go on. tracefs is mounted for it if it is not
#   (and unmounted on exit).
#
# Environment: ROUNDS (3) DUR (load seconds, 4) PAIRED_ROUNDS (6) WORKLOADS ("ka close") PORT (18090;
#   PORT..+1 HTTP, +10..+11 DNS, +20..+21 h2c)   PHASES ("seq paired dns h2 bt"; seq = phases 1 and 3)
#   PROTO_ROUNDS (5)   DNSCPU_ROUNDS (8)   DNSCPU_QPS (15000)   BENCH_AGENT_ARGS (extra agent flags)   H2_AGENT_ARGS (extra agent flags, h2 only)
#   NO_AGENT=1 (probe driver only: l7 = l7-probe-test)   BENCH_AGENT (the agent binary or a wrapper, e.g. one that pins it)
#   CONDITIONS="off l4 l7 off l4all" (phase 1 conditions; also l7e, l7n, l7sN = probe driver cost study)
#   COST=1 (phase 3 adds the L7 cost build-up: no in-kernel aggregation, the path cut after each stage)
# Results: $BUILD/bench/<time>/{runs.tsv,paired.tsv,bpf_stats.tsv,summary.txt,logs/} + table on stdout.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-4}
PAIRED_ROUNDS=${PAIRED_ROUNDS:-6}
PROTO_ROUNDS=${PROTO_ROUNDS:-5}
DNSCPU_ROUNDS=${DNSCPU_ROUNDS:-8}
DNSCPU_QPS=${DNSCPU_QPS:-15000}
PHASES=${PHASES:-seq paired dns h2 bt}
WORKLOADS=${WORKLOADS:-ka close}
PORT=${PORT:-18090}
AGENT=${BENCH_AGENT:-$BUILD/bin/podlens-agent}
DRIVER=$BUILD/test-bin/l7-probe-test
AGENT_ARGS=${BENCH_AGENT_ARGS:-}
H2_AGENT_ARGS=${H2_AGENT_ARGS:-}
DNS_PORT=$((PORT + 10)) H2_PORT=$((PORT + 20))
BT_SCRIPT=${BT_SCRIPT:-$top/bench/syscall_latency.bt}
has_phase() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }

die() { echo "bench: $*" >&2; exit 1; }
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root (BPF, cgroups)"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (servers on CPU1, load on CPU0)"
[ -x "$DRIVER" ] || die "$DRIVER missing: make all"
NGINX=$(command -v nginx || echo /usr/sbin/nginx); [ -x "$NGINX" ] || die "nginx missing (deps/bench.pkgs)"
command -v wrk >/dev/null || die "wrk missing (deps/bench.pkgs)"
CG2=$(cg2_root) || exit 1
ports_free tcp "$PORT" $((PORT + 1)) "$H2_PORT" $((H2_PORT + 1))
ports_free udp "$DNS_PORT" $((DNS_PORT + 1))
if has_phase dns || has_phase dnscpu; then
	command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || die "dnsmasq missing (deps/bench.pkgs)"
	command -v dnsperf >/dev/null || die "dnsperf missing (deps/bench.pkgs)"
fi
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
if has_phase h2; then command -v h2load >/dev/null || die "h2load missing (deps/bench.pkgs: nghttp2-client)"; fi

[ -n "${NO_AGENT:-}" ] && AGENT=/nonexistent
if [ -x "$AGENT" ]; then
	CONDS=(off l4 l7 off l4all); STATS_CONDS=(l4 l7 l4all l7e)
	L7_DESC="agent --host-cgroups <nginx cgroup> --l7-cgroups <nginx cgroup>"
else
	CONDS=(off l7 off); STATS_CONDS=(l7 l7e); L7_DESC="probe driver alone (no build/bin/podlens-agent)"; PAIRED_ROUNDS=0
fi
[ -n "${CONDITIONS:-}" ] && read -r -a CONDS <<< "$CONDITIONS"

OUT=$BUILD/bench/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT/logs" || die "mkdir $OUT"
WORK=$(mktemp -d /tmp/podlens-bench.XXXXXX)
# cgroups: s0 = the sequential phase's server; a/b = the paired servers (HTTP/1, bt); da/db the DNS
# servers, ha/hb the h2c servers; c* = their loads
CGS=(s0 a b da db ha hb cs0 ca cb)
cg() { echo "$CG2/podlens-bench-$$-$1"; }
SRV_CG=$(cg s0)
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
NGINX_PIDS=() DNS_PIDS=() AGENT_PID= DRIVER_PID= BT_PID= TRACEFS_MOUNTED=
AGENT_OUT="--output none" COND_ARGS=

stop_bt() {   # SIGINT: bpftrace prints its maps and detaches (bounded wait, then SIGKILL)
	local i
	[ -n "$BT_PID" ] || return 0
	kill -INT "$BT_PID" 2>/dev/null
	for i in $(seq 200); do kill -0 "$BT_PID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$BT_PID" 2>/dev/null
	wait "$BT_PID" 2>/dev/null
	BT_PID=
}
stop_cond() { stop_pid "$DRIVER_PID"; DRIVER_PID=; stop_pid "$AGENT_PID"; AGENT_PID=; stop_bt; }
stop_nginx() {
	local pid
	for pid in "${NGINX_PIDS[@]}"; do kill -QUIT "$pid" 2>/dev/null; done
	for pid in "${NGINX_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	NGINX_PIDS=()
}
cleanup() {
	local c
	stop_cond
	stop_nginx
	stop_dns
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	[ -n "$TRACEFS_MOUNTED" ] && umount /sys/kernel/tracing
	for c in "${CGS[@]}"; do rmdir "$(cg "$c")" 2>/dev/null; done
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for c in "${CGS[@]}"; do mkdir "$(cg "$c")" || die "mkdir cgroup $(cg "$c")"; done
chmod 755 "$WORK"   # the nginx worker runs as www-data
mkdir -p "$WORK/www"
head -c 1024 /dev/zero | tr '\0' 'a' > "$WORK/www/index.html"

start_nginx() {   # start_nginx NAME PORT [http2]: a server in cgroup NAME, worker on CPU1
	local d=$WORK/$1 i h2=${3:-} curl_h2=
	[ -n "$h2" ] && curl_h2=--http2-prior-knowledge
	nginx_conf "$d" "$2" "$WORK/www" "$h2"
	# the listening socket is created inside the server cgroup, so accepted sockets belong to it
	sh -c "echo \$\$ > '$(cg "$1")/cgroup.procs' && exec taskset -c 1 '$NGINX' -c '$d/nginx.conf' -p '$d/'" \
		2> "$OUT/logs/nginx-$1.err" &
	NGINX_PIDS+=($!)
	for i in $(seq 100); do curl $curl_h2 -sf -o /dev/null "http://127.0.0.1:$2/" && return 0; sleep 0.1; done
	die "nginx $1 did not come up: $(cat "$OUT/logs/nginx-$1.err")"
}

start_dns() {   # start_dns NAME PORT: dnsmasq in cgroup NAME on CPU1, answering a local zone only
	local d=$WORK/$1 i
	mkdir -p "$d"
	# no upstream, no hosts file: *.bench.test answers 10.9.0.1, *.nx.test NXDOMAIN, from memory
	sh -c "echo \$\$ > '$(cg "$1")/cgroup.procs' && exec taskset -c 1 '$DNSMASQ' --keep-in-foreground \
		--conf-file=/dev/null --no-resolv --no-hosts --no-poll --bind-interfaces \
		--listen-address=127.0.0.1 --port=$2 --pid-file='$d/dnsmasq.pid' --user=root \
		--address=/bench.test/10.9.0.1 --address=/nx.test/ --log-facility='$(realpath "$OUT")/logs/dnsmasq-$1.log'" \
		2> "$OUT/logs/dnsmasq-$1.err" &
	DNS_PIDS+=($!)
	for i in $(seq 100); do ss -Hlun "sport = :$2" | grep -q . && return 0; sleep 0.1; done
	die "dnsmasq $1 did not come up: $(cat "$OUT/logs/dnsmasq-$1.err")"
}
stop_dns() {
	local pid
	for pid in "${DNS_PIDS[@]}"; do stop_pid "$pid"; done
	DNS_PIDS=()
}

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
wait_log() {   # wait_log FILE TEXT: the agent logged TEXT (bounded, 15 s)
	local i
	for i in $(seq 300); do grep -q "$2" "$1" && return 0; kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.05; done
	echo "bench: agent did not log '$2': $(tail -3 "$1")" >&2
	return 1
}
bt_start() {   # bt_start CGROUP_DIR LOGPREFIX: bench/syscall_latency.bt on that cgroup, until "ready"
	local i
	bpftrace -f json -o "$2.bt" "$BT_SCRIPT" "$(stat -c %i "$1")" > /dev/null 2> "$2.bt.err" &
	BT_PID=$!
	# compiling and loading take a few seconds; BEGIN ("ready") runs once every probe is attached
	for i in $(seq 600); do
		grep -q '"ready' "$2.bt" 2>/dev/null && return 0
		kill -0 "$BT_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "bench: bpftrace did not attach: $(grep -v MEMLOCK "$2.bt.err" | head -3)" >&2
	stop_bt
	return 1
}
bt_check() {   # BT_WHY = why bpftrace cannot run here (empty if it can); mounts tracefs if needed
	local log=$OUT/logs/bt-check
	BT_WHY=
	command -v bpftrace >/dev/null || { BT_WHY="bpftrace not installed (deps/bench.pkgs)"; return; }
	if [ ! -d /sys/kernel/tracing/events ]; then
		if mount -t tracefs nodev /sys/kernel/tracing 2> "$log.mount"; then TRACEFS_MOUNTED=1
		else BT_WHY="tracefs not mounted and cannot be: $(cat "$log.mount")"; return; fi
	fi
	[ -d /sys/kernel/tracing/events/raw_syscalls/sys_enter ] ||
		{ BT_WHY="no raw_syscalls:sys_enter tracepoint on this kernel"; return; }
	bt_start "$(cg cs0)" "$log" 2> "$log.why" || { BT_WHY="bpftrace cannot attach: $(cat "$log.why")"; return; }
	stop_bt
}
start_cond() {   # start_cond COND LOGPREFIX [SERVER]: SERVER = the monitored cgroup name (default s0)
	local s=/${SRV_CG##*/} dir=$SRV_CG flag=-E
	[ -n "${3:-}" ] && s=/$(basename "$(cg "$3")") dir=$(cg "$3")
	case $1 in
	off | none) return 0 ;;
	bt) bt_start "$dir" "$2"; return ;;
	l4) "$AGENT" --no-l7 $AGENT_OUT --host-cgroups "$s" $COND_ARGS $AGENT_ARGS > "$2.agent" 2>&1 & AGENT_PID=$!
		wait_log "$2.agent" "workload $s: counting traffic" || return 1 ;;
	l4all) "$AGENT" --no-l7 $AGENT_OUT $COND_ARGS $AGENT_ARGS > "$2.agent" 2>&1 & AGENT_PID=$! ;;
	l7)
		if [ -x "$AGENT" ]; then
			"$AGENT" $AGENT_OUT --host-cgroups "$s" --l7-cgroups "$s" $COND_ARGS $AGENT_ARGS > "$2.agent" 2>&1 &
			AGENT_PID=$!
			wait_log "$2.agent" "l7: capturing HTTP of $s" || return 1
		else
			"$DRIVER" "$SRV_CG" > "$2.driver" 2>&1 & DRIVER_PID=$!
		fi ;;
	l7e | l7n | l7s[0-9])   # the probe driver alone: empty programs, no in-kernel aggregation
		[ "$1" = l7n ] && flag=-N   # (every request through the ring buffer), or a cut path
		[ "${1#l7s}" != "$1" ] && flag="-S ${1#l7s}"
		"$DRIVER" $flag "$dir" > "$2.driver" 2>&1 & DRIVER_PID=$! ;;
	*) echo "bench: unknown condition $1" >&2; return 1 ;;
	esac
	if [ -n "$DRIVER_PID" ]; then
		for i in $(seq 200); do grep -q '"attached"' "$2.driver" && break; kill -0 $DRIVER_PID || break; sleep 0.05; done
		grep -q '"attached"' "$2.driver" || { echo "bench: driver failed: $(cat "$2.driver")" >&2; return 1; }
	fi
	if [ -n "$AGENT_PID" ] && ! wait_quiet "$AGENT_PID"; then
		echo "bench: agent exited: $(tail -3 "$2.agent")" >&2; return 1
	fi
	return 0
}
wrk_hdr() { [ "$1" = close ] && echo "-H 'Connection: close'"; }
run_wrk() {   # run_wrk LOAD_CGROUP PORT WORKLOAD OUTFILE
	sh -c "echo \$\$ > '$(cg "$1")/cgroup.procs' && exec taskset -c 0 wrk -t1 -c32 -d${DUR}s $(wrk_hdr "$3") http://127.0.0.1:$2/" \
		> "$4" 2>&1
}
rps_of() { awk '/Requests\/sec/{print $2}' "$1"; }
# the other load tools, in the load cgroup, pinned to CPU0 like wrk
run_dnsperf() {   # run_dnsperf LOAD_CGROUP PORT OUTFILE
	sh -c "echo \$\$ > '$(cg "$1")/cgroup.procs' && exec taskset -c 0 dnsperf -s 127.0.0.1 -p $2 -d '$WORK/queries' \
		-l $DUR -c 8 -q 100 -T 1 ${DNSPERF_ARGS:-}" > "$3" 2>&1
}
run_h2load() {   # run_h2load LOAD_CGROUP PORT OUTFILE
	sh -c "echo \$\$ > '$(cg "$1")/cgroup.procs' && exec taskset -c 0 h2load -t1 -c32 -m10 -D $DUR http://127.0.0.1:$2/" \
		> "$3" 2>&1
}
run_load() {   # run_load KIND LOAD_CGROUP PORT OUTFILE [WORKLOAD]: KIND http (wrk), dns, h2
	case $1 in
	http) run_wrk "$2" "$3" "${5:-ka}" "$4" ;;
	dns) run_dnsperf "$2" "$3" "$4" ;;
	h2) run_h2load "$2" "$3" "$4" ;;
	esac
}
rate_of() {   # rate_of KIND FILE: requests (queries) per second
	case $1 in
	http) rps_of "$2" ;;
	dns) awk '/Queries per second:/{print $4}' "$2" ;;
	h2) awk '/^finished in/{print $4}' "$2" ;;
	esac
}
done_of() {   # done_of KIND FILE: requests (queries) completed
	case $1 in
	http) awk '/requests in/{print $1}' "$2" ;;
	dns) awk '/Queries completed:/{print $3}' "$2" ;;
	h2) awk '/^requests:/{print $8}' "$2" ;;
	esac
}
# 40 names that exist and 8 that do not, A and AAAA: every query answered from dnsmasq's memory
dns_queries() {
	{ for i in $(seq 40); do echo "host$i.bench.test A"; done
	  for i in $(seq 8); do echo "host$i.bench.test AAAA"; echo "miss$i.nx.test A"; done; } > "$WORK/queries"
}
cg_usec() { awk '/^usage_usec/{print $2}' "$(cg "$1")/cpu.stat"; }
sched_us() {   # sched_us PID...: on-CPU time of the tasks (all threads), microseconds
	local p s=0 t
	for p in "$@"; do
		for t in /proc/"$p"/task/*/schedstat; do
			[ "$p" != 0 ] && [ -r "$t" ] && s=$((s + $(cut -d' ' -f1 "$t")))
		done
	done
	echo $((s / 1000))
}
# one dnscpu run: both twins at the fixed rate, twin MON monitored; the CPU of each twin's cgroups
run_dnscpu() {   # run_dnscpu COND ROUND MON
	local cond=$1 r=$2 mon=$3 log="$OUT/logs/dnscpu-r$2-$1" pa pid k ksi c0=() c1=() t0 t1 s0 s1 qa qb
	start_cond "$cond" "$log" "d$mon" || return 1
	pid=$(tool_pid)
	ksi=$(ps -eo pid=,comm= | awk '$2 ~ /^ksoftirqd\//{print $1}')
	for k in da ca db cb; do c0+=("$(cg_usec "$k")"); done
	t0=$(sched_us "$pid"); s0=$(sched_us $ksi)
	run_load dns ca "$DNS_PORT" "$log.load-a" &
	pa=$!
	run_load dns cb $((DNS_PORT + 1)) "$log.load-b"
	wait "$pa"
	for k in da ca db cb; do c1+=("$(cg_usec "$k")"); done
	t1=$(sched_us "$pid"); s1=$(sched_us $ksi)
	stop_cond
	qa=$(done_of dns "$log.load-a"); qb=$(done_of dns "$log.load-b")
	local sa=$((c1[0] - c0[0])) la=$((c1[1] - c0[1])) sb=$((c1[2] - c0[2])) lb=$((c1[3] - c0[3]))
	if [ "$mon" = a ]; then
		set -- "${qa:-0}" "${qb:-0}" "$sa" "$la" "$sb" "$lb"
	else
		set -- "${qb:-0}" "${qa:-0}" "$sb" "$lb" "$sa" "$la"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$cond" "$mon" "$DNSCPU_QPS" "$@" \
		$((t1 - t0)) $((s1 - s0)) >> "$OUT/dnscpu.tsv"
	echo "  dnscpu $r $cond monitored=$mon queries $1/$2 us/query $(awk -v q="$1" -v s="$3" -v l="$4" \
		-v Q="$2" -v S="$5" -v L="$6" 'BEGIN{printf "%.2f/%.2f", (s+l)/q, (S+L)/Q}')"
}
tool_pid() { echo "${AGENT_PID:-${BT_PID:-${DRIVER_PID:-0}}}"; }
pct_of() { awk -v a="$1" -v b="$2" -v t="$(getconf CLK_TCK)" -v d="$DUR" 'BEGIN{printf "%.2f", (b-a)/t/d*100}'; }

# one sequential run: cond, workload, round, kind (tput|stats) -> a TSV line in $OUT/runs.tsv
printf 'kind\tround\tworkload\tcond\trps\twrk_requests\tl7_events\tagent_cpu_pct\tagent_rss_kb\tdriver_cpu_pct\tdriver_rss_kb\tprogs\n' > "$OUT/runs.tsv"
printf 'round\tworkload\tcond\towner\tprog_id\tprog_name\tprog_type\truns\trun_ns\n' > "$OUT/bpf_stats.tsv"
printf 'round\tworkload\tcond\tmonitored\trps_monitored\trps_other\tagent_cpu_pct\tagent_rss_kb\n' > "$OUT/paired.tsv"
printf 'round\tcond\tmonitored\tqps\tq_mon\tq_other\tsrv_us_mon\tload_us_mon\tsrv_us_other\tload_us_other\ttool_us\tksoftirqd_us\n' \
	> "$OUT/dnscpu.tsv"
run_one() {
	local cond=$1 wl=$2 r=$3 kind=$4 log="$OUT/logs/$4-r$3-$2-$1" a0 a1 d0 d1 ids rps req ev
	start_cond "$cond" "$log" || return 1
	ids=$(prog_ids $AGENT_PID $DRIVER_PID)
	[ "$kind" = stats ] && bpftool prog show -j > "$log.pre.json"
	a0=$(cpu_ticks "${AGENT_PID:-0}"); d0=$(cpu_ticks "${DRIVER_PID:-0}")
	run_wrk cs0 "$PORT" "$wl" "$log.wrk"
	a1=$(cpu_ticks "${AGENT_PID:-0}"); d1=$(cpu_ticks "${DRIVER_PID:-0}")
	[ "$kind" = stats ] && bpftool prog show -j > "$log.post.json"
	local arss=0 drss=0
	[ -n "$AGENT_PID" ] && arss=$(rss_kb "$AGENT_PID")
	[ -n "$DRIVER_PID" ] && drss=$(rss_kb "$DRIVER_PID")
	stop_cond
	rps=$(rps_of "$log.wrk")
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

# one paired run: both servers loaded at once, server MON (a or b) monitored. PAIR_KIND (http, dns,
# h2), PAIR_SRV (cgroup name prefix of the servers: "", d, h) and PAIR_PORT (a's port, b's = +1)
# say which pair of servers.
PAIR_KIND=http PAIR_SRV= PAIR_PORT=$PORT
run_pair() {   # run_pair COND WORKLOAD ROUND MON
	local cond=$1 wl=$2 r=$3 mon=$4 log="$OUT/logs/pair-r$3-$2-$1" pa a0 a1 ra rb rm ro pid rss
	start_cond "$cond" "$log" "$PAIR_SRV$mon" || return 1
	pid=$(tool_pid)
	a0=$(cpu_ticks "$pid")
	run_load "$PAIR_KIND" ca "$PAIR_PORT" "$log.load-a" "$wl" &
	pa=$!
	run_load "$PAIR_KIND" cb $((PAIR_PORT + 1)) "$log.load-b" "$wl"
	wait "$pa"
	a1=$(cpu_ticks "$pid")
	rss=0; [ "$pid" != 0 ] && rss=$(rss_kb "$pid")
	stop_cond
	ra=$(rate_of "$PAIR_KIND" "$log.load-a"); rb=$(rate_of "$PAIR_KIND" "$log.load-b")
	if [ "$mon" = a ]; then rm=$ra ro=$rb; else rm=$rb ro=$ra; fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$wl" "$cond" "$mon" "${rm:-0}" "${ro:-0}" "$(pct_of "$a0" "$a1")" \
		"$rss" >> "$OUT/paired.tsv"
	echo "  pair $r $wl $cond monitored=$mon ${rm:-0} vs ${ro:-0}"
}
paired_rounds() {   # paired_rounds WORKLOAD ROUNDS COND...: a warm-up, then ROUNDS rounds alternating a/b
	local wl=$1 n=$2 r mon c
	shift 2
	run_pair none "$wl" 0 a || return 1   # warm-up, not counted
	for r in $(seq 1 "$n"); do
		mon=a; [ $((r % 2)) = 0 ] && mon=b
		for c in "$@"; do run_pair "$c" "$wl" "$r" "$mon" || return 1; done
	done
}

# one side-by-side run on server a alone, bpf_stats on: COND may join conditions with + (l7+bt:
# the agent and bpftrace on the same server at once). The agent writes JSON (one interval, flushed
# at exit); bench/side.py turns the agent's and bpftrace's outputs into a row of side.tsv.
run_side() {   # run_side COND WORKLOAD
	local cond=$1 wl=$2 log="$OUT/logs/side-$2-${1//+/-}" c ids bids a0 a1 b0 b1 arss=0 brss=0
	sysctl -qw kernel.bpf_stats_enabled=1
	for c in ${cond//+/ }; do
		AGENT_OUT="--output json --interval 3600" start_cond "$c" "$log" "${PAIR_SRV}a" || { stop_cond; return 1; }
	done
	ids=$(prog_ids $AGENT_PID); bids=$(prog_ids $BT_PID)
	bpftool prog show -j > "$log.pre.json"
	a0=$(cpu_ticks "${AGENT_PID:-0}"); b0=$(cpu_ticks "${BT_PID:-0}")
	run_load "$PAIR_KIND" ca "$PAIR_PORT" "$log.load" "$wl"
	a1=$(cpu_ticks "${AGENT_PID:-0}"); b1=$(cpu_ticks "${BT_PID:-0}")
	bpftool prog show -j > "$log.post.json"
	[ -n "$AGENT_PID" ] && arss=$(rss_kb "$AGENT_PID")
	[ -n "$BT_PID" ] && brss=$(rss_kb "$BT_PID")
	stop_cond
	sysctl -qw kernel.bpf_stats_enabled=0
	printf 'stats\t1\t%s\t%s\t%s\t%s\t-\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$cond" "$(rate_of "$PAIR_KIND" "$log.load")" \
		"$(done_of "$PAIR_KIND" "$log.load")" "$(pct_of "$a0" "$a1")" "$arss" "$(pct_of "$b0" "$b1")" "$brss" \
		"$(echo $ids $bids | tr ' ' ',')" >> "$OUT/runs.tsv"
	BENCH_DUR=$DUR python3 bench/side.py "$log" "$PAIR_KIND" "$wl" "$cond" "/$(basename "$(cg "${PAIR_SRV}a")")" \
		"$(done_of "$PAIR_KIND" "$log.load")" "$(pct_of "$a0" "$a1")" "$arss" "$(pct_of "$b0" "$b1")" "$brss" \
		"$ids" "$bids" "$OUT/side.tsv" "$OUT/bpf_stats.tsv"
	tail -n +2 "$OUT/side.tsv" | awk -F'\t' -v w="$wl" -v c="$cond" '$1 == w && $2 == c' | tr '\t' ' ' | sed 's/^/  side /'
}

echo "podlens bench: nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), wrk -t1 -c32 ${DUR}s, $ROUNDS sequential + $PAIRED_ROUNDS paired rounds, workloads: $WORKLOADS"
echo "phases: $PHASES (PROTO_ROUNDS $PROTO_ROUNDS)  conditions: ${CONDS[*]}  (l7 = $L7_DESC)   results: $OUT"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on these 2 CPUs makes every number noisy)"
sysctl -qw kernel.bpf_stats_enabled=0

if has_phase seq; then
	echo "phase 1: sequential rounds"
	start_nginx s0 "$PORT"
	N=${#CONDS[@]}
	for r in $(seq 1 "$ROUNDS"); do
		for wl in $WORKLOADS; do
			for k in $(seq 0 $((N - 1))); do
				run_one "${CONDS[$(((k + r - 1) % N))]}" "$wl" "$r" tput || exit 1
			done
		done
	done

	echo "phase 3: bpf_stats runs (kernel.bpf_stats_enabled=1, not used for ratios)"
	sysctl -qw kernel.bpf_stats_enabled=1
	# COST=1: also the cost build-up of the L7 programs (no in-kernel aggregation, then the path cut
	# after each stage; see l7_stage in bpf/l7.bpf.c)
	if [ -n "${COST:-}" ]; then STATS_CONDS+=(l7n); for st in ${COST_STAGES:-1 2 3 4}; do STATS_CONDS+=(l7s$st); done; fi
	for wl in $WORKLOADS; do
		for c in "${STATS_CONDS[@]}"; do run_one "$c" "$wl" 1 stats || exit 1; done
	done
	sysctl -qw kernel.bpf_stats_enabled=0
	stop_nginx
fi

if has_phase paired && [ "$PAIRED_ROUNDS" -gt 0 ]; then
	echo "phase 2: paired rounds (two servers at once, one monitored)"
	start_nginx a "$PORT"
	start_nginx b $((PORT + 1))
	for wl in $WORKLOADS; do run_pair none "$wl" 0 a || exit 1; done   # warm-up, not counted
	for r in $(seq 1 "$PAIRED_ROUNDS"); do
		mon=a; [ $((r % 2)) = 0 ] && mon=b
		for wl in $WORKLOADS; do
			for c in none l7e l4 l7; do run_pair "$c" "$wl" "$r" "$mon" || exit 1; done
		done
	done
	stop_nginx
fi

printf 'workload\tcond\ttool\tload_done\tcounted\tp50_us\tmean_us\tclient_mean_us\tcpu_pct\trss_kb\tbpf_runs\tbpf_runs_nodewide\tbpf_runs_server\tbpf_runs_per_req\tbpf_ns_per_run\tbpf_cpu_pct\n' \
	> "$OUT/side.tsv"
[ -x "$AGENT" ] || PROTO_ROUNDS=0
if has_phase dns && [ "$PROTO_ROUNDS" -gt 0 ]; then
	echo "phase 4 dns: dnsperf against dnsmasq, paired (queries/s), then one side-by-side run"
	dns_queries
	start_dns da "$DNS_PORT"
	start_dns db $((DNS_PORT + 1))
	PAIR_KIND=dns PAIR_SRV=d PAIR_PORT=$DNS_PORT COND_ARGS="--dns-ports $DNS_PORT,$((DNS_PORT + 1))"
	paired_rounds dns "$PROTO_ROUNDS" none l7e l7 || exit 1
	run_side l7 dns || exit 1
	stop_dns
	COND_ARGS=
fi
if has_phase dnscpu && [ "$DNSCPU_ROUNDS" -gt 0 ] && [ -x "$AGENT" ]; then
	echo "phase 4 dnscpu: dnsperf -Q $DNSCPU_QPS per twin against dnsmasq, CPU per query (cgroup cpu.stat)"
	dns_queries
	start_dns da "$DNS_PORT"
	start_dns db $((DNS_PORT + 1))
	COND_ARGS="--dns-ports $DNS_PORT,$((DNS_PORT + 1))"
	DNSPERF_ARGS=; [ "$DNSCPU_QPS" -gt 0 ] && DNSPERF_ARGS="-Q $DNSCPU_QPS"
	run_dnscpu none 0 a || exit 1   # warm-up, not counted
	for r in $(seq 1 "$DNSCPU_ROUNDS"); do
		mon=a; [ $((r % 2)) = 0 ] && mon=b
		for c in none l7e l7; do run_dnscpu "$c" "$r" "$mon" || exit 1; done
	done
	DNSPERF_ARGS= COND_ARGS=
	stop_dns
fi
if has_phase h2 && [ "$PROTO_ROUNDS" -gt 0 ]; then
	echo "phase 4 h2: h2load against nginx h2c, paired (requests/s), then one side-by-side run"
	start_nginx ha "$H2_PORT" http2
	start_nginx hb $((H2_PORT + 1)) http2
	PAIR_KIND=h2 PAIR_SRV=h PAIR_PORT=$H2_PORT COND_ARGS=$H2_AGENT_ARGS
	paired_rounds h2 "$PROTO_ROUNDS" none l7e l7 || exit 1
	run_side l7 h2 || exit 1
	stop_nginx
	COND_ARGS=
fi
if has_phase bt && [ -x "$AGENT" ]; then   # (the side-by-side run needs the agent's JSON)
	echo "phase 4 bt: bench/syscall_latency.bt (bpftrace) next to podlens, keep-alive nginx"
	bt_check
	start_nginx a "$PORT"
	start_nginx b $((PORT + 1))
	PAIR_KIND=http PAIR_SRV= PAIR_PORT=$PORT
	if [ -n "$BT_WHY" ]; then
		echo "  bpftrace unavailable: $BT_WHY"
		echo "$BT_WHY" > "$OUT/bt.unavailable"
		run_side l7 bt || exit 1
	else
		paired_rounds bt "$PROTO_ROUNDS" none bt l7 || exit 1
		run_side l7+bt bt || exit 1
	fi
	stop_nginx
fi
sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 bench/analyze.py "$OUT" "$L7_DESC" | tee "$OUT/summary.txt"
if [ "$(wc -l < "$OUT/dnscpu.tsv")" -gt 1 ]; then python3 bench/dns_cpu.py "$OUT/dnscpu.tsv" | tee -a "$OUT/summary.txt"; fi
