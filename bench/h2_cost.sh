#!/usr/bin/env bash
# bench/h2_cost.sh: the HTTP/2 kernel path's cost, stage by stage and build against build, under
# the h2 phase's load (bench/run.sh: nginx h2c on CPU1 serving 1 KiB, h2load -t1 -c32 -m10 on CPU0).
# Every condition attaches one l7-probe-test (the L7 programs alone, no agent) to nginx's cgroup,
# runs h2load for DUR seconds with kernel.bpf_stats_enabled=1 and prints the programs' runs and ns
# per run. Conditions are run interleaved, REPS times, so they share the machine's state.
#
#   sudo bench/h2_cost.sh                    # STAGES="E 1 2 3 4 0" with build/test-bin/l7-probe-test
#   sudo DRIVERS="before:/tmp/a after:build/test-bin/l7-probe-test" STAGES="E 0" bench/h2_cost.sh
#
# Stages (l7_stage, bpf/l7.bpf.c): E empty programs (dispatch + bpf_stats), 1 header parse, 2 +
# payload load and classification, 3 + sk_storage_get, 4 + the frame walk into the per-CPU batch,
# never sent to the ring (a kept batch's rest is still read at the probe's harvests), 0 the full
# path (batches sent when full, decoded). DRIVERS binaries may be wrapper scripts (extra flags,
# perf record) that exec l7-probe-test with their arguments.
# Env: DUR (10), REPS (2), PORT (18620), DRIVERS ("cur:build/test-bin/l7-probe-test"), STAGES,
# LOAD_CPU (0; 1 = h2load on nginx's CPU: every HTTP/2 record is CPU 1's and CPU 0's reorder mark
# stays put, which exercises the probe's early reads of the kept batches, h2_flushes).
# Output: one line per run, then a summary (median of the REPS runs per driver and stage); each
# driver's own output (its JSON stats: h2_drops, h2_flushes, h2_forced) in $OUT/logs.
# The whole agent as a driver (its pl_pkt_* programs, L4 and L7 in one; AGENT_ARGS=--no-l7: L4
# alone): bench/h2_cost_agent.sh, e.g. DRIVERS="probe:build/test-bin/l7-probe-test
# agent:bench/h2_cost_agent.sh" (a wrapper script setting AGENT=... for another build).
set -u
cd "$(dirname "$0")/.."
DUR=${DUR:-10} REPS=${REPS:-2} PORT=${PORT:-18620} LOAD_CPU=${LOAD_CPU:-0}
STAGES=${STAGES:-E 1 2 3 4 0}
DRIVERS=${DRIVERS:-cur:build/test-bin/l7-probe-test}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
die() { echo "h2_cost: $*" >&2; exit 1; }
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root"
command -v h2load >/dev/null || die "h2load missing (deps/bench.pkgs: nghttp2-client)"
[ -x "$NGINX" ] || die "nginx missing"
CG2=$(cg2_root) || exit 1
OUT=${OUT:-build/bench/h2cost-$(date +%Y%m%d-%H%M%S)}
WORK=$(mktemp -d /tmp/podlens-h2cost.XXXXXX)
mkdir -p "$OUT" "$WORK/www" "$WORK/tmp" "$WORK/logs"
chmod 755 "$WORK"
head -c 1024 /dev/zero | tr '\0' 'a' > "$WORK/www/index.html"
SRV=$CG2/podlens-h2cost-$$-srv LOAD=$CG2/podlens-h2cost-$$-load
NGINX_PID= DRIVER_PID=
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	[ -n "$DRIVER_PID" ] && kill "$DRIVER_PID" 2>/dev/null && wait "$DRIVER_PID" 2>/dev/null
	[ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	for c in "$SRV" "$LOAD"; do
		[ -d "$c" ] || continue
		for i in $(seq 50); do rmdir "$c" 2>/dev/null && break; sleep 0.1; done
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
mkdir "$SRV" "$LOAD" || die "cgroups"
nginx_conf "$WORK" "$PORT" "$WORK/www" http2
sh -c "echo \$\$ > '$SRV/cgroup.procs' && exec taskset -c 1 '$NGINX' -c '$WORK/nginx.conf' -p '$WORK/'" \
	2> "$WORK/logs/nginx.err" &
NGINX_PID=$!
for i in $(seq 100); do curl --http2-prior-knowledge -sf -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
curl --http2-prior-knowledge -sf -o /dev/null "http://127.0.0.1:$PORT/" || die "nginx: $(cat "$WORK/logs/nginx.err")"

echo "h2_cost: DUR=$DUR REPS=$REPS STAGES=\"$STAGES\" DRIVERS=\"$DRIVERS\" results: $OUT"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'rep\tdriver\tstage\treq_per_s\trequests\tcounted\truns_in\tns_in\truns_out\tns_out\n' > "$OUT/runs.tsv"
sysctl -qw kernel.bpf_stats_enabled=1
for rep in $(seq "$REPS"); do
	for d in $DRIVERS; do
		name=${d%%:*} bin=${d#*:}
		[ -x "$bin" ] || die "$bin: not executable"
		for st in $STAGES; do
			log=$WORK/logs/$rep-$name-$st flag="-S $st"
			[ "$st" = E ] && flag=-E
			"$bin" $flag "$SRV" > "$log.driver" 2>&1 &
			DRIVER_PID=$!
			for i in $(seq 200); do grep -q '"attached"' "$log.driver" && break; sleep 0.05; done
			grep -q '"attached"' "$log.driver" || die "driver: $(cat "$log.driver")"
			ids=$(head -1 "$log.driver" | jq -r '"\(.ingress_prog_id) \(.egress_prog_id)"')
			bpftool prog show -j > "$log.pre"
			sh -c "echo \$\$ > '$LOAD/cgroup.procs' && exec taskset -c $LOAD_CPU h2load -t1 -c32 -m10 -D $DUR \
				http://127.0.0.1:$PORT/" > "$log.load" 2>&1
			bpftool prog show -j > "$log.post"
			kill -INT "$DRIVER_PID"
			wait "$DRIVER_PID"
			DRIVER_PID=
			mkdir -p "$OUT/logs" && cp "$log.driver" "$OUT/logs/"   # its stats: drops, flushes
			python3 - "$log" "$ids" "$rep" "$name" "$st" >> "$OUT/runs.tsv" <<'PY'
import json, re, sys
log, ids, rep, name, st = sys.argv[1:6]
pin, pout = (int(x) for x in ids.split())
pre = {p["id"]: p for p in json.load(open(log + ".pre"))}
post = {p["id"]: p for p in json.load(open(log + ".post"))}
def d(i, k):
    return post[i].get(k, 0) - pre[i].get(k, 0)
text = open(log + ".load").read()
rps = re.search(r"finished in [^,]+, ([0-9.]+) req/s", text)
req = re.search(r"requests: \d+ total, \d+ started, (\d+) done", text)
counted = 0
for ln in open(log + ".driver"):
    if ln.startswith('{"cgroups"'):
        for c in json.loads(ln)["cgroups"]:
            counted += sum(r.get("count", 0) for r in c.get("http2", []))
print("\t".join(str(x) for x in (rep, name, st, rps.group(1) if rps else 0, req.group(1) if req else 0, counted,
                                 d(pin, "run_cnt"), d(pin, "run_time_ns"), d(pout, "run_cnt"), d(pout, "run_time_ns"))))
PY
			tail -1 "$OUT/runs.tsv" | awk -F'\t' '{printf "  %s %-8s stage %s  %8.0f req/s  in %6.1f ns/run  out %6.1f ns/run  runs/req %.2f  counted %s/%s\n",
				$1, $2, $3, $4, $8 / ($7 ? $7 : 1), $10 / ($9 ? $9 : 1), ($7 + $9) / ($5 ? $5 : 1), $6, $5}'
		done
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT/runs.tsv" <<'PY' | tee "$OUT/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("driver    stage  req/s   ns/run in  ns/run out  ns/run all  runs/req  (median of %d)" % max(int(r["rep"]) for r in rows))
seen = []
for r in rows:
    if (r["driver"], r["stage"]) not in seen:
        seen.append((r["driver"], r["stage"]))
med = lambda xs: statistics.median(xs)
for dr, st in seen:
    rs = [r for r in rows if r["driver"] == dr and r["stage"] == st]
    f = lambda r, k: float(r[k])
    print("%-9s %-5s %7.0f %11.1f %11.1f %11.1f %9.2f" % (dr, st, med([f(r, "req_per_s") for r in rs]),
          med([f(r, "ns_in") / max(f(r, "runs_in"), 1) for r in rs]),
          med([f(r, "ns_out") / max(f(r, "runs_out"), 1) for r in rs]),
          med([(f(r, "ns_in") + f(r, "ns_out")) / max(f(r, "runs_in") + f(r, "runs_out"), 1) for r in rs]),
          med([(f(r, "runs_in") + f(r, "runs_out")) / max(f(r, "requests"), 1) for r in rs])))
PY
