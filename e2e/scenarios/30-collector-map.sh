#!/bin/bash
# 30-collector-map (issue 13): the service map from real traffic. payments/client fetches from
# shop/web exactly N times, one new connection each (busybox httpd, HTTP/1.0), and calls shop/api M
# times over ONE keep-alive connection (an HTTP/1.1 server placed in shop/api's cgroup and network
# namespace). The agent exports to a collector on loopback; the collector's edges must show
# payments/client -> shop/web with N connections and bytes within 5% of what the client counted,
# payments/client -> shop/api with M requests from L7 (shop/api's own request stats, joined to its
# only client) and one connection, and no end that is a zero, truncated or unnamed pod address.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
N=${E2E_MAP_FETCHES:-12}
M=${E2E_MAP_CALLS:-25}
SIZE=50000
COLLECTOR=$E2E_TOP/$BUILD/bin/podlens-collector
[ -x "$COLLECTOR" ] || { tap_fail "collector binary $COLLECTOR missing (make all)"; exit 1; }

# the collector, ports picked by the kernel, killed by pid
"$COLLECTOR" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir "$E2E_TMP/collector" \
	>"$E2E_TMP/collector.out" 2>"$E2E_TMP/collector.log" &
COL_PID=$!
defer "kill -TERM $COL_PID 2>/dev/null; wait_for 10 'collector exit' e2e_gone $COL_PID || kill -KILL $COL_PID 2>/dev/null"
wait_for 10 "collector ready" grep -q '^podlens-collector ready' "$E2E_TMP/collector.out" ||
	{ tap_fail "collector ready"; cat "$E2E_TMP/collector.log" >&2; exit 1; }
GRPC=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$E2E_TMP/collector.out")
HTTP=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$E2E_TMP/collector.out")
tap_ok "collector up (grpc $GRPC, http $HTTP)"
echo "$HTTP" >"$E2E_TMP/collector.http_port"

e2e_web WEB shop web $SIZE || { tap_fail "web pod up"; exit 1; }
e2e_mapsrv_api || exit 1

e2e_agent_start AG 120 --collector "http://127.0.0.1:$GRPC" || exit 1
e2e_agent_ready AG 20 || { tap_fail "agent ready (/healthz)"; exit 1; }
wait_for 20 "HTTP capture on shop/api" grep -q "l7: capturing HTTP of .*$(basename "$acg")" "$AG_LOG" ||
	{ tap_fail "HTTP capture attached to shop/api's container"; exit 1; }
tap_ok "agent exporting to the collector, HTTP capture on shop/api"

e2e_pod CLI client payments --label app=client || { tap_fail "client pod up"; exit 1; }
e2e_ctr CLI_CTR "$CLI_ID" fetcher -- sleep 100000 || { tap_fail "client container up"; exit 1; }
ccg=$(e2e_cgroup_dir "$CLI_CTR"); cpid=$(e2e_pid "$CLI_CTR")
# the client runs in payments/client/fetcher's cgroup and network namespace: the agent sees it as that pod
incli() { sh -c "echo \$\$ > $ccg/cgroup.procs && exec nsenter --net=/proc/$cpid/ns/net $E2E_PY $E2E_LAB/mapcli.py $*"; }
incli new "$WEB_IP" 8080 "$N" /index.html >"$E2E_TMP/web.json" || tap_fail "client's fetches from shop/web"
incli keep "$API_IP" 8080 "$M" /pay >"$E2E_TMP/api.json" || tap_fail "client's calls to shop/api"
diag "client: web $(cat "$E2E_TMP/web.json") api $(cat "$E2E_TMP/api.json")"
check_eq "$(jq .requests "$E2E_TMP/web.json")" "$N" "fetches from shop/web answered (ground truth)"
check_eq "$(jq .connections "$E2E_TMP/web.json")" "$N" "connections to shop/web (ground truth)"
check_eq "$(jq .requests "$E2E_TMP/api.json")" "$M" "calls to shop/api answered on one connection (ground truth)"
truth=$(jq '.bytes_sent + .bytes_received' "$E2E_TMP/web.json")
truth_rx=$(jq .bytes_received "$E2E_TMP/web.json")

