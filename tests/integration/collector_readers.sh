#!/bin/bash
# API reads never delay ingest (issue 18, item 4). On a database where the heaviest queries take
# 0.3-2 s (seeded with collector-bench: 2000 batches, 780k records), a steady exporter (python
# grpcio, READERS_RATE exports/s for READERS_SECS s) runs alone, then next to 20 API readers in a
# separate process hammering pods/edges/series/routes over the whole range plus /metrics and
# /healthz. Asserted: every export answered OK and stored exactly once (rows and byte sums of the
# test's own batches), every read answered with its JSON or a 503 (budget error or queue full;
# never a partial body), 40 of 40 fresh-connection /healthz probes answered within the Helm
# chart's livenessProbe timeout (curl --max-time 2) while 20 readers hammer the query workers,
# SIGTERM under load exits 0 with the API thread and the workers joined, a tight --query-budget
# answers 503 naming the budget while /healthz and ingest go on, a full query queue answers 503
# with Retry-After at once. Reported, not asserted: export p50/p99 in both phases.
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
cd "$TOP"

RATE=${READERS_RATE:-20}
SECS=${READERS_SECS:-30}
N=$(( RATE * SECS ))
BENCH=$TOP/$BUILD/test-bin/collector-bench
WORK=$(mktemp -d /tmp/podlens-collector-readers.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }
readers() { PODLENS_PY=$PYDIR "$PY" "$TOP/tests/integration/collector/readers.py" "$@"; }

# --- a database with heavy queries: 2000 intervals of 10 s from F (collector-bench's shape)
"$BENCH" "$WORK/data" --batches 2000 > "$WORK/bench.out" 2>&1 ||
	{ cat "$WORK/bench.out" >&2; tap_fail "seed the database with collector-bench"; exit 1; }
F=1700000400000
T=$(( F + 2000 * 10000 ))

# --- flags
for bad in 0 5ms abc 601s; do
	"$COLLECTOR_BIN" --query-budget "$bad" --data-dir "$WORK/never" >/dev/null 2>&1
	check_eq "$?" 2 "--query-budget $bad refused (exit 2)"
done
for bad in 0 65 -1 2x ''; do
	"$COLLECTOR_BIN" --query-workers "$bad" --data-dir "$WORK/never" >/dev/null 2>&1
	check_eq "$?" 2 "--query-workers '$bad' refused (exit 2)"
done
for bad in 0 4097 abc; do
	"$COLLECTOR_BIN" --query-queue "$bad" --data-dir "$WORK/never" >/dev/null 2>&1
	check_eq "$?" 2 "--query-queue '$bad' refused (exit 2)"
done

WORKERS=${READERS_WORKERS:-2}    # the measure with another pool size: READERS_WORKERS=1
start_collector C --data-dir "$WORK/data" --retention 5000d --query-workers "$WORKERS" ||
	{ tap_fail "collector starts"; exit 1; }
check_eq "$(grep -c podlens-api /proc/$C_PID/task/*/comm 2>/dev/null | awk -F: '{s+=$2} END {print s}')" 1 \
	"the collector runs one API thread (podlens-api)"
check_eq "$(grep -c podlens-query /proc/$C_PID/task/*/comm 2>/dev/null | awk -F: '{s+=$2} END {print s}')" "$WORKERS" \
	"and $WORKERS query workers (podlens-query, --query-workers)"

# --- export latency alone, then under 20 readers
out=$(readers measure "127.0.0.1:$C_GRPC" "127.0.0.1:$C_HTTP" --from $F --to $T --budget-ms 2000 \
	--rate "$RATE" --secs "$SECS" --readers 20 --tmp "$WORK/m")
