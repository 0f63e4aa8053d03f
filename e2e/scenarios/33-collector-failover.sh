#!/bin/bash
# 33-collector-failover (issue 16, "How it will be checked"): lab pods -> agent -> two collector
# replicas -> one ClickHouse, a replica killed mid-run. payments/client fetches shop/web's page N
# times (ground truth: the fetches it logged); agent AG exports to
# "http://127.0.0.1:P,127.0.0.2:P" (replicas R1, R2 on a private clickhouse-server), agent AS (the
# same run, a second agent on the same node) to a SQLite collector. The replica AG uses is
# SIGKILLed while the client runs and restarted. Checked: both replicas' API show shop/web's N
# requests and the client's N client requests (each batch once), the same bytes and latency; the
# SQLite collector shows the same requests and bytes, and latency within 25 % (timed by the other
# agent's own programs).
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
source "$E2E_TOP/tests/integration/collector/lib.sh"
source "$E2E_TOP/tests/integration/collector/clickhouse.sh"
N=${E2E_FAILOVER_N:-150}
GPORT=19130; HPORT=19131; A1=127.0.0.1; A2=127.0.0.2

start_clickhouse CH || { tap_fail "private clickhouse-server starts"; exit 1; }
start_replica() {   # start_replica NAME ADDR
	local name=$1 addr=$2 out=$E2E_TMP/$1.$(date +%s%N) pid
	"$COLLECTOR_BIN" --grpc-addr "$addr:$GPORT" --http-addr "$addr:$HPORT" --store "clickhouse:$CH_URL/lab" \
		--store-credentials "$CH_CRED" --log-level warn >"$out" 2>"$out.err" &
	pid=$!
	defer "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null"
	eval "${name}_PID=$pid ${name}_ADDR=$addr"
	wait_for 20 "replica $name ready" grep -q '^podlens-collector ready' "$out"
}
stored() { curl -s "http://$1:$HPORT/metrics" | awk '$1 == "podlens_collector_batches_total{result=\"stored\"}" {print $2; f=1} END {if (!f) print 0}'; }
start_replica R1 $A1 || { tap_fail "replica 1 starts"; exit 1; }
start_replica R2 $A2 || { tap_fail "replica 2 starts"; exit 1; }
start_collector S --data-dir "$E2E_TMP/sqlite" || { tap_fail "sqlite collector starts"; exit 1; }
tap_ok "replicas $A1:$GPORT and $A2:$GPORT on clickhouse, sqlite collector on $S_GRPC"

e2e_web WEB shop web 3000 || { tap_fail "shop/web up"; exit 1; }
T0=$(( $(date +%s) * 1000 - 60000 ))
e2e_agent_start AG 300 --collector "http://$A1:$GPORT,$A2:$GPORT" || exit 1
e2e_agent_start AS 300 --collector "http://127.0.0.1:$S_GRPC" || exit 1
e2e_agent_ready AG 20 && e2e_agent_ready AS 20 || { tap_fail "both agents ready"; exit 1; }
wait_for 20 "HTTP capture on shop/web (AG)" grep -q "l7: capturing HTTP" "$AG_LOG"
wait_for 20 "HTTP capture on shop/web (AS)" grep -q "l7: capturing HTTP" "$AS_LOG"
e2e_client CL payments client "$WEB_IP" "$N" 0.1 || { tap_fail "client pod up"; exit 1; }

# the replica in use: the one whose stored count moves
wait_for 30 "AG's batches stored" bash -c "[ \$(( \$(curl -s http://$A1:$HPORT/metrics http://$A2:$HPORT/metrics | awk '\$1 ~ /result=\"stored\"/ {s += \$2} END {print s + 0}') )) -ge 5 ]"
s1=$(stored $A1); s2=$(stored $A2)
if [ "$s1" -gt 0 ] && [ "$s2" -eq 0 ]; then X=R1; Y=R2; elif [ "$s2" -gt 0 ] && [ "$s1" -eq 0 ]; then X=R2; Y=R1; else X=; fi
check_eq "${X:+one}" one "the agent sticks to one replica ($s1 / $s2 batches)"
[ -n "$X" ] || { X=R1; Y=R2; }
eval "xp=\$${X}_PID xa=\$${X}_ADDR ya=\$${Y}_ADDR"
done_now=$(podctl logs "$CL_CTR" 2>/dev/null | grep -c '^fetch' || true)
kill -9 "$xp"; wait "$xp" 2>/dev/null
diag "killed $X ($xa) after $done_now of $N fetches"
ys=$(stored $ya)
wait_for 30 "batches go on to $Y" bash -c "[ \$(curl -s http://$ya:$HPORT/metrics | awk '\$1 ~ /result=\"stored\"/ {print \$2}') -ge $((ys + 3)) ]" &&
	tap_ok "the agent's batches went on to $Y" || tap_fail "no batches reached $Y"