# SIGTERM: the agent closes its last interval and exports it before it exits
e2e_agent_stop AG 30
check_eq "$AG_RC" 0 "agent exit status after SIGTERM"

edges() { curl -sf "http://127.0.0.1:$HTTP/api/v1/edges?window=3600" >"$E2E_TMP/edges.json"; }
edge() {   # edge SRC DST FIELD
	jq -r --arg s "$1" --arg d "$2" "[.edges[] | select(.src == \$s and .dst == \$d) | .$3] | first // \"none\"" \
		"$E2E_TMP/edges.json"
}
_edges_in() { edges && [ "$(edge payments/client shop/web connections)" = "$N" ] &&
	[ "$(edge payments/client shop/api requests)" = "$M" ]; }
wait_for 30 "the collector's edges hold every connection and request" _edges_in ||
	diag "edges: $(jq -c '[.edges[] | [.src, .dst, .connections, .requests]]' "$E2E_TMP/edges.json" 2>/dev/null)"
cp "$E2E_TMP/edges.json" "$E2E_TMP/edges-final.json" 2>/dev/null
check_eq "$(edge payments/client shop/web connections)" "$N" "edge payments/client -> shop/web: connections = fetches"
check_within "$(edge payments/client shop/web bytes)" "$truth" 5 "edge payments/client -> shop/web: bytes vs what the client sent and received"
check_within "$(edge payments/client shop/web client.bytes_received)" "$truth_rx" 5 "edge payments/client -> shop/web: client's report of bytes received vs its own count"
check_eq "$(edge payments/client shop/web src_namespace)/$(edge payments/client shop/web dst_namespace)" payments/shop \
	"edge payments/client -> shop/web: both ends' namespaces"
check_eq "$(edge payments/client shop/web 'server != null and .client != null')" true \
	"edge payments/client -> shop/web: the client's and the server's reports merged into one edge"
check_eq "$(edge payments/client shop/api requests)" "$M" "edge payments/client -> shop/api: requests = calls (L7)"
check_eq "$(edge payments/client shop/api l7_from)" server "edge payments/client -> shop/api: requests from shop/api's own stats"
check_eq "$(edge payments/client shop/api connections)" 1 "edge payments/client -> shop/api: one keep-alive connection"
check_eq "$(edge payments/client shop/api errors)" 0 "edge payments/client -> shop/api: no error"
check_eq "$(jq '[.edges[] | select(.src == "payments/client" and .dst == "shop/web")] | length' "$E2E_TMP/edges.json")" 1 \
	"one edge payments/client -> shop/web (client ports do not split it)"
bad=$(jq -r '[.edges[] | .src, .dst | select(test("^0[.:]|^0:0:|^[?]$|^$") or (test("^[0-9]") and (test("^[0-9]{1,3}([.][0-9]{1,3}){3}$") | not) and (test(":") | not)))] | unique | join(" ")' "$E2E_TMP/edges.json")
check_eq "$bad" "" "no edge end that is a zero, empty or truncated address"
for ip in "$WEB_IP" "$API_IP" "$CLI_IP"; do
	check_eq "$(jq --arg ip "$ip" '[.edges[] | select(.src == $ip or .dst == $ip)] | length' "$E2E_TMP/edges.json")" 0 \
		"pod address $ip appears only as its pod's name"
done
for p in "payments client" "shop web"; do
	set -- $p
	check_eq "$(curl -sf -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/api/v1/namespaces/$1/pods/$2/edges?window=3600")" 200 \
		"edges of pod $1/$2 answer"
done
check_eq "$(curl -sf "http://127.0.0.1:$HTTP/api/v1/namespaces/shop/pods/api/edges?window=3600" | jq -c '[.edges[] | [.src, .dst]]')" \
	'[["payments/client","shop/api"]]' "edges of pod shop/api: only its client"

