#!/bin/bash
# make bench-scale: the agent's own cost at 2,000 monitored workloads, then churn (issue 17). Not a test.
#
# N (2000) cgroups under one parent, /podlens-scale-<pid>/w<i>, each with one process: a sleeping one
# for most, and TRAFFIC (10) nginx servers (1 worker) plus TRAFFIC wrk clients (1 thread, WRK_CONNS
# connections, a Lua delay of WRK_DELAY_MS per request, so the load is paced, not flat out: about
# TRAFFIC x WRK_CONNS x 1000 / WRK_DELAY_MS requests/s in all, 10k by default; half the clients send
# Connection: close, so TCP opens and closes run too). Every one of them is a monitored workload of
# the agent (--host-cgroups /podlens-scale-<pid>/*, traffic attach mode "workloads"), the servers
# with HTTP capture (--l7-cgroups).
#
# Phases: create the cgroups and processes; start the agent and time until /metrics says all N are
# attached; STEADY seconds of traffic (agent CPU per INTERVAL from /proc/<pid>/stat, RSS, BPF map
# memory from bpftool map show (maps held by the agent), records per interval from its JSON output);
# then CYCLES (3) churn cycles: CHURN (500) sleeping workloads killed and their cgroups removed, as
# many new ones created, wait until N are attached again and two intervals passed, then RSS, map
# memory and the agent's cgroup links (bpftool link show): those on removed cgroups must be 0.
# Bounded: every wait has a deadline, the run stops starting new phases at 8 minutes. Cleans up every process
# (by PID) and cgroup it made, on any exit.
#
# Environment: N (2000) TRAFFIC (10) CHURN (500) CYCLES (3) STEADY (60) INTERVAL (5) WRK_CONNS (10)
#   WRK_DELAY_MS (10) PORT (18300: servers on PORT..PORT+TRAFFIC-1)
# Results: $BUILD/bench/scale-<time>/{summary.txt,agent.json,agent.log,cpu.tsv,wrk-*.txt}.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
N=${N:-2000} TRAFFIC=${TRAFFIC:-10} CHURN=${CHURN:-500} CYCLES=${CYCLES:-3} STEADY=${STEADY:-60}
INTERVAL=${INTERVAL:-5} WRK_CONNS=${WRK_CONNS:-10} WRK_DELAY_MS=${WRK_DELAY_MS:-10} PORT=${PORT:-18300}
AGENT=$BUILD/bin/podlens-agent
START=$(date +%s)
DEADLINE=$((START + 480))   # + cleanup (removing 2,000 cgroups takes ~70 s here): < 10 min

die() { echo "bench-scale: $*" >&2; exit 1; }
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root (BPF, cgroups)"
[ -x "$AGENT" ] || die "$AGENT missing: make all"
NGINX=$(command -v nginx || echo /usr/sbin/nginx); [ -x "$NGINX" ] || die "nginx missing (deps/bench.pkgs)"
command -v wrk >/dev/null || die "wrk missing (deps/bench.pkgs)"
command -v bpftool >/dev/null || die "bpftool missing"
[ $((2 * TRAFFIC + CHURN)) -le "$N" ] || die "N must hold the traffic workloads and one churn"
CG2=$(cg2_root) || exit 1

OUT=$top/$BUILD/bench/scale-$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$OUT/www"
head -c 1024 /dev/zero | tr '\0' x > "$OUT/www/index.html"
PARENT=/podlens-scale-$$
mkdir "$CG2$PARENT" || die "mkdir $CG2$PARENT"
declare -A PID_OF       # cgroup name -> the PID living in it
APID=

