#!/bin/bash
# podlens-collector read-token scoping (issue 18 item 2): two tenants exported through the real
# gRPC path (tests/integration/collector/tenants.py: team-a on node-a, team-b on node-b, edges
# team-a -> team-b, team-b -> team-a, team-b -> team-b), then every endpoint the API and the page
# serve is read with a team-a token: no response holds a team-b name, address, agent or number.
# The admin token sees both; /metrics shows self-metrics to the admin token and to a tokenless
# loopback peer, never to a scoped token. No BPF, no root: loopback ports picked by the kernel.
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
cd "$TOP"

WORK=$(mktemp -d /tmp/podlens-collector-scope.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }
printf 'tokA team-a\ntokB team-b\ntokAdm *\n' > "$WORK/read-tokens"

start_collector C --data-dir "$WORK/data" --read-tokens "$WORK/read-tokens" || { tap_fail "collector starts"; exit 1; }
A=http://127.0.0.1:$C_HTTP
N=3
seed=$(PODLENS_PY=$PYDIR "$PY" tests/integration/collector/tenants.py "127.0.0.1:$C_GRPC" --batches $N)
diag "seed: $seed"
check_eq "$(echo "$seed" | jq .stored)" $((2 * N)) "both agents' batches stored through gRPC"
first=$(echo "$seed" | jq .first_ms); end=$(echo "$seed" | jq .end_ms)

get() {   # get TOKEN PATH -> body in $WORK/body, HTTP status printed
	curl -s -o "$WORK/body" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} "$A$2"
}

# What team-b is: its namespace, pods, owners, node, agent, addresses, and its numbers (per batch,
# per second over 10 s intervals, summed over N batches). None of them occurs in team-a's data.
LEAKS=(team-b secretdb ledger node-b agent-node-b 10.2.0 4242 424.2 $((4242 * N)) 919191 91919.1
	$((919191 * N)) 7777777 777777 $((7777777 * N)) 5555555 555555 6666666 666666 3333333 333333
	8080808 808080 31337)
# A number counts as a whole word only: a timestamp such as 1796611272663 holds 12726 (4242 * 3)
# without saying anything of team-b.
leaks() {   # leaks FILE -> the team-b strings found in it, space-separated ("" when none)
	local hits=() s w
	for s in "${LEAKS[@]}"; do
		w=; [[ $s =~ ^[0-9.]+$ ]] && w=-w
		grep -qF $w -- "$s" "$1" && hits+=("$s")
	done
	echo "${hits[*]}"
}

# Every endpoint, as the API documents it and as the page calls it.
q="from=$first&to=$end"
ENDPOINTS=(
	/api/v1/namespaces
	"/api/v1/namespaces/team-a/pods?$q" "/api/v1/namespaces/team-a/pods?window=300"
	"/api/v1/namespaces/team-a/pods/web/series?$q&step=10" "/api/v1/namespaces/team-a/pods/cache/series?$q"
	"/api/v1/namespaces/team-a/pods/web/series?from=$((end - 300000))&to=$end&step=10"
	"/api/v1/namespaces/team-a/pods/web/routes?$q" "/api/v1/namespaces/team-a/pods/cache/routes?window=900"
	"/api/v1/namespaces/team-a/edges?$q" "/api/v1/namespaces/team-a/edges?window=900"
	"/api/v1/edges?$q" /api/v1/edges
	/metrics / /index.html /healthz
)
for ep in "${ENDPOINTS[@]}"; do
	code=$(get tokA "$ep")
	check_eq "$code" 200 "team-a token reads $ep"
	check_eq "$(leaks "$WORK/body")" "" "$ep for team-a holds nothing of team-b"
done

# Refusals say nothing either: the same 403 for team-b and for a namespace that does not exist.
for ep in /api/v1/namespaces/team-b/pods "/api/v1/namespaces/team-b/pods/secretdb/series?$q" \
	/api/v1/namespaces/team-b/pods/secretdb/routes /api/v1/namespaces/team-b/edges; do
	check_eq "$(get tokA "$ep")" 403 "team-a token on $ep -> 403"
	cp "$WORK/body" "$WORK/403-b"
	check_eq "$(leaks "$WORK/403-b")" "" "403 body names nothing of team-b"
	get tokA "${ep//team-b/team-zz}" >/dev/null
	check_eq "$(cmp -s "$WORK/body" "$WORK/403-b" && echo same)" same "403 for team-b same as for a namespace that does not exist"
done

# What team-a does see, against what tenants.py sent.
get tokA /api/v1/namespaces >/dev/null
check_eq "$(jq -c '[.namespaces[] | [.name, .pods]]' "$WORK/body")" '[["team-a",2]]' "team-a lists only team-a, 2 pods"
get tokA "/api/v1/namespaces/team-a/pods?$q" >/dev/null
check_eq "$(jq -c '[.pods[] | [.pod, .requests, .rx_bytes]]' "$WORK/body")" \
	"[[\"cache\",$((20 * N)),$((300 * N))],[\"web\",$((30 * N)),$((100 * N))]]" "team-a pods with their requests and bytes"
get tokA "/api/v1/namespaces/team-a/edges?$q" >/dev/null
check_eq "$(jq -c '[.edges[] | [.src, .dst, .src_namespace, .dst_namespace, .bytes, .connections]] | sort' "$WORK/body")" \
	"[[\"other-namespace\",\"team-a/cache\",\"\",\"team-a\",$((600 * N)),$N],[\"team-a/web\",\"other-namespace\",\"team-a\",\"\",$((1100 * N)),$N]]" \
	"team-a edges: the team-b end is other-namespace, no namespace"
