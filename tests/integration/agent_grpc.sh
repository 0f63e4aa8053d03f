#!/bin/bash
# podlens-agent gRPC capture on the real kernel: a python3-grpcio server (tools/grpcpeer.py: generic
# handlers, no stubs; an implementation podlens did not write) in a monitored cgroup of its own, a
# python3-grpcio client in another, both selected with --l7-cgroups. One channel = one HTTP/2
# connection carries: OK Unary calls, NOT_FOUND and INTERNAL ones, Slow calls (the server sleeps
# DELAY_MS), CONC Slow calls in flight at once (concurrent streams), NSTREAM server-streaming calls
# of SMSG messages sent SGAP_MS apart (the response ends SMSG x SGAP_MS after the request).
#   before: the agent runs before the connection opens. Both sides (client and server direction)
#           count every call exactly per /package.Service/Method and grpc-status, nothing else,
#           the Slow p50 is within 20% of DELAY_MS, every Stream call has its time to END_STREAM
#           reported apart (end_count) and that p50 is within 20% of SMSG x SGAP_MS.
#   after:  the connection (and its HPACK tables) is opened before the agent starts. Every call is
#           still counted exactly once per side; a call whose method or status could not be
#           decoded is reported as "unknown", and no (method, status) is counted more often than
#           the client made it (never a wrong name).
# Twice for "before": programs attached at the subtree (pl_l7_*) and per workload (--host-cgroups:
# pl_pkt_*). Then plain HTTP/2 with python3-h2 on both ends (tools/h2peer.py).
source "$(dirname "$0")/../lib.sh"
AGENT=$TOP/$BUILD/bin/podlens-agent
PY=/usr/bin/python3
PEER=$TOP/tests/integration/tools/grpcpeer.py
OK=6 NF=3 INT=2 SLOW=6 CONC=8 DELAY_MS=200
NSTREAM=3 SMSG=3 SGAP_MS=100
STREAMS="[$(printf "$SMSG,%.0s" $(seq $NSTREAM) | sed 's/,$//')]"
TOTAL=$((OK + NF + INT + SLOW + CONC + NSTREAM))
SVC=/podlens.test.Echo
[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT exists (run make)"; exit 1; }
$PY -c "import grpc, h2" 2>/dev/null || { tap_fail "python3-grpcio and python3-h2 installed (deps/test.pkgs)"; exit 1; }
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
W=$(mktemp -d /tmp/podlens-test-grpc.XXXXXX)
defer "rm -rf $W"
PORT=$((40000 + $$ % 20000))
PLAN="{\"ok\":$OK,\"notfound\":$NF,\"internal\":$INT,\"slow\":$SLOW,\"concurrent\":$CONC,\"stream\":$STREAMS,\"stream_gap_ms\":$SGAP_MS}"

SRV=$CG2/podlens-test-grpc-$$-srv
mkdir "$SRV"
defer "rmcg $SRV"
SRV_ID=$(stat -c %i "$SRV")
sh -c "echo \$\$ > $SRV/cgroup.procs && exec $PY $PEER server $PORT $DELAY_MS $W/srv.ready" 2>"$W/srv.log" &
SPID=$!
defer "kill -KILL $SPID"
wait_for 20 "grpc server ready" test -s "$W/srv.ready" || { tap_fail "grpc server starts: $(cat "$W/srv.log")"; exit 1; }

# rows of one cgroup's http2 field over every record: sum FIELD of those matching the jq filter
sum() {   # sum CGROUP_ID FILE JQ_FILTER FIELD
	jq -s --argjson id "$1" "[.[] | select(.workload.cgroup_id == \$id) | .http2[]? | select($3) | .$4] | add // 0" "$2"
}

run() {   # run MODE WHEN AGENT_FLAGS...: MODE subtree|workloads, WHEN before|after
	local MODE=$1 WHEN=$2 NAME=podlens-test-grpc-$$-$1-$2 APID CPID CLI CLI_ID J T=$1-$2
	shift 2
	CLI=$CG2/$NAME
	mkdir "$CLI"
	defer "rmcg $CLI"
	CLI_ID=$(stat -c %i "$CLI")
	J=$W/$T.agent.json
	if [ "$WHEN" = after ]; then
		# the connection opens (one warm-up call) before the agent exists
		sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $PEER client $PORT '$PLAN' $W/$T.client.json $W/$T.conn $W/$T.go" \
			2>"$W/$T.client.log" &
		CPID=$!
		defer "kill -KILL $CPID"
		wait_for 30 "client connected" test -s "$W/$T.conn" || { tap_fail "$T: client connects: $(cat "$W/$T.client.log")"; return; }
	fi
	"$AGENT" --output json --interval 1 --l7-cgroups "/$NAME,/podlens-test-grpc-$$-srv" "$@" >"$J" 2>"$W/$T.agent.log" &
	APID=$!
	defer "kill -KILL $APID"
	wait_for 20 "agent running" grep -q "running:" "$W/$T.agent.log" || { tap_fail "$T: agent starts"; cat "$W/$T.agent.log"; return; }
	[ "$MODE" = subtree ] || wait_for 10 "client cgroup attached" sh -c "bpftool cgroup show $CLI 2>/dev/null | grep -q pl_pkt" ||
		tap_fail "$T: pl_pkt programs on the client cgroup"
	if [ "$WHEN" = after ]; then
		touch "$W/$T.go"
		wait_for 60 "client done" test -s "$W/$T.client.json" || { tap_fail "$T: client finishes: $(cat "$W/$T.client.log")"; return; }
	else
		sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $PEER client $PORT '$PLAN' $W/$T.client.json" 2>"$W/$T.client.log" ||
			{ tap_fail "$T: client runs: $(cat "$W/$T.client.log")"; return; }
	fi
	diag "$T: client: $(cat "$W/$T.client.json")"
	C=$W/$T.client.json
	check_eq "$(jq ".calls[\"$SVC/Unary\"].OK" "$C")" $OK "$T: client: $OK Unary OK"
	check_eq "$(jq ".calls[\"$SVC/Unary\"].NOT_FOUND" "$C")" $NF "$T: client: $NF Unary NOT_FOUND"
	check_eq "$(jq ".calls[\"$SVC/Unary\"].INTERNAL" "$C")" $INT "$T: client: $INT Unary INTERNAL"
	check_eq "$(jq ".calls[\"$SVC/Slow\"].OK" "$C")" $((SLOW + CONC)) "$T: client: $((SLOW + CONC)) Slow OK"
	check_eq "$(jq ".calls[\"$SVC/Stream\"].OK" "$C")" $NSTREAM "$T: client: $NSTREAM Stream OK"
	# every call is counted by the next interval or two: wait for the totals (bounded), not a time
	wait_for 20 "agent counted $TOTAL calls on both sides" sh -c \
		"[ \"\$(jq -s '[.[] | select(.workload.cgroup_id == $CLI_ID or .workload.cgroup_id == $SRV_ID) | .http2[]? | .count] | add // 0' $J)\" -ge $((2 * TOTAL)) ]" ||
		diag "$T: totals not reached in time"
	kill -TERM "$APID"; wait "$APID"
	check_eq "$?" 0 "$T: agent exits 0"
	check_eq "$(programs_left "$W/$T.agent.log")" 0 "$T: none of the agent's BPF programs remains after exit"
	for side in client server; do
		local ID=$CLI_ID
		[ $side = server ] && ID=$SRV_ID
		check_eq "$(sum $ID "$J" 'true' count)" $TOTAL "$T: $side side: every call once, nothing else"
		check_eq "$(sum $ID "$J" ".direction != \"$side\"" count)" 0 "$T: $side side: every call in direction $side"
		check_eq "$(sum $ID "$J" '.protocol != "grpc"' count)" 0 "$T: $side side: every call is gRPC"
		if [ "$WHEN" = before ]; then
			check_eq "$(sum $ID "$J" ".method == \"$SVC/Unary\" and .grpc_status == \"OK\"" count)" $OK "$T: $side side: Unary OK"
			check_eq "$(sum $ID "$J" ".method == \"$SVC/Unary\" and .grpc_status == \"NOT_FOUND\"" count)" $NF "$T: $side side: Unary NOT_FOUND"
			check_eq "$(sum $ID "$J" ".method == \"$SVC/Unary\" and .grpc_status == \"INTERNAL\"" count)" $INT "$T: $side side: Unary INTERNAL"
			check_eq "$(sum $ID "$J" ".method == \"$SVC/Slow\" and .grpc_status == \"OK\"" count)" $((SLOW + CONC)) "$T: $side side: Slow OK (sequential and concurrent)"
			check_eq "$(sum $ID "$J" ".method == \"$SVC/Stream\" and .grpc_status == \"OK\"" count)" $NSTREAM "$T: $side side: server-streaming calls"
			check_eq "$(sum $ID "$J" ".method == \"$SVC/Stream\"" end_count)" $NSTREAM "$T: $side side: every Stream call's END_STREAM reported apart"
			end50=$(jq -s --argjson id "$ID" '[.[] | select(.workload.cgroup_id == $id) | .http2[]? | select(.method == "/podlens.test.Echo/Stream" and .end_count) | {c: .end_count, p: .end_p50_us}] | (map(.c * .p) | add) / (map(.c) | add) | floor' "$J")
			check_within "$end50" $((SMSG * SGAP_MS * 1000)) 20 "$T: $side side: Stream p50 to END_STREAM within 20% of $SMSG x $SGAP_MS ms"
			diag "$T: $side side: Stream p50 to END_STREAM $end50 us, to first response $(sum $ID "$J" ".method == \"$SVC/Stream\"" p50_us) us (summed over rows); client times (ms): $(jq -c '.stream_ms | map(floor)' "$C")"
			p50=$(jq -s --argjson id "$ID" '[.[] | select(.workload.cgroup_id == $id) | .http2[]? | select(.method == "/podlens.test.Echo/Slow") | {c: .count, p: .p50_us}] | (map(.c * .p) | add) / (map(.c) | add) | floor' "$J")
			check_within "$p50" $((DELAY_MS * 1000)) 20 "$T: $side side: Slow p50 within 20% of the server's delay"
			diag "$T: $side side: Slow p50 $p50 us; client times (ms): $(jq -c '.slow_ms | map(floor)' "$C")"
		else
			# never a wrong name: no (method, status) more often than the client made it
			for m in "Unary OK $OK" "Unary NOT_FOUND $NF" "Unary INTERNAL $INT" "Slow OK $((SLOW + CONC))" "Stream OK $NSTREAM"; do
				set -- $m
				check_range "$(sum $ID "$J" ".method == \"$SVC/$1\" and .grpc_status == \"$2\"" count)" 0 $3 \
					"$T: $side side: $1 $2 at most $3 (decoded, or unknown)"
			done
			check_eq "$(sum $ID "$J" ".method != \"unknown\" and .method != \"$SVC/Unary\" and .method != \"$SVC/Slow\" and .method != \"$SVC/Stream\"" count)" 0 \
				"$T: $side side: no method but the three, or unknown"
			check_eq "$(sum $ID "$J" "(.method == \"$SVC/Slow\" or .method == \"$SVC/Stream\") and .grpc_status != \"OK\" and .grpc_status != \"unknown\"" count)" 0 \
				"$T: $side side: Slow and Stream never with a status they did not have"
			diag "$T: $side side rows: $(jq -s -c --argjson id "$ID" '[.[] | select(.workload.cgroup_id == $id) | .http2[]? | {method, grpc_status, count}]' "$J")"
		fi
	done
	kill -KILL "$APID" 2>/dev/null || true
}

