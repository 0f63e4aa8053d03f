#!/bin/bash
# The ClickHouse store against the SQLite one (docs/collector.md, "ClickHouse"): a private
# clickhouse-server (Debian package, own data dir and loopback ports, killed by PID), one SQLite
# collector and two collector replicas on one ClickHouse database, fed the same batches.
#   - every API answer (namespaces, pods, series, routes, edges) is the same from the SQLite
#     collector and from either replica, and matches what the test sent;
#   - DNS views (pod, namespace, top domains) and edges with per-peer requests (chseed.py) the
#     same from the three, a batch re-stored after its `batches` rows were lost counted once;
#   - duplicates: the same batches again through the other replica (found by the batches table),
#     the same batches to both replicas at once (racing), and a batch re-stored after its
#     `batches` row was lost (a replica killed between its inserts): counted once everywhere;
#   - retention: rows older than --retention leave the API of both backends, and ClickHouse drops
#     their hourly partitions;
#   - names with SQL and TabSeparated metacharacters (hostile_names.py) stored and read back as sent;
#   - schema: a database of a newer schema is refused; wrong or missing credentials are refused.
# The collector suites themselves run on ClickHouse as collector_clickhouse_{api,map,scope}.sh.
# With CH_CLUSTER=1 (collector_clickhouse_cluster.sh) every check runs on a 2-shard cluster: the
# two replicas enter the cluster at different nodes, a fourth collector R0 on a single-node server
# is fed as the SQLite one and answers the same (SQLite = single node = cluster), and the cluster's
# own checks follow (a pod's rows on one shard, a shard down fails the insert, mixed-up modes).
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
source "$TOP/tests/integration/collector/clickhouse.sh"
cd "$TOP"

WORK=$(mktemp -d /tmp/podlens-collector-ch.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }
printf 'admintoken *\nshoptoken shop\n' > "$WORK/read-tokens"

if [ -n "${CH_CLUSTER:-}" ]; then
	# ports from this suite's range on a shared machine (tests/integration/collector/clickhouse.sh)
	CH_PORT_BASE=${CH_PORT_BASE:-19200}
	start_clickhouse_cluster pl2 CH CHB || { tap_fail "a 2-shard clickhouse cluster starts"; exit 1; }
	start_clickhouse CH1 || { tap_fail "a single-node clickhouse-server starts"; exit 1; }
	CLUSTER=(--store-cluster pl2 --store-nodes "$CH_URL,$CHB_URL")
	SHARDS="CH CHB"; LOC=_local; SECOND=CHB
else
	start_clickhouse CH || { tap_fail "private clickhouse-server starts"; exit 1; }
	CLUSTER=(); SHARDS=CH; LOC=; SECOND=CH
fi
on_shards() { local n; for n in $SHARDS; do ch_query $n "${1//@/$LOC}" >/dev/null || return 1; done; }   # SQL, @ = _local on a cluster
ch_is() { [ "$(ch_query CH "$2")" = "$1" ]; }   # ch_is WANT SQL
check_eq "$(ch_query CH 'SELECT 1')" 1 "clickhouse-server $(ch_query CH 'SELECT version()') answers as user podlens"
DB="clickhouse:$CH_URL/conf"
start_collector S --data-dir "$WORK/sqlite" --maintain-interval 1 --read-tokens "$WORK/read-tokens" || { tap_fail "sqlite collector starts"; exit 1; }
start_collector R1 --store "$DB" --store-credentials "$CH_CRED" "${CLUSTER[@]}" --read-tokens "$WORK/read-tokens" ||
	{ tap_fail "replica 1 starts"; exit 1; }
# on a cluster, replica 2 enters at the other node
eval "DB2=clickhouse:\$${SECOND}_URL/conf"
start_collector R2 --store "$DB2" --store-credentials "$CH_CRED" "${CLUSTER[@]}" --read-tokens "$WORK/read-tokens" ||
	{ tap_fail "replica 2 starts"; exit 1; }