# every other view on the same real data (issue 13 item 5): pods list, routes, series, /metrics
api_get() { curl -sf "http://127.0.0.1:$HTTP$1"; }
pods=$(api_get "/api/v1/namespaces/shop/pods?window=3600")
check_eq "$(jq -c '[.pods[].pod] | sort' <<<"$pods")" '["api","web"]' "pods of shop: api and web"
check_eq "$(jq '[.pods[] | select(.pod == "api") | .requests] | first' <<<"$pods")" "$M" \
	"pods of shop: api answered the client's calls (L7)"
check_within "$(jq '[.pods[] | select(.pod == "web") | .tx_bytes] | first' <<<"$pods")" "$truth_rx" 5 \
	"pods of shop: web's tx bytes vs what the client received"
check_eq "$(api_get "/api/v1/namespaces/shop/pods/api/routes?window=3600" |
	jq '[.routes[] | select(.direction == "server" and .route == "/pay") | .count] | add')" "$M" \
	"routes of shop/api: server side of /pay counted once per call"
check_within "$(api_get "/api/v1/namespaces/shop/pods/web/series" | jq '[.points[].tx_bytes] | add')" "$truth_rx" 5 \
	"series of shop/web over the last hour: tx bytes vs what the client received"
api_get /metrics >"$E2E_TMP/metrics.txt"
check_eq "$(awk '/^podlens_pod_requests_per_second\{.*namespace="shop".*pod="api"/ && $NF > 0 {n++} END {print n+0}' "$E2E_TMP/metrics.txt")" 1 \
	"/metrics: shop/api's request rate from the agent's data"
check_eq "$(awk '/^podlens_pod_transmit_bytes_per_second\{.*namespace="shop".*pod="web"/ && $NF > 0 {n++} END {print n+0}' "$E2E_TMP/metrics.txt")" 1 \
	"/metrics: shop/web's transmit rate from the agent's data"

# the page against this collector (headless Chromium), when playwright-core is installed (the
# collector integration suites install it under $BUILD/npm)
PAGE=$E2E_TOP/tests/integration/collector/map_page.mjs
NPM_MODULES=$E2E_TOP/$BUILD/npm/node_modules
if command -v node >/dev/null && [ -x /usr/bin/chromium ] && [ -d "$NPM_MODULES/playwright-core" ]; then
	mkdir -p "$E2E_TOP/$BUILD/test-artifacts"
	shot=$E2E_TOP/$BUILD/test-artifacts/e2e-service-map.png
	if PLAYWRIGHT_DIR=$NPM_MODULES node "$PAGE" "http://127.0.0.1:$HTTP/" "$shot" >"$E2E_TMP/page.json" 2>"$E2E_TMP/page.err"; then
		diag "page: $(cat "$E2E_TMP/page.json")"
		check_eq "$(jq -r '.ns + " " + .url_ns' "$E2E_TMP/page.json")" "shop shop" \
			"page opens on the busiest namespace (shop: both edges, most pods) and puts it in the URL"
		check_eq "$(jq -c '[.nodes[] | select(. == "payments/client" or . == "shop/web" or . == "shop/api")] | sort' "$E2E_TMP/page.json")" \
			'["payments/client","shop/api","shop/web"]' "page's map draws payments/client, shop/web and shop/api"
		check_ge "$(jq .edges "$E2E_TMP/page.json")" 2 "page's map draws the two edges"
		check_eq "$(jq .overlaps "$E2E_TMP/page.json")" 0 "no two ends of the page's map overlap"
		check_eq "$([ -s "$shot" ] && echo yes)" yes "screenshot saved to $BUILD/test-artifacts/e2e-service-map.png"
	else
		tap_fail "page drawn in headless Chromium (see $E2E_TMP/page.err)"; sed 's/^/# /' "$E2E_TMP/page.err" | tail -5
	fi
else
	# never a silent skip: tests/run.sh runs the collector suites (which install playwright-core under
	# $BUILD/npm) before e2e; run them once when running this scenario alone
	tap_fail "page check needs node, /usr/bin/chromium and $NPM_MODULES/playwright-core (run the collector integration suites first)"
fi
