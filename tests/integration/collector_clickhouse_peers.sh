#!/bin/bash
# The one-peer rule of the service map (a pod's request totals join an edge only when that pod has
# that one peer in the whole map) when the edges of one namespace or pod are read: ClickHouse reads
# the flows of what was asked first, so a pod at the other end is seen there with its peers in
# that namespace only; its whole map is read when a pick hangs on its peer count
# (docs/collector.md, "Service map"). tests/integration/collector/peers1.py: x/c calls a/s1 and
# b/s2, a/d calls a/s1, agents without per-peer figures. The same batch into SQLite (S), a
# ClickHouse replica reading the rollups (W, its roller running) and one reading raw rows only
# (N): the answers the seeder's totals make, and the same from all three.
# With CH_CLUSTER=1 (collector_clickhouse_cluster_peers.sh) on a 2-shard cluster.
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
source "$TOP/tests/integration/collector/clickhouse.sh"
cd "$TOP"

WORK=$(mktemp -d /tmp/podlens-collector-peers.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }

if [ -n "${CH_CLUSTER:-}" ]; then
	CH_PORT_BASE=${CH_PORT_BASE:-20270}
	start_clickhouse_cluster pl2 CH CHB || { tap_fail "a 2-shard clickhouse cluster starts"; exit 1; }
	CLUSTER=(--store-cluster pl2 --store-nodes "$CH_URL,$CHB_URL")
else
	CH_PORT_BASE=${CH_PORT_BASE:-20260}
	start_clickhouse CH || { tap_fail "private clickhouse-server starts"; exit 1; }
	CLUSTER=()
fi
DB="clickhouse:$CH_URL/peers"
# answers, not speed: no call may fail on the 2 s query budget of a loaded machine
B=(--query-budget 30s)
start_collector S --data-dir "$WORK/sqlite" "${B[@]}" || { tap_fail "sqlite collector starts"; exit 1; }
PODLENS_CH_ROLLUP_QUIET_MS=1000 start_collector W --store "$DB" --store-credentials "$CH_CRED" "${CLUSTER[@]}" "${B[@]}" ||
	{ tap_fail "replica W (rollups) starts"; exit 1; }
PODLENS_CH_ROLLUPS=0 start_collector N --store "$DB" --store-credentials "$CH_CRED" "${CLUSTER[@]}" "${B[@]}" ||
	{ tap_fail "replica N (raw rows only) starts"; exit 1; }

# one batch in a closed minute, so that W reads it from the rollups once they are computed
MIN=60000
END=$(( ($(date +%s) * 1000 / MIN) * MIN - MIN ))
for c in S W; do
	eval "port=\$${c}_GRPC"
	check_eq "$(PODLENS_PY=$PYDIR "$PY" tests/integration/collector/peers1.py "127.0.0.1:$port" --end-ms $END | jq .stored)" 1 \
		"$c: the batch stored"
done
unrolled() {
	ch_query CH "SELECT count() FROM (SELECT minute, maxIf(ms, kind=0) AS m, maxIf(ms, kind=1) AS d
		FROM peers.rollup_marks GROUP BY minute) WHERE NOT (d > 0 AND m < d - 5000)"
}
all_rolled() { [ "$(unrolled)" = 0 ]; }
wait_for 120 "the batch's minute rolled up" all_rolled
check_eq "$(unrolled)" 0 "the batch's minute rolled up"

R="from=$((END - MIN))&to=$END"
edge() {   # edge NAME PATH SRC DST: "requests errors l7_from" of that edge in that answer
	local port
	eval "port=\$${1}_HTTP"
	curl -sf "http://127.0.0.1:$port/api/v1/$2?$R" |
		jq -r --arg s "$3" --arg d "$4" '[.edges[] | select(.src == $s and .dst == $d)] |
			if length == 1 then "\(.[0].requests) \(.[0].errors) \(.[0].l7_from)" else "\(length) edges" end'
}
for c in S W N; do
	check_eq "$(edge $c namespaces/a/edges x/c a/s1)" "null null null" \
		"$c: edges of a: x/c -> a/s1 takes no totals (c has a second server, in b)"
	check_eq "$(edge $c namespaces/a/edges a/d a/s1)" "25 0 client" \
		"$c: edges of a: a/d -> a/s1 takes d's 25 client requests (its one server)"
	check_eq "$(edge $c namespaces/a/pods/s1/edges x/c a/s1)" "null null null" \
		"$c: edges of pod a/s1: x/c -> a/s1 takes no totals"
	check_eq "$(edge $c namespaces/a/pods/d/edges a/d a/s1)" "25 0 client" \
		"$c: edges of pod a/d: a/d -> a/s1 with d's 25"
	check_eq "$(edge $c namespaces/b/edges x/c b/s2)" "30 3 server" \
		"$c: edges of b: x/c -> b/s2 takes s2's 30 requests, 3 errors (its one client)"
	check_eq "$(edge $c namespaces/x/edges x/c a/s1)" "null null null" \
		"$c: edges of x: x/c -> a/s1 takes no totals"
	check_eq "$(edge $c namespaces/x/edges x/c b/s2)" "30 3 server" "$c: edges of x: x/c -> b/s2 with s2's 30"
done
# and the whole answers the same from the three
for p in edges namespaces/a/edges namespaces/b/edges namespaces/x/edges namespaces/a/pods/s1/edges \
	namespaces/x/pods/c/edges "namespaces/a/edges?group=owner"; do
	for c in S W N; do
		eval "port=\$${c}_HTTP"
		sep='?'; [[ $p == *\?* ]] && sep='&'
		curl -sf "http://127.0.0.1:$port/api/v1/$p$sep$R" | jq -S . > "$WORK/$c.json"
	done
	check_eq "$(cmp -s "$WORK/S.json" "$WORK/W.json" && cmp -s "$WORK/S.json" "$WORK/N.json" && echo same ||
		diff "$WORK/S.json" "$WORK/W.json" | head -5)" same "$p: the same answer from sqlite, rollups and raw rows"
done
