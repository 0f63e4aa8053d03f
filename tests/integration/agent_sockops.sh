#!/bin/bash
# podlens-agent's TCP health per monitored workload (issue 17): only sockets of monitored cgroups
# run its programs. Ground truth comes from the traffic tools. Run for each --tcp-hooks mode: auto
# and packets (the workloads' packet programs), sockops, and tracepoints (the fallback), with one
# monitored and one unmonitored host cgroup:
#   - a connection opened in the monitored cgroup BEFORE the agent started is counted when it
#     closes (2 closes: both ends), and its opening is not (it was not seen)
#   - K connections inside the unmonitored cgroup: the counting program's run count (sock_ops,
#     or the workload packet programs; kernel.bpf_stats_enabled, /metrics) does not move; with
#     tracepoints, pl_tcp_state does
#     (the same measurement sees node-wide programs: the check can fail)
#   - K connections inside the monitored cgroup: active opens K, passive opens K, connect
#     latency reported, closes 2K + 2 (with the pre-existing pair), exactly, in both modes
#   - no record of the unmonitored cgroup; SIGTERM leaves no program
source "$(dirname "$0")/../lib.sh"
AGENT=$TOP/$BUILD/bin/podlens-agent
XFER=$TOP/tests/integration/tools/tcpxfer.py
HOLD=$TOP/tests/integration/tools/holdconn.py
PY=/usr/bin/python3
K=20 BYTES=1000 REPLY=100

