#!/bin/bash
# podlens-collector DNS view (issue 14 item 3) through the real gRPC path and HTTP API: two tenants'
# DnsStats/DnsSearch (tests/integration/collector/dnsseed.py: team-a/web resolving, team-b/coredns
# answering) over several intervals. Per pod and per namespace: exact counts per rcode, timeouts,
# errors, histogram buckets merged across intervals into p50, the agent's overflow domain "other"
# merged like any domain, top-N with the rest counted, the search storm. Read-token scoping: a
# team-a token reads team-a's DNS and nothing of team-b's (403 on its endpoints, no team-b series
# on /metrics); /metrics labels stay within the fixed rcode classes. Hostile rows are refused and
# a valid batch after them is stored. No BPF, no root: loopback ports picked by the kernel.
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
cd "$TOP"

WORK=$(mktemp -d /tmp/podlens-collector-dns.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }
printf 'tokA team-a\ntokB team-b\ntokAdm *\n' > "$WORK/read-tokens"
start_collector C --data-dir "$WORK/data" --read-tokens "$WORK/read-tokens" || { tap_fail "collector starts"; exit 1; }
A=http://127.0.0.1:$C_HTTP
N=3 B=4   # N batches per agent, and team-a's one more after the refused ones
seed=$(PODLENS_PY=$PYDIR "$PY" tests/integration/collector/dnsseed.py "127.0.0.1:$C_GRPC" --batches $N)
diag "seed: $seed"
check_eq "$(jq .stored <<<"$seed")" $((2 * N + 1)) "every valid batch stored through gRPC"
check_eq "$(jq -c .refused <<<"$seed")" '["INVALID_ARGUMENT","INVALID_ARGUMENT"]' \
	"a 17-byte rcode and buckets over count: INVALID_ARGUMENT"
first=$(jq .first_ms <<<"$seed"); end=$(jq .end_ms <<<"$seed")
R="from=$first&to=$((end + 1))"

get() {   # get TOKEN PATH -> body in $WORK/body, HTTP status printed
	curl -s -o "$WORK/body" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} "$A$2"
}
check_eq "$(get tokA "/api/v1/namespaces/team-a/pods/web/dns?$R")" 200 "team-a token reads team-a/web's DNS"
cp "$WORK/body" "$WORK/web.json"
W=$WORK/web.json
check_eq "$(jq .client.queries "$W")" $((16 * B)) "team-a/web: every lookup of $B intervals"
check_eq "$(jq -c '.client.rcodes | to_entries | sort_by(.key) | from_entries' "$W")" \
	"{\"BADVERS9\":$B,\"NOERROR\":$((12 * B)),\"NXDOMAIN\":$((2 * B)),\"TIMEOUT\":$B}" "team-a/web: lookups per rcode"
check_eq "$(jq -r '"\(.client.timeouts) \(.client.errors) \(.client.nxdomain)"' "$W")" "$B $((2 * B)) $((2 * B))" \
	"team-a/web: timeouts, errors (timeouts and BADVERS9, not NXDOMAIN), NXDOMAIN"
check_eq "$(jq .client.error_pct "$W")" 12.5 "team-a/web: error % (2 of 16)"
p50=$(jq .client.p50_us "$W")
check_eq "$([ "$p50" -ge 960 ] && [ "$p50" -lt 1024 ] && echo in)" in "team-a/web: p50 from buckets merged over $B intervals in the bucket of 1000 us ($p50)"
check_eq "$(jq -c '[.client.domains[] | [.domain, .count]]' "$W")" \
	"[[\"api.team-a.test\",$((7 * B))],[\"other\",$((6 * B))],[\"x.team-a.svc.cluster.local\",$((2 * B))],[\"gone.team-a.test\",$B]]" \
	"team-a/web: domains by count, the overflow domain other merged over intervals and rcodes"
check_eq "$(jq '.client.domains[] | select(.domain == "other") | .p50_us >= 2816 and .p50_us < 3072' "$W")" true \
	"team-a/web: other's p50 in the bucket of 3000 us"
check_eq "$(jq -c .search "$W")" "{\"queries\":$((3 * B)),\"nxdomain\":$((2 * B))}" "team-a/web: the search storm summed"
check_eq "$(get tokA "/api/v1/namespaces/team-a/pods/web/dns?$R&top=1")" 200 "top=1 answers"
check_eq "$(jq -c '[.client.domains[].domain, .client.queries_not_listed]' "$WORK/body")" "[\"api.team-a.test\",$((9 * B))]" \
	"top=1: the busiest domain, the rest counted"
