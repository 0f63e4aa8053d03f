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
# Environment: ROUNDS (6), DUR (wrk seconds, 4), WORKLOAD (close; or ka), PORT (18290; PORT, PORT+1).
# Everything it starts is stopped by PID; cgroups and the sysctl are restored on exit.
set -uo pipefail
die() { echo "ab_agent: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: bench/ab_agent.sh AGENT_A AGENT_B [agent args]"
A=$(realpath "$1") B=$(realpath "$2")
shift 2
[ -x "$A" ] && [ -x "$B" ] || die "agents must be executable"
[ "$(id -u)" = 0 ] || die "needs root (BPF, cgroups)"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs"
NGINX=$(command -v nginx || echo /usr/sbin/nginx); [ -x "$NGINX" ] || die "nginx missing (deps/bench.pkgs)"
command -v wrk >/dev/null || die "wrk missing (deps/bench.pkgs)"
ROUNDS=${ROUNDS:-6} DUR=${DUR:-4} WORKLOAD=${WORKLOAD:-close} PORT=${PORT:-18290}
if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then CG2=/sys/fs/cgroup/unified
elif [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then CG2=/sys/fs/cgroup
else die "no cgroup2 hierarchy"; fi
for p in "$PORT" $((PORT + 1)); do
	ss -Hltn "sport = :$p" | grep -q . && die "port $p busy (PORT=...)"
done
W=$(mktemp -d /tmp/podlens-abagent.XXXXXX)
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
cg() { echo "$CG2/podlens-abagent-$$-$1"; }
NGINX_PIDS=() PA= PB=
stop() { [ -n "$1" ] && kill -TERM "$1" 2>/dev/null && wait "$1" 2>/dev/null; return 0; }
cleanup() {
	local p c i
	stop "$PA"; stop "$PB"
	for p in "${NGINX_PIDS[@]}"; do kill -QUIT "$p" 2>/dev/null; done
	for p in "${NGINX_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	for c in a b ca cb; do
		for i in $(seq 20); do rmdir "$(cg $c)" 2>/dev/null && break; [ -d "$(cg $c)" ] || break; sleep 0.1; done
	done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for c in a b ca cb; do mkdir "$(cg $c)" || die "mkdir cgroup"; done
chmod 755 "$W"
mkdir -p "$W/www"
head -c 1024 /dev/zero | tr '\0' 'a' > "$W/www/index.html"
for s in a b; do
	d=$W/$s port=$PORT
	[ $s = b ] && port=$((PORT + 1))
	mkdir -p "$d/tmp" "$d/logs"
	cat > "$d/nginx.conf" <<EOC
worker_processes 1;
worker_cpu_affinity 10;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 1024; use epoll; multi_accept off; }
http {
    access_log off; sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_requests 1000000; keepalive_timeout 65; open_file_cache max=100 inactive=60s;
    client_body_temp_path $d/tmp/body; proxy_temp_path $d/tmp/proxy; fastcgi_temp_path $d/tmp/fcgi;
    uwsgi_temp_path $d/tmp/uwsgi; scgi_temp_path $d/tmp/scgi;
    types { text/html html; }
    server { listen 127.0.0.1:$port; root $W/www; location / { index index.html; } }
}
EOC
	sh -c "echo \$\$ > '$(cg $s)/cgroup.procs' && exec taskset -c 1 '$NGINX' -c '$d/nginx.conf' -p '$d/'" \
		2> "$d/logs/stderr" &
	NGINX_PIDS+=($!)
	ok=
	for i in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && ok=1 && break; sleep 0.1; done
	[ -n "$ok" ] || die "nginx $s did not come up: $(cat "$d/logs/stderr")"
done
hdr=
[ "$WORKLOAD" = close ] && hdr="-H 'Connection: close'"
wrk_on() {   # wrk_on LOADCG PORT OUT
	sh -c "echo \$\$ > '$(cg "$1")/cgroup.procs' && exec taskset -c 0 wrk -t1 -c32 -d${DUR}s $hdr http://127.0.0.1:$2/" > "$3" 2>&1
}
ids_of() { grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un | tr '\n' ,; }
sysctl -qw kernel.bpf_stats_enabled=1
echo "ab_agent: A = $A"
echo "ab_agent: B = $B"
echo "ab_agent: $WORKLOAD, $ROUNDS rounds of ${DUR}s, agent args: --no-l7 --output none --host-cgroups /<server> $*"
for r in $(seq "$ROUNDS"); do
	sa=a sb=b
	[ $((r % 2)) = 0 ] && sa=b sb=a
	"$A" --no-l7 --output none --host-cgroups "/$(basename "$(cg $sa)")" "$@" > "$W/a.log" 2>&1 & PA=$!
	"$B" --no-l7 --output none --host-cgroups "/$(basename "$(cg $sb)")" "$@" > "$W/b.log" 2>&1 & PB=$!
	for i in $(seq 600); do
		grep -q "counting traffic" "$W/a.log" && grep -q "counting traffic" "$W/b.log" && break
		kill -0 "$PA" 2>/dev/null && kill -0 "$PB" 2>/dev/null || break
		sleep 0.05
	done
	grep -q "counting traffic" "$W/a.log" && grep -q "counting traffic" "$W/b.log" ||
		die "an agent did not attach: $(tail -n 2 "$W/a.log" "$W/b.log")"
	ida=$(ids_of "$PA") idb=$(ids_of "$PB")
	bpftool prog show -j > "$W/pre.json"
	wrk_on ca "$PORT" "$W/wrk-a" &
	pw=$!
	wrk_on cb $((PORT + 1)) "$W/wrk-b"
	wait "$pw"
	bpftool prog show -j > "$W/post.json"
	stop "$PA"; stop "$PB"; PA= PB=
	python3 - "$W" "$sa" "$r" "$ida" "$idb" <<'PY' | tee -a "$W/rows"
import json, re, sys
w, sa, r, ida, idb = sys.argv[1:]
pre = {p["id"]: p for p in json.load(open(f"{w}/pre.json"))}
post = {p["id"]: p for p in json.load(open(f"{w}/post.json"))}
def wrk(f):
    t = open(f).read()
    return float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)), int(re.search(r"(\d+) requests in", t).group(1))
wa, wb = (f"{w}/wrk-a", f"{w}/wrk-b") if sa == "a" else (f"{w}/wrk-b", f"{w}/wrk-a")
(ra, na), (rb, nb) = wrk(wa), wrk(wb)
cols = [f"{int(r):>3}", f"{ra / rb:.4f}"]
for side, ids, n in (("A", ida, na), ("B", idb, nb)):
    for i in sorted(int(x) for x in ids.split(",") if x):
        p, q = post.get(i), pre.get(i)
        if not p or not q or p.get("type") not in ("cgroup_skb", "sock_ops"):
            continue
        runs = p.get("run_cnt", 0) - q.get("run_cnt", 0)
        if runs:
            cols.append(f"{side}:{p['name']}={(p.get('run_time_ns', 0) - q.get('run_time_ns', 0)) / runs:.0f}ns*{runs / n:.2f}")
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