echo "$out" | sed 's/^/# /'
idle=$(echo "$out" | grep '^phase=idle')
busy=$(echo "$out" | grep '^phase=readers')
gone() { [ ! -e "/proc/$1" ] || grep -q '^[0-9]* (.*) Z' "/proc/$1/stat"; }   # exited (maybe unreaped)
kv() { echo "$1" | grep -o " $2=[^ ]*" | cut -d= -f2; }
check_eq "$(kv "$idle" ok)/$(kv "$idle" errors)" "$N/0" "exporter alone: all $N exports answered OK"
check_eq "$(kv "$busy" ok)/$(kv "$busy" errors)" "$N/0" "exporter under 20 readers: all $N exports answered OK"
check_eq "$(kv "$busy" reads_bad)" 0 "every read got its JSON (or /metrics, /healthz) or a 503 (budget, queue full)"
check_ge "$(kv "$busy" reads_ok)" 20 "readers got answers (200) during the measure"
check_ge "$(kv "$busy" health_n)" 1 "/healthz and /metrics answered while readers hammer the API"
diag "export latency, $RATE/s for ${SECS}s: alone p50 $(kv "$idle" p50_ms) ms p99 $(kv "$idle" p99_ms) ms" \
	"max $(kv "$idle" max_ms) ms; with 20 readers p50 $(kv "$busy" p50_ms) ms p99 $(kv "$busy" p99_ms) ms" \
	"max $(kv "$busy" max_ms) ms; ratio p99 $(awk -v a="$(kv "$busy" p99_ms)" -v b="$(kv "$idle" p99_ms)" \
	'BEGIN {printf "%.2f", a / b}')"
diag "reads: $(kv "$busy" reads_ok) x 200, $(kv "$busy" reads_503) x 503 over budget," \
	"$(kv "$busy" reads_full) x 503 queue full;" \
	"/healthz under load p50 $(kv "$busy" health_p50_ms) ms max $(kv "$busy" health_max_ms) ms"

# --- SIGTERM while readers are at it: the API thread finishes its request, is joined, exit 0
readers read "127.0.0.1:$C_HTTP" --from $F --to $T --budget-ms 2000 --threads 20 --stop "$WORK/stop" \
	--out "$WORK/rd.json" --max-secs 60 &
RD=$!
defer "touch '$WORK/stop'; kill $RD 2>/dev/null; wait $RD 2>/dev/null"
wait_for 30 "20 readers with a request in flight" test -e "$WORK/rd.json.started"

# --- the chart's livenessProbe (/healthz, timeoutSeconds 2) while the readers hammer: a fresh
# connection per probe as the kubelet makes, 40 probes 0.25 s apart (pacing, not a wait)
probe_ok=0 probe_max=0
for i in $(seq 40); do
	r=$(curl -s -o "$WORK/probe" -w '%{http_code} %{time_total}' --max-time 2 "http://127.0.0.1:$C_HTTP/healthz")
	[ "${r%% *}" = 200 ] && [ "$(cat "$WORK/probe")" = ok ] && probe_ok=$((probe_ok + 1))
	probe_max=$(awk -v a="$probe_max" -v b="${r#* }" 'BEGIN {print (b > a) ? b : a}')
	sleep 0.25
done
check_eq "$probe_ok" 40 "40/40 /healthz probes answered ok within 2 s (curl --max-time 2) under 20 readers"
diag "/healthz probes under 20 readers: $probe_ok/40 ok, slowest ${probe_max} s"
check_eq "$(test -e "$WORK/rd.json" && echo done || echo running)" running "the readers were still at it during the probes"

kill -TERM "$C_PID"
wait_for 15 "collector exit after SIGTERM" gone "$C_PID" || tap_fail "collector exits after SIGTERM under load"
wait "$C_PID"
check_eq "$?" 0 "SIGTERM under 20 readers: exit 0 (API thread joined)"
check_eq "$(grep -c 'signal 15: shutting down' "$C_LOG")" 1 "shutdown logged once"
touch "$WORK/stop"
wait_for 30 "reader process exit" gone "$RD"

# --- every export stored exactly once: batches and the test's own rows (rx_bytes = seq)
for a in steady-idle steady-readers; do
	check_eq "$(sqlite3 "$WORK/data/podlens.db" "SELECT count(*), count(DISTINCT seq), min(seq), max(seq)
		FROM batches WHERE agent_id='$a'")" "$N|$N|1|$N" "$a: $N batches, sequences 1..$N, each once"
	check_eq "$(sqlite3 "$WORK/data/podlens.db" "SELECT count(*), sum(p.rx_bytes) FROM pod_stats p
		JOIN workloads w ON w.id=p.wid WHERE w.namespace='steady' AND w.pod='$a'")" \
		"$N|$(( N * (N + 1) / 2 ))" "$a: $N traffic rows summing to 1+..+$N bytes (no loss, no double)"
