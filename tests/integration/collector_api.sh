#!/bin/bash
# podlens-collector read side on a database seeded through the gRPC path (python3-grpcio peer):
# JSON API values (curl + jq) against what the test sent, namespace-scoped read tokens, /metrics
# scraped by a real Prometheus (Debian package) and queried through its HTTP API, and the page in
# headless Chromium (playwright-core) listing the pods and drawing the charts; screenshot kept in
# $BUILD/test-artifacts/collector-page.png.
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
cd "$TOP"

WORK=$(mktemp -d /tmp/podlens-collector-api.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }
printf 'shoptoken shop\nadmintoken *\n# comment\npaytoken payments\n' > "$WORK/read-tokens"

start_collector C --data-dir "$WORK/data" --read-tokens "$WORK/read-tokens" || { tap_fail "collector starts"; exit 1; }
A=http://127.0.0.1:$C_HTTP
seed=$(pyclient seed "127.0.0.1:$C_GRPC" --batches 6)
first=$(echo "$seed" | sed -n 's/.*first_ms=\([0-9]*\).*/\1/p'); end=$(echo "$seed" | sed -n 's/.*end_ms=\([0-9]*\).*/\1/p')
check_eq "$(echo "$seed" | grep -o 'stored=[0-9]*')" stored=6 "seeded 6 batches through gRPC"

get() {   # get TOKEN PATH -> body; HTTP status in $WORK/code
	curl -s -o "$WORK/body" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} "$A$2" > "$WORK/code"; cat "$WORK/body"
}
code() { cat "$WORK/code"; }

# --- read tokens
get "" /api/v1/namespaces >/dev/null;            check_eq "$(code)" 401 "API without a token -> 401"
get nope /api/v1/namespaces >/dev/null;          check_eq "$(code)" 401 "API with an unknown token -> 401"
check_eq "$(get shoptoken /api/v1/namespaces | jq -c '[.namespaces[].name]')" '["shop"]' \
	"shop token sees only namespace shop"
check_eq "$(get admintoken /api/v1/namespaces | jq -c '[.namespaces[].name]')" '["payments","shop"]' \
	"* token sees every namespace"
get shoptoken /api/v1/namespaces/payments/pods >/dev/null; check_eq "$(code)" 403 "shop token on payments pods -> 403"
get paytoken /api/v1/namespaces/shop/pods/web/series >/dev/null; check_eq "$(code)" 403 "payments token on shop series -> 403"
get "" /healthz >/dev/null;                      check_eq "$(code)" 200 "/healthz needs no token"
# issue 18: a tokenless loopback peer (a sidecar, kubectl port-forward) gets the collector's own
# metrics and no pod series; off loopback it gets 401 (unit: tokens__metrics_view__admin_or_loopback_only)
m0=$(get "" /metrics);                           check_eq "$(code)" 200 "/metrics without a token from loopback -> 200 (self-metrics)"
check_eq "$(echo "$m0" | grep -c 'namespace=')" 0 "/metrics without a token has no pod series"
get nope /metrics >/dev/null;                    check_eq "$(code)" 401 "/metrics with an unknown token -> 401"

# --- pods (values from what client.py sent: see its scenario)
pods=$(get shoptoken "/api/v1/namespaces/shop/pods?from=$first&to=$end")
p() { echo "$pods" | jq -r ".pods[] | select(.pod==\"$1\") | .$2"; }
check_eq "$(echo "$pods" | jq -c '[.pods[].pod]')" '["db","web"]' "pods of shop"
check_eq "$(p web requests)/$(p web errors)/$(p web error_pct)" 600/30/5 "web requests/errors/error %"
check_eq "$(p web req_per_s)/$(p db req_per_s)" 10/5 "web and db req/s"
check_eq "$(p web rx_bps)/$(p web tx_bps)" 1000/2000 "web rx/tx bytes per second"
check_eq "$(p db p50_us | awk '{print ($1>=96 && $1<104) ? "in" : $1}')" in "db p50 in the bucket of its 100 us requests"
check_eq "$(p web p50_us | awk '{print ($1>=960 && $1<1024) ? "in" : $1}')" in "web p50 in the bucket of its 1 ms requests"

# --- series: every 10 s step holds one batch
series=$(get shoptoken "/api/v1/namespaces/shop/pods/web/series?from=$first&to=$end&step=10")
check_eq "$(echo "$series" | jq '[.points[].requests] | add')" 600 "series request total"
check_eq "$(echo "$series" | jq '[.points[] | select(.requests==100)] | length')" 6 "6 points of 100 requests"
check_eq "$(echo "$series" | jq '[.points[] | select(.requests==100) | .req_per_s] | unique | .[0]')" 10 "series req/s per point"
check_eq "$(echo "$series" | jq '[.points[] | select(.rx_bytes>0) | .rx_bps] | unique | .[0]')" 1000 "series rx bytes/s per point"
check_eq "$(echo "$series" | jq '[.points[] | select(.requests==100) | .p99_us >= 49152 and .p99_us < 53248] | all')" true \
	"series p99 in the bucket of the 50 ms requests"
