# The rolled-up minutes from real lab traffic (issue 16), shared by 34-collector-rollups (one
# ClickHouse server) and 35-collector-rollups-cluster (the 2-shard cluster): sourced after
# tests/lib.sh and common.sh with ROLLUP_STORE=single|cluster.
#
# payments/client makes N HTTP/1.0 GETs of /delay/D_MS, one new connection each, to shop/api, half
# of them in a minute, half in the next one
# (mapsrv.py in shop/api's cgroup and network namespace; it sleeps D_MS before each answer):
# ground truth is what mapcli.py counted (answers, connections, bytes sent and received). Agent AG exports to
# two collector replicas R1, R2 on one ClickHouse (the roller's quiet time cut to 5 s), agent AS
# (same node, same packets, its own programs) to a SQLite collector; a third replica R3 on the same
# ClickHouse runs with PODLENS_CH_ROLLUPS=0 (raw rows only). Once the agents have flushed and
# stopped, the test waits (bounded) until rollup_marks says every minute of [FROM, TO) that holds
# rows has a computation no dirty mark is as late as (the collector's own plan condition), then
# reads that range of whole minutes from every collector: shop/api's N requests and p50, the
# client's N client requests, the service-map edge payments/client -> shop/api (named on both
# ends, N requests, N connections, the bytes the client counted): equal between R1, R2 and R3,
# and equal to the SQLite collector (latency within 25 %: timed by the other agent).
# Proof the rollups answered: the raw rows the rollups are computed from (req_stats, flows,
# peer_reqs) are then truncated in ClickHouse (a private server, scratch by construction). R1 and
# R2 must give the very same answers again; R3, reading raw rows, must now see none of those
# requests and no edge (so the truncation took effect: a read that fell back to raw rows would
# fail here).
source "$E2E_TOP/tests/integration/collector/lib.sh"
source "$E2E_TOP/tests/integration/collector/clickhouse.sh"
N=${E2E_ROLLUP_N:-120}
D_MS=${E2E_ROLLUP_DELAY_MS:-20}
CH_PORT_BASE=20300      # this scenario's ClickHouse ports: 20300-20389; replicas 20390-20391
GPORT=20390; HPORT=20391; A1=127.0.0.1; A2=127.0.0.2; A3=127.0.0.3
DB=lab
NOW() { echo $(( $(date +%s%N) / 1000000 )); }
minute_of() { echo $(( $1 / 60000 * 60000 )); }

case $ROLLUP_STORE in
single)
	start_clickhouse CH || { tap_fail "private clickhouse-server starts"; exit 1; }
	ENTRY1=$CH_URL; ENTRY2=$CH_URL; CL=(); NODES=(CH); SFX= ;;
cluster)
	start_clickhouse_cluster pl2 CH CH2 || { tap_fail "private 2-shard clickhouse cluster starts"; exit 1; }
	ENTRY1=$CH_URL; ENTRY2=$CH2_URL; CL=(--store-cluster pl2 --store-nodes "$CH_URL,$CH2_URL"); NODES=(CH CH2)
	SFX=_local ;;
*) tap_fail "ROLLUP_STORE=$ROLLUP_STORE"; exit 1 ;;
esac

start_replica() {   # start_replica NAME ADDR ENTRY_URL [ENV=VALUE...]
	local name=$1 addr=$2 entry=$3 out pid; shift 3
	out=$E2E_TMP/$name
	env PODLENS_CH_ROLLUP_QUIET_MS=5000 "$@" "$COLLECTOR_BIN" --grpc-addr "$addr:$GPORT" --http-addr "$addr:$HPORT" \
		--store "clickhouse:$entry/$DB" --store-credentials "$CH_CRED" "${CL[@]}" --log-level warn \
		>"$out" 2>"$out.err" &
	pid=$!
	defer "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null"
	wait_for 30 "replica $name ready" grep -q '^podlens-collector ready' "$out" || { cat "$out.err" >&2; return 1; }
}
start_replica R1 $A1 "$ENTRY1" || { tap_fail "replica R1 starts"; exit 1; }
start_replica R2 $A2 "$ENTRY2" || { tap_fail "replica R2 starts"; exit 1; }
start_replica R3 $A3 "$ENTRY1" PODLENS_CH_ROLLUPS=0 || { tap_fail "raw-only replica R3 starts"; exit 1; }
start_collector S --data-dir "$E2E_TMP/sqlite" || { tap_fail "sqlite collector starts"; exit 1; }
tap_ok "replicas R1 $A1, R2 $A2 (rollups) and R3 $A3 (PODLENS_CH_ROLLUPS=0) on clickhouse ($ROLLUP_STORE), sqlite collector on $S_GRPC"