[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT exists (run make)"; exit 1; }
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
[ -n "$CG2" ] || { tap_fail "a cgroup2 hierarchy is mounted"; exit 1; }
W=$(mktemp -d /tmp/podlens-test-sockops.XXXXXX)
defer "rm -rf $W"
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
defer "sysctl -qw kernel.bpf_stats_enabled=$STATS_WAS"
sysctl -qw kernel.bpf_stats_enabled=1

# run count of one of the agent's programs, from its /metrics
runs() {
	curl -s "http://127.0.0.1:$1/metrics" |
		awk -v p="podlens_bpf_run_count_total{program=\"$2\"}" '$1 == p {print $2; f=1} END {if (!f) print "none"}'
}
sum() {   # sum MODE CGROUP_ID JQ_PATH over every interval
	jq -s --argjson id "$2" "[.[] | select(.workload.cgroup_id == \$id) | $3 // 0] | add // 0" "$W/$1.agent.json"
}

for MODE in auto packets sockops tracepoints; do
	P=podlens-test-so-$$-$MODE
	MON=$CG2/$P-mon UNM=$CG2/podlens-test-sox-$$-$MODE
	mkdir "$MON" "$UNM"
	defer "rmcg $MON $UNM"
	MON_ID=$(stat -c %i "$MON") UNM_ID=$(stat -c %i "$UNM")

	# the connection that exists before the agent
	sh -c "echo \$\$ > $MON/cgroup.procs && exec $PY $HOLD $W/$MODE.ready $W/$MODE.go" &
	HPID=$!
	defer "kill -KILL $HPID"
	wait_for 10 "held connection" test -s "$W/$MODE.ready" || { tap_fail "$MODE: held connection open"; exit 1; }

	"$AGENT" --output json --interval 1 --cgroup-root "$(dirname "$CG2")" --host-cgroups "/$P-*" \
		--tcp-hooks "$MODE" --log-level debug --metrics-addr 127.0.0.1:0 \
		>"$W/$MODE.agent.json" 2>"$W/$MODE.agent.log" &
	APID=$!
	defer "kill -KILL $APID"
	if ! wait_for 20 "agent running" grep -q "running:" "$W/$MODE.agent.log"; then
		tap_fail "$MODE: agent starts"; cat "$W/$MODE.agent.log"; exit 1
	fi
	mport=$(sed -n 's/.*serving \/metrics.*(port \([0-9]*\)).*/\1/p' "$W/$MODE.agent.log")
	if [ "$MODE" = auto ] || [ "$MODE" = packets ]; then
		grep -q "tcp: from the packet programs per monitored workload" "$W/$MODE.agent.log" &&
			tap_ok "$MODE: TCP health from the packet programs per workload" ||
			tap_fail "$MODE: TCP health from the packet programs per workload"
		wait_for 10 "monitored cgroup attached" grep -q "workload /$P-mon: counting" "$W/$MODE.agent.log" ||
			tap_fail "$MODE: monitored cgroup attached"
		PROG=pl_traffic_wl_out
		check_eq "$(runs "$mport" pl_tcp_state)" none "$MODE: the node-wide state tracepoint is not loaded"
		check_eq "$(runs "$mport" pl_tcp_sockops)" none "$MODE: no sock_ops program loaded"
	elif [ "$MODE" = sockops ]; then
		grep -q "tcp: sock_ops per monitored workload" "$W/$MODE.agent.log" &&
			tap_ok "sockops: TCP health from sock_ops per workload" || tap_fail "sockops: TCP health from sock_ops per workload"
		# the enrol pass runs right after the attachment, in the same step of the agent's loop
		wait_for 10 "enrol pass after the attachment" \
			sh -c "sed -n '/workload \/$P-mon: counting/,\$p' $W/$MODE.agent.log | grep -q 'sockets enrolled so far'" ||
			tap_fail "sockops: existing sockets enrolled after the monitored cgroup's attachment"
		PROG=pl_tcp_sockops
		check_eq "$(runs "$mport" pl_tcp_state)" none "sockops: the node-wide state tracepoint is not loaded"
	else
		grep -q "tcp: node-wide tracepoints (--tcp-hooks tracepoints)" "$W/$MODE.agent.log" &&
			tap_ok "tracepoints: the fallback says so" || tap_fail "tracepoints: the fallback says so"
		wait_for 10 "monitored cgroup attached" grep -q "workload /$P-mon: counting" "$W/$MODE.agent.log" ||
			tap_fail "tracepoints: monitored cgroup attached"
		PROG=pl_tcp_state
		check_eq "$(runs "$mport" pl_tcp_sockops)" none "tracepoints: no sock_ops program loaded"
	fi

	# K connections of the unmonitored cgroup
	r0=$(runs "$mport" $PROG)
	sh -c "echo \$\$ > $UNM/cgroup.procs && exec $PY $XFER server $W/$MODE.uport $K 0 $REPLY" >"$W/$MODE.userver.json" &
	USPID=$!
	defer "kill -KILL $USPID"
	wait_for 10 "unmonitored server port" test -s "$W/$MODE.uport" || { tap_fail "$MODE: servers listen"; exit 1; }
	sh -c "echo \$\$ > $UNM/cgroup.procs && exec $PY $XFER client $(cat "$W/$MODE.uport") $K 0 $BYTES" >"$W/$MODE.uclient.json"
	wait "$USPID"
	check_eq "$(jq -r .connects "$W/$MODE.uclient.json")" $K "$MODE: unmonitored client made $K connections (ground truth)"
	r1=$(runs "$mport" $PROG)
	if [ "$MODE" != tracepoints ]; then
		check_eq "$((r1 - r0))" 0 "$MODE: $PROG did not run for the unmonitored cgroup's $K connections (runs $r0 -> $r1)"
	else
		check_ge "$((r1 - r0))" $((2 * K)) "tracepoints: $PROG ran for the unmonitored cgroup's connections (runs $r0 -> $r1)"
	fi

	# K connections of the monitored cgroup
	sh -c "echo \$\$ > $MON/cgroup.procs && exec $PY $XFER server $W/$MODE.mport $K 0 $REPLY" >"$W/$MODE.mserver.json" &
	MSPID=$!
	defer "kill -KILL $MSPID"
	wait_for 10 "monitored server port" test -s "$W/$MODE.mport" || { tap_fail "$MODE: servers listen"; exit 1; }
	sh -c "echo \$\$ > $MON/cgroup.procs && exec $PY $XFER client $(cat "$W/$MODE.mport") $K 0 $BYTES" >"$W/$MODE.mclient.json"
	wait "$MSPID"
	check_eq "$(jq -r .connects "$W/$MODE.mclient.json")" $K "$MODE: monitored client made $K connections (ground truth)"
	check_ge "$(( $(runs "$mport" $PROG) - r1 ))" $((2 * K)) "$MODE: $PROG ran for the monitored cgroup's connections"

	# the pre-existing connection closes now
	touch "$W/$MODE.go"
	wait "$HPID"; rc=$?
	check_eq "$rc" 0 "$MODE: the pre-existing connection closed cleanly"
	wait_for 10 "closes of the monitored cgroup" test "$(sum $MODE $MON_ID .tcp.closes)" -ge $((2 * K + 2)) || true
	kill -TERM "$APID"
	wait "$APID"; rc=$?
	check_eq "$rc" 0 "$MODE: agent exits 0 on SIGTERM"
	check_eq "$(programs_left "$W/$MODE.agent.log")" 0 "$MODE: none of the agent's BPF programs remains after exit"

	check_eq "$(sum $MODE $MON_ID .tcp.active_opens)" $K "$MODE: active opens of the monitored cgroup exact"
	check_eq "$(sum $MODE $MON_ID .tcp.passive_opens)" $K "$MODE: passive opens of the monitored cgroup exact"
	check_eq "$(jq -s --argjson id "$MON_ID" '[.[] | select(.workload.cgroup_id == $id) | .tcp.connect_latency_us | select(. != null)] | length > 0' "$W/$MODE.agent.json")" true \
		"$MODE: connect latency reported for the monitored cgroup"
	check_eq "$(sum $MODE $MON_ID .tcp.closes)" $((2 * K + 2)) "$MODE: closes exact: $K connections x 2 ends + the pre-existing pair"
	check_eq "$(sum $MODE $MON_ID .tcp.connect_failures)" 0 "$MODE: no connect failure in the monitored cgroup"
	check_eq "$(jq -s --argjson id "$UNM_ID" '[.[] | select(.workload.cgroup_id == $id)] | length' "$W/$MODE.agent.json")" 0 \
		"$MODE: no record of the unmonitored cgroup"
	rmcg "$MON" "$UNM"
done
