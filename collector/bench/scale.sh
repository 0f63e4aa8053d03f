#!/bin/bash
# Collector scale benchmark (make bench-collector; not a test): NODES synthetic agents x PODS pods,
# one batch per node per 10 s interval over MINUTES minutes of data, sent as fast as the collector
# acknowledges them (collector-loadgen: the real protobuf encoding and gRPC Export path, STREAMS
# connections at once), into each store of STORES, then the API read at that size. Per store:
#   ingest   records, wall s, collector CPU s (utime+stime from /proc/PID/stat), records per
#            collector CPU-second, records per wall second and the nodes that rate keeps up with
#   lost     records sent = podlens_collector_records_total, batches sent = stored, and the
#            requests of one namespace over the whole range in the API = what the agents sent;
#            ClickHouse: count() FINAL of every table = rows sent
#   disk     ClickHouse: bytes_on_disk of the active parts (system.parts) per record; SQLite: file size
#   API      p50/p99 of QUERIES calls each, over the hour the data starts: pods of a namespace, one
#            pod's series (60 s steps), edges of a namespace
# Everything runs on loopback, in a temp dir, ports PORT_BASE.. (collector PORT_BASE, +1; ClickHouse
# servers from CH_PORT_BASE, default PORT_BASE+10, three ports each); every process is killed by
# PID and the dirs removed on exit. The ClickHouse servers are the collector suites' own
# (tests/integration/collector/clickhouse.sh): one node, or the 2-shard cluster "pl2" of two.
#   NODES=1000 PODS=30 MINUTES=6 STREAMS=200 STORES="sqlite clickhouse cluster" QUERIES=30 collector/bench/scale.sh
# MINUTES=60 is the full hour of issue 16 (ClickHouse ingests ~40-50k records/s wall on this 2-core
# machine: ~25 min per ClickHouse store); the default 6 min of data (9.7M records) runs in ~5 min
# per store.
# INGEST_LIMIT_S=240 bounds each store's ingest: past it the agents stop, and what was sent is
# checked and queried (the line says stopped=1: that store did not keep up).
# A store is start_store_X, store_args_X, disk_X, counts_X and rollups_X below.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
NODES=${NODES:-1000} PODS=${PODS:-30} MINUTES=${MINUTES:-6} STREAMS=${STREAMS:-200}
STORES=${STORES:-"sqlite clickhouse cluster"} QUERIES=${QUERIES:-30} PORT_BASE=${PORT_BASE:-19500}
INGEST_LIMIT_S=${INGEST_LIMIT_S:-240}
# QUERY_BUDGET: the collector's --query-budget (2s, its default: a call past it is a 503); ROLLUPS=0:
# the ClickHouse collector reads raw rows only and rolls nothing up (PODLENS_CH_ROLLUPS=0);
# ROLLUP_WAIT_S: how long the API waits, after the ingest, for the rollups to catch up
QUERY_BUDGET=${QUERY_BUDGET:-2s} ROLLUPS=${ROLLUPS:-1} ROLLUP_WAIT_S=${ROLLUP_WAIT_S:-600}
COLLECTOR=$BUILD/bin/podlens-collector LOADGEN=$BUILD/test-bin/collector-loadgen
# AB_COLLECTOR=PATH: a same-moment A/B of the API: a second collector (another build, e.g. the
# commit before a change, copied aside) on the same store (ports PORT_BASE+2, +3) answers every API
# call right after (or before: the order alternates) the first; both latencies are reported, and
# the two answers must be byte-identical (an edges answer of another build that differs is a FAIL)
AB_COLLECTOR=${AB_COLLECTOR:-}
# KEEP_STORE=DIR (STORES=clickhouse): after the run, the ClickHouse server's data and the
# loadgen's summary are moved to DIR (created), not removed; REUSE_STORE=DIR: the server starts
# on DIR's data and the ingest is skipped (the checks use DIR's summary), so the API part can be
# run again, e.g. against another build with AB_COLLECTOR, without re-ingesting (~25 min at the hour)
KEEP_STORE=${KEEP_STORE:-} REUSE_STORE=${REUSE_STORE:-}
GRPC2=$((PORT_BASE + 2)) HTTP2=$((PORT_BASE + 3))
INTERVALS=$((MINUTES * 6))
GRPC=$PORT_BASE HTTP=$((PORT_BASE + 1))
CH_PORT_BASE=${CH_PORT_BASE:-$((PORT_BASE + 10))}
HZ=$(getconf CLK_TCK)