run subtree before
run subtree after
run workloads before --host-cgroups "/podlens-test-grpc-$$-*"

# Plain HTTP/2 (h2c with prior knowledge), python3-h2 on both ends (tools/h2peer.py), one connection:
# ITEMS GETs of /items/<i>?q=<i> (route /items/{id}, query dropped), MISS of /missing (404), HSLOW of
# /slow answered after DELAY_MS; both sides exact per route and status, /slow p50 within 20%.
ITEMS=7 MISS=3 HSLOW=5
H2PORT=$((PORT + 1))
sh -c "echo \$\$ > $SRV/cgroup.procs && exec $PY $TOP/tests/integration/tools/h2peer.py server $H2PORT $DELAY_MS $W/h2srv.ready" 2>"$W/h2srv.log" &
HPID=$!
defer "kill -KILL $HPID"
wait_for 20 "h2 server ready" test -s "$W/h2srv.ready" || { tap_fail "h2 server starts: $(cat "$W/h2srv.log")"; exit 1; }
NAME=podlens-test-grpc-$$-h2
CLI=$CG2/$NAME
mkdir "$CLI"
defer "rmcg $CLI"
CLI_ID=$(stat -c %i "$CLI")
J=$W/h2.agent.json
"$AGENT" --output json --interval 1 --l7-cgroups "/$NAME,/podlens-test-grpc-$$-srv" >"$J" 2>"$W/h2.agent.log" &
APID=$!
defer "kill -KILL $APID"
if wait_for 20 "agent running" grep -q "running:" "$W/h2.agent.log"; then
	sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $TOP/tests/integration/tools/h2peer.py client $H2PORT $ITEMS $MISS $HSLOW $W/h2.client.json" \
		2>"$W/h2.client.log" || tap_fail "h2: client runs: $(cat "$W/h2.client.log")"
	diag "h2: client: $(cat "$W/h2.client.json")"
	check_eq "$(jq '."200"' "$W/h2.client.json")" $((ITEMS + HSLOW)) "h2: client: $((ITEMS + HSLOW)) answered 200"
	check_eq "$(jq '."404"' "$W/h2.client.json")" $MISS "h2: client: $MISS answered 404"
	HTOTAL=$((ITEMS + MISS + HSLOW))
	wait_for 20 "agent counted $HTOTAL requests on both sides" sh -c \
		"[ \"\$(jq -s '[.[] | select(.workload.cgroup_id == $CLI_ID or .workload.cgroup_id == $SRV_ID) | .http2[]? | .count] | add // 0' $J)\" -ge $((2 * HTOTAL)) ]" ||
		diag "h2: totals not reached in time"
	kill -TERM "$APID"; wait "$APID"
	check_eq "$?" 0 "h2: agent exits 0"
	for side in client server; do
		ID=$CLI_ID
		[ $side = server ] && ID=$SRV_ID
		check_eq "$(sum $ID "$J" 'true' count)" $HTOTAL "h2: $side side: every request once, nothing else"
		check_eq "$(sum $ID "$J" ".protocol != \"http2\" or .direction != \"$side\" or .method != \"GET\"" count)" 0 "h2: $side side: all HTTP/2 GETs, direction $side"
		check_eq "$(sum $ID "$J" '.route == "/items/{id}" and .status == 200' count)" $ITEMS "h2: $side side: /items/{id} 200 (ids normalised, query dropped)"
		check_eq "$(sum $ID "$J" '.route == "/missing" and .status == 404' count)" $MISS "h2: $side side: /missing 404"
		check_eq "$(sum $ID "$J" '.route == "/slow" and .status == 200' count)" $HSLOW "h2: $side side: /slow 200"
		p50=$(jq -s --argjson id "$ID" '[.[] | select(.workload.cgroup_id == $id) | .http2[]? | select(.route == "/slow") | {c: .count, p: .p50_us}] | (map(.c * .p) | add) / (map(.c) | add) | floor' "$J")
		check_within "$p50" $((DELAY_MS * 1000)) 20 "h2: $side side: /slow p50 within 20% of the server's delay"
	done