if [ -n "${CH_CLUSTER:-}" ]; then
	start_collector R0 --store "clickhouse:$CH1_URL/conf" --store-credentials "$CH1_CRED" --read-tokens "$WORK/read-tokens" ||
		{ tap_fail "a collector on the single node starts"; exit 1; }
	check_eq "$(ch_query CHB 'SELECT max(version) FROM conf.schema_version')" 2 "cluster: schema version 2 recorded on the second node"
	check_eq "$(ch_query CHB "SELECT engine FROM system.tables WHERE database='conf' AND name='req_stats'")/$(ch_query CHB \
		"SELECT engine FROM system.tables WHERE database='conf' AND name='req_stats_local'")" Distributed/ReplacingMergeTree \
		"cluster: req_stats Distributed over req_stats_local (ReplacingMergeTree) on the second node"
fi
# seed_single AGENT SEEDER WANT: on a cluster, the single node is fed what the SQLite collector is
seed_single() { [ -z "${CH_CLUSTER:-}" ] || check_eq "$($2 R0 $1)" "$3" "single node: $1's batches ($3)"; }
check_eq "$(ch_query CH 'SELECT max(version) FROM conf.schema_version')" 2 "schema version 2 recorded"

# one end for every seed: the same timestamps in both backends, answers compared byte for byte
END=$(( ($(date +%s) * 1000 / 10000) * 10000 ))
FROM=$((END - 120000))
seed() {   # seed NAME AGENT -> "stored=N duplicate=M"
	local port; eval "port=\$${1}_GRPC"
	pyclient seed "127.0.0.1:$port" --agent "$2" --batches 6 --end-ms "$END" | grep -o 'stored=[0-9]* duplicate=[0-9]*'
}
check_eq "$(seed S a1)" "stored=6 duplicate=0" "sqlite: 6 batches of agent a1 stored"
seed_single a1 seed "stored=6 duplicate=0"
check_eq "$(seed R1 a1)" "stored=6 duplicate=0" "replica 1: 6 batches of agent a1 stored"
# an agent retrying at the other replica: the batches table answers duplicate
check_eq "$(seed R2 a1)" "stored=0 duplicate=6" "replica 2: a1's batches again are duplicates"
check_eq "$(seed S a1)" "stored=0 duplicate=6" "sqlite: a1's batches again are duplicates"

# racing: the same 6 batches of agent a2 to both replicas at once (either may store any of them)
seed R1 a2 > "$WORK/race1" & p1=$!
seed R2 a2 > "$WORK/race2" & p2=$!
wait $p1; wait $p2
r1=$(sed 's/stored=\([0-9]*\).*/\1/' "$WORK/race1"); r2=$(sed 's/stored=\([0-9]*\).*/\1/' "$WORK/race2")
check_ge "$((r1 + r2))" 6 "racing replicas stored a2's 6 batches (at least once each: $r1 + $r2)"
check_eq "$(seed S a2)" "stored=6 duplicate=0" "sqlite: 6 batches of agent a2 stored"
seed_single a2 seed "stored=6 duplicate=0"

# a replica killed between its inserts: samples stored, its batches row lost; the agent's retry
# is then not recognised as a duplicate and stores every row again
check_eq "$(seed R1 a3)" "stored=6 duplicate=0" "replica 1: 6 batches of agent a3 stored"
on_shards "ALTER TABLE conf.batches@ DELETE WHERE agent_id='a3'"
wait_for 30 "the batches rows of a3 deleted (mutation)" ch_is 0 "SELECT count() FROM conf.batches WHERE agent_id='a3'"
check_eq "$(seed R2 a3)" "stored=6 duplicate=0" "replica 2: a3's batches stored again (batches rows lost)"
check_eq "$(ch_query CH "SELECT count() FROM conf.batches WHERE agent_id='a3'")" 6 "a3's 6 batches rows written again"
check_eq "$(ch_query CH "SELECT count() FROM conf.req_stats FINAL WHERE batch_agent='a3'")" 24 \
	"a3's request rows read once with FINAL (6 batches x 4 groups)"
check_eq "$(seed S a3)" "stored=6 duplicate=0" "sqlite: 6 batches of agent a3 stored"
seed_single a3 seed "stored=6 duplicate=0"