source "$top/tests/lib.sh"
source "$top/tests/integration/collector/lib.sh"
source "$top/tests/integration/collector/clickhouse.sh"
WORK=$(mktemp -d /tmp/podlens-bench-collector.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	_run_deferred    # the ClickHouse servers (tests/integration/collector/clickhouse.sh)
	rm -rf "$WORK"
}
# not a TAP script: our own exit handler instead of tests/lib.sh's
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "bench-collector: $*"; }
die() { say "FAILED: $*"; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ch_ticks() {   # CPU ticks of every clickhouse-server of the store (0: none)
	local p t=0
	for p in "${CH_PIDS[@]}"; do t=$((t + $(cpu_ticks "$p"))); done
	echo "$t"
}

# ------------------------------------------------------------ the stores
start_store_sqlite() { :; }
store_args_sqlite() { echo "--data-dir $WORK/sqlite"; }
disk_sqlite() { du -sb "$WORK/sqlite" | cut -f1; }
counts_sqlite() {   # rows per table, vs the loadgen's ground truth (raw tables; rollups are _1m, _10m)
	local t want got
	for t in pod_stats:workloads req_stats:req_stats dns_stats:dns_stats peer_reqs:peer_reqs flows:flows; do
		want=$(sed -n "s/.* ${t#*:}=\([0-9]*\).*/\1/p" "$WORK/loadgen.$1")
		got=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM " + sys.argv[2]).fetchone()[0])' \
			"$WORK/sqlite/podlens.db" "${t%%:*}")
		check "sqlite ${t%%:*} rows = sent" "$got" "$want"
	done
}

# ClickHouse servers as the collector suites start them (tests/integration/collector/clickhouse.sh):
# their own config, data dir and ports from CH_PORT_BASE, killed by PID (after each store, and by
# the deferred cleanup on exit)
CH_PIDS=()
start_store_clickhouse() {
	if [ -n "$REUSE_STORE" ]; then
		# the server's data directory is the kept one (the deferred cleanup removes the link only)
		ch_alloc B "$(ch_password)" && rmdir "$B_DIR/data" && ln -s "$(cd "$REUSE_STORE" && pwd)/data" "$B_DIR/data" &&
			ch_write_config B && ch_launch B || die "clickhouse-server did not start on $REUSE_STORE"
	else
		start_clickhouse B || die "clickhouse-server did not start (deps/clickhouse.pkgs)"
	fi
	CH_PIDS=("$B_PID")
}
start_store_cluster() {
	start_clickhouse_cluster pl2 CA CB || die "the 2-shard cluster did not start"
	CH_PIDS=("$CA_PID" "$CB_PID")
}
store_args_clickhouse() { echo "--store clickhouse:$B_URL/bench --store-credentials $B_CRED"; }
store_args_cluster() {
	echo "--store clickhouse:$CA_URL/bench --store-credentials $CA_CRED --store-cluster pl2 --store-nodes $CA_URL,$CB_URL"
}
part_bytes="SELECT sum(bytes_on_disk) FROM system.parts WHERE database='bench' AND active"
disk_clickhouse() { ch_query B "$part_bytes"; }
disk_cluster() { echo $(($(ch_query CA "$part_bytes") + $(ch_query CB "$part_bytes"))); }
counts_ch() {   # counts_ch STORE NODE...: rows per table as the API reads them (FINAL, through the
	# first node: the Distributed tables of a cluster), vs the loadgen's ground truth
	local st=$1 t want got n parts=""; shift
	for t in pod_stats:workloads req_stats:req_stats dns_stats:dns_stats peer_reqs:peer_reqs flows:flows; do
		want=$(sed -n "s/.* ${t#*:}=\([0-9]*\).*/\1/p" "$WORK/loadgen.$st")
		got=$(ch_query "$1" "SELECT count() FROM bench.${t%%:*} FINAL")
		check "$st ${t%%:*} rows (FINAL) = sent" "$got" "$want"
	done
	for n in "$@"; do parts+=" $(ch_query "$n" "SELECT count() FROM system.parts WHERE database='bench' AND active")"; done
	say "$st active parts per node:$parts"
}
counts_clickhouse() { counts_ch "$1" B; }
counts_cluster() { counts_ch "$1" CA CB; }
# rollups_X STORE: wait (ROLLUP_WAIT_S at most) until every minute with data is rolled up (a
# computation recorded after its last dirty mark, docs/collector.md "Rollups"); say how long
# after the ingest, the servers' CPU meanwhile and the rollup tables' size
unrolled="SELECT count() FROM (SELECT minute, maxIf(ms, kind=0) AS m, maxIf(ms, kind=1) AS d FROM bench.rollup_marks
	GROUP BY minute) WHERE NOT (d > 0 AND m < d - 5000)"