get shoptoken /api/v1/namespaces/shop/pods/nope/series >/dev/null; check_eq "$(code)" 404 "series of an unknown pod -> 404"
get shoptoken "/api/v1/namespaces/shop/pods/web/series?from=abc" >/dev/null; check_eq "$(code)" 400 "bad from -> 400"

# --- query strings (issue 18 item 6): one strict parser, 400 naming the parameter and its range
bad() {   # bad PATH PARAM NAME: 400, JSON error naming PARAM
	get shoptoken "$1" >/dev/null
	check_eq "$(code)/$(jq -r .parameter "$WORK/body")" "400/$2" "$3"
}
S=/api/v1/namespaces/shop/pods/web/series
bad "$S?from=0&to=9223372036854775807" to "series to=INT64_MAX -> 400 on to (was 500)"
check_eq "$(jq -c '[.min, .max]' "$WORK/body")" '[1,253402300799999]' "to's accepted range in the error"
check_eq "$(jq -r .error "$WORK/body")" "to: want an integer in [1, 253402300799999] Unix ms" "error sentence names to"
bad "$S?from=0&to=9223372036854775808" to "series to past int64 -> 400 on to"
bad "$S?from=$first&to=253402300799999" from "series over 7,000 years -> 400: at most 5000 steps of 400 days"
get shoptoken "$S?from=0&to=$end" >/dev/null
check_eq "$(code)/$(jq '.points | length' "$WORK/body")" 200/121 "series from=0 to now: 200, about 120 points of a default step"
# a step that long reads the 10-minute rollups, made by the collector's maintenance timer
wait_for 30 "10-minute rollups of the seeded batches" bash -c \
	"[ \"\$(curl -s -H 'Authorization: Bearer shoptoken' '$A$S?from=0&to=$end' | jq '[.points[].requests] | add')\" = 600 ]"
check_eq "$(get shoptoken "$S?from=0&to=$end" | jq '[.points[].requests] | add')" 600 "series from=0 counts the 600 requests (rollups)"
bad "$S?from=$first&to=$end&step=99999999999999999" step "step=99999999999999999 -> 400 on step (overflowed)"
check_eq "$(jq -c '[.min, .max]' "$WORK/body")" '[1,34560000]' "step's accepted range in the error"
bad "$S?from=$first&to=$end&step=34560001" step "step one past 400 days -> 400"
bad "$S?from=$first&to=$end&step=0" step "step=0 -> 400"
bad "$S?from=$((end - 21600000))&to=$end&step=1" step "6 h in 1 s steps (21600 points) -> 400 on step"
check_eq "$(jq -c '[.min, .max]' "$WORK/body")" '[5,34560000]' "the smallest step that fits 5000 points is given"
get shoptoken "$S?from=$((end - 21600000))&to=$end&step=5" >/dev/null
check_eq "$(code)/$(jq '.points | length' "$WORK/body")" 200/4320 "6 h in 5 s steps -> 200, 4320 points"
P=/api/v1/namespaces/shop/pods
bad "$P?window=3%000" window "window=3%000 -> 400 on window (was read as 3)"
bad "$P?window=3%00" window "window=3%00 -> 400"
bad "$P?window=3%zz" window "window=3%zz -> 400"
bad "$P?window=3abc" window "window=3abc (trailing garbage) -> 400"
bad "$P?window=+3" window "window=+3 ('+' is a space) -> 400"
bad "$P?window=0" window "window=0 -> 400"
bad "$P?window=34560001" window "window past 400 days -> 400"
bad "$P?window=300&window=300" window "window given twice -> 400"
bad "$P?from=$first&window=60" window "window and from together -> 400"
bad "$P?form=$first" form "unknown parameter form -> 400"
check_eq "$(jq -r .error "$WORK/body")" 'unknown parameter "form" (accepted: window, from, to)' "the accepted names are listed"
bad "$P?from=$end&to=$first" to "to before from -> 400"
bad "/api/v1/namespaces?x=1" x "namespaces takes no parameter -> 400"
bad "/api/v1/edges?window=-5" window "edges window=-5 -> 400"
bad "$P?window=300&pad=$(head -c 3000 /dev/zero | tr '\0' x)" "" "a 3 kB query string -> 400 (at most 2048 bytes)"
get shoptoken "/api/v1/namespaces/shop/nope?x=1" >/dev/null
check_eq "$(code)" 404 "an unknown endpoint is 404 whatever its query string"
get shoptoken "$P?window=%33%30%30" >/dev/null
check_eq "$(code)/$(jq -r .pods[0].pod "$WORK/body")" 200/db "window=%33%30%30 (300) -> 200"
get shoptoken "$P?from=$first&to=$end&" >/dev/null
check_eq "$(code)/$(jq '.pods | length' "$WORK/body")" 200/2 "a trailing '&' is fine"