cleanup() {
	local n d
	[ -n "$APID" ] && kill -TERM "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
	for n in "${!PID_OF[@]}"; do kill -KILL "${PID_OF[$n]}" 2>/dev/null; done
	for n in "${!PID_OF[@]}"; do wait "${PID_OF[$n]}" 2>/dev/null; done
	for d in "$CG2$PARENT"/*/; do
		[ -d "$d" ] || continue
		for n in $(seq 100); do [ -z "$(cat "$d/cgroup.procs" 2>/dev/null)" ] && break; sleep 0.05; done
		rmdir "$d" 2>/dev/null
	done
	rmdir "$CG2$PARENT" 2>/dev/null || echo "bench-scale: could not remove $CG2$PARENT" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

left() { [ "$(date +%s)" -lt "$DEADLINE" ]; }
# spawn NAME CMD...: mkdir the cgroup, run CMD inside it from its first instruction
spawn() {
	local name=$1; shift
	mkdir "$CG2$PARENT/$name" || return 1
	sh -c "echo \$\$ > '$CG2$PARENT/$name/cgroup.procs' && exec \"\$@\"" sh "$@" >/dev/null 2>&1 &
	PID_OF[$name]=$!
}
# remove NAME: kill its process, wait for it, rmdir the cgroup
remove() {
	local d=$CG2$PARENT/$1 i
	kill -KILL "${PID_OF[$1]}" 2>/dev/null
	wait "${PID_OF[$1]}" 2>/dev/null
	unset "PID_OF[$1]"
	for i in $(seq 100); do [ -z "$(cat "$d/cgroup.procs" 2>/dev/null)" ] && break; sleep 0.01; done
	rmdir "$d"
}

metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m {print $2; exit}'; }
attached() { metric podlens_workloads_attached; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$APID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$APID/stat"; }
# BPF objects the agent holds, from its fds' fdinfo (map_id/memlock of maps; link_id, prog_id and
# cgroup_id of links): bpftool's pids column needs a bpftool built with skeletons, this does not
# (one awk over every fdinfo file: a cat per fd is 8,000 forks at 2,000 workloads, minutes under load)
bpf_fdinfo() { awk 'FNR == 1 {print "@ " FILENAME} {print}' /proc/$APID/fdinfo/* 2>/dev/null; }
map_kib() {
	bpf_fdinfo | awk 'function flush() {if (id != "" && !seen[id]++) s += m; id = ""; m = 0}
		$1 == "@" {flush()} $1 == "map_id:" {id = $2} $1 == "memlock:" {m = $2} END {flush(); printf "%d", s / 1024}'
}
maps_n() { bpf_fdinfo | awk '$1 == "map_id:" {seen[$2] = 1} END {print length(seen)}'; }
# the agent's cgroup links: all, and those whose cgroup is one of the removed ones ($OUT/removed.ids)
# or gone (the kernel shows cgroup_id 0 once it released the cgroup)
link_cgroups() {
	bpf_fdinfo | awk '$1 == "@" {c = 0} $1 == "link_type:" {c = ($2 == "cgroup")} $1 == "cgroup_id:" && c {print $2}'
}
links_all() { link_cgroups | wc -l; }
links_removed() { link_cgroups | awk 'NR == FNR {gone[$1] = 1; next} $1 == 0 || ($1 in gone) {n++} END {print n + 0}' "$OUT/removed.ids" -; }
wait_attached() {   # wait_attached N SECONDS
	local end=$(($(date +%s) + $2))
	while [ "$(attached)" != "$1" ]; do
		[ "$(date +%s)" -lt "$end" ] && left || return 1
		sleep 0.2
	done
}
intervals_seen() { jq -r .ts "$OUT/agent.json" 2>/dev/null | sort -u | wc -l; }
wait_intervals() {   # wait_intervals K: K more interval outputs
	local want=$(($(intervals_seen) + $1)) end=$(($(date +%s) + $1 * INTERVAL + 20))
	while [ "$(intervals_seen)" -lt "$want" ]; do
		[ "$(date +%s)" -lt "$end" ] && left || return 1
		sleep 0.5
	done
}

# ---------------------------------------------------------------- workloads
echo "bench-scale: creating $N cgroups under $CG2$PARENT ($TRAFFIC servers + $TRAFFIC clients with traffic)"
for i in $(seq "$TRAFFIC"); do
	d=$OUT/nginx$i; mkdir -p "$d/tmp" "$d/logs"
	cat > "$d/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 1024; use epoll; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $d/tmp/body; proxy_temp_path $d/tmp/proxy; fastcgi_temp_path $d/tmp/fcgi;
    uwsgi_temp_path $d/tmp/uwsgi; scgi_temp_path $d/tmp/scgi;
    types { text/html html; }
    server { listen 127.0.0.1:$((PORT + i - 1)); root $OUT/www; location / { index index.html; } }
}
EOF
	spawn "srv$i" "$NGINX" -c "$d/nginx.conf" -p "$d/" || die "spawn srv$i"
done
for i in $(seq $((N - 2 * TRAFFIC))); do spawn "w$i" sleep 100000 || die "spawn w$i"; done
t_created=$(date +%s)

"$AGENT" --output json --interval "$INTERVAL" --cgroup-root "$(dirname "$CG2")" --host-cgroups "$PARENT/*" \
	--l7-cgroups "$PARENT/srv*" --metrics-addr 127.0.0.1:0 >"$OUT/agent.json" 2>"$OUT/agent.log" &
APID=$!
t0=$(date +%s%N)
for i in $(seq 200); do grep -q "serving /metrics" "$OUT/agent.log" && break; sleep 0.1; done
MPORT=$(sed -n 's/.*serving \/metrics.*(port \([0-9]*\)).*/\1/p' "$OUT/agent.log")
[ -n "$MPORT" ] || die "agent did not start: $(tail -3 "$OUT/agent.log")"
wait_attached $((N - TRAFFIC)) 120 || die "attached $(attached) of $((N - TRAFFIC)) after 120 s"
t_attach_ms=$((($(date +%s%N) - t0) / 1000000))
echo "bench-scale: $((N - TRAFFIC)) workloads attached $t_attach_ms ms after the agent started"

# clients last: each in its own (monitored) cgroup, created while the agent runs
cat > "$OUT/pace.lua" <<EOF
function delay() return $WRK_DELAY_MS end
EOF
WRK_SECS=$((STEADY + CYCLES * 60 + 60))
for i in $(seq "$TRAFFIC"); do
	hdr=(); [ $((i % 2)) = 0 ] && hdr=(-H "Connection: close")
	mkdir "$CG2$PARENT/cli$i"
	sh -c "echo \$\$ > '$CG2$PARENT/cli$i/cgroup.procs' && exec wrk -t1 -c$WRK_CONNS -d${WRK_SECS}s --latency -s '$OUT/pace.lua' \"\$@\" http://127.0.0.1:$((PORT + i - 1))/" \
		sh "${hdr[@]}" >"$OUT/wrk-$i.txt" 2>&1 &
	PID_OF[cli$i]=$!
done
wait_attached "$N" 30 || die "attached $(attached) of $N with the clients"

# ---------------------------------------------------------------- steady state
wait_intervals 1 || die "no interval output"
rss0=$(rss_kib) map0=$(map_kib) nmaps=$(maps_n)
echo -e "interval\tagent_cpu_pct\trecords\trss_kib" > "$OUT/cpu.tsv"
k=$((STEADY / INTERVAL)); c_prev=$(cpu_ticks); t_prev=$(date +%s%N); ts_prev=$(jq -r .ts "$OUT/agent.json" | tail -1)
hz=$(getconf CLK_TCK)
for j in $(seq "$k"); do
	wait_intervals 1 || break
	c=$(cpu_ticks); t=$(date +%s%N)
	ts=$(jq -r .ts "$OUT/agent.json" | tail -1)
	recs=$(jq -r --arg t "$ts" 'select(.ts == $t) | 1' "$OUT/agent.json" | wc -l)
	pct=$(awk -v c=$((c - c_prev)) -v hz="$hz" -v ns=$((t - t_prev)) 'BEGIN {printf "%.2f", 100 * c / hz / (ns / 1e9)}')
	echo -e "$j\t$pct\t$recs\t$(rss_kib)" >> "$OUT/cpu.tsv"
	c_prev=$c t_prev=$t
done
rss1=$(rss_kib) map1=$(map_kib)
# requests/s so far, from the servers' side: the agent's own HTTP counts would be circular; nginx has
# no counter without a module, so the clients' totals are read at the end

# ---------------------------------------------------------------- churn
: > "$OUT/removed.ids"
echo -e "cycle\tremove_s\tcreate_s\treattach_s\trss_kib\tmap_kib\tlinks\tlinks_on_removed\tattached" > "$OUT/churn.tsv"
next=$((N - 2 * TRAFFIC + 1))
for cyc in $(seq "$CYCLES"); do
	left || break
	victims=($(printf '%s\n' "${!PID_OF[@]}" | grep '^w' | shuf -n "$CHURN"))
	tr0=$(date +%s%N)
	# all at once, as a node draining pods would
	for v in "${victims[@]}"; do stat -c %i "$CG2$PARENT/$v" >> "$OUT/removed.ids"; kill -KILL "${PID_OF[$v]}"; done
	for v in "${victims[@]}"; do remove "$v"; done
	tr1=$(date +%s%N)
	for i in $(seq "$CHURN"); do spawn "w$next" sleep 100000; next=$((next + 1)); done
	tr2=$(date +%s%N)
	wait_attached "$N" 120 || echo "bench-scale: cycle $cyc: attached $(attached) of $N after 120 s" >&2
	tr3=$(date +%s%N)
	wait_intervals 2
	echo -e "$cyc\t$(((tr1 - tr0) / 1000000))\t$(((tr2 - tr1) / 1000000))\t$(((tr3 - tr2) / 1000000))\t$(rss_kib)\t$(map_kib)\t$(links_all)\t$(links_removed)\t$(attached)" >> "$OUT/churn.tsv"
done

# ---------------------------------------------------------------- results
for i in $(seq "$TRAFFIC"); do kill -INT "${PID_OF[cli$i]}" 2>/dev/null; done
for i in $(seq "$TRAFFIC"); do wait "${PID_OF[cli$i]}" 2>/dev/null; unset "PID_OF[cli$i]"; done
rps=$(cat "$OUT"/wrk-*.txt | awk '$1 == "Requests/sec:" {s += $2} END {printf "%.0f", s}')
cpu_med=$(tail -n +2 "$OUT/cpu.tsv" | cut -f2 | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
cpu_max=$(tail -n +2 "$OUT/cpu.tsv" | cut -f2 | sort -n | tail -1)
rec_med=$(tail -n +2 "$OUT/cpu.tsv" | cut -f3 | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
{
	echo "bench-scale $(date -u +%FT%TZ), kernel $(uname -r), $(nproc) CPUs, $(git rev-parse --short HEAD 2>/dev/null)"
	echo "workloads: $N ($TRAFFIC nginx + $TRAFFIC wrk with traffic, the rest sleeping), interval ${INTERVAL}s"
	echo "created $((N - TRAFFIC)) cgroups + processes in $((t_created - START)) s"
	echo "time to attach all $((N - TRAFFIC)) (agent start -> /metrics podlens_workloads_attached): $t_attach_ms ms"
	echo "HTTP load: $rps requests/s in all (wrk, paced; half Connection: close)"
	echo "agent CPU per interval (% of one core), steady: median $cpu_med, max $cpu_max (cpu.tsv)"
	echo "records per interval: median $rec_med"
	echo "RSS: $rss0 KiB after attach, $rss1 KiB after ${STEADY}s of traffic"
	echo "BPF map memory (bytes_memlock, $nmaps maps held by the agent): $map0 KiB after attach, $map1 KiB after steady"
	echo "churn ($CHURN removed + $CHURN created per cycle):"
	column -t "$OUT/churn.tsv" | sed 's/^/  /'
} | tee "$OUT/summary.txt"
echo "bench-scale: results in $OUT"