else
	tap_fail "h2: agent starts"
fi

# nghttp2's own server and client (nghttp2-server's nghttpd --no-tls, nghttp2-client's nghttp), one
# connection, NM concurrent copies (nghttp -m) of each URI: /index.html (200; the server pushes
# /style.css with it: PUSH_PROMISE), /items/1 and /items/2 (200, route /items/{id}), /missing (404).
# Ground truth: nghttp's own per-stream statistics (-s). Both sides exact per route and status,
# nothing else: the pushed streams are never reported as requests. The agent runs before the
# connection opens (nghttp cannot hold a connection open to start the agent in between).
NM=5
NGPORT=$((PORT + 2))
command -v nghttpd >/dev/null && command -v nghttp >/dev/null ||
	{ tap_fail "nghttpd and nghttp installed (nghttp2-server, nghttp2-client in deps/test.pkgs)"; exit 1; }
mkdir -p "$W/www/items"
echo '<html>hello</html>' > "$W/www/index.html"
echo 'p {}' > "$W/www/style.css"
echo 'item 1' > "$W/www/items/1"
echo 'item 2' > "$W/www/items/2"
sh -c "echo \$\$ > $SRV/cgroup.procs && exec nghttpd --no-tls -d $W/www -p /index.html=/style.css $NGPORT" >"$W/nghttpd.log" 2>&1 &
NGPID=$!
defer "kill -KILL $NGPID"
wait_for 20 "nghttpd listening on $NGPORT" sh -c "ss -Htln 'sport = :$NGPORT' | grep -q ." ||
	{ tap_fail "nghttpd starts: $(cat "$W/nghttpd.log")"; exit 1; }