get tokA "/api/v1/edges?$q" >/dev/null
check_eq "$(jq '.edges | length' "$WORK/body")" 2 "team-a sees 2 edges on /api/v1/edges, not team-b's own"

# team-b with its own token sees its side, anonymised the other way.
get tokB "/api/v1/namespaces/team-b/edges?$q" >/dev/null
check_eq "$(jq -r '[.edges[] | .src, .dst] | map(select(startswith("team-a"))) | length' "$WORK/body")" 0 \
	"team-b token sees no team-a pod name"
check_eq "$(grep -c 'team-b/secretdb' "$WORK/body")" 1 "team-b token sees its own pods"

# The admin token sees both tenants and the real ends.
get tokAdm /api/v1/namespaces >/dev/null
check_eq "$(jq -c '[.namespaces[].name]' "$WORK/body")" '["team-a","team-b"]' "admin lists both namespaces"
get tokAdm "/api/v1/edges?$q" >/dev/null
check_eq "$(jq -c "[.edges[] | select(.src==\"team-a/web\" and .dst==\"team-b/secretdb\") | [.dst_namespace, .bytes]]" "$WORK/body")" \
	"[[\"team-b\",$((1100 * N))]]" "admin sees team-a/web -> team-b/secretdb"
check_eq "$(jq '[.edges[] | select(.src=="team-b/secretdb" and .dst=="team-b/ledger")] | length' "$WORK/body")" 1 \
	"admin sees team-b's own edge"
get tokAdm "/api/v1/namespaces/team-b/pods?$q" >/dev/null
check_eq "$(jq -c '[.pods[] | [.pod, .requests]]' "$WORK/body")" "[[\"ledger\",$((919191 * N))],[\"secretdb\",$((4242 * N))]]" \
	"admin reads team-b pods and their counts"

# /metrics: self-metrics (collector counters, per-agent drop reports) for admin and a tokenless
# loopback peer; the scoped token gets its namespace's pod gauges only.
self_re='^podlens_(collector_|agent_dropped)'
get tokA /metrics >/dev/null
check_eq "$(grep -cE "$self_re" "$WORK/body")" 0 "/metrics for team-a: no collector or agent self-metrics"
check_eq "$(grep -c '^podlens_pod_requests_per_second{namespace="team-a",pod="web"} 3$' "$WORK/body")" 1 \
	"/metrics for team-a: team-a/web at 3 req/s"
check_eq "$(grep -c 'namespace="team-b"' "$WORK/body")" 0 "/metrics for team-a: no team-b series"
get tokAdm /metrics >/dev/null
check_ge "$(grep -cE "$self_re" "$WORK/body")" 10 "/metrics for admin: self-metrics"
check_eq "$(grep -c '^podlens_agent_dropped{agent_id="agent-node-b",reason="ringbuf_tcp"} '"$((31337 * N))"'$' "$WORK/body")" 1 \
	"/metrics for admin: agent-node-b's drop report ($((31337 * N)))"
check_eq "$(grep -c '^podlens_collector_batches_total{result="stored"} '"$((2 * N))"'$' "$WORK/body")" 1 \
	"/metrics for admin: $((2 * N)) batches stored"
check_eq "$(grep -c 'namespace="team-b"' "$WORK/body")" $((2 * (4 + 18 + 2 + 3 + 2))) \
	"/metrics for admin: team-b pod series (2 pods x (4 gauges + histogram 18 buckets, sum, count + summary 3 quantiles, sum, count))"
check_eq "$(get "" /metrics)" 200 "/metrics from loopback without a token -> 200"
check_ge "$(grep -cE "$self_re" "$WORK/body")" 10 "/metrics for a loopback peer: self-metrics"
check_eq "$(grep -c 'namespace=' "$WORK/body")" 0 "/metrics for a tokenless loopback peer: no pod series"
check_eq "$(get wrong /metrics)" 401 "/metrics with a wrong token -> 401, even from loopback"
check_eq "$(get "" /api/v1/namespaces)" 401 "the API from loopback without a token -> 401"

# The page, as the team-a token sees it in a browser, names nothing of team-b.
NPM_DIR=$TOP/$BUILD/npm
if [ -d "$NPM_DIR/node_modules/playwright-core" ] || npm install --silent --no-audit --no-fund \
	--prefix "$NPM_DIR" playwright-core@1 >/dev/null 2>&1; then
	PLAYWRIGHT_DIR=$NPM_DIR/node_modules node tests/integration/collector/page_text.mjs "$A" tokA \
		> "$WORK/page.txt" 2>"$WORK/page.err"
	check_ge "$(grep -c 'team-a/web' "$WORK/page.txt")" 1 "page drawn for team-a (map shows team-a/web)"
	check_ge "$(grep -c 'other-namespace' "$WORK/page.txt")" 1 "page's map shows the anonymous end"
	check_eq "$(leaks "$WORK/page.txt")" "" "page text for team-a holds nothing of team-b"
	[ -s "$WORK/page.txt" ] || tail -5 "$WORK/page.err"
else
	tap_fail "npm install playwright-core"
fi

# The legitimate client is served throughout: the collector is alive and answered everything.
check_eq "$(get tokA /healthz)" 200 "collector healthy after the reads"