# shop/api: mapsrv.py in the pod's cgroup and network namespace
e2e_mapsrv_api || exit 1
e2e_pod CLI client payments --label app=client || { tap_fail "client pod up"; exit 1; }
e2e_ctr CLI_CTR "$CLI_ID" fetcher -- sleep 100000 || { tap_fail "client container up"; exit 1; }
ccg=$(e2e_cgroup_dir "$CLI_CTR"); cpid=$(e2e_pid "$CLI_CTR")

# FROM: the minute the agents start in; every row of this run is at or after it
FROM=$(minute_of "$(NOW)")
e2e_agent_start AG 300 --collector "http://$A1:$GPORT,$A2:$GPORT" || exit 1
e2e_agent_start AS 300 --collector "http://127.0.0.1:$S_GRPC" || exit 1
e2e_agent_ready AG 20 && e2e_agent_ready AS 20 || { tap_fail "both agents ready"; exit 1; }
for a in AG AS; do
	l=${a}_LOG
	wait_for 20 "HTTP capture on shop/api ($a)" grep -q "l7: capturing HTTP of .*$(basename "$acg")" "${!l}" ||
		{ tap_fail "agent $a captures HTTP of shop/api"; exit 1; }
done

# the calls in two halves, the second one in the next minute (2 s past its start, so that no
# agent interval that began in the first minute holds it): the read sums two rolled-up minutes
calls() {   # calls COUNT OUT
	sh -c "echo \$\$ > $ccg/cgroup.procs && exec nsenter --net=/proc/$cpid/ns/net $E2E_PY $E2E_LAB/mapcli.py new $API_IP 8080 $1 /delay/$D_MS" >"$2"
}
N1=$((N / 2)); N2=$((N - N1))
calls $N1 "$E2E_TMP/client-1.json" || tap_fail "client's first calls"
NEXT=$(( $(minute_of "$(NOW)") + 60000 + 2000 ))
wait_for 65 "the next minute" sh -c "[ \$(( \$(date +%s%N) / 1000000 )) -ge $NEXT ]" || tap_fail "the clock reached the next minute"
calls $N2 "$E2E_TMP/client-2.json" || tap_fail "client's second calls"
check_eq "$(jq -s -c '[(map(.requests) | add), (map(.connections) | add)]' "$E2E_TMP"/client-[12].json)" "[$N,$N]" \
	"payments/client: $N answers (200), one connection each, $N1 then $N2 a minute later (ground truth)"
TRUTH_BYTES=$(jq -s 'map(.bytes_sent + .bytes_received) | add' "$E2E_TMP"/client-[12].json)

# the agents' own JSON holds every request before they are stopped (and flush their last batch)
e2e_two_agents_done shop api "$N"
# TO: the end of the minute the agents stopped in: no row of this run is later
TO=$(( $(minute_of "$(NOW)") + 60000 ))
Q="from=$FROM&to=$TO"
diag "range [$FROM, $TO): $(( (TO - FROM) / 60000 )) whole minutes"

# Wait until the roller has computed every minute of the range that holds rows, with no dirty
# mark as late as the computation (less 5 s of skew): the condition under which the collector's
# read plan takes a minute from the rollups (store_clickhouse.c, row_plan()). A dirty mark is
# dated its commit's start + 30 s, so this is ~35-45 s after the agents' last batch.
chq() { ch_query CH "$1"; }
MARKS="SELECT minute, maxIf(ms, kind = 0) AS d, maxIf(ms, kind = 1) AS c, countIf(kind = 0) AS n FROM $DB.rollup_marks
	WHERE minute >= $FROM AND minute < $TO GROUP BY minute"
pending() { chq "SELECT countIf(n > 0 AND NOT (c > 0 AND d < c - 5000)), countIf(n > 0 AND c > 0 AND d < c - 5000) FROM ($MARKS)"; }
all_rolled() { local p; p=$(pending) && read -r p r <<<"$p" && [ "$p" = 0 ] && [ "$r" -ge 1 ]; }
t0=$(NOW)
wait_for 120 "every minute of [$FROM, $TO) holding rows rolled up" all_rolled ||
	diag "rollup_marks: $(chq "$MARKS FORMAT JSONCompact" | jq -c .data 2>/dev/null)"
read -r pend ROLLED <<<"$(pending)"
check_eq "$pend" 0 "rollup_marks: no minute of the range left to roll up"
check_ge "${ROLLED:-0}" 2 "rollup_marks: the range's minutes holding rows are rolled up (both minutes of calls)"
diag "rolled up $ROLLED minute(s), $(( ($(NOW) - t0) / 1000 )) s after the agents stopped"

