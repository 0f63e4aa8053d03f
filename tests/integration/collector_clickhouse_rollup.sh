#!/bin/bash
# The ClickHouse store's rollups (docs/collector.md, "Rollups"): the service map and the pods'
# request totals read from the per-minute rollups the collectors compute answer exactly as the
# raw rows do and as the SQLite collector fed the same batches does:
#   - W, a replica whose roller runs (PODLENS_CH_ROLLUP_QUIET_MS=1000), and N, a replica on the
#     same database reading raw rows only (PODLENS_CH_ROLLUPS=0), next to a SQLite collector S;
#   - 50 pods whose flows carry only addresses (map50.py) and the per-peer requests of chseed.py
#     (an address changing hands between two pods, an address of no pod), older than a minute;
#   - once every minute is rolled up: edges (whole map, a namespace, a pod, group=owner) and the
#     pods of a namespace the same from W, N and S over whole minutes (rollups only) and over a
#     range cut mid-minute at both ends (rollups + raw rows);
#   - a batch stored twice (its batches row lost, re-sent): counted once before and after the
#     minute is rolled up again; a late batch for a rolled-up minute: in the answers at once
#     (the minute is read raw until recomputed) and after the recomputation.
# With CH_CLUSTER=1 (collector_clickhouse_cluster_rollup.sh) on a 2-shard cluster.
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
source "$TOP/tests/integration/collector/clickhouse.sh"
cd "$TOP"

WORK=$(mktemp -d /tmp/podlens-collector-rollup.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }

if [ -n "${CH_CLUSTER:-}" ]; then
	CH_PORT_BASE=${CH_PORT_BASE:-20150}
	start_clickhouse_cluster pl2 CH CHB || { tap_fail "a 2-shard clickhouse cluster starts"; exit 1; }
	CLUSTER=(--store-cluster pl2 --store-nodes "$CH_URL,$CHB_URL"); SHARDS="CH CHB"; LOC=_local
else
	CH_PORT_BASE=${CH_PORT_BASE:-20120}
	start_clickhouse CH || { tap_fail "private clickhouse-server starts"; exit 1; }
	CLUSTER=(); SHARDS=CH; LOC=
fi
on_shards() { local n; for n in $SHARDS; do ch_query $n "${1//@/$LOC}" >/dev/null || return 1; done; }
ch_is() { [ "$(ch_query CH "$2")" = "$1" ]; }   # ch_is WANT SQL
DB="clickhouse:$CH_URL/roll"
start_collector S --data-dir "$WORK/sqlite" --maintain-interval 1 || { tap_fail "sqlite collector starts"; exit 1; }
PODLENS_CH_ROLLUP_QUIET_MS=1000 start_collector W --store "$DB" --store-credentials "$CH_CRED" "${CLUSTER[@]}" ||
	{ tap_fail "replica W (rollups) starts"; exit 1; }
PODLENS_CH_ROLLUPS=0 start_collector N --store "$DB" --store-credentials "$CH_CRED" "${CLUSTER[@]}" ||
	{ tap_fail "replica N (raw rows only) starts"; exit 1; }
check_eq "$(ch_query CH 'SELECT max(version) FROM roll.schema_version')" 2 "schema version 2 (rollups) recorded"

# --- the same batches to S and W: chseed (peers) 3 and 12 batches ending 5 and 3 minutes ago,
# map50 (addresses only) ending now
MIN=60000
E2=$(( ($(date +%s) * 1000 / MIN) * MIN - 3 * MIN )); E1=$((E2 - 5 * MIN))
chseed() {   # chseed NAME AGENT BATCHES END -> "stored=N duplicate=M"
	local port; eval "port=\$${1}_GRPC"
	PODLENS_PY=$PYDIR "$PY" "$TOP/tests/integration/collector/chseed.py" "127.0.0.1:$port" --agent "$2" \
		--batches "$3" --end-ms "$4" | grep -o 'stored=[0-9]* duplicate=[0-9]*'
}
for c in S W; do
	check_eq "$(chseed $c d1 3 $E1)" "stored=3 duplicate=0" "$c: 3 batches of d1 (an address changing hands)"
	check_eq "$(chseed $c d2 12 $E2)" "stored=12 duplicate=0" "$c: 12 batches of d2 over 2 minutes"
	eval "port=\$${c}_GRPC"
	PODLENS_PY=$PYDIR "$PY" tests/integration/collector/map50.py "127.0.0.1:$port" >/dev/null ||
		tap_fail "$c: map50 seeded"
done

# every minute holding data rolled up: a computation recorded after its last dirty mark
# (the marks are 30 s ahead of their commit, the roller waits 1 s more, passes every 5 s)
unrolled() {
	ch_query CH "SELECT count() FROM (SELECT minute, maxIf(ms, kind=0) AS m, maxIf(ms, kind=1) AS d
		FROM roll.rollup_marks GROUP BY minute) WHERE NOT (d > 0 AND m < d - 5000)"
}
all_rolled() { [ "$(unrolled)" = 0 ]; }
wait_for 120 "every minute with data rolled up" all_rolled
check_eq "$(unrolled)" 0 "every minute with data rolled up"
check_ge "$(ch_query CH 'SELECT count() FROM roll.flows_1m')" 50 "flows_1m holds the map's groups"
check_ge "$(ch_query CH 'SELECT count() FROM roll.peer_reqs_1m')" 4 "peer_reqs_1m holds the per-peer requests"
check_ge "$(ch_query CH 'SELECT count() FROM roll.req_stats_1m')" 2 "req_stats_1m holds the request totals"