rollup_bytes="SELECT sum(bytes_on_disk) FROM system.parts WHERE database='bench' AND active AND (table LIKE '%_1m%' OR table LIKE 'rollup_marks%')"
rollups_ch() {   # rollups_ch STORE NODE...
	local st=$1 n t0 c0 left="" b=0; shift
	[ "$ROLLUPS" = 0 ] && { say "$st rollups: off (ROLLUPS=0)"; return; }
	t0=$(date +%s); c0=$(ch_ticks)
	for _ in $(seq "$ROLLUP_WAIT_S"); do
		left=$(ch_query "$1" "$unrolled") && [ "$left" = 0 ] && break
		sleep 1
	done
	for n in "$@"; do b=$((b + $(ch_query "$n" "$rollup_bytes"))); done
	say "$st rollups: $([ "$left" = 0 ] && echo "every minute rolled up" || echo "$left minute(s) NOT rolled up") $(( $(date +%s) - t0 )) s after the ingest" \
		"(clickhouse-server CPU meanwhile $(awk -v a="$c0" -v b="$(ch_ticks)" -v hz="$HZ" 'BEGIN {printf "%.1f", (b - a) / hz}') s), rollup tables $b bytes on disk"
}
rollups_sqlite() { :; }
rollups_clickhouse() { rollups_ch "$1" B; }
rollups_cluster() { rollups_ch "$1" CA CB; }

FAILS=0
check() {   # check NAME GOT WANT
	if [ "$2" = "$3" ]; then say "ok   $1: $2"; else say "LOST $1: got $2, want $3"; FAILS=$((FAILS + 1)); fi
}

pct() {   # pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE, in ms
	sort -n "$1" | awk -v p="$2" '{a[NR]=$1} END {i=int((p*NR+99)/100); if (i<1) i=1; printf "%.1f", a[i]*1000}'
}

api_latency() {   # api_latency NAME URL...: QUERIES calls cycling over the URLs
	local name=$1 f=$WORK/lat.$1 i=0 n code over=0; shift
	local urls=("$@")
	: > "$f"
	for i in $(seq 0 $((QUERIES - 1))); do
		n=${#urls[@]}
		code=$(curl -s -o "$WORK/body" -w '%{http_code} %{time_total}' "${urls[$((i % n))]}")
		case ${code%% *} in
		200) ;;
		503) over=$((over + 1)) ;;    # the query budget (QUERY_BUDGET): a figure, not a failure of the bench
		*) say "$name: HTTP ${code%% *}: $(head -c 200 "$WORK/body")"; FAILS=$((FAILS + 1)) ;;
		esac
		echo "${code#* }" >> "$f"
	done
	say "API $name: p50 $(pct "$f" 50) ms, p99 $(pct "$f" 99) ms ($QUERIES calls, $over over the $QUERY_BUDGET budget: 503)"
}

