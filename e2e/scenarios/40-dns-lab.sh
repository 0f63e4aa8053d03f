#!/bin/bash
# 40-dns-lab (issue 14 item 5): DNS per pod from real lookups in the lab. dns/dnsmasq is a lab pod
# whose container runs Debian's dnsmasq (placed in the container's cgroup and network namespace, so
# it is a monitored workload) with a zone of known answers: okN.lab.test -> 10.0.0.N, anything else
# under lab.test NXDOMAIN, and delay.test forwarded to tests/integration/tools/dnsslow.py in the same
# pod (port 5353, outside dns.ports): slow.delay.test answered after DELAY_MS, neverN.delay.test
# never answered (dnsmasq stays silent too). lab/client resolves, through dnsmasq, exactly N existing
# names, M missing names, D slow lookups and K names that time out. The agent (exporting to a
# collector on loopback) must report exact counts per rcode, K timeouts and a slow p50 within 20% of
# DELAY_MS for the client, and the server side for dnsmasq; the collector's DNS view of both pods,
# the namespace view and /metrics must hold the same numbers.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
N=${E2E_DNS_OK:-5} M=${E2E_DNS_MISS:-4} D=${E2E_DNS_SLOW:-6} K=${E2E_DNS_NEVER:-3} DELAY_MS=200
TOOLS=$E2E_TOP/tests/integration/tools
COLLECTOR=$E2E_TOP/$BUILD/bin/podlens-collector
[ -x "$COLLECTOR" ] || { tap_fail "collector binary $COLLECTOR missing (make all)"; exit 1; }
command -v dnsmasq >/dev/null || { tap_fail "dnsmasq installed (deps/test.pkgs: dnsmasq-base)"; exit 1; }

"$COLLECTOR" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir "$E2E_TMP/collector" \
	>"$E2E_TMP/collector.out" 2>"$E2E_TMP/collector.log" &
COL_PID=$!
defer "kill -TERM $COL_PID 2>/dev/null; wait_for 10 'collector exit' e2e_gone $COL_PID || kill -KILL $COL_PID 2>/dev/null"
wait_for 10 "collector ready" grep -q '^podlens-collector ready' "$E2E_TMP/collector.out" ||
	{ tap_fail "collector ready"; cat "$E2E_TMP/collector.log" >&2; exit 1; }
GRPC=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$E2E_TMP/collector.out")
HTTP=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$E2E_TMP/collector.out")
tap_ok "collector up (grpc $GRPC, http $HTTP)"

# the DNS server pod: dnsmasq and the delaying upstream in its container's cgroup and netns
e2e_pod DNS dnsmasq dns --label app=dnsmasq || { tap_fail "dns pod up"; exit 1; }
e2e_ctr DNS_CTR "$DNS_ID" server -- sleep 100000 || { tap_fail "dns container up"; exit 1; }
scg=$(e2e_cgroup_dir "$DNS_CTR"); spid=$(e2e_pid "$DNS_CTR")
# started with sh -c directly (not through a function: `f &` forks a subshell and $! would be the
# subshell, leaving the server alive after the kill); sh execs nsenter, which execs the server
insrv="echo \$\$ > $scg/cgroup.procs && exec nsenter --net=/proc/$spid/ns/net"
sh -c "$insrv $E2E_PY $TOOLS/dnsslow.py $DNS_IP:5353 $DELAY_MS $E2E_TMP/slow.ready" >"$E2E_TMP/slow.log" 2>&1 &
SLOW_PID=$!
defer "kill -KILL $SLOW_PID 2>/dev/null"
zone=""
for i in $(seq "$N"); do zone="$zone --address=/ok$i.lab.test/10.0.0.$i"; done
# --cache-size=0: every slow lookup goes to the upstream (no cached answer hides the delay)
sh -c "$insrv dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
	--listen-address=$DNS_IP --port=53 --cache-size=0 --pid-file=$E2E_TMP/dnsmasq.pid \
	--local=/lab.test/ --server=/delay.test/$DNS_IP#5353 $zone" >"$E2E_TMP/dnsmasq.log" 2>&1 &
