#!/bin/bash
# /metrics latency as Prometheus histograms (issue 16 item 6): requests and DNS seeded through the
# real gRPC path (client.py seed, dnsseed.py), the exposition read by two independent readers,
# python3-prometheus-client's text parser (tests/integration/collector/promhist.py: +Inf last, le
# ascending, counts cumulative, _count = +Inf) and `promtool check metrics`, the counts compared
# with what the test sent (N sent = N in +Inf, each request in the first le at or above its podlens
# bucket's upper bound), then a real Prometheus scrapes it and aggregates across pods with
# sum by (le) and histogram_quantile. Scoped read tokens see only their namespaces' histograms.
# The gRPC family's histogram is checked in unit-test_collector_store. No BPF, no root.
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
cd "$TOP"

WORK=$(mktemp -d /tmp/podlens-collector-metrics.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }
printf 'shoptoken shop\nadmintoken *\ntokA team-a\n' > "$WORK/read-tokens"
start_collector C --data-dir "$WORK/data" --read-tokens "$WORK/read-tokens" || { tap_fail "collector starts"; exit 1; }
A=http://127.0.0.1:$C_HTTP
check_eq "$(pyclient seed "127.0.0.1:$C_GRPC" --batches 6 | grep -o 'stored=[0-9]*')" stored=6 "seeded 6 request batches"
dseed=$(PODLENS_PY=$PYDIR "$PY" tests/integration/collector/dnsseed.py "127.0.0.1:$C_GRPC" --batches 3)
check_eq "$(jq .stored <<<"$dseed")" 7 "seeded 3 + 1 team-a and 3 team-b DNS batches"

get() {   # get TOKEN OUTFILE: /metrics body into OUTFILE, HTTP status printed
	curl -s -o "$2" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} "$A/metrics"
}
check_eq "$(get admintoken "$WORK/all.txt")" 200 "admin token reads /metrics"
if "$PY" tests/integration/collector/promhist.py "$WORK/all.txt" > "$WORK/all.json" 2>"$WORK/parse.err"; then
	tap_ok "python3-prometheus-client parses the whole exposition"
else
	tap_fail "python3-prometheus-client parses the whole exposition"; sed 's/^/# /' "$WORK/parse.err"
	echo '{"families":{},"errors":["unparsed"],"types":{}}' > "$WORK/all.json"
fi
J=$WORK/all.json
check_eq "$(jq -c .errors "$J")" '[]' "every histogram well formed: +Inf last, le ascending, cumulative, _count = +Inf, _sum"
check_eq "$(jq -c '[.types | to_entries[] | select(.value == "histogram") | .key] | sort' "$J")" \
	'["podlens_pod_dns_duration_seconds","podlens_pod_request_duration_seconds","podlens_pod_rpc_duration_seconds"]' \
	"the three latency families are histograms"
check_eq "$(jq -r '.types.podlens_pod_request_duration_quantile_seconds' "$J")" summary "the quantiles are kept as a summary family of their own"
if promtool check metrics < "$WORK/all.txt" > "$WORK/promtool.out" 2>&1; then
	tap_ok "promtool check metrics accepts the exposition"
else
	# promtool's lint also names style hints (exit 3); none may concern a histogram
	if grep -qi 'error\|duration' "$WORK/promtool.out"; then
		tap_fail "promtool check metrics: errors or histogram complaints"; sed 's/^/# /' "$WORK/promtool.out"
	else
		tap_ok "promtool check metrics: no error, no histogram complaint ($(wc -l <"$WORK/promtool.out") style hints)"
	fi
fi

# hist FAMILY NS POD [SIDE] -> the histogram JSON of that series
hist() {
	jq -c --arg f "$1" --arg ns "$2" --arg pod "$3" --arg side "${4:-}" \
		'[.families[$f][] | select(.labels.namespace == $ns and .labels.pod == $pod and ($side == "" or .labels.side == $side))] | .[0]' "$J"
}
le() { jq -r --arg le "$2" '.buckets[$le]' <<<"$1"; }   # le HIST LE -> cumulative count

# Ground truth (client.py seed, 6 batches): shop/web 540 x 1000 us (bucket [960, 1024)) and 60 x 50000 us
# ([49152, 53248)); shop/db 300 x 100 us ([96, 104)); payments/api 120 x 2000 us ([1920, 2048)).
R=podlens_pod_request_duration_seconds
web=$(hist $R shop web); db=$(hist $R shop db); pay=$(hist $R payments api)
check_eq "$(jq .count <<<"$web")/$(le "$web" +Inf)" 600/600 "shop/web: the 600 requests sent, in _count and +Inf"
check_eq "$(le "$web" 0.000512)/$(le "$web" 0.001024)/$(le "$web" 0.032768)/$(le "$web" 0.065536)" 0/540/540/600 \
	"shop/web: 1 ms requests in le 0.001024 (bucket upper 1024 us), 50 ms ones in le 0.065536"
