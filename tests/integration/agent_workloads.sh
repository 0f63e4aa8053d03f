#!/bin/bash
# podlens-agent, traffic attach mode "workloads" (--host-cgroups selects the monitored host cgroups, so
# auto picks per-workload attachment) on the real kernel. Ground truth comes from the traffic tool.
#   - the packet programs are attached to the selected cgroups only: none at the cgroup2 root, none on
#     an unselected cgroup (bpftool cgroup show), and the unselected cgroup's traffic is in no record;
#     with --tcp-hooks sockops the TCP unit's sock_ops program goes with them (one per selected
#     cgroup, none elsewhere); with packets (auto's choice) there is none: TCP comes from them
# Everything runs twice, the same checks: --tcp-hooks packets and --tcp-hooks sockops.
#   - known TCP traffic between the selected server and client: bytes within 5% above the payload,
#     opens/closes exact; the client's cgroup is created while the agent runs (attached on mkdir)
#   - a cgroup that lives less than one interval (created, 1 MB exchanged inside it, removed) is still
#     reported with its bytes: its counters outlive the cgroup
#   - HTTP capture and traffic in one program (--l7-cgroups): exact request count, same traffic
#   - SIGTERM: every link gone from the cgroups, no program left
source "$(dirname "$0")/../lib.sh"
AGENT=$TOP/$BUILD/bin/podlens-agent
XFER=$TOP/tests/integration/tools/tcpxfer.py
PY=/usr/bin/python3
CONNS=3 RST=2 BYTES=2000000 REPLY=50000 SHORT_BYTES=1000000 N=10

