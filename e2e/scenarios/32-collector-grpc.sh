#!/bin/bash
# 32-collector-grpc (issue 15 items 3 and 5): gRPC per method and grpc-status, from packets, on
# both sides, through the agent and the collector. A python3-grpcio server (grpcpeer.py, an
# implementation podlens did not write) runs in pod shop/grpc-api, a grpcio client in pod
# payments/grpc-cli calls it over one HTTP/2 connection: OK Unary OKs, NF Unary NOT_FOUNDs, INT
# Unary INTERNALs, SLOW calls of Slow (the server sleeps DELAY_MS), two server-streaming calls of
# SMSG messages SGAP_MS apart. The agent (started before the connection) and the collector must
# show exactly those counts per /package.Service/Method and status, on the server pod and on the
# client pod, Slow's p50 within 20% of the sleep, both Stream calls' time to END_STREAM reported
# apart with a p50 within 20% of SMSG x SGAP_MS, /metrics' rpc_* series, and the page's method
# table in headless Chromium.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
OK=${E2E_GRPC_OK:-9}; NF=4; INT=2; SLOW=6; DELAY_MS=200; SMSG=3 SGAP_MS=100 STREAMS='[3,3]'
PORT=50051 SVC=/podlens.test.Echo
PEER=$E2E_TOP/tests/integration/tools/grpcpeer.py
COLLECTOR=$E2E_TOP/$BUILD/bin/podlens-collector
[ -x "$COLLECTOR" ] || { tap_fail "collector binary $COLLECTOR missing (make all)"; exit 1; }
$E2E_PY -c "import grpc" 2>/dev/null || { tap_fail "python3-grpcio installed (deps/test.pkgs)"; exit 1; }

"$COLLECTOR" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir "$E2E_TMP/collector" \
	>"$E2E_TMP/collector.out" 2>"$E2E_TMP/collector.log" &
COL_PID=$!
defer "kill -TERM $COL_PID 2>/dev/null; wait_for 10 'collector exit' e2e_gone $COL_PID || kill -KILL $COL_PID 2>/dev/null"
wait_for 10 "collector ready" grep -q '^podlens-collector ready' "$E2E_TMP/collector.out" ||
	{ tap_fail "collector ready"; cat "$E2E_TMP/collector.log" >&2; exit 1; }
GRPC=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$E2E_TMP/collector.out")
HTTP=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$E2E_TMP/collector.out")
tap_ok "collector up (grpc $GRPC, http $HTTP)"

e2e_pod SP grpc-api shop --label app=grpc-api || { tap_fail "server pod up"; exit 1; }
e2e_ctr SP_CTR "$SP_ID" server -- sleep 100000 || { tap_fail "server container up"; exit 1; }
scg=$(e2e_cgroup_dir "$SP_CTR"); spid=$(e2e_pid "$SP_CTR")
e2e_pod CP grpc-cli payments --label app=grpc-cli || { tap_fail "client pod up"; exit 1; }
e2e_ctr CP_CTR "$CP_ID" client -- sleep 100000 || { tap_fail "client container up"; exit 1; }
ccg=$(e2e_cgroup_dir "$CP_CTR"); cpid=$(e2e_pid "$CP_CTR")

sh -c "echo \$\$ > $scg/cgroup.procs && GRPCPEER_HOST=0.0.0.0 exec nsenter --net=/proc/$spid/ns/net $E2E_PY $PEER server $PORT $DELAY_MS $E2E_TMP/srv.ready" \
	>"$E2E_TMP/grpcsrv.log" 2>&1 &
SRV_PID=$!
defer "kill -KILL $SRV_PID 2>/dev/null"
wait_for 20 "grpc server ready" test -s "$E2E_TMP/srv.ready" || { tap_fail "grpc server starts: $(cat "$E2E_TMP/grpcsrv.log")"; exit 1; }
wait_for 10 "shop/grpc-api listening on :$PORT" e2e_listening "$spid" $PORT || { tap_fail "grpc server listening"; exit 1; }

e2e_agent_start AG 120 --collector "http://127.0.0.1:$GRPC" || exit 1
e2e_agent_ready AG 20 || { tap_fail "agent ready (/healthz)"; exit 1; }
for cg in "$scg" "$ccg"; do
	wait_for 20 "L7 capture on $(basename "$cg")" grep -q "l7: capturing HTTP of .*$(basename "$cg")" "$AG_LOG" ||
		{ tap_fail "L7 capture attached to $(basename "$cg")"; exit 1; }
done
tap_ok "agent exporting to the collector, L7 capture on both pods"

PLAN="{\"ok\":$OK,\"notfound\":$NF,\"internal\":$INT,\"slow\":$SLOW,\"stream\":$STREAMS,\"stream_gap_ms\":$SGAP_MS}"
C=$E2E_TMP/client.json
sh -c "echo \$\$ > $ccg/cgroup.procs && GRPCPEER_HOST=$SP_IP exec nsenter --net=/proc/$cpid/ns/net $E2E_PY $PEER client $PORT '$PLAN' $C" \
	2>"$E2E_TMP/grpccli.log" || tap_fail "grpc client runs: $(tail -3 "$E2E_TMP/grpccli.log")"