api_ab() {   # api_ab NAME URL...: as api_latency, each call asked of A (this build) and B (AB_COLLECTOR)
	local name=$1 fa=$WORK/lat.$1.a fb=$WORK/lat.$1.b i n u ca cb diff=0 k; shift
	local urls=("$@")
	: > "$fa"; : > "$fb"
	for i in $(seq 0 $((QUERIES - 1))); do
		n=${#urls[@]}; u=${urls[$((i % n))]}
		for k in $((i % 2)) $((1 - i % 2)); do
			if [ "$k" = 0 ]; then
				ca=$(curl -s -o "$WORK/body.a" -w '%{http_code} %{time_total}' "$u")
			else
				cb=$(curl -s -o "$WORK/body.b" -w '%{http_code} %{time_total}' "${u/:$HTTP\//:$HTTP2/}")
			fi
		done
		[ "${ca%% *}" = 200 ] && [ "${cb%% *}" = 200 ] || { say "$name: HTTP A ${ca%% *} B ${cb%% *}"; FAILS=$((FAILS + 1)); }
		cmp -s "$WORK/body.a" "$WORK/body.b" || diff=$((diff + 1))
		echo "${ca#* }" >> "$fa"; echo "${cb#* }" >> "$fb"
	done
	say "API $name A/B: A (this build) p50 $(pct "$fa" 50) ms, p99 $(pct "$fa" 99) ms; B ($AB_COLLECTOR) p50 $(pct "$fb" 50) ms, p99 $(pct "$fb" 99) ms ($QUERIES calls each, alternating)"
	check "$name answers A = B" "$diff differ" "0 differ"
}
# ------------------------------------------------------------ one store
run_store() {
	local st=$1 out=$WORK/collector.$st cpid c0 c1 ch0=0 ch1=0 t0 t1 lg rec cpu wall start end ns pod
	"start_store_$st"
	# shellcheck disable=SC2046
	# every agent comes from loopback here: lift the per-peer connection bound (32) that 1,000
	# agents from 1,000 addresses would not meet
	PODLENS_CH_ROLLUPS=$ROLLUPS "$COLLECTOR" --grpc-addr "127.0.0.1:$GRPC" --http-addr "127.0.0.1:$HTTP" \
		--query-budget "$QUERY_BUDGET" --grpc-max-conns $((STREAMS + 64)) --grpc-max-per-peer $((STREAMS + 32)) $("store_args_$st") >"$out" 2>"$out.err" &
	cpid=$!; PIDS+=("$cpid")
	wait_for 30 "$st collector ready" grep -q '^podlens-collector ready' "$out" || { cat "$out.err"; die "$st: collector not ready"; }
	if [ -n "$REUSE_STORE" ]; then
		cp "$REUSE_STORE/loadgen" "$WORK/loadgen.$st"
		lg=$(cat "$WORK/loadgen.$st")
		rec=$(sed -n 's/.* records=\([0-9]*\).*/\1/p' <<<"$lg")
		say "$st: ingest skipped, the data of $REUSE_STORE (REUSE_STORE): $lg"
	else
		c0=$(cpu_ticks "$cpid"); ch0=$(ch_ticks)
		t0=$(date +%s%N)
		"$LOADGEN" "http://127.0.0.1:$GRPC" --nodes "$NODES" --pods "$PODS" --intervals "$INTERVALS" \
			--streams "$STREAMS" --check-ns 7 --deadline-s "$INGEST_LIMIT_S" > "$WORK/loadgen.$st" 2> "$WORK/loadgen.$st.err" ||
			{ tail -5 "$WORK/loadgen.$st.err"; die "$st: loadgen failed"; }
		t1=$(date +%s%N)
		c1=$(cpu_ticks "$cpid"); ch1=$(ch_ticks)
		lg=$(cat "$WORK/loadgen.$st")
		rec=$(sed -n 's/.* records=\([0-9]*\).*/\1/p' <<<"$lg")
		cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN {printf "%.2f", (b - a) / hz}')
		wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
		say "$st: $lg"
		grep '^loadgen progress' "$WORK/loadgen.$st.err" | tr '\n' ' ' | sed 's/loadgen progress //g; s/^/bench-collector: progress (s, records acked, rate): /'; echo
		grep -q ' stopped=1' <<<"$lg" && say "$st: did not take the $MINUTES min of data within INGEST_LIMIT_S=$INGEST_LIMIT_S s (stopped at $(sed -n 's/.* records=\([0-9]*\).*/\1/p' <<<"$lg") records)"
		say "$st ingest: $rec records in $wall s wall, collector CPU $cpu s$([ ${#CH_PIDS[@]} -gt 0 ] && awk -v a="$ch0" -v b="$ch1" -v hz="$HZ" 'BEGIN {printf ", clickhouse-server CPU %.2f s", (b - a) / hz}'):" \
			"$(awk -v r="$rec" -v c="$cpu" 'BEGIN {printf "%.0f", r / c}') records per collector CPU-second," \
			"$(awk -v r="$rec" -v w="$wall" 'BEGIN {printf "%.0f", r / w}') records/s wall" \
			"= $(awk -v r="$rec" -v w="$wall" -v p="$PODS" 'BEGIN {printf "%.0f", r / w / (p * 9 / 10)}') nodes of $PODS pods in real time"
		# nothing lost
		# /metrics reads the store too: SQLite right after the load may pass the 2 s budget (503),
		# so ask again, 1 s apart, for at most 60 s
		local m=""
		for _ in $(seq 60); do
			m=$(curl -sf "http://127.0.0.1:$HTTP/metrics") && break
			m=""; sleep 1
		done
		if [ -n "$m" ]; then
			check "$st records stored (metrics) = records sent" "$(awk '/^podlens_collector_records_total /{print $2}' <<<"$m")" "$rec"
			check "$st batches stored (metrics) = batches sent" "$(sed -n 's/^podlens_collector_batches_total{result="stored"} //p' <<<"$m")" \
				"$(sed -n 's/.* batches=\([0-9]*\).*/\1/p' <<<"$lg")"
			say "$st commits: $(awk '/^podlens_collector_commits_total /{print $2}' <<<"$m") ($(awk '/^podlens_collector_commit_seconds_total /{print $2}' <<<"$m") s committing)"
		else
			say "NOT CHECKED $st /metrics: over the query budget for 60 s"
		fi
	fi
	start=$(sed -n 's/.* start_ms=\([0-9]*\).*/\1/p' <<<"$lg"); end=$(sed -n 's/.* end_ms=\([0-9]*\).*/\1/p' <<<"$lg")
	# the API's answer; a 503 (the 2 s query budget) is said as such, not counted as checked
	local body got
	body=$(curl -s "http://127.0.0.1:$HTTP/api/v1/namespaces/ns-07/pods?from=$start&to=$end")
	if got=$(python3 -c 'import json,sys; print(sum(p["requests"] for p in json.load(sys.stdin)["pods"]))' <<<"$body" 2>/dev/null); then
		check "$st requests of ns-07 in the API = sent" "$got" "$(sed -n 's/.* check_ns_requests=\([0-9]*\).*/\1/p' <<<"$lg")"
	else
		say "NOT CHECKED $st requests of ns-07 in the API: $(head -c 120 <<<"$body")"
	fi
	"counts_$st" "$st"
	"rollups_$st" "$st"
	local disk; disk=$("disk_$st")
	say "$st disk: $disk bytes, $(awk -v d="$disk" -v r="$rec" 'BEGIN {printf "%.1f", d / r}') bytes per record"
	# the API at that size, over the hour the data starts (all of it): namespaces ns-00.., pods
	# w<node>-<slot>
	local pods=() series=() edges=() hour=$((start + 3600000))
	for i in 0 1 2 3 4; do
		ns=$(printf 'ns-%02d' $((i * 7 % 50))); pod=$(printf 'w%04d-%02d' $((i * 97 % NODES)) $((i * 3 % PODS)))
		pods+=("http://127.0.0.1:$HTTP/api/v1/namespaces/$ns/pods?from=$start&to=$hour")
		edges+=("http://127.0.0.1:$HTTP/api/v1/namespaces/$ns/edges?from=$start&to=$hour")
	done
	for i in 0 1 2 3 4; do
		n=$((i * 97 % NODES)); j=$((i * 3 % PODS))
		ns=$(printf 'ns-%02d' $(((n * PODS + j) % 50))); pod=$(printf 'w%04d-%02d' "$n" "$j")
		series+=("http://127.0.0.1:$HTTP/api/v1/namespaces/$ns/pods/$pod/series?from=$start&to=$hour&step=60")
	done
	say "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	if [ -n "$AB_COLLECTOR" ]; then
		local bpid
		# shellcheck disable=SC2046
		PODLENS_CH_ROLLUPS=$ROLLUPS "$AB_COLLECTOR" --grpc-addr "127.0.0.1:$GRPC2" --http-addr "127.0.0.1:$HTTP2" \
			--query-budget "$QUERY_BUDGET" $("store_args_$st") >"$out.b" 2>"$out.b.err" &
		bpid=$!; PIDS+=("$bpid")
		wait_for 30 "$st collector B ready" grep -q '^podlens-collector ready' "$out.b" || { cat "$out.b.err"; die "$st: collector B not ready"; }
		api_ab "$st pods-of-namespace" "${pods[@]}"
		api_ab "$st pod-series-1h" "${series[@]}"
		api_ab "$st edges-of-namespace" "${edges[@]}"
		say "$st collectors' peak RSS (VmHWM, ingest included unless REUSE_STORE): A $(awk '/^VmHWM/ {print $2, $3}' "/proc/$cpid/status"), B $(awk '/^VmHWM/ {print $2, $3}' "/proc/$bpid/status")"
		kill "$bpid"; wait "$bpid" 2>/dev/null
	else
		api_latency "$st pods-of-namespace" "${pods[@]}"
		api_latency "$st pod-series-1h" "${series[@]}"
		api_latency "$st edges-of-namespace" "${edges[@]}"
	fi
	say "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	kill "$cpid"; wait "$cpid" 2>/dev/null
	for p in "${CH_PIDS[@]}"; do kill "$p"; wait "$p" 2>/dev/null; done
	CH_PIDS=()
	if [ -n "$KEEP_STORE" ] && [ -z "$REUSE_STORE" ]; then
		mkdir -p "$KEEP_STORE" && mv "$B_DIR/data" "$KEEP_STORE/data" && cp "$WORK/loadgen.$st" "$KEEP_STORE/loadgen" &&
			say "$st: data kept in $KEEP_STORE (REUSE_STORE=$KEEP_STORE runs the API part on it again)"
	fi
}

make --no-print-directory -s "$COLLECTOR" "$LOADGEN" || die "build"
say "$NODES nodes x $PODS pods, $MINUTES min of 10 s intervals ($INTERVALS), $STREAMS streams, stores: $STORES"
if [ -n "$KEEP_STORE$REUSE_STORE" ] && [ "$STORES" != clickhouse ]; then die "KEEP_STORE, REUSE_STORE: STORES=clickhouse only"; fi
for st in $STORES; do
	declare -F "start_store_$st" >/dev/null || die "unknown store $st"
	run_store "$st"
done
[ "$FAILS" = 0 ] || die "$FAILS check(s) failed"
say "done"
