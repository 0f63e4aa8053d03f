#!/bin/bash
# 31-collector-edge-requests (issue 13 item 3): per-edge requests from the server's figures of
# each client. Two client pods, payments/client-a and payments/client-b, call the same server pod
# shop/api (an HTTP/1.1 server in its cgroup and network namespace that answers /status/NNN with
# NNN) with known, different request counts and known errors: A makes A_OK 200s, A_5XX 500s and
# A_4XX 404s, B makes B_OK 200s and B_5XX 503s, each group over one keep-alive connection. The
# agent's JSON must show shop/api's requests per client address; the collector's edges must show
# each client's exact requests, 5xx, 4xx and error % on its own edge, from the server side, and
# not shop/api's total on either.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
A_OK=${E2E_EDGE_A_OK:-27}; A_5XX=3; A_4XX=2
B_OK=${E2E_EDGE_B_OK:-11}; B_5XX=1
A_ALL=$((A_OK + A_5XX + A_4XX)); B_ALL=$((B_OK + B_5XX))
COLLECTOR=$E2E_TOP/$BUILD/bin/podlens-collector
[ -x "$COLLECTOR" ] || { tap_fail "collector binary $COLLECTOR missing (make all)"; exit 1; }

"$COLLECTOR" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir "$E2E_TMP/collector" \
	>"$E2E_TMP/collector.out" 2>"$E2E_TMP/collector.log" &
COL_PID=$!
defer "kill -TERM $COL_PID 2>/dev/null; wait_for 10 'collector exit' e2e_gone $COL_PID || kill -KILL $COL_PID 2>/dev/null"
wait_for 10 "collector ready" grep -q '^podlens-collector ready' "$E2E_TMP/collector.out" ||
	{ tap_fail "collector ready"; cat "$E2E_TMP/collector.log" >&2; exit 1; }
GRPC=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$E2E_TMP/collector.out")
HTTP=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$E2E_TMP/collector.out")
tap_ok "collector up (grpc $GRPC, http $HTTP)"

e2e_mapsrv_api || exit 1

e2e_agent_start AG 120 --collector "http://127.0.0.1:$GRPC" || exit 1
e2e_agent_ready AG 20 || { tap_fail "agent ready (/healthz)"; exit 1; }
wait_for 20 "HTTP capture on shop/api" grep -q "l7: capturing HTTP of .*$(basename "$acg")" "$AG_LOG" ||
	{ tap_fail "HTTP capture attached to shop/api's container"; exit 1; }
tap_ok "agent exporting to the collector, HTTP capture on shop/api"

# calls VAR NAME: a client pod payments/NAME with a container whose cgroup and netns run mapcli
client_pod() {
	local var=$1 name=$2 ctr
	e2e_pod "$var" "$name" payments --label "app=$name" || return 1
	local id=${var}_ID
	e2e_ctr ctr "${!id}" fetcher -- sleep 100000 || return 1
	printf -v "${var}_CG" %s "$(e2e_cgroup_dir "$ctr")"
	printf -v "${var}_PID" %s "$(e2e_pid "$ctr")"
}
calls() {   # calls VAR COUNT PATH OUT: COUNT GETs of PATH on one keep-alive connection
	local cg=${1}_CG pid=${1}_PID
	sh -c "echo \$\$ > ${!cg}/cgroup.procs && exec nsenter --net=/proc/${!pid}/ns/net $E2E_PY $E2E_LAB/mapcli.py keep $API_IP 8080 $2 $3" >"$4"
}
client_pod CA client-a || { tap_fail "client-a pod up"; exit 1; }
client_pod CB client-b || { tap_fail "client-b pod up"; exit 1; }
calls CA "$A_OK" /pay "$E2E_TMP/a-ok.json" || tap_fail "client-a's calls"
calls CA "$A_5XX" /status/500 "$E2E_TMP/a-5xx.json" || tap_fail "client-a's failing calls"
calls CA "$A_4XX" /status/404 "$E2E_TMP/a-4xx.json" || tap_fail "client-a's calls of a missing path"
calls CB "$B_OK" /pay "$E2E_TMP/b-ok.json" || tap_fail "client-b's calls"
calls CB "$B_5XX" /status/503 "$E2E_TMP/b-5xx.json" || tap_fail "client-b's failing calls"
# ground truth: what the clients received
got() { jq -s --arg s "$2" '[.[] | .statuses[$s] // 0] | add' "$E2E_TMP/$1"-*.json; }
check_eq "$(got a 200) $(got a 500) $(got a 404)" "$A_OK $A_5XX $A_4XX" "client-a received its 200s, 500s and 404s (ground truth)"
check_eq "$(got b 200) $(got b 503)" "$B_OK $B_5XX" "client-b received its 200s and 503s (ground truth)"
diag "client-a $CA_IP: $A_ALL calls; client-b $CB_IP: $B_ALL calls; shop/api $API_IP"

e2e_agent_stop AG 30
check_eq "$AG_RC" 0 "agent exit status after SIGTERM"

# the agent's own JSON: shop/api's server-side requests per client address
peer_sum() {   # peer_sum IP FIELD
	jq -s --arg ip "$1" --arg f "$2" '[.[] | select(.workload.namespace == "shop" and .workload.pod == "api")
		| .peers[]? | select(.direction == "server" and .addr == $ip) | .[$f]] | add // 0' "$AG_OUT"
}
check_eq "$(peer_sum "$CA_IP" count) $(peer_sum "$CA_IP" errors) $(peer_sum "$CA_IP" client_errors)" \
	"$A_ALL $A_5XX $A_4XX" "agent JSON: shop/api's requests, 5xx, 4xx from client-a's address"