# ground truth: what the client received
check_eq "$(jq -c "[.calls[\"$SVC/Unary\"].OK, .calls[\"$SVC/Unary\"].NOT_FOUND, .calls[\"$SVC/Unary\"].INTERNAL, .calls[\"$SVC/Slow\"].OK, .calls[\"$SVC/Stream\"].OK]" "$C")" \
	"[$OK,$NF,$INT,$SLOW,2]" "client received its OKs, NOT_FOUNDs, INTERNALs, Slow OKs and 2 streams (ground truth)"
diag "client $CP_IP -> server $SP_IP:$PORT: $(cat "$C")"
TOTAL=$((OK + NF + INT + SLOW + 2))

# the agent's JSON: wait until both pods' rows hold every call, then stop it (last interval flushed)
asum() {   # asum NS POD SIDE JQ_FILTER: sum of count over the agent's http2 rows
	jq -s --arg ns "$1" --arg pod "$2" --arg side "$3" "[.[] | select(.workload.namespace == \$ns and .workload.pod == \$pod)
		| .http2[]? | select(.direction == \$side and .protocol == \"grpc\") | select($4) | .count] | add // 0" "$AG_OUT"
}
_agent_has() { [ "$(asum shop grpc-api server true)" -ge $TOTAL ] && [ "$(asum payments grpc-cli client true)" -ge $TOTAL ]; }
wait_for 20 "the agent's JSON holds every call on both sides" _agent_has || diag "agent rows: $(jq -s -c '[.[] | .http2[]?]' "$AG_OUT" | head -c 2000)"
e2e_agent_stop AG 30
check_eq "$AG_RC" 0 "agent exit status after SIGTERM"
for s in "shop grpc-api server" "payments grpc-cli client"; do
	set -- $s
	for m in "Unary OK $OK" "Unary NOT_FOUND $NF" "Unary INTERNAL $INT" "Slow OK $SLOW" "Stream OK 2"; do
		set -- $s $m
		check_eq "$(asum $1 $2 $3 ".method == \"$SVC/$4\" and .grpc_status == \"$5\"")" "$6" "agent JSON: $1/$2 ($3 side): $SVC/$4 $5"
	done
	check_eq "$(asum $1 $2 $3 true)" $TOTAL "agent JSON: $1/$2 ($3 side): no other gRPC row"
	check_eq "$(jq -s --arg ns "$1" --arg pod "$2" "[.[] | select(.workload.namespace == \$ns and .workload.pod == \$pod) | .http2[]? | select(.method == \"$SVC/Stream\") | .end_count] | add // 0" "$AG_OUT")" 2 \
		"agent JSON: $1/$2 ($3 side): both Stream calls' END_STREAM reported apart"
done

# the collector: routes per pod, exact per method and grpc-status name, both sides
routes() { curl -sf "http://127.0.0.1:$HTTP/api/v1/namespaces/$1/pods/$2/routes?window=3600" >"$E2E_TMP/routes-$2.json"; }
rsum() {   # rsum POD SIDE JQ_FILTER FIELD
	jq --arg side "$2" "[.routes[] | select(.direction == \$side and .protocol == \"grpc\") | select($3) | .$4] | add // 0" "$E2E_TMP/routes-$1.json"
}
_routes_in() { routes shop grpc-api && routes payments grpc-cli &&
	[ "$(rsum grpc-api server true count)" -ge $TOTAL ] && [ "$(rsum grpc-cli client true count)" -ge $TOTAL ]; }
wait_for 30 "the collector holds every call on both pods" _routes_in ||
	diag "routes: $(cat "$E2E_TMP"/routes-*.json 2>/dev/null | head -c 2000)"
for s in "shop grpc-api server" "payments grpc-cli client"; do
	set -- $s
	for m in "Unary OK $OK 0" "Unary NOT_FOUND $NF $NF" "Unary INTERNAL $INT $INT" "Slow OK $SLOW 0" "Stream OK 2 0"; do
		set -- $s $m
		f=".route == \"$SVC/$4\" and .method == \"$SVC/$4\" and .status_name == \"$5\""
		check_eq "$(rsum $2 $3 "$f" count) $(rsum $2 $3 "$f" errors)" "$6 $7" \
			"collector: $1/$2 ($3 side): $SVC/$4 $5 count and errors"
	done
	check_eq "$(rsum $2 $3 true count)" $TOTAL "collector: $1/$2 ($3 side): no other gRPC route"
	check_eq "$(rsum $2 $3 ".status_name == \"NOT_FOUND\"" status)" 5 "collector: $1/$2: NOT_FOUND is grpc-status 5 (one row)"
	p50=$(jq --arg side "$3" "[.routes[] | select(.direction == \$side and .route == \"$SVC/Slow\")] | first | .p50_us" "$E2E_TMP/routes-$2.json")
	check_within "$p50" $((DELAY_MS * 1000)) 20 "collector: $1/$2 ($3 side): Slow p50 within 20% of the server's sleep"
	check_eq "$(rsum $2 $3 ".route == \"$SVC/Stream\"" end_count)" 2 "collector: $1/$2 ($3 side): both Stream calls with a time to END_STREAM"
	e50=$(jq --arg side "$3" "[.routes[] | select(.direction == \$side and .route == \"$SVC/Stream\")] | first | .end_p50_us" "$E2E_TMP/routes-$2.json")
	check_within "$e50" $((SMSG * SGAP_MS * 1000)) 20 "collector: $1/$2 ($3 side): Stream p50 to END_STREAM within 20% of $SMSG x $SGAP_MS ms"