for bad in "top=0" "top=501" "top=x" "window=60&from=1"; do
	check_eq "$(get tokA "/api/v1/namespaces/team-a/pods/web/dns?$bad")" 400 "refused query string: $bad"
done
check_eq "$(jq -r .parameter "$WORK/body")" window "400 names the parameter"
check_eq "$(get tokA "/api/v1/namespaces/team-a/dns?$R")" 200 "team-a token reads team-a's namespace DNS"
check_eq "$(jq -c '[.pods[] | [.pod, .client.queries]]' "$WORK/body")" "[[\"web\",$((16 * B))]]" "namespace view: one row per pod"
check_eq "$(get tokA "/api/v1/namespaces/team-a/pods/nope/dns")" 404 "unknown pod: 404"

# scoping: team-b is forbidden to team-a whatever exists
check_eq "$(get tokA "/api/v1/namespaces/team-b/dns?$R")" 403 "team-a token: team-b's namespace DNS forbidden"
check_eq "$(get tokA "/api/v1/namespaces/team-b/pods/coredns/dns?$R")" 403 "team-a token: team-b/coredns DNS forbidden"
check_eq "$(grep -c 'team-b\|coredns\|4242\|secret' "$WORK/body")" 0 "the 403 body names nothing of team-b"
check_eq "$(get "" "/api/v1/namespaces/team-a/dns")" 401 "no token: 401"
check_eq "$(get tokB "/api/v1/namespaces/team-b/pods/coredns/dns?$R")" 200 "team-b token reads team-b/coredns"
check_eq "$(jq -c '[.server.queries, .server.rcodes.SERVFAIL, .server.errors, .client.queries]' "$WORK/body")" \
	"[$((5161 * N)),$((919 * N)),$((919 * N)),0]" "team-b/coredns: server side answers, SERVFAILs are errors"

# /metrics (last 5 minutes: every interval sent is inside)
check_eq "$(get tokA /metrics)" 200 "team-a token reads /metrics"
cp "$WORK/body" "$WORK/m.a"
check_eq "$(grep -c 'team-b\|coredns' "$WORK/m.a")" 0 "team-a's /metrics: no team-b series"
check_ge "$(grep -c '^podlens_pod_dns_queries_per_second{namespace="team-a",pod="web",side="client",rcode=' "$WORK/m.a")" 5 \
	"team-a's /metrics: web's lookup rates per rcode class"
check_eq "$(grep '^podlens_pod_dns_' "$WORK/m.a" | grep -o 'rcode="[^"]*"' | sort -u | paste -sd, -)" \
	'rcode="NOERROR",rcode="NXDOMAIN",rcode="REFUSED",rcode="SERVFAIL",rcode="TIMEOUT",rcode="other"' \
	"rcode label values: the fixed classes only (BADVERS9 is other)"
check_eq "$(grep -c '^podlens_pod_dns_.*{namespace="team-a",pod="web"' "$WORK/m.a")" $((6 + 1 + (3 + 2) + (18 + 2) + 1)) \
	"team-a/web: 6 rate classes + error ratio + summary (3 quantiles, sum, count) + histogram (18 buckets, sum, count) + search (one side, no domain label)"
check_eq "$(awk '/^podlens_pod_dns_error_ratio\{namespace="team-a",pod="web",side="client"\}/ {print $2}' "$WORK/m.a")" 0.125 \
	"team-a/web: DNS error ratio"
check_eq "$(grep -c '^podlens_collector_' "$WORK/m.a")" 0 "team-a token: no self-metrics"
check_eq "$(get tokAdm /metrics)" 200 "admin token reads /metrics"
check_eq "$(grep -c '^podlens_pod_dns_queries_per_second{namespace="team-b",pod="coredns",side="server",rcode="SERVFAIL"}' "$WORK/body")" 1 \
	"admin's /metrics: team-b/coredns's SERVFAIL rate"
check_eq "$(get "" /metrics)" 200 "loopback without token: self-metrics"
check_eq "$(grep -c '^podlens_pod_dns_' "$WORK/body")" 0 "loopback without token: no per-pod DNS series"