# --- the same answers from SQLite and from either replica, and the values sent
get() {   # get NAME PATH
	local port; eval "port=\$${1}_HTTP"
	curl -s -H 'Authorization: Bearer admintoken' "http://127.0.0.1:$port$2" | jq -S .
}
same() {   # same PATH NAME: one answer from the three collectors (four on a cluster)
	local a b c
	a=$(get S "$1"); b=$(get R1 "$1"); c=$(get R2 "$1")
	[ -z "${CH_CLUSTER:-}" ] || [ "$(get R0 "$1")" = "$a" ] || c="single node differs: $(get R0 "$1")"
	if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ]; then tap_ok "$2: same answer from sqlite and both replicas${CH_CLUSTER:+ (cluster) and the single node}"
	else
		tap_fail "$2: answers differ"
		diff <(echo "$a") <(echo "$b") | head -20 | sed 's/^/# /'
		diff <(echo "$a") <(echo "$c") | head -10 | sed 's/^/# /'
	fi
}
# last_seen_ms is a sighting time that SQLite writes at most every 30 s per workload (a write
# saved on every batch) and ClickHouse on every batch: the two may differ by up to 30 s, so the
# answers are compared without it and it is checked on its own against the last batch's end
same_seen() {   # same_seen PATH NAME
	local a b c bad
	a=$(get S "$1"); b=$(get R1 "$1"); c=$(get R2 "$1")
	strip() { jq -S 'walk(if type == "object" then del(.last_seen_ms) else . end)'; }
	[ -z "${CH_CLUSTER:-}" ] || [ "$(get R0 "$1" | strip)" = "$(strip <<<"$a")" ] || c="single node differs: $(get R0 "$1")"
	if [ -n "$a" ] && [ "$(strip <<<"$a")" = "$(strip <<<"$b")" ] && [ "$(strip <<<"$a")" = "$(strip <<<"$c")" ]; then
		tap_ok "$2: same answer from sqlite and both replicas${CH_CLUSTER:+ (cluster) and the single node} (but last_seen_ms)"
	else
		tap_fail "$2: answers differ"
		diff <(strip <<<"$a") <(strip <<<"$b") | head -20 | sed 's/^/# /'
	fi
	bad=0
	for x in "$a" "$b" "$c"; do
		bad=$((bad + $(jq "[.. | objects | .last_seen_ms? // empty | select(. < $END - 30000 or . > $END)] | length" <<<"$x")))
	done
	check_eq "$bad" 0 "$2: every last_seen_ms within 30 s of the last batch's end"
}
Q="from=$FROM&to=$END"
same_seen "/api/v1/namespaces" "namespaces"
same_seen "/api/v1/namespaces/shop/pods?$Q" "pods of shop"
same_seen "/api/v1/namespaces/payments/pods?$Q" "pods of payments"
same "/api/v1/namespaces/shop/pods/web/series?$Q&step=10" "series of shop/web, 10 s steps"
# 60 s steps read SQLite's 1-minute rollups, made by its maintenance timer (ClickHouse aggregates
# the raw rows): wait for them before comparing
wait_for 30 "sqlite's 1-minute rollups" bash -c "[ \"\$(curl -s -H 'Authorization: Bearer admintoken' \
	'http://127.0.0.1:$S_HTTP/api/v1/namespaces/shop/pods/web/series?$Q&step=60' | jq '[.points[].requests] | add')\" = 1800 ]"
same "/api/v1/namespaces/shop/pods/web/series?$Q&step=60" "series of shop/web, 60 s steps"
same "/api/v1/namespaces/shop/pods/web/routes?$Q" "routes of shop/web"
same "/api/v1/namespaces/shop/pods/db/routes?$Q" "routes of shop/db"
same "/api/v1/edges?$Q" "edges"
same "/api/v1/namespaces/shop/edges?$Q" "edges of shop"
same "/api/v1/namespaces/shop/pods/web/edges?$Q" "edges of shop/web"

# ground truth: 3 agents x 6 batches x 100 web requests (5 errors each), each counted once
for C in S R1 R2 ${CH_CLUSTER:+R0}; do
	pods=$(get $C "/api/v1/namespaces/shop/pods?$Q")
	check_eq "$(echo "$pods" | jq -r '.pods[] | select(.pod=="web") | "\(.requests)/\(.errors)/\(.rx_bytes)"')" 1800/90/180000 \
		"$C: web requests/errors/rx bytes of 3 agents x 6 batches, duplicates counted once"
	check_eq "$(get $C "/api/v1/namespaces/shop/pods/web/series?$Q&step=10" | jq '[.points[].requests] | add')" 1800 \
		"$C: series total of web"
	check_eq "$(get $C "/api/v1/namespaces/shop/pods/web/routes?$Q" | jq '[.routes[].count] | add')" 1800 \
		"$C: routes total of web"