DM_PID=$!
defer "kill -KILL $DM_PID 2>/dev/null"
wait_for 10 "delaying upstream listens" test -s "$E2E_TMP/slow.ready" || { tap_fail "delaying upstream up"; exit 1; }
_answers() { nsenter --net=/proc/$spid/ns/net dig +short +time=1 +tries=1 @"$DNS_IP" ok1.lab.test | grep -q '^10\.0\.0\.1$'; }
wait_for 10 "dnsmasq answers on $DNS_IP:53" _answers || { tap_fail "dnsmasq answers: $(cat "$E2E_TMP/dnsmasq.log")"; exit 1; }
tap_ok "dns/dnsmasq serves lab.test on $DNS_IP:53 (delay.test through the delaying upstream)"

e2e_pod CLI client lab --label app=client || { tap_fail "client pod up"; exit 1; }
e2e_ctr CLI_CTR "$CLI_ID" resolver -- sleep 100000 || { tap_fail "client container up"; exit 1; }
ccg=$(e2e_cgroup_dir "$CLI_CTR"); cpid=$(e2e_pid "$CLI_CTR")

e2e_agent_start AG 180 --collector "http://127.0.0.1:$GRPC" --dns-timeout 1000 || exit 1
e2e_agent_ready AG 20 || { tap_fail "agent ready (/healthz)"; exit 1; }
for cg in "$scg" "$ccg"; do
	wait_for 20 "L7 capture on $(basename "$cg")" grep -q "l7: capturing HTTP of .*$(basename "$cg")" "$AG_LOG" ||
		{ tap_fail "L7 capture attached to $cg"; grep -i l7 "$AG_LOG" | tail -5 | sed 's/^/# /'; exit 1; }
done
tap_ok "agent exporting to the collector, L7 (DNS) capture on dns/dnsmasq and lab/client"

# the lookups, from lab/client's cgroup and network namespace (tools/dnscli.py: raw UDP, one
# query per name, each on a new socket; its JSON is the ground truth)
incli() { sh -c "echo \$\$ > $ccg/cgroup.procs && exec nsenter --net=/proc/$cpid/ns/net $E2E_PY $TOOLS/dnscli.py $*"; }
ok=() miss=() slow=() never=()
for i in $(seq "$N"); do ok+=("ok$i.lab.test"); done
for i in $(seq "$M"); do miss+=("miss$i.lab.test"); done
for i in $(seq "$D"); do slow+=(slow.delay.test); done
for i in $(seq "$K"); do never+=("never$i.delay.test"); done
incli "$DNS_IP" "${ok[@]}" >"$E2E_TMP/c.ok"
incli "$DNS_IP" "${miss[@]}" >"$E2E_TMP/c.miss"
incli "$DNS_IP" "${slow[@]}" >"$E2E_TMP/c.slow"
incli --wait 1.5 "$DNS_IP" "${never[@]}" >"$E2E_TMP/c.never"
for f in ok miss slow never; do diag "client $f: $(cat "$E2E_TMP/c.$f")"; done
check_eq "$(jq -c .rcodes "$E2E_TMP/c.ok")" "{\"NOERROR\":$N}" "client: $N existing names answered NOERROR (ground truth)"
check_eq "$(jq -c .rcodes "$E2E_TMP/c.miss")" "{\"NXDOMAIN\":$M}" "client: $M missing names answered NXDOMAIN (ground truth)"
check_eq "$(jq -c .rcodes "$E2E_TMP/c.slow")" "{\"NOERROR\":$D}" "client: $D slow lookups answered (ground truth)"
check_eq "$(jq -c '[.rcodes, .timeouts]' "$E2E_TMP/c.never")" "[{},$K]" "client: $K names never answered (ground truth)"
cmed=$(jq '.median_us | floor' "$E2E_TMP/c.slow")
check_within "$cmed" $((DELAY_MS * 1000)) 20 "client: its own median of the slow lookups is the upstream's delay (ground truth)"

# agent JSON: sums over every record of a pod
asum() {   # asum NS POD JQ_FILTER_ON_A_DNS_ROW FIELD
	jq -s --arg ns "$1" --arg pod "$2" "[.[] | select(.workload.namespace == \$ns and .workload.pod == \$pod) | .dns[]? | select($3) | .$4] | add // 0" "$AG_OUT"
}
_timeouts_in() { [ "$(asum lab client '.rcode == "TIMEOUT"' timeouts)" -ge "$K" ] &&
	[ "$(asum dns dnsmasq '.rcode == "TIMEOUT"' timeouts)" -ge "$K" ]; }