NAME=podlens-test-grpc-$$-ng
CLI=$CG2/$NAME
mkdir "$CLI"
defer "rmcg $CLI"
CLI_ID=$(stat -c %i "$CLI")
J=$W/ng.agent.json
"$AGENT" --output json --interval 1 --l7-cgroups "/$NAME,/podlens-test-grpc-$$-srv" >"$J" 2>"$W/ng.agent.log" &
APID=$!
defer "kill -KILL $APID"
if wait_for 20 "agent running" grep -q "running:" "$W/ng.agent.log"; then
	B=http://127.0.0.1:$NGPORT
	sh -c "echo \$\$ > $CLI/cgroup.procs && exec nghttp -n -s -m $NM $B/index.html $B/items/1 $B/items/2 $B/missing" \
		>"$W/ng.client.txt" 2>&1 || tap_fail "nghttp: client runs: $(tail -3 "$W/ng.client.txt")"
	# nghttp -s: "id responseEnd requestStart process code size request path"; pushed streams
	# (even ids) carry a '*' after responseEnd
	ngc() { awk -v p="$1" -v c="$2" -v push="$3" '$1 ~ /^[0-9]+$/ && $NF == p && $(NF-2) == c && ($1 % 2 == 0) == (push == 1) { n++ } END { print n + 0 }' "$W/ng.client.txt"; }
	check_eq "$(ngc /index.html 200 0) $(ngc /items/1 200 0) $(ngc /items/2 200 0) $(ngc /missing 404 0)" "$NM $NM $NM $NM" \
		"nghttp: client: $NM of each URI answered (200, 200, 200, 404)"
	check_eq "$(ngc /style.css 200 1)" $NM "nghttp: client: $NM pushed /style.css"
	NTOTAL=$((4 * NM))
	wait_for 20 "agent counted $NTOTAL requests on both sides" sh -c \
		"[ \"\$(jq -s '[.[] | select(.workload.cgroup_id == $CLI_ID or .workload.cgroup_id == $SRV_ID) | .http2[]? | .count] | add // 0' $J)\" -ge $((2 * NTOTAL)) ]" ||
		diag "nghttp: totals not reached in time"
	kill -TERM "$APID"; wait "$APID"
	check_eq "$?" 0 "nghttp: agent exits 0"
	for side in client server; do
		ID=$CLI_ID
		[ $side = server ] && ID=$SRV_ID
		check_eq "$(sum $ID "$J" 'true' count)" $NTOTAL "nghttp: $side side: every request once, no pushed stream, nothing else"
		check_eq "$(sum $ID "$J" ".protocol != \"http2\" or .direction != \"$side\" or .method != \"GET\"" count)" 0 "nghttp: $side side: all HTTP/2 GETs, direction $side"
		check_eq "$(sum $ID "$J" '.route == "/index.html" and .status == 200' count)" $NM "nghttp: $side side: /index.html 200"
		check_eq "$(sum $ID "$J" '.route == "/items/{id}" and .status == 200' count)" $((2 * NM)) "nghttp: $side side: /items/{id} 200"
		check_eq "$(sum $ID "$J" '.route == "/missing" and .status == 404' count)" $NM "nghttp: $side side: /missing 404"
	done
	diag "nghttp: agent log: $(grep -i 'http2\|h2' "$W/ng.agent.log" | tail -3)"
else
	tap_fail "nghttp: agent starts"
fi