done
# scoped tokens read the same on ClickHouse
curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer shoptoken' \
	"http://127.0.0.1:$R2_HTTP/api/v1/namespaces/payments/pods" > "$WORK/code"
check_eq "$(cat "$WORK/code")" 403 "replica 2: shop token on payments pods -> 403"
check_eq "$(curl -s -H 'Authorization: Bearer shoptoken' "http://127.0.0.1:$R1_HTTP/api/v1/namespaces" | jq -c '[.namespaces[].name]')" \
	'["shop"]' "replica 1: shop token sees only shop"

# --- names with SQL and TabSeparated metacharacters (a hostile agent): stored as sent, same answers
hostile() { PODLENS_PY=$PYDIR "$PY" "$TOP/tests/integration/collector/hostile_names.py" "$@"; }
for C in S R1 ${CH_CLUSTER:+R0}; do
	eval "port=\$${C}_GRPC"
	check_eq "$(hostile "127.0.0.1:$port" --end-ms "$END")" "accepted=1 duplicate=0" "$C: batch with hostile names accepted"
done
check_eq "$(hostile "127.0.0.1:$R2_GRPC" --end-ms "$END")" "accepted=1 duplicate=1" "replica 2: the hostile batch again is a duplicate"
NSENC=$(jq -rn --arg s "o'hara\\" '$s|@uri')
WANT_POD=$(cat <<'X'
"a\\b\tc\nd'); DROP TABLE req_stats; --"
X
)
check_eq "$(get R1 "/api/v1/namespaces/$NSENC/pods?$Q" | jq '.pods[0].pod')" "$WANT_POD" \
	"replica 1: the pod name comes back byte for byte"
same_seen "/api/v1/namespaces" "namespaces with the hostile one"
same "/api/v1/namespaces/$NSENC/pods?$Q" "pods of the hostile namespace"
PODENC=$(get S "/api/v1/namespaces/$NSENC/pods?$Q" | jq -r '.pods[0].pod | @uri')
same "/api/v1/namespaces/$NSENC/pods/$PODENC/routes?$Q" "routes of the hostile pod"
check_eq "$(get R1 "/api/v1/namespaces/$NSENC/pods/$PODENC/routes?$Q" | jq -r '.routes[0].route')" "$(printf "/x'; DROP TABLE workloads; --\t\\\\N")" \
	"replica 1: the hostile route comes back byte for byte"
check_eq "$(ch_query CH "SELECT count() FROM system.tables WHERE database='conf' AND name IN ('req_stats','workloads')")" 2 \
	"no table dropped by a name"

