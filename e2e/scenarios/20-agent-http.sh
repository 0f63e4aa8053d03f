#!/bin/bash
# 20-agent-http (issue 4): per-pod HTTP latency in the lab. shop/api runs busybox httpd with CGI
# scripts that sleep a known 50 ms and answer 200, 404 or 500; payments/caller requests each route a
# known number of times (query strings and ids included). The agent, with CRI metadata, must report
# for shop/api/httpd (server side) and payments/caller/fetcher (client side) exactly those counts per
# route and status, with routes normalised, no query string anywhere, and p50 within 20% of the latency
# the caller measured itself (the CGI sleeps 50 ms; fork/exec of the CGI adds to that).
# Two agents watch at once: AG (host monitored: traffic at the cgroup2 root, HTTP-only programs on the
# pods) and AW (--host-monitor false: one traffic + HTTP program pair per pod container). Both must
# give the same answers.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
N=${E2E_HTTP_REQUESTS:-12}
SLEEP_MS=50

www=$E2E_TMP/www-api
mkdir -p "$www/cgi-bin"
for s in "ok 200 OK" "missing 404 Not Found" "boom 500 Internal Server Error"; do
	set -- $s
	name=$1; shift
	printf '#!/bin/sh\nsleep 0.%03d\nprintf "HTTP/1.0 %s\\r\\nContent-Type: text/plain\\r\\n\\r\\n%s\\n"\n' \
		"$SLEEP_MS" "$*" "$name" >"$www/cgi-bin/$name"
	chmod 755 "$www/cgi-bin/$name"
done
e2e_pod API api shop --label app=api || { tap_fail "api pod up"; exit 1; }
e2e_ctr API_CTR "$API_ID" httpd --mount "$www:/www:ro" -- httpd -f -p 8080 -h /www || { tap_fail "httpd up"; exit 1; }
wait_for 10 "httpd listening" e2e_listening "$(e2e_pid "$API_CTR")" 8080 || { tap_fail "httpd listening"; exit 1; }

e2e_agent_start AG 90 || exit 1
e2e_agent_start AW 90 --host-monitor false || exit 1
for m in AG AW; do
	e2e_agent_ready $m 20 || { tap_fail "$m: agent ready (/healthz)"; exit 1; }
	log=${m}_LOG
	wait_for 20 "HTTP capture on shop/api" grep -q "l7: capturing HTTP of .*$(e2e_cgroup_dir "$API_CTR" | xargs basename)" "${!log}" ||
		{ tap_fail "$m: HTTP capture attached to shop/api's container"; cat "${!log}" >&2; exit 1; }
	tap_ok "$m: HTTP capture attached to shop/api's container (from CRI metadata)"
done
check_eq "$(e2e_progs_on "$(e2e_cgroup_dir "$API_CTR")" pl_pkt_)" 2 "AW: one traffic + HTTP program per hook on shop/api's cgroup"
check_eq "$(e2e_progs_on "$(e2e_cgroup_dir "$API_CTR")" pl_l7_)" 2 "AG: HTTP programs on shop/api's cgroup"

e2e_pod CALL caller payments --label app=caller || { tap_fail "caller pod up"; exit 1; }
# the caller: a python client (latency measured with perf_counter) placed in the caller container's
# cgroup and network namespace, so the agent sees it as payments/caller/fetcher
e2e_ctr CALL_CTR "$CALL_ID" fetcher -- sleep 100000 || { tap_fail "caller container up"; exit 1; }
cg=$(e2e_cgroup_dir "$CALL_CTR"); cpid=$(e2e_pid "$CALL_CTR")
sh -c "echo \$\$ > $cg/cgroup.procs && exec nsenter --net=/proc/$cpid/ns/net $E2E_PY $E2E_TOP/tests/integration/tools/httpcli.py \
	--host $API_IP --new-only 8080 $N '/cgi-bin/ok?user=1&token=secret' /cgi-bin/missing /cgi-bin/boom" >"$E2E_TMP/client.json" ||
	tap_fail "caller's requests"
diag "caller: $(cat "$E2E_TMP/client.json")"
check_eq "$(jq .total "$E2E_TMP/client.json")" $((3 * N)) "requests made (ground truth)"
check_eq "$(jq '.requests["/cgi-bin/ok 200"]' "$E2E_TMP/client.json")" "$N" "200 answers the caller saw (ground truth)"
e2e_agent_stop AG 15
e2e_agent_stop AW 15
check_eq "$AG_RC" 0 "agent exit status after SIGTERM"
check_eq "$AW_RC" 0 "workloads-mode agent exit status after SIGTERM"

http() {   # http NS POD DIRECTION ROUTE STATUS FIELD: summed over intervals
	jq -s --arg ns "$1" --arg pod "$2" --arg d "$3" --arg r "$4" --argjson s "$5" \
		"[.[] | select(.workload.namespace == \$ns and .workload.pod == \$pod) | .http[]? |
		  select(.direction == \$d and .route == \$r and .status == \$s) | .$6] | add // 0" "$out"
}
cp50=$(jq '.p50_us | floor' "$E2E_TMP/client.json")
for m in AG AW; do
out=${m}_OUT; out=${!out}
for rs in "/cgi-bin/ok 200" "/cgi-bin/missing 404" "/cgi-bin/boom 500"; do
	set -- $rs
	check_eq "$(http shop api server "$1" "$2" count)" "$N" "$m: shop/api server: $1 $2 counted exactly"
	check_eq "$(http payments caller client "$1" "$2" count)" "$N" "$m: payments/caller client: $1 $2 counted exactly"
done
check_eq "$(grep -c 'secret\|token=' "$out" || true)" 0 "$m: no query string leaves the agent"
p50() {   # p50 NS POD DIRECTION: count-weighted p50 over intervals
	jq -s --arg ns "$1" --arg pod "$2" --arg d "$3" '[.[] | select(.workload.namespace == $ns and .workload.pod == $pod) |
		.http[]? | select(.direction == $d) | {c: .count, p: .p50_us}] | (map(.c * .p) | add) / (map(.c) | add) | floor' "$out"
}
check_within "$(p50 shop api server)" "$cp50" 20 "$m: shop/api p50 within 20% of the latency the caller measured"
check_within "$(p50 payments caller client)" "$cp50" 20 "$m: payments/caller client-side p50 within 20% of its own measurement"
# the estimate comes from log-linear buckets 12.5% wide: below the sleep by less than a bucket is right
check_ge "$(p50 shop api server)" $((SLEEP_MS * 875)) "$m: shop/api p50 at least the CGI's ${SLEEP_MS} ms sleep (less the 12.5% bucket width)"
done