# answer ADDR:PORT -> one line: shop/api's server requests, p50, p99; payments/client's client
# requests; the edge payments/client -> shop/api of shop's map and of the whole map
answer() {
	local srv cli nse all
	srv=$(curl -sf "http://$1/api/v1/namespaces/shop/pods?$Q" |
		jq -r '[.pods[] | select(.pod == "api") | "\(.requests) \(.p50_us) \(.p99_us)"] | first // "none"')
	cli=$(curl -sf "http://$1/api/v1/namespaces/payments/pods?$Q" |
		jq -r '[.pods[] | select(.pod == "client") | .client_requests] | first // "none"')
	nse=$(curl -sf "http://$1/api/v1/namespaces/shop/edges?$Q" |
		jq -r '[.edges[] | select(.src == "payments/client" and .dst == "shop/api") | "\(.requests) \(.connections) \(.bytes) \(.p50_us)"] | first // "none"')
	all=$(curl -sf "http://$1/api/v1/edges?$Q" |
		jq -r '[.edges[] | select(.src == "payments/client" and .dst == "shop/api") | "\(.requests) \(.connections) \(.bytes) \(.p50_us)"] | first // "none"')
	echo "srv $srv cli $cli nsedge $nse edge $all"
}
field() { awk -v k="$2" -v i="$3" '{for (j = 1; j <= NF; j++) if ($j == k) {print $(j + i); exit}}' <<<"$1"; }
a1=$(answer $A1:$HPORT); a2=$(answer $A2:$HPORT); a3=$(answer $A3:$HPORT); as=$(answer 127.0.0.1:$S_HTTP)
diag "R1: $a1"; diag "R2: $a2"; diag "R3 (raw): $a3"; diag "sqlite: $as"
check_eq "$(field "$a1" srv 1)" "$N" "R1 (rollups): shop/api served $N requests"
check_eq "$(field "$a1" cli 1)" "$N" "R1 (rollups): payments/client made $N client requests"
check_eq "$(field "$a1" nsedge 1) $(field "$a1" nsedge 2)" "$N $N" \
	"R1 (rollups): shop's map has payments/client -> shop/api with $N requests over $N connections"
check_eq "$(field "$a1" edge 1) $(field "$a1" edge 2)" "$N $N" \
	"R1 (rollups): the whole map has payments/client -> shop/api with $N requests over $N connections"
check_within "$(field "$a1" nsedge 3)" "$TRUTH_BYTES" 5 "R1 (rollups): edge bytes vs what the client sent and received"
check_ge "$(field "$a1" srv 2)" $((D_MS * 1000 * 9 / 10)) "R1 (rollups): shop/api's p50 at least the server's $D_MS ms sleep (less a bucket's width)"
check_eq "$a2" "$a1" "R2 = R1: the same answer from both replicas"
check_eq "$a3" "$a1" "R3 (raw rows only) = R1 (rollups): the same answer on the same data"
nolat() { echo "srv $(field "$1" srv 1) cli $(field "$1" cli 1) nsedge $(field "$1" nsedge 1) $(field "$1" nsedge 2) $(field "$1" nsedge 3) edge $(field "$1" edge 1) $(field "$1" edge 2) $(field "$1" edge 3)"; }
check_eq "$(nolat "$as")" "$(nolat "$a1")" "sqlite collector (agent AS) = R1: requests, client requests, edge requests, connections, bytes"
check_within "$(field "$a1" srv 2)" "$(field "$as" srv 2)" 25 "shop/api p50: R1 (rollups) vs sqlite collector"
check_within "$(field "$a1" nsedge 4)" "$(field "$as" nsedge 4)" 25 "edge p50: R1 (rollups) vs sqlite collector"

# The proof: drop the raw rows the rollups were computed from. Answers from the rollups stay;
# the raw-only replica loses them (which shows the truncation took effect).
for t in req_stats flows peer_reqs; do
	for n in "${NODES[@]}"; do
		ch_query "$n" "TRUNCATE TABLE $DB.$t$SFX" >/dev/null || tap_fail "truncate $t$SFX on $n"
	done
done
check_eq "$(chq "SELECT (SELECT count() FROM $DB.req_stats) + (SELECT count() FROM $DB.flows) + (SELECT count() FROM $DB.peer_reqs)")" 0 \
	"raw req_stats, flows and peer_reqs rows dropped"
b1=$(answer $A1:$HPORT); b2=$(answer $A2:$HPORT); b3=$(answer $A3:$HPORT)
diag "after the drop: R1: $b1"; diag "after the drop: R3 (raw): $b3"
check_eq "$b1" "$a1" "R1 without the raw rows: the same answer (read from the rollups)"
check_eq "$b2" "$a1" "R2 without the raw rows: the same answer (read from the rollups)"
check_eq "$(field "$b3" srv 1)/$(field "$b3" cli 1)/$(field "$b3" nsedge 1)/$(field "$b3" edge 1)" "0/0/none/none" \
	"R3 (raw rows only) without the raw rows: no requests, no edge"