[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT exists (run make)"; exit 1; }
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
[ -n "$CG2" ] || { tap_fail "a cgroup2 hierarchy is mounted"; exit 1; }
WB=$(mktemp -d /tmp/podlens-test-wl.XXXXXX)
defer "rm -rf $WB"
# our packet programs attached to a cgroup directory (bpftool cgroup show names them; the TCP unit's
# sock_ops program, counted by sockops_on, sits next to them); all_on: every program of ours
ours_on() { bpftool cgroup show "$1" 2>/dev/null | grep ' pl_' | grep -vc 'sock_ops' || true; }
sockops_on() { bpftool cgroup show "$1" 2>/dev/null | grep ' pl_' | grep -c 'sock_ops' || true; }
all_on() { bpftool cgroup show "$1" 2>/dev/null | grep -c ' pl_' || true; }

for TCPM in packets sockops; do
	W=$WB/$TCPM P=podlens-test-wl-$$-$TCPM
	mkdir "$W"
	SRV=$CG2/$P-srv CLI=$CG2/$P-cli SHORT=$CG2/$P-short WEB=$CG2/$P-web HCLI=$CG2/$P-hcli
	OTHER=$CG2/podlens-test-wlx-$$-$TCPM
	mkdir "$SRV" "$WEB" "$HCLI" "$OTHER"
	defer "rmcg $SRV $WEB $HCLI $OTHER"

	"$AGENT" --output json --interval 1 --cgroup-root "$(dirname "$CG2")" --host-cgroups "/$P-*" \
		--l7-cgroups "/$P-web" --tcp-hooks "$TCPM" --metrics-addr 127.0.0.1:0 >"$W/agent.json" 2>"$W/agent.log" &
	APID=$!
	defer "kill -KILL $APID"
	if ! wait_for 20 "agent running" grep -q "running:" "$W/agent.log"; then
		tap_fail "agent starts"; cat "$W/agent.log"; exit 1
	fi
	grep -q "packet programs: per monitored workload" "$W/agent.log" && tap_ok "auto picked per-workload attachment" ||
		tap_fail "auto picked per-workload attachment: $(grep 'packet programs' "$W/agent.log")"
	mkdir "$CLI"
	defer "rmcg $CLI"
	wait_for 5 "client cgroup attached" test "$(ours_on "$CLI")" -eq 2 || true
	check_eq "$(ours_on "$SRV")" 2 "server cgroup (existed at start): ingress + egress programs"
	check_eq "$(ours_on "$CLI")" 2 "client cgroup (created while running): ingress + egress programs"
	check_eq "$(ours_on "$WEB")" 2 "HTTP cgroup: one program per hook (traffic + HTTP together)"
	check_eq "$(ours_on "$OTHER")" 0 "unselected cgroup: no program"
	check_eq "$(bpftool cgroup show "$CG2" 2>/dev/null | grep -c ' pl_traffic' || true)" 0 "nothing at the cgroup2 root"
	if [ "$TCPM" = sockops ]; then
		check_eq "$(( $(sockops_on "$SRV") + $(sockops_on "$CLI") + $(sockops_on "$WEB") ))" 3 "TCP: one sock_ops program per selected cgroup"
	else
		check_eq "$(( $(sockops_on "$SRV") + $(sockops_on "$CLI") + $(sockops_on "$WEB") ))" 0 "packets: TCP from the packet programs, no sock_ops program"
	fi
	check_eq "$(sockops_on "$OTHER")" 0 "TCP: no sock_ops program on the unselected cgroup"
	SRV_ID=$(stat -c %i "$SRV") CLI_ID=$(stat -c %i "$CLI") OTHER_ID=$(stat -c %i "$OTHER") WEB_ID=$(stat -c %i "$WEB")

	# the main exchange, and the same kind of traffic inside the unselected cgroup
	sh -c "echo \$\$ > $SRV/cgroup.procs && exec $PY $XFER server $W/port $CONNS $RST $REPLY" >"$W/server.json" &
	SPID=$!
	defer "kill -KILL $SPID"
	sh -c "echo \$\$ > $OTHER/cgroup.procs && exec $PY $XFER server $W/oport 1 0 $REPLY" >"$W/oserver.json" &
	OPID=$!
	defer "kill -KILL $OPID"
	wait_for 10 "server ports" test -s "$W/port" -a -s "$W/oport" || { tap_fail "servers listen"; exit 1; }
	sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $XFER client $(cat "$W/port") $CONNS $RST $BYTES" >"$W/client.json"
	sh -c "echo \$\$ > $OTHER/cgroup.procs && exec $PY $XFER client $(cat "$W/oport") 1 0 $BYTES" >"$W/oclient.json"
	wait "$SPID" "$OPID"

	# a cgroup that lives for less than an interval: a pair inside it, then rmdir at once
	mkdir "$SHORT"
	SHORT_ID=$(stat -c %i "$SHORT")
	wait_for 5 "short-lived cgroup attached" test "$(ours_on "$SHORT")" -eq 2 ||
		tap_fail "short-lived cgroup attached on mkdir"
	sh -c "echo \$\$ > $SHORT/cgroup.procs && exec $PY $XFER server $W/sport 1 0 0" >"$W/sserver.json" &
	SSPID=$!
	wait_for 10 "short server port" test -s "$W/sport"
	sh -c "echo \$\$ > $SHORT/cgroup.procs && exec $PY $XFER client $(cat "$W/sport") 1 0 $SHORT_BYTES" >"$W/sclient.json"
	wait "$SSPID"
	wait_for 5 "short-lived cgroup empty" test -z "$(cat "$SHORT/cgroup.procs")"
	rmdir "$SHORT" && tap_ok "short-lived cgroup removed right after its exchange" || tap_fail "rmdir $SHORT"

	# HTTP: N requests on one keep-alive connection and N on new ones to a server in the web cgroup
	sh -c "echo \$\$ > $WEB/cgroup.procs && exec $PY $TOP/tests/integration/tools/httpsrv.py $W/hport 1" &
	HPID=$!
	defer "kill -KILL $HPID"
	wait_for 10 "http server port" test -s "$W/hport" || { tap_fail "http server listens"; exit 1; }
	sh -c "echo \$\$ > $HCLI/cgroup.procs && exec $PY $TOP/tests/integration/tools/httpcli.py $(cat "$W/hport") $N /a/1" \
		>"$W/hclient.json"
	mport=$(sed -n 's/.*serving \/metrics.*(port \([0-9]*\)).*/\1/p' "$W/agent.log")
	metrics=$(curl -s "http://127.0.0.1:$mport/metrics")
	check_eq "$(echo "$metrics" | awk '$1 == "podlens_workloads_attached" {print $2}')" 4 \
		"/metrics: 4 workloads attached (srv, cli, web, hcli; short is gone)"

	kill -TERM "$APID"
	wait "$APID"; rc=$?
	check_eq "$rc" 0 "agent exits 0 on SIGTERM"
	check_eq "$(( $(all_on "$SRV") + $(all_on "$CLI") + $(all_on "$WEB") + $(all_on "$HCLI") ))" 0 "no program left on the cgroups"
	check_eq "$(programs_left "$W/agent.log")" 0 "none of the agent's BPF programs remains after exit"
	diag "server: $(cat "$W/server.json") client: $(cat "$W/client.json") short: $(cat "$W/sclient.json")"

	sum() {   # sum CGROUP_ID JQ_PATH over every interval
		jq -s --argjson id "$1" "[.[] | select(.workload.cgroup_id == \$id) | $2 // 0] | add // 0" "$W/agent.json"
	}
	truth() { jq -r ".$2" "$W/$1.json"; }
	hi() { echo $(($1 * 105 / 100)); }
	cli_tx=$(truth client tx_payload) srv_tx=$(truth server tx_payload)
	check_eq "$cli_tx" $((CONNS * BYTES + RST)) "client sent what it was told (ground truth)"
	check_range "$(sum "$CLI_ID" .traffic.tx_bytes)" "$cli_tx" "$(hi "$cli_tx")" "client tx_bytes = payload + headers"
	check_range "$(sum "$SRV_ID" .traffic.rx_bytes)" "$cli_tx" "$(hi "$cli_tx")" "server rx_bytes = payload + headers"
	check_range "$(sum "$SRV_ID" .traffic.tx_bytes)" "$srv_tx" "$(hi "$srv_tx")" "server tx_bytes = reply payload + headers"
	check_eq "$(sum "$CLI_ID" .tcp.active_opens)" $((CONNS + RST)) "client active opens exact"
	check_eq "$(sum "$SRV_ID" .tcp.passive_opens)" $((CONNS + RST)) "server passive opens exact"
	check_eq "$(sum "$SRV_ID" .tcp.resets_sent)" "$RST" "server resets sent exact"
	check_eq "$(jq -s --argjson id "$OTHER_ID" '[.[] | select(.workload.cgroup_id == $id)] | length' "$W/agent.json")" 0 \
		"no record of the unselected cgroup"
	check_eq "$(truth oclient tx_payload)" "$BYTES" "the unselected cgroup did send its bytes (ground truth)"
	s_tx=$(sum "$SHORT_ID" .traffic.tx_bytes)
	check_range "$s_tx" "$SHORT_BYTES" "$(hi "$SHORT_BYTES")" "short-lived cgroup reported after rmdir: tx_bytes = payload + headers"
	check_eq "$(jq -r --argjson id "$SHORT_ID" 'select(.workload.cgroup_id == $id) | .workload.cgroup_path' "$W/agent.json" | head -1)" \
		"/$P-short" "short-lived cgroup named by its path"
	reqs=$(jq -s --argjson id "$WEB_ID" '[.[] | select(.workload.cgroup_id == $id) | .http[]? | select(.direction == "server") | .count] | add // 0' "$W/agent.json")
	check_eq "$reqs" "$(jq '.total' "$W/hclient.json")" "HTTP requests counted exactly in the traffic + HTTP program"
	check_eq "$(jq '.total' "$W/hclient.json")" $((2 * N)) "HTTP client made $((2 * N)) requests (ground truth)"
	check_ge "$(sum "$WEB_ID" .traffic.tx_bytes)" 1 "the traffic + HTTP program counts the web cgroup's traffic too"
	check_eq "$(grep -c 'podlens_traffic_unattributed_packets_total [1-9]' <<<"$metrics")" 0 "no packet counted unattributed"
done