# --- routes and edges
routes=$(get shoptoken "/api/v1/namespaces/shop/pods/web/routes?from=$first&to=$end")
check_eq "$(echo "$routes" | jq -c '[.routes[] | [.method,.route,.status,.count]]')" \
	'[["GET","/api/items",200,570],["GET","/api/items",500,30]]' "web routes by status"
edges=$(get shoptoken "/api/v1/namespaces/shop/edges?from=$first&to=$end")
check_eq "$(echo "$edges" | jq -c '[.edges[] | [.src,.dst,.bytes,.connections]]')" '[["shop/web","shop/db",18000,6]]' \
	"service map edge web -> db (6 x 3000 bytes)"
get paytoken "/api/v1/edges?from=$first&to=$end" >/dev/null
check_eq "$(jq '.edges | length' "$WORK/body")" 0 "payments token sees no shop edges"

# --- /metrics and a real Prometheus
m=$(get admintoken /metrics)
check_eq "$(echo "$m" | sed -n 's/^podlens_pod_requests_per_second{namespace="shop",pod="web"} //p')" 10 "/metrics web req/s"
check_eq "$(get shoptoken /metrics | grep -c 'namespace="payments"')" 0 "/metrics for the shop token has no payments series"
start_prometheus "$C_HTTP" admintoken
q="http://127.0.0.1:$PP/api/v1/query?query=podlens_pod_requests_per_second%7Bnamespace%3D%22shop%22%2Cpod%3D%22web%22%7D"
if wait_for 60 "prometheus to hold the web series" bash -c "[ \"\$(curl -sf '$q' | jq '.data.result | length')\" = 1 ]"; then
	r=$(curl -sf "$q"); diag "prometheus: $r"
	check_eq "$(echo "$r" | jq -r '.data.result[0].value[1]')" 10 "Prometheus query returns shop/web req/s"
	check_eq "$(echo "$r" | jq -r '.data.result[0].metric.job')" podlens-collector "scraped by the configured job"
else
	tail -5 "$WORK/prom.log"; tap_fail "Prometheus scraped /metrics"
fi

# --- the page in headless Chromium, on a second collector seeded with 15 minutes of varying data
start_collector P --data-dir "$WORK/page" --read-tokens "$WORK/read-tokens" || tap_fail "page collector starts"
check_eq "$(pyclient seed "127.0.0.1:$P_GRPC" --batches 90 --vary | grep -o 'stored=[0-9]*')" stored=90 \
	"seeded 15 minutes (90 batches) for the page"
NPM_DIR=$TOP/$BUILD/npm
if [ ! -d "$NPM_DIR/node_modules/playwright-core" ]; then
	npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" playwright-core@1 >/dev/null 2>&1 ||
		tap_fail "npm install playwright-core"
fi
mkdir -p "$TOP/$BUILD/test-artifacts"
shot=$TOP/$BUILD/test-artifacts/collector-page.png
page=$(PLAYWRIGHT_DIR=$NPM_DIR/node_modules node tests/integration/collector/page.mjs "http://127.0.0.1:$P_HTTP" \
	shoptoken "$shot" 2>"$WORK/page.err")
diag "page: $page"
[ -n "$page" ] || { tail -5 "$WORK/page.err"; page='{}'; }
check_eq "$(echo "$page" | jq -c '.namespaces')" '["shop"]' "page offers only the token's namespace"
check_eq "$(echo "$page" | jq -c '.pods')" '["db","web"]' "page lists the pods of the seeded database"
check_eq "$(echo "$page" | jq -r '.selected')" web "page selects the busiest pod"
check_ge "$(echo "$page" | jq '.lat_pixels // 0')" 2000 "latency chart drawn (inked pixels)"
check_ge "$(echo "$page" | jq '.traffic_pixels // 0')" 2000 "traffic chart drawn (inked pixels)"
check_eq "$(echo "$page" | jq '.edges')" 1 "service map draws the web -> db edge"
check_eq "$(echo "$page" | jq '.external_requests')" 0 "page makes no request outside the collector"
check_eq "$([ -s "$shot" ] && echo yes)" yes "screenshot saved to $BUILD/test-artifacts/collector-page.png"