# the timeouts come one harvest after dns.timeout: wait for them (bounded), not for a time
wait_for 30 "agent reports the $K timeouts of both sides" _timeouts_in || diag "timeouts not reported in time"
e2e_agent_stop AG 30
check_eq "$AG_RC" 0 "agent exit status after SIGTERM"

check_eq "$(asum lab client '.rcode == "NOERROR" and (.domain | test("^ok[0-9]+[.]lab[.]test$"))' count)" "$N" "agent: lab/client NOERROR of the $N existing names"
check_eq "$(asum lab client '.rcode == "NXDOMAIN" and (.domain | test("^miss"))' count)" "$M" "agent: lab/client NXDOMAIN of the $M missing names"
check_eq "$(asum lab client '.rcode == "NOERROR" and .domain == "slow.delay.test"' count)" "$D" "agent: lab/client the $D slow answers"
check_eq "$(asum lab client '.rcode == "TIMEOUT"' timeouts)" "$K" "agent: lab/client $K timeouts"
check_eq "$(asum lab client '.rcode == "TIMEOUT" and (.domain | test("^never"))' count)" "$K" "agent: lab/client the timeouts are the never-answered names"
check_eq "$(asum lab client 'true' count)" $((N + M + D + K)) "agent: lab/client every lookup once, nothing else"
check_eq "$(asum lab client '.direction != "client"' count)" 0 "agent: lab/client only client-side lookups"
p50=$(jq -s '[.[] | select(.workload.namespace == "lab" and .workload.pod == "client") | .dns[]? | select(.domain == "slow.delay.test") | {c: .count, p: .p50_us}] | (map(.c * .p) | add) / (map(.c) | add) | floor' "$AG_OUT")
check_within "$p50" $((DELAY_MS * 1000)) 20 "agent: lab/client p50 of the slow name within 20% of the upstream's delay"
diag "slow name: agent p50 ${p50} us, client median ${cmed} us, upstream delay $((DELAY_MS * 1000)) us"
check_eq "$(asum dns dnsmasq '.direction == "server" and .rcode == "NOERROR"' count)" $((N + D)) "agent: dns/dnsmasq (server side) NOERROR answers"
check_eq "$(asum dns dnsmasq '.direction == "server" and .rcode == "NXDOMAIN"' count)" "$M" "agent: dns/dnsmasq (server side) NXDOMAIN answers"
check_eq "$(asum dns dnsmasq '.direction == "server" and .rcode == "TIMEOUT"' timeouts)" "$K" "agent: dns/dnsmasq (server side) the $K queries it never answered"
check_eq "$(asum dns dnsmasq 'true' count)" $((N + M + D + K)) "agent: dns/dnsmasq every query once, nothing else (its upstream on :5353 is not DNS port traffic)"

# the collector's view of the same real data
api_get() { curl -sf "http://127.0.0.1:$HTTP$1"; }
_col_in() {
	api_get "/api/v1/namespaces/lab/pods/client/dns?window=3600" >"$E2E_TMP/dns-client.json" &&
		[ "$(jq .client.queries "$E2E_TMP/dns-client.json")" = $((N + M + D + K)) ] &&
		api_get "/api/v1/namespaces/dns/pods/dnsmasq/dns?window=3600" >"$E2E_TMP/dns-server.json" &&
		[ "$(jq .server.queries "$E2E_TMP/dns-server.json")" = $((N + M + D + K)) ]
}
wait_for 30 "the collector holds every lookup of both pods" _col_in ||
	diag "collector: $(jq -c '{c: .client.queries, s: .server.queries}' "$E2E_TMP/dns-client.json" "$E2E_TMP/dns-server.json" 2>/dev/null)"
C=$E2E_TMP/dns-client.json S=$E2E_TMP/dns-server.json
check_eq "$(jq -c '.client.rcodes | to_entries | sort_by(.key) | from_entries' "$C")" \
	"{\"NOERROR\":$((N + D)),\"NXDOMAIN\":$M,\"TIMEOUT\":$K}" "collector: lab/client lookups per rcode"
check_eq "$(jq -r '"\(.client.timeouts) \(.client.errors) \(.client.nxdomain)"' "$C")" "$K $K $M" \
	"collector: lab/client timeouts, errors (the timeouts), NXDOMAIN"
check_within "$(jq .client.error_pct "$C" | cut -d. -f1)" $((100 * K / (N + M + D + K))) 1 "collector: lab/client error %"
check_eq "$(jq '[.client.domains[] | select(.domain == "slow.delay.test") | .count] | add' "$C")" "$D" \
	"collector: lab/client the slow name among its top domains"
