#!/bin/bash
# The service map through the gRPC path and the page: 50 pods over two nodes whose flows carry only
# addresses (tests/integration/collector/map50.py), named by the collector from the pod IPs both
# agents report; edges per pod and per owner; the edges endpoints' parameters read strictly next to
# a client that keeps working; the page in headless Chromium (map_page.mjs): opens on the busiest
# namespace and says so in its URL, 50 ends that do not overlap, labels truncated with the full name
# in a tooltip, edge width by bytes and colour by error rate, a click on a pod and on an edge.
# Screenshot: $BUILD/test-artifacts/collector-map-50.png.
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
cd "$TOP"

WORK=$(mktemp -d /tmp/podlens-collector-map.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }
start_collector C --data-dir "$WORK/data" || { tap_fail "collector starts"; exit 1; }
A=http://127.0.0.1:$C_HTTP

PODLENS_PY=$PYDIR "$PY" tests/integration/collector/map50.py "127.0.0.1:$C_GRPC" >"$WORK/sent.json" ||
	{ tap_fail "seed 50 pods"; exit 1; }
check_eq "$(jq '.pods | length' "$WORK/sent.json")/$(jq '.edges | length' "$WORK/sent.json")" 50/45 "seeded 50 pods, 45 edges (ground truth)"

curl -sf "$A/api/v1/edges?window=600" >"$WORK/edges.json" || tap_fail "GET /api/v1/edges"
check_eq "$(jq -c '[.edges[] | [.src, .dst]] | sort' "$WORK/edges.json")" "$(jq -c '.edges | sort' "$WORK/sent.json")" \
	"every edge named by pod on both ends, across nodes, from pod_ips alone"
check_eq "$(jq '[.edges[] | select(.src_kind != "pod" or .dst_kind != "pod")] | length' "$WORK/edges.json")" 0 "no end left as an address"
check_eq "$(jq '[.edges[] | select(.dst == "shop/api-5-xxxxxxxxxxxxxxx") | .error_pct] | .[0]' "$WORK/edges.json")" 10 \
	"frontend-2 -> shop/api-5: 10 % errors joined from api-5's own stats (its only client)"
check_eq "$(jq '[.edges[] | select(.dst == "shop/api-5-xxxxxxxxxxxxxxx") | .l7_from] | .[0]' "$WORK/edges.json")" '"server"' \
	"the request figures say which side they come from"
curl -sf "$A/api/v1/edges?window=600&group=owner" >"$WORK/owners.json" || tap_fail "GET /api/v1/edges?group=owner"
check_eq "$(jq '[.edges[] | select(.src == "web/Deployment/frontend")] | length' "$WORK/owners.json")" 20 \
	"by owner: the 10 frontend pods are one Deployment calling 20 APIs"
check_eq "$(jq '[.edges[] | select(.dst == "data/Deployment/store") | .connections] | add' "$WORK/owners.json")" \
	"$(jq '[.edges[] | select(.dst | startswith("data/")) | .connections] | add' "$WORK/edges.json")" \
	"by owner: connections to the stores summed over their pods"
curl -sf "$A/api/v1/namespaces/shop/pods/api-0-xxxxxxxxxx/edges?window=600" >"$WORK/pod.json" || tap_fail "GET pod edges"
check_eq "$(jq -c '[.edges[] | [.src, .dst]] | sort' "$WORK/pod.json")" \
	'[["shop/api-0-xxxxxxxxxx","data/store-0"],["web/frontend-0","shop/api-0-xxxxxxxxxx"]]' "edges of one pod, in and out"

# the endpoints' parameters, strictly, next to a client that keeps working
code() { curl -s -o /dev/null -w '%{http_code}' "$A$1"; }
check_eq "$(code '/api/v1/edges?group=node')" 400 "group=node -> 400"
check_eq "$(code '/api/v1/edges?group=owner&group=pod')" 400 "group twice -> 400"
check_eq "$(code '/api/v1/edges?window=1&from=5')" 400 "window and from -> 400"
check_eq "$(code "/api/v1/edges?$(head -c 3000 /dev/zero | tr '\0' a)=1")" 400 "3 kB query string -> 400"
check_eq "$(code '/api/v1/namespaces/shop/pods/nope/edges')" 404 "edges of an unknown pod -> 404"
check_eq "$(code '/api/v1/namespaces/shop/pods/api-0-xxxxxxxxxx/edges?to=1&from=2')" 400 "to before from -> 400"
check_eq "$(code '/api/v1/namespaces/shop/edges?window=600')" 200 "a legitimate client still served"

NPM_DIR=$TOP/$BUILD/npm
if [ ! -d "$NPM_DIR/node_modules/playwright-core" ]; then
	npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" playwright-core@1 >/dev/null 2>&1 ||
		tap_fail "npm install playwright-core"
fi
mkdir -p "$TOP/$BUILD/test-artifacts"
shot=$TOP/$BUILD/test-artifacts/collector-map-50.png
PLAYWRIGHT_DIR=$NPM_DIR/node_modules node tests/integration/collector/map_page.mjs "$A/" "$shot" \
	>"$WORK/page.json" 2>"$WORK/page.err" || { tail -5 "$WORK/page.err"; echo '{}' >"$WORK/page.json"; }
pg() { jq -r "$1" "$WORK/page.json"; }
diag "page: $(jq -c 'del(.nodes)' "$WORK/page.json")"
check_eq "$(pg .ns)/$(pg .url_ns)" shop/shop "page opens on the busiest namespace (shop: every edge) and puts it in the URL"
check_eq "$(pg '.nodes | length')" 50 "map draws the 50 pods"
check_eq "$(pg .edges)" 45 "map draws the 45 edges"
check_eq "$(pg .overlaps)" 0 "no two ends overlap"
check_eq "$(pg .long_labels)/$(pg .bad_tooltips)" 0/0 "labels at most 22 characters, full names in tooltips"
check_ge "$(pg .widths)" 5 "edge widths follow the bytes (distinct widths)"
check_eq "$(pg '.colours | index("#ff5d73") != null and index("#53d769") != null')" true \
	"edge colour by error rate: red for 10 % errors, green for none"
check_eq "$(pg '.node_click.selected == .node_click.pod')" true "a click on an end selects that pod"
check_eq "$(pg '.edge_click | test("connections.*client.s report")')" true "a click on an edge shows its figures"
check_eq "$([ -s "$shot" ] && echo yes)" yes "screenshot saved to $BUILD/test-artifacts/collector-map-50.png"