done

# /metrics: the rpc_* series of both pods (loopback peer without tokens: every pod)
curl -sf "http://127.0.0.1:$HTTP/metrics" >"$E2E_TMP/metrics.txt" || tap_fail "/metrics answers"
for s in "shop grpc-api server" "payments grpc-cli client"; do
	set -- $s
	for st in OK NOT_FOUND INTERNAL; do
		check_eq "$(grep -c "^podlens_pod_rpc_requests_per_second{namespace=\"$1\",pod=\"$2\",side=\"$3\",rpc_system=\"grpc\",rpc_service=\"podlens.test.Echo\",rpc_method=\"Unary\",rpc_grpc_status_code=\"$st\"} " "$E2E_TMP/metrics.txt")" 1 \
			"/metrics: $1/$2 $3 Unary $st series"
	done
	check_eq "$(grep -c "^podlens_pod_rpc_duration_quantile_seconds{namespace=\"$1\",pod=\"$2\",side=\"$3\",rpc_system=\"grpc\",rpc_service=\"podlens.test.Echo\",rpc_method=\"Slow\",quantile=\"0.5\"} 0\.[12]" "$E2E_TMP/metrics.txt")" 1 \
		"/metrics: $1/$2 $3 Slow p50 in seconds"
	# the histogram (issue 16): every Slow call the client got, none under 2^17 us = 0.131072 s
	# (the server sleeps DELAY_MS = 200 ms first; no upper bound asserted: a loaded machine is slower)
	hs="{namespace=\"$1\",pod=\"$2\",side=\"$3\",rpc_system=\"grpc\",rpc_service=\"podlens.test.Echo\",rpc_method=\"Slow\""
	check_eq "$(for le in 0.131072 +Inf; do grep -F "podlens_pod_rpc_duration_seconds_bucket$hs,le=\"$le\"} " "$E2E_TMP/metrics.txt" | awk '{print $NF}'; done | paste -sd/)/$(grep -F "podlens_pod_rpc_duration_seconds_count$hs} " "$E2E_TMP/metrics.txt" | awk '{print $NF}')" \
		"0/$SLOW/$SLOW" "/metrics: $1/$2 $3 Slow histogram: none in le 0.131072, the $SLOW calls in +Inf and _count"
done

# the page's gRPC method table (headless Chromium; playwright-core as scenarios 30 and 31)
PAGE=$E2E_TOP/tests/integration/collector/grpc_page.mjs
NPM_MODULES=$E2E_TOP/$BUILD/npm/node_modules
if command -v node >/dev/null && [ -x /usr/bin/chromium ] && [ -d "$NPM_MODULES/playwright-core" ]; then
	for s in "shop grpc-api server" "payments grpc-cli client"; do
		set -- $s
		if PLAYWRIGHT_DIR=$NPM_MODULES node "$PAGE" "http://127.0.0.1:$HTTP/?ns=$1" "$E2E_TMP/page-$2.png" \
			>"$E2E_TMP/page-$2.json" 2>"$E2E_TMP/page-$2.err"; then
			diag "page $1: $(cat "$E2E_TMP/page-$2.json")"
			cell() { jq -r --arg m "$SVC/$1" --arg st "$2" --arg side "$3" "[.rows[] | select(.method == \$m and .status == \$st and .side == \$side) | .$4] | first // \"none\"" "$E2E_TMP/page-$5.json"; }
			check_eq "$(cell Unary OK $3 calls $2) $(cell Unary NOT_FOUND $3 calls $2) $(cell Unary INTERNAL $3 calls $2) $(cell Slow OK $3 calls $2) $(cell Stream OK $3 calls $2)" \
				"$OK $NF $INT $SLOW 2" "page: $1/$2's method table: calls per method and grpc-status name"
			check_eq "$(cell Stream OK $3 streamed $2)" 2 "page: $1/$2: both Stream calls in the streamed column"
			check_eq "$(cell Unary OK $3 errors $2)" "$(awk -v e=$((NF + INT)) -v n=$((OK + NF + INT)) 'BEGIN { printf "%.1f %%", 100 * e / n }')" \
				"page: $1/$2: Unary's error %"
		else
			tap_fail "page's gRPC table for $1 in headless Chromium (see $E2E_TMP/page-$2.err)"; sed 's/^/# /' "$E2E_TMP/page-$2.err" | tail -5
		fi
	done
else
	tap_fail "page check needs node, /usr/bin/chromium and $NPM_MODULES/playwright-core (run the collector integration suites first)"
fi