get() {   # get NAME PATH
	local port; eval "port=\$${1}_HTTP"
	# last_seen_ms: a sighting time SQLite writes at most every 30 s (collector_clickhouse.sh)
	curl -s "http://127.0.0.1:$port$2" | jq -S 'del(.. | .last_seen_ms?)'
}
same() {   # same PATH WHAT: one answer from S, W and N
	local a b c
	a=$(get S "$1"); b=$(get W "$1"); c=$(get N "$1")
	if [ -n "$a" ] && [ "$a" != null ] && [ "$a" = "$b" ] && [ "$a" = "$c" ]; then
		tap_ok "$2: same answer from sqlite, rollups and raw rows"
	else
		tap_fail "$2: answers differ"
		diff <(echo "$a") <(echo "$b") | head -20 | sed 's/^/# rollups: /'
		diff <(echo "$a") <(echo "$c") | head -10 | sed 's/^/# raw: /'
	fi
}
NOW=$(( $(date +%s) * 1000 ))
WHOLE="from=$((E1 - 10 * MIN))&to=$(( (NOW / MIN + 2) * MIN ))"   # whole minutes: rollups only
CUT="from=$((E1 - 2 * MIN - 25000))&to=$((E2 - 35000))"            # mid-minute ends: + raw rows
API_POD=$(curl -s "http://127.0.0.1:$S_HTTP/api/v1/namespaces/shop/pods" | jq -r '.pods[0].pod')
compare_all() {   # compare_all WHEN
	local r
	for r in "$WHOLE" "$CUT"; do
		local what; [ "$r" = "$WHOLE" ] && what="$1, whole minutes" || what="$1, cut mid-minute"
		same "/api/v1/edges?$r" "$what: every edge"
		same "/api/v1/edges?$r&group=owner" "$what: every edge by owner"
		same "/api/v1/namespaces/team-a/edges?$r" "$what: edges of team-a"
		same "/api/v1/namespaces/team-b/edges?$r" "$what: edges of team-b"
		same "/api/v1/namespaces/shop/edges?$r" "$what: edges of shop"
		same "/api/v1/namespaces/shop/pods/$API_POD/edges?$r" "$what: edges of shop/$API_POD"
		same "/api/v1/namespaces/team-a/pods?$r" "$what: pods of team-a (request totals)"
	done
}
compare_all "rolled up"
# ground truth on the rollups' answer: web -> team-b/api, 30 requests per batch (15 batches)
webapi() {   # webapi NAME: requests on the edge team-a/web -> team-b/api over WHOLE
	get "$1" "/api/v1/namespaces/team-a/edges?$WHOLE" |
		jq '[.edges[] | select(.src=="team-a/web" and .dst=="team-b/api") | .requests] | add'
}
check_eq "$(webapi W)" 450 "rollups: team-a/web -> team-b/api 450 requests (15 batches x 30)"

# --- a batch stored twice: d2's batches rows lost, the batches re-sent and stored again
on_shards "ALTER TABLE roll.batches@ DELETE WHERE agent_id='d2'"
wait_for 30 "the batches rows of d2 deleted (mutation)" ch_is 0 "SELECT count() FROM roll.batches WHERE agent_id='d2'"
check_eq "$(chseed W d2 12 $E2)" "stored=12 duplicate=0" "d2's 12 batches stored again (batches rows lost)"
check_ge "$(unrolled)" 2 "d2's two minutes (at least) dirty again"
check_eq "$(webapi W)" 450 "re-stored batches counted once (minutes read raw)"
compare_all "re-stored, raw"
wait_for 120 "d2's minutes rolled up again" all_rolled
check_eq "$(webapi W)" 450 "re-stored batches counted once (rolled up again)"
compare_all "re-stored, rolled up again"

# --- a late batch for a rolled-up minute (a new agent's, one interval inside d2's range)
check_eq "$(chseed S d3 1 $((E2 - 30000)))" "stored=1 duplicate=0" "sqlite: a late batch of d3"
check_eq "$(chseed W d3 1 $((E2 - 30000)))" "stored=1 duplicate=0" "W: a late batch of d3"
check_ge "$(unrolled)" 1 "its minute dirty"
check_eq "$(webapi W)" 480 "the late batch in the answer at once (480 requests)"
compare_all "late batch, raw"
wait_for 120 "the late minute rolled up again" all_rolled
check_eq "$(webapi W)" 480 "the late batch after the recomputation (480 requests)"
check_eq "$(webapi N)" 480 "the raw rows agree (480 requests)"
compare_all "late batch, rolled up again"

# --- W's answers did come from the rollups: a computation recorded for d1's minutes with no rows
# (a later ver) empties those minutes for W; N, reading raw rows, is unchanged
on_shards "INSERT INTO roll.rollup_marks@ SELECT DISTINCT minute, 1, toInt64($(( $(date +%s) * 1000 + 60000 )))
	FROM roll.rollup_marks@ WHERE minute >= $((E1 - 3 * MIN)) AND minute < $E1"
check_eq "$(webapi W)" 390 "rollups read by W: d1's minutes emptied (480 - 3 x 30)"
check_eq "$(webapi N)" 480 "raw rows read by N: unchanged"