check_eq "$(jq .sum <<<"$web")" 3.54 "shop/web: _sum = 540 x 1 ms + 60 x 50 ms = 3.54 s"
check_eq "$(le "$db" 0.000128)/$(jq .count <<<"$db")/$(jq .sum <<<"$db")" 300/300/0.03 "shop/db: 300 x 100 us in the first bound"
check_eq "$(le "$pay" 0.001024)/$(le "$pay" 0.002048)/$(jq .count <<<"$pay")" 0/120/120 \
	"payments/api: 120 x 2000 us in le 0.002048"
check_eq "$(jq -c '.buckets | keys_unsorted | length' <<<"$web")" 18 "18 buckets per series (17 bounds and +Inf)"
check_eq "$(jq '[.families[]|length] | add' "$J")" 5 \
	"one series per pod and side with latency (web, db, api, team-a/web client, team-b/coredns server)"

# DNS (dnsseed.py, 4 team-a batches): per batch 7 x 1000 us, 2 x 500 us, 6 x 3000 us answered, 1 timeout
# (no latency); team-b/coredns 3 x 5161 answers of 100 us
D=podlens_pod_dns_duration_seconds
dw=$(hist $D team-a web client); dc=$(hist $D team-b coredns server)
check_eq "$(le "$dw" 0.000256)/$(le "$dw" 0.000512)/$(le "$dw" 0.001024)/$(le "$dw" 0.002048)/$(le "$dw" 0.004096)/$(jq .count <<<"$dw")" \
	0/8/36/36/60/60 "team-a/web DNS: 8 at 500 us (bucket [480, 512)), 28 at 1 ms, 24 at 3 ms; the 4 timeouts are not latencies"
check_eq "$(jq .sum <<<"$dw")" 0.104 "team-a/web DNS: _sum = 4 x (7000 + 1000 + 18000) us"
check_eq "$(le "$dc" 0.000128)/$(jq .count <<<"$dc")/$(jq .sum <<<"$dc")" 15483/15483/1.5483 \
	"team-b/coredns DNS: 15483 answers of 100 us"

# scoping: the shop token sees shop's histograms only; tokenless loopback sees none
check_eq "$(get shoptoken "$WORK/shop.txt")" 200 "shop token reads /metrics"
check_eq "$(grep -c '_bucket{' "$WORK/shop.txt")" $((2 * 18)) "shop token: the histograms of web and db only"
check_eq "$(grep -c 'payments\|team-a\|team-b' "$WORK/shop.txt")" 0 "shop token: nothing of other namespaces"
check_eq "$(get tokA "$WORK/a.txt")" 200 "team-a token reads /metrics"
check_eq "$(grep '_bucket{' "$WORK/a.txt" | grep -vc '^podlens_pod_dns_duration_seconds_bucket{namespace="team-a",pod="web",side="client",le=')" 0 \
	"team-a token: only team-a/web's DNS histogram"
check_eq "$(get "" "$WORK/none.txt")" 200 "/metrics without a token from loopback"
check_eq "$(grep -c '_bucket{' "$WORK/none.txt")" 0 "tokenless loopback: no histogram series"

# a real Prometheus: sum by (le) across pods, histogram_quantile on the sum
start_prometheus "$C_HTTP" admintoken
Q='sum by (le) (podlens_pod_request_duration_seconds_bucket{namespace="shop"})'
if wait_for 60 "prometheus to hold the shop histograms" bash -c \
	"[ \"\$(curl -sf --get 'http://127.0.0.1:$PP/api/v1/query' --data-urlencode 'query=$Q' | jq '.data.result | length')\" = 18 ]"; then
	r=$(pq "$Q")
	check_eq "$(jq -c '[.data.result[] | [.metric.le, .value[1]]] | map(select(.[0] == "0.000128" or .[0] == "0.001024" or .[0] == "0.065536" or .[0] == "+Inf")) | sort' <<<"$r")" \
		'[["+Inf","900"],["0.000128","300"],["0.001024","840"],["0.065536","900"]]' \
		"PromQL sum by (le) over shop's pods: 300 db + 540 web under 1.024 ms, 900 in all"
	# histogram_quantile(0.5): rank 450 of 900 falls in (0.000512, 0.001024] holding 540 of them,
	# 300 below: 0.000512 + (450 - 300) / 540 x 0.000512 (Prometheus interpolates linearly)
	want=$("$PY" -c 'print("%.9f" % (0.000512 + (450 - 300) / 540 * 0.000512))')
	got=$(pq "histogram_quantile(0.5, $Q)" | jq -r '.data.result[0].value[1]')
	check_eq "$("$PY" -c "import sys; print('%.9f' % float(sys.argv[1]))" "$got")" "$want" \
		"PromQL histogram_quantile(0.5) over shop's pods = the value the bucket counts give ($got)"
	got=$(pq 'sum(podlens_pod_request_duration_seconds_count)' | jq -r '.data.result[0].value[1]')
	check_eq "$got" 1020 "PromQL sum of _count across every pod = 600 + 300 + 120 requests sent"
else
	tail -5 "$WORK/prom.log" | sed 's/^/# /'; tap_fail "Prometheus scraped the histograms"
fi