done
check_eq "$(sqlite3 "$WORK/data/podlens.db" 'PRAGMA quick_check')" ok "database intact after the run"

# --- a tight budget: 503 naming it, never a partial answer; /healthz and ingest go on
start_collector B --data-dir "$WORK/data" --retention 5000d --query-budget 50ms ||
	{ tap_fail "collector with --query-budget 50ms starts"; exit 1; }
hdr=$(curl -s -D - -o "$WORK/body" "http://127.0.0.1:$B_HTTP/api/v1/namespaces/shop/pods?from=$F&to=$T" | tr -d '\r')
check_eq "$(echo "$hdr" | head -1 | cut -d' ' -f2)" 503 "pods over 2000 intervals with a 50 ms budget -> 503"
check_eq "$(cat "$WORK/body")" '{"error":"query over its budget of 50 ms","budget_ms":50}' \
	"the 503 body is the budget error alone (no partial answer)"
check_eq "$(echo "$hdr" | grep -ci '^retry-after: 1$')" 1 "503 carries Retry-After"
check_eq "$(curl -s "http://127.0.0.1:$B_HTTP/healthz")" ok "/healthz answers with the tight budget"
check_eq "$(pyclient one "127.0.0.1:$B_GRPC" --seq 1 --agent after-budget)" "status=OK accepted=True duplicate=False" \
	"an Export right after the over-budget query is stored"
check_ge "$(curl -s "http://127.0.0.1:$B_HTTP/metrics" | sed -n 's/^podlens_collector_http_over_budget_total //p')" 1 \
	"/metrics counts the request over budget"

# --- a full queue: one worker, one place in the queue, 10 whole-range pods queries at once (1.7 s
# each): at most 2 are taken, the others answered 503 with Retry-After at once; /healthz goes on
start_collector Q --data-dir "$WORK/data" --retention 5000d --query-workers 1 --query-queue 1 ||
	{ tap_fail "collector with --query-workers 1 --query-queue 1 starts"; exit 1; }
qpids=
for i in $(seq 10); do
	curl -s -D "$WORK/qh$i" -o "$WORK/qb$i" --max-time 60 \
		"http://127.0.0.1:$Q_HTTP/api/v1/namespaces/shop/pods?from=$F&to=$T" &
	qpids="$qpids $!"
done
check_eq "$(curl -s --max-time 2 "http://127.0.0.1:$Q_HTTP/healthz")" ok "/healthz answers next to the 10 queries"
wait $qpids    # the curls only (the collectors are children too)
full=0 served=0 other=0
for i in $(seq 10); do
	st=$(head -1 "$WORK/qh$i" | cut -d' ' -f2)
	if [ "$st" = 503 ] && [ "$(cat "$WORK/qb$i")" = '{"error":"query queue full (1 waiting)","queue":1}' ] &&
		grep -qi '^retry-after: 1' "$WORK/qh$i"; then
		full=$((full + 1))
	elif [ "$st" = 200 ] && grep -q '^{"namespace":"shop",.*"pods":\[{' "$WORK/qb$i"; then
		served=$((served + 1))
	elif [ "$st" = 503 ] && grep -q '"budget_ms":2000}$' "$WORK/qb$i"; then
		served=$((served + 1))
	else
		other=$((other + 1))
	fi
done
check_eq "$other" 0 "each of the 10 got its JSON, the budget 503 or the queue-full 503 (with Retry-After)"
check_ge "$full" 1 "the queue (1 worker, 1 waiting) turned some away at once ($full of 10)"
check_ge "$served" 1 "and served the ones it took ($served of 10)"
check_eq "$(curl -s "http://127.0.0.1:$Q_HTTP/metrics" | sed -n 's/^podlens_collector_http_queue_full_total //p')" "$full" \
	"/metrics counts every queue-full 503"