start_replica $X $xa || { tap_fail "$X restarts"; exit 1; }
e2e_client_wait "$CL_CTR" 120 || tap_fail "client done"
check_eq "$(e2e_client_count "$CL_CTR")" "$N" "client fetched $N pages (ground truth)"
check_ge $((N - done_now)) 20 "at least 20 fetches happened after the kill"
# the agents' own JSON holds every request before they are stopped (and flush their last batch)
e2e_two_agents_done shop web "$N"

Q="from=$T0&to=$(( $(date +%s) * 1000 + 60000 ))"
pods() {   # pods ADDR:PORT NS POD -> "requests client_requests rx tx"
	curl -s "http://$1/api/v1/namespaces/$2/pods?$Q" |
		jq -r --arg p "$3" '.pods[] | select(.pod == $p) | "\(.requests) \(.client_requests) \(.rx_bytes) \(.tx_bytes)"'
}
for C in "R1 $A1:$HPORT" "R2 $A2:$HPORT" "sqlite 127.0.0.1:$S_HTTP"; do
	set -- $C
	check_eq "$(pods "$2" shop web | cut -d' ' -f1)" "$N" "$1: shop/web served $N requests, each counted once"
	check_eq "$(pods "$2" payments client | cut -d' ' -f2)" "$N" "$1: payments/client made $N client requests"
done
check_eq "$(pods $A1:$HPORT shop web)" "$(pods $A2:$HPORT shop web)" "shop/web: the same answer from both replicas"
# the SQLite side comes from the second agent: the same packets and requests, counted by its own
# programs: requests and bytes equal; latency timed by each agent on its own, within 25 %
check_eq "$(pods $A1:$HPORT shop web)" "$(pods 127.0.0.1:$S_HTTP shop web)" \
	"shop/web requests and rx/tx bytes: replica = sqlite collector of the same run"
check_eq "$(pods $A1:$HPORT payments client)" "$(pods 127.0.0.1:$S_HTTP payments client)" \
	"payments/client requests and rx/tx bytes: replica = sqlite collector of the same run"
lat() { curl -s "http://$1/api/v1/namespaces/shop/pods?$Q" | jq -r '.pods[] | select(.pod == "web") | .'"$2"; }
for q in p50_us p99_us; do
	check_within "$(lat $A2:$HPORT $q)" "$(lat 127.0.0.1:$S_HTTP $q)" 25 "shop/web $q: replica vs sqlite collector"
	check_eq "$(lat $A1:$HPORT $q)" "$(lat $A2:$HPORT $q)" "shop/web $q: the same from both replicas"
done
diag "shop/web requests client rx tx p50 p99: replicas $(pods $A1:$HPORT shop web) $(lat $A1:$HPORT p50_us) $(lat $A1:$HPORT p99_us), sqlite $(pods 127.0.0.1:$S_HTTP shop web) $(lat 127.0.0.1:$S_HTTP p50_us) $(lat 127.0.0.1:$S_HTTP p99_us)"
# the service map of one namespace (on ClickHouse a first read finds only the pods at the flows'
# ends, then their flows): the payments/client -> shop/web edge as the SQLite collector shows it
nsedge() {   # nsedge ADDR:PORT -> "connections requests" of payments/client -> shop/web in shop's map
	curl -s "http://$1/api/v1/namespaces/shop/edges?$Q" |
		jq -r '[.edges[] | select(.src == "payments/client" and .dst == "shop/web") | "\(.connections) \(.requests)"] | first // "none"'
}
check_eq "$(nsedge $A1:$HPORT | cut -d' ' -f2)" "$N" "shop's map: payments/client -> shop/web carries the $N requests"
check_eq "$(nsedge $A1:$HPORT)" "$(nsedge $A2:$HPORT)" "shop's map: the same edge from both replicas"
check_eq "$(nsedge $A1:$HPORT)" "$(nsedge 127.0.0.1:$S_HTTP)" "shop's map: replica = sqlite collector of the same run"