check_within "$(jq '[.client.domains[] | select(.domain == "slow.delay.test") | .p50_us] | first' "$C")" $((DELAY_MS * 1000)) 20 \
	"collector: lab/client p50 of the slow name (merged buckets) within 20% of the upstream's delay"
check_eq "$(jq '[.client.domains[] | select(.domain | test("^never")) | .timeouts] | add' "$C")" "$K" \
	"collector: lab/client the never-answered names, one timeout each"
check_eq "$(jq .server.queries "$C")" 0 "collector: lab/client answered no query"
check_eq "$(jq -c '.server.rcodes | to_entries | sort_by(.key) | from_entries' "$S")" \
	"{\"NOERROR\":$((N + D)),\"NXDOMAIN\":$M,\"TIMEOUT\":$K}" "collector: dns/dnsmasq (server side) per rcode"
check_eq "$(jq .server.timeouts "$S")" "$K" "collector: dns/dnsmasq (server side) timeouts"
check_ge "$(jq '.server.p99_us // 0' "$S")" $((DELAY_MS * 1000 * 8 / 10)) "collector: dns/dnsmasq server-side p99 holds the delayed answers"
check_eq "$(api_get "/api/v1/namespaces/lab/dns?window=3600" | jq '[.pods[] | select(.pod == "client") | .client.queries] | first')" \
	$((N + M + D + K)) "collector: namespace view of lab lists lab/client's lookups"
check_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/api/v1/namespaces/lab/pods/nope/dns")" 404 \
	"collector: DNS of an unknown pod is 404"
api_get /metrics >"$E2E_TMP/metrics.txt"
check_eq "$(awk '/^podlens_pod_dns_queries_per_second\{namespace="lab",pod="client",side="client",rcode="TIMEOUT"\}/ && $NF > 0 {n++} END {print n+0}' "$E2E_TMP/metrics.txt")" 1 \
	"/metrics: lab/client's DNS timeout rate"
check_eq "$(awk '/^podlens_pod_dns_queries_per_second\{namespace="dns",pod="dnsmasq",side="server",rcode="NOERROR"\}/ && $NF > 0 {n++} END {print n+0}' "$E2E_TMP/metrics.txt")" 1 \
	"/metrics: dns/dnsmasq's answer rate (server side)"

# the page's DNS section on the same data (headless Chromium), lab/client being lab's only pod
PAGE=$E2E_TOP/tests/integration/collector/dns_page.mjs
NPM_MODULES=$E2E_TOP/$BUILD/npm/node_modules
if command -v node >/dev/null && [ -x /usr/bin/chromium ] && [ -d "$NPM_MODULES/playwright-core" ]; then
	mkdir -p "$E2E_TOP/$BUILD/test-artifacts"
	shot=$E2E_TOP/$BUILD/test-artifacts/e2e-dns.png
	if PLAYWRIGHT_DIR=$NPM_MODULES node "$PAGE" "http://127.0.0.1:$HTTP/?ns=lab" "$shot" >"$E2E_TMP/page.json" 2>"$E2E_TMP/page.err"; then
		diag "page: $(cat "$E2E_TMP/page.json")"
		check_eq "$(jq -r .pod "$E2E_TMP/page.json")" client "page: DNS section of lab/client"
		check_eq "$(jq '[.rows[] | select(.side == "client") | .queries] | add' "$E2E_TMP/page.json")" $((N + M + D + K)) \
			"page: the DNS table lists every lookup of lab/client (fewer than 20 domains)"
		check_eq "$(jq '[.rows[] | select(.domain | test("^never")) | .timeouts] | add' "$E2E_TMP/page.json")" "$K" \
			"page: the never-answered names with their timeouts"
		check_eq "$(jq '[.rows[] | select(.domain | test("^miss")) | .nxdomain] | add' "$E2E_TMP/page.json")" "$M" \
			"page: the missing names with their NXDOMAIN"
	else
		tap_fail "page's DNS section drawn in headless Chromium (see $E2E_TMP/page.err)"; sed 's/^/# /' "$E2E_TMP/page.err" | tail -5
	fi
else
	tap_fail "page check needs node, /usr/bin/chromium and $NPM_MODULES/playwright-core (run the collector integration suites first)"
fi