# --- DNS views and per-peer edges (chseed.py): same answers, a duplicate batch counted once
chseed() {   # chseed NAME AGENT -> "stored=N duplicate=M"
	local port; eval "port=\$${1}_GRPC"
	PODLENS_PY=$PYDIR "$PY" "$TOP/tests/integration/collector/chseed.py" "127.0.0.1:$port" --agent "$2" \
		--batches 3 --end-ms "$END"
}
check_eq "$(chseed S d1)" "stored=3 duplicate=0" "sqlite: 3 batches with DNS and peer requests stored"
seed_single d1 chseed "stored=3 duplicate=0"
check_eq "$(chseed R1 d1)" "stored=3 duplicate=0" "replica 1: 3 batches with DNS and peer requests stored"
check_eq "$(chseed R2 d1)" "stored=0 duplicate=3" "replica 2: the same batches are duplicates"
# their batches rows lost (a replica killed between its inserts): replica 2 stores every row again
on_shards "ALTER TABLE conf.batches@ DELETE WHERE agent_id='d1'"
# no background merge may collapse the copies before they are counted below
for t in dns_stats dns_search peer_reqs; do on_shards "SYSTEM STOP MERGES conf.$t@"; done
wait_for 30 "the batches rows of d1 deleted (mutation)" ch_is 0 "SELECT count() FROM conf.batches WHERE agent_id='d1'"
check_eq "$(chseed R2 d1)" "stored=3 duplicate=0" "replica 2: d1's batches stored again (batches rows lost)"
for t in dns_stats:18 dns_search:3 peer_reqs:14; do   # rows of the 3 batches
	check_eq "$(ch_query CH "SELECT count() FROM conf.${t%:*} FINAL WHERE batch_agent='d1'")" ${t#*:} \
		"${t%:*}: d1's rows read once with FINAL"
	check_eq "$(ch_query CH "SELECT count() FROM conf.${t%:*} WHERE batch_agent='d1'")" $((2 * ${t#*:})) \
		"${t%:*}: d1's rows stored twice (so FINAL is what counts them once)"
	on_shards "SYSTEM START MERGES conf.${t%:*}@"
done
QD="from=$((END - 30000))&to=$END"
same "/api/v1/namespaces/team-a/pods/web/dns?$QD" "DNS of team-a/web"
same "/api/v1/namespaces/team-a/pods/web/dns?$QD&top=2" "DNS of team-a/web, top 2 domains"
same "/api/v1/namespaces/team-a/dns?$QD" "DNS of namespace team-a"
same "/api/v1/namespaces/team-b/dns?$QD" "DNS of namespace team-b"
same "/api/v1/namespaces/team-b/pods/api/dns?$QD" "DNS of team-b/api"
same "/api/v1/edges?$QD" "edges with per-peer requests"
same "/api/v1/namespaces/team-a/edges?$QD" "edges of team-a"
same "/api/v1/namespaces/team-b/pods/api/edges?$QD" "edges of team-b/api"
for C in S R1 R2 ${CH_CLUSTER:+R0}; do
	W=$(get $C "/api/v1/namespaces/team-a/pods/web/dns?$QD")
	check_eq "$(echo "$W" | jq -c '[.client.queries, .client.timeouts, .client.errors, .client.nxdomain]')" '[54,3,12,6]' \
		"$C: team-a/web lookups, timeouts, errors, NXDOMAIN of 3 batches, duplicates counted once"
	check_eq "$(echo "$W" | jq -c '[.client.domains[] | [.domain, .count]]')" \
		'[["api.team-b.test",30],["other",15],["web.team-a.svc.cluster.local",6],["gone.test",3]]' \
		"$C: team-a/web domains by count"
	check_eq "$(echo "$W" | jq -c .search)" '{"nxdomain":6,"queries":9}' "$C: team-a/web search storm"
	check_eq "$(get $C "/api/v1/namespaces/team-a/pods/web/dns?$QD&top=1" | jq -c '[.client.domains[].domain, .client.queries_not_listed]')" \
		'["api.team-b.test",24]' "$C: top=1: the busiest domain, the rest counted"
	E=$(get $C "/api/v1/namespaces/team-a/pods/web/edges?$QD")
	check_eq "$(echo "$E" | jq -c '[.edges[] | select(.dst == "team-b/api") | .requests, .errors, .client_errors, .l7_per_peer, .l7_from]')" \
		'[90,6,9,true,"server"]' "$C: web -> team-b/api: the peer's requests (pod IP named), duplicates counted once"
	check_eq "$(echo "$E" | jq -c '[.edges[] | select(.dst != "team-b/api") | [.dst, .requests, .l7_per_peer, .l7_from]]')" \
		'[["192.0.2.9",15,true,"client"],["team-c/new",11,true,"client"],["team-c/old",7,true,"client"]]' \
		"$C: web's client-side peers: an address of no pod, and 10.9.0.3 named old then new by time"
done
# --- retention: batches 3 h old leave both backends with --retention 1h
start_collector S2 --data-dir "$WORK/sqlite-ret" --retention 1h --maintain-interval 1 --read-tokens "$WORK/read-tokens" ||
	{ tap_fail "sqlite collector with 1h retention starts"; exit 1; }
start_collector R3 --store "clickhouse:$CH_URL/ret" --store-credentials "$CH_CRED" "${CLUSTER[@]}" --retention 1h \
	--maintain-interval 1 --read-tokens "$WORK/read-tokens" || { tap_fail "clickhouse collector with 1h retention starts"; exit 1; }
OLD=$((END - 3 * 3600 * 1000))
for C in S2 R3; do
	eval "port=\$${C}_GRPC"
	check_eq "$(pyclient seed "127.0.0.1:$port" --agent old --batches 6 --end-ms "$OLD" | grep -o 'stored=[0-9]*')" stored=6 \
		"$C: 6 batches 3 h old stored"
	check_eq "$(pyclient seed "127.0.0.1:$port" --agent new --batches 6 --end-ms "$END" | grep -o 'stored=[0-9]*')" stored=6 \
		"$C: 6 fresh batches stored"
done
web_requests_is() { [ "$(get $1 "/api/v1/namespaces/shop/pods?$2" | jq '.pods[] | select(.pod=="web") | .requests')" = "$3" ]; }
QR="from=$((OLD - 120000))&to=$END"
for C in S2 R3; do
	wait_for 30 "$C: batches older than the retention gone from pods" web_requests_is $C "$QR" 600
	check_eq "$(get $C "/api/v1/namespaces/shop/pods?$QR" | jq '.pods[] | select(.pod=="web") | .requests')" 600 \
		"$C: web requests over 3 h with 1 h retention: only the fresh 600"
done
check_eq "$(get S2 "/api/v1/namespaces/shop/pods/web/series?$QR&step=600")" "$(get R3 "/api/v1/namespaces/shop/pods/web/series?$QR&step=600")" \
	"retention: same series from sqlite and clickhouse"
wait_for 30 "clickhouse dropped the partitions of the old batches" ch_is 0 "SELECT count() FROM ret.req_stats WHERE ts<$((OLD + 3600000))"
check_eq "$(ch_query CH "SELECT count() FROM ret.req_stats WHERE ts<$((END - 3600000))")" 0 \
	"clickhouse: no request rows older than the retention left on disk"
check_eq "$(ch_query CH "SELECT count() FROM ret.req_stats")" 24 "clickhouse: the fresh 6 x 4 request rows stay"

# --- refusals: newer schema, wrong and missing credentials
ch_query CH "CREATE DATABASE IF NOT EXISTS future" >/dev/null
ch_query CH "CREATE TABLE future.schema_version (version UInt32, applied_ms Int64) ENGINE = MergeTree() ORDER BY version" >/dev/null
ch_query CH "INSERT INTO future.schema_version VALUES (99, 0)" >/dev/null
refused() {   # refused NAME ARGS...: the collector exits non-zero; its stderr in $WORK/NAME.err
	local n=$1; shift
	timeout 30 "$COLLECTOR_BIN" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 "$@" >/dev/null 2>"$WORK/$n.err"
	echo $?
}
check_eq "$(refused future --store "clickhouse:$CH_URL/future" --store-credentials "$CH_CRED")" 1 "a database of schema 99 is refused"
check_eq "$(grep -c 'schema version 99' "$WORK/future.err")" 1 "the log names the schema version"
printf 'podlens:wrong\n' > "$WORK/bad-cred"
check_eq "$(refused badpw --store "$DB" --store-credentials "$WORK/bad-cred")" 1 "a wrong password is refused"
check_eq "$(refused nocred --store "$DB")" 1 "no credentials (user default, not allowed from 127.0.0.1) is refused"
check_eq "$(refused badurl --store clickhouse:ftp://127.0.0.1/x)" 1 "a URL that is not http(s) is refused"
grep -q 'wrong' "$WORK/badpw.err" && check_eq "$(grep -c 'podlens:wrong' "$WORK/badpw.err")" 0 "the password is not logged"
# the replicas kept working through all of it
check_eq "$(get R1 "/api/v1/namespaces/shop/pods?$Q" | jq '.pods[] | select(.pod=="web") | .requests')" 1800 \
	"replica 1 still answers the same"

[ -n "${CH_CLUSTER:-}" ] || exit 0
# --- the cluster's own: where rows live, partitions per shard, mixed-up modes, a shard down
rows_of() { ch_query $1 "SELECT DISTINCT w_namespace, w_pod FROM conf.$2 ORDER BY w_namespace, w_pod" | LC_ALL=C sort; }
for t in req_stats pod_stats dns_stats peer_reqs; do
	a=$(rows_of CH ${t}_local); b=$(rows_of CHB ${t}_local); all=$(rows_of CH $t)
	check_eq "$(LC_ALL=C comm -12 <(echo "$a") <(echo "$b") | grep -c .)" 0 "$t: no pod has rows on both shards"
	check_eq "$(printf '%s\n%s\n' "$a" "$b" | LC_ALL=C sort | grep -c .)/$(echo "$all" | grep -c .)" \
		"$(echo "$all" | grep -c .)/$(echo "$all" | grep -c .)" "$t: every pod's rows on one shard (shard pods / all pods)"
	check_eq "$([ -n "$a" ] && [ -n "$b" ] && echo both)" both "$t: both shards hold pods (the key spreads them)"
done
# a duplicate stored on a shard is collapsed on that shard: each shard's FINAL counts a3 once
check_eq "$(( $(ch_query CH "SELECT count() FROM conf.req_stats_local FINAL WHERE batch_agent='a3'") + \
	$(ch_query CHB "SELECT count() FROM conf.req_stats_local FINAL WHERE batch_agent='a3'") ))" 24 \
	"a3's request rows (stored twice, through both entries) once per shard with FINAL: 24 in all"
for n in CH CHB; do
	check_eq "$(ch_query $n "SELECT count() FROM system.parts WHERE active AND database='ret' AND table='req_stats_local' AND toInt64(partition)<$(( (END - 3600000) / 3600000 ))")" 0 \
		"retention: $n holds no partition of req_stats_local older than the retention"
done
# mixed-up modes: a cluster's database opened as a single node's and the reverse are refused
check_eq "$(refused mix1 --store "clickhouse:$CH_URL/conf" --store-credentials "$CH_CRED")" 1 \
	"a cluster's database opened without --store-cluster is refused"
check_eq "$(grep -c 'holds Distributed tables' "$WORK/mix1.err")" 1 "the log says why"
ch_query CH "CREATE DATABASE IF NOT EXISTS solo" >/dev/null
ch_query CH "CREATE TABLE solo.req_stats (x Int64) ENGINE = MergeTree() ORDER BY x" >/dev/null
check_eq "$(refused mix2 --store "clickhouse:$CH_URL/solo" --store-credentials "$CH_CRED" "${CLUSTER[@]}")" 1 \
	"a single node's database opened with --store-cluster is refused"
check_eq "$(ch_query CHB "SELECT count() FROM system.tables WHERE database='solo'")" 0 "nothing created on the other node"
check_eq "$(refused nonodes --store "$DB" --store-credentials "$CH_CRED" --store-cluster pl2)" 2 "--store-cluster without --store-nodes is refused"
check_eq "$(refused badnode --store "$DB" --store-credentials "$CH_CRED" --store-cluster pl2 --store-nodes "$CHB_URL/conf")" 1 \
	"a node URL with a database is refused"
ch_query CHB "CREATE DATABASE IF NOT EXISTS future" >/dev/null
ch_query CHB "CREATE TABLE future.schema_version (version UInt32, applied_ms Int64) ENGINE = MergeTree() ORDER BY version" >/dev/null
ch_query CHB "INSERT INTO future.schema_version VALUES (99, 0)" >/dev/null
ch_query CH "DROP DATABASE future" >/dev/null
check_eq "$(refused future2 --store "clickhouse:$CH_URL/future" --store-credentials "$CH_CRED" "${CLUSTER[@]}")" 1 \
	"a cluster with one node of schema 99 is refused"
check_eq "$(ch_query CH "SELECT count() FROM system.tables WHERE database='future' AND name<>'schema_version'")" 0 \
	"no table but schema_version created on the first node"
# a shard down: the insert fails and the agent is told (it retries), reads fail rather than answer half
kill -9 "$CHB_PID"
check_eq "$(pyclient one "127.0.0.1:$R1_GRPC" --agent down --seq 1 | grep -c '^status=OK')" 0 \
	"shard 2 down: a batch through replica 1 is not acknowledged"
check_eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer admintoken' "http://127.0.0.1:$R1_HTTP/api/v1/namespaces/shop/pods?$Q")" 500 \
	"shard 2 down: pods of shop answer an error (500), not half the pods"