check_eq "$(peer_sum "$CB_IP" count) $(peer_sum "$CB_IP" errors) $(peer_sum "$CB_IP" client_errors)" \
	"$B_ALL $B_5XX 0" "agent JSON: shop/api's requests, 5xx, 4xx from client-b's address"
check_eq "$(jq -s '[.[] | select(.workload.namespace == "shop" and .workload.pod == "api") | .peers[]? | select(.direction == "server") | .port] | unique | join(",")' "$AG_OUT")" \
	'"0"' "agent JSON: server-side peers carry no (ephemeral) client port"

edges() { curl -sf "http://127.0.0.1:$HTTP/api/v1/edges?window=3600" >"$E2E_TMP/edges.json"; }
edge() {   # edge SRC DST FIELD
	jq -r --arg s "$1" --arg d "$2" "[.edges[] | select(.src == \$s and .dst == \$d) | .$3] | first // \"none\"" \
		"$E2E_TMP/edges.json"
}
_edges_in() { edges && [ "$(edge payments/client-a shop/api requests)" = "$A_ALL" ] &&
	[ "$(edge payments/client-b shop/api requests)" = "$B_ALL" ]; }
wait_for 30 "the collector's edges hold both clients' requests" _edges_in ||
	diag "edges: $(jq -c '[.edges[] | [.src, .dst, .requests, .errors, .l7_from]]' "$E2E_TMP/edges.json" 2>/dev/null)"
A=payments/client-a; B=payments/client-b
check_eq "$(edge $A shop/api requests)" "$A_ALL" "edge client-a -> shop/api: requests = client-a's calls"
check_eq "$(edge $B shop/api requests)" "$B_ALL" "edge client-b -> shop/api: requests = client-b's calls"
check_eq "$(edge $A shop/api errors) $(edge $A shop/api client_errors)" "$A_5XX $A_4XX" "edge client-a -> shop/api: 5xx and 4xx"
check_eq "$(edge $B shop/api errors) $(edge $B shop/api client_errors)" "$B_5XX 0" "edge client-b -> shop/api: 5xx and 4xx"
pct() { awk -v e="$1" -v n="$2" 'BEGIN { printf "%.2f", 100 * e / n }'; }
check_eq "$(printf '%.2f' "$(edge $A shop/api error_pct)")" "$(pct $A_5XX $A_ALL)" "edge client-a -> shop/api: error % of its own calls"
check_eq "$(printf '%.2f' "$(edge $B shop/api error_pct)")" "$(pct $B_5XX $B_ALL)" "edge client-b -> shop/api: error % of its own calls"
for x in $A $B; do
	check_eq "$(edge $x shop/api l7_from) $(edge $x shop/api l7_per_peer)" "server true" \
		"edge $x -> shop/api: from shop/api's figures of that client"
	check_eq "$(edge $x shop/api connections)" "$([ $x = $A ] && echo 3 || echo 2)" \
		"edge $x -> shop/api: one keep-alive connection per call group"
	check_ge "$(edge $x shop/api p99_us)" 1 "edge $x -> shop/api: a p99 latency"
done
check_eq "$(jq --argjson t $((A_ALL + B_ALL)) '[.edges[] | select(.requests == $t)] | length' "$E2E_TMP/edges.json")" 0 \
	"no edge carries shop/api's total of both clients"
check_eq "$(curl -sf "http://127.0.0.1:$HTTP/api/v1/namespaces/shop/pods/api/edges?window=3600" |
	jq -c '[.edges[] | [.src, .requests]] | sort')" "[[\"$A\",$A_ALL],[\"$B\",$B_ALL]]" \
	"edges of pod shop/api: each client with its own requests"

# the page's edge details on the same data (headless Chromium; playwright-core as scenario 30)
PAGE=$E2E_TOP/tests/integration/collector/edge_details.mjs
NPM_MODULES=$E2E_TOP/$BUILD/npm/node_modules
if command -v node >/dev/null && [ -x /usr/bin/chromium ] && [ -d "$NPM_MODULES/playwright-core" ]; then
	if PLAYWRIGHT_DIR=$NPM_MODULES node "$PAGE" "http://127.0.0.1:$HTTP/?ns=shop" >"$E2E_TMP/details.json" 2>"$E2E_TMP/details.err"; then
		diag "page: $(cat "$E2E_TMP/details.json")"
		detail() { jq -r --arg h "$1 → shop/api" '[.[] | select(startswith($h))] | first // ""' "$E2E_TMP/details.json"; }
		da=$(detail $A); db=$(detail $B)
		check_eq "$(grep -c "requests$A_ALL (" <<<"$da") $(grep -c "errors$A_5XX 5xx ($(awk -v e=$A_5XX -v n=$A_ALL 'BEGIN { printf "%.1f", 100 * e / n }') %), $A_4XX 4xx" <<<"$da")" "1 1" \
			"page: a click on client-a's edge shows its requests, 5xx % and 4xx"
		check_eq "$(grep -c "requests$B_ALL (" <<<"$db") $(grep -c "errors$B_5XX 5xx (" <<<"$db")" "1 1" \
			"page: a click on client-b's edge shows its requests and 5xx"
		check_eq "$(grep -c "L7 fromthe server's figures of this client" <<<"$da") $(grep -c "L7 fromthe server's figures of this client" <<<"$db")" "1 1" \
			"page: the edge details say whose figures they are"
	else
		tap_fail "page's edge details in headless Chromium (see $E2E_TMP/details.err)"; sed 's/^/# /' "$E2E_TMP/details.err" | tail -5
	fi
else
	tap_fail "page check needs node, /usr/bin/chromium and $NPM_MODULES/playwright-core (run the collector integration suites first)"
fi
