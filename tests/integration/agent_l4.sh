#!/bin/bash
# podlens-agent on the real kernel: known TCP traffic between two processes in two fresh cgroup2
# cgroups must be reported per workload. Ground truth comes from the traffic tool, not the agent.
#   - 4 connections x 5 MB from client to server, 100 kB replies: tx/rx within 5% of payload
#     (+ TCP/IP headers, a few hundred bytes per 64 kB segment on loopback: well under 1%)
#   - opens and closes exact; 3 connections reset by the server (SO_LINGER 0): resets exact
#   - SIGTERM: the agent flushes the last interval, exits 0, and leaves no BPF program attached
source "$(dirname "$0")/../lib.sh"
AGENT=$TOP/$BUILD/bin/podlens-agent
XFER=$TOP/tests/integration/tools/tcpxfer.py
PY=/usr/bin/python3
CONNS=4 RST=3 BYTES=5000000 REPLY=100000

[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT exists (run make)"; exit 1; }
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
[ -n "$CG2" ] || { tap_fail "a cgroup2 hierarchy is mounted"; exit 1; }
W=$(mktemp -d /tmp/podlens-test-l4.XXXXXX)
defer "rm -rf $W"
SRV=$CG2/podlens-test-l4-$$-srv CLI=$CG2/podlens-test-l4-$$-cli
mkdir "$SRV"
defer "rmcg $SRV"

# agent first; wait until it says it is running (probes attached)
"$AGENT" --output json --interval 1 --cgroup-root "$(dirname "$CG2")" >"$W/agent.json" 2>"$W/agent.log" &
APID=$!
defer "kill -KILL $APID"
if ! wait_for 20 "agent running" grep -q "running:" "$W/agent.log"; then
	tap_fail "agent starts"; cat "$W/agent.log"; exit 1
fi
tap_ok "agent starts and attaches its probes"
# the client's cgroup appears while the agent runs: named from the cgroup_mkdir event
mkdir "$CLI"
defer "rmcg $CLI"
SRV_ID=$(stat -c %i "$SRV") CLI_ID=$(stat -c %i "$CLI")
diag "cgroups: server $SRV ($SRV_ID), client $CLI ($CLI_ID, created after the agent started)"

# server and client, each in its own cgroup from its first instruction
sh -c "echo \$\$ > $SRV/cgroup.procs && exec $PY $XFER server $W/port $CONNS $RST $REPLY" >"$W/server.json" &
SPID=$!
defer "kill -KILL $SPID"
wait_for 10 "server port" test -s "$W/port" || { tap_fail "server listens"; exit 1; }
sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $XFER client $(cat "$W/port") $CONNS $RST $BYTES" >"$W/client.json"
wait "$SPID"
diag "server: $(cat "$W/server.json")"
diag "client: $(cat "$W/client.json")"

# graceful shutdown flushes the last interval
kill -TERM "$APID"
wait "$APID"; rc=$?
check_eq "$rc" 0 "agent exits 0 on SIGTERM"
grep -q "received Terminated, shutting down" "$W/agent.log" && tap_ok "agent logs the signal" ||
	tap_fail "agent logs the signal"
check_ge "$(programs_logged "$W/agent.log")" 10 "agent logged the BPF programs it loaded"
check_eq "$(programs_left "$W/agent.log")" 0 "none of the agent's BPF programs remains after exit"

sum() {   # sum CGROUP_ID JQ_PATH over every interval
	jq -s --argjson id "$1" "[.[] | select(.workload.cgroup_id == \$id) | $2 // 0] | add // 0" "$W/agent.json"
}
truth() { jq -r ".$2" "$W/$1.json"; }

cli_tx=$(truth client tx_payload) cli_rx=$(truth client rx_payload)
srv_tx=$(truth server tx_payload) srv_rx=$(truth server rx_payload)
check_eq "$cli_tx" $((CONNS * BYTES + RST)) "client sent what it was told (ground truth)"
# Bytes the agent counts are IP packets: payload + IP/TCP headers + pure ACKs, so never below the
# payload and at most 5% above it (measured: ~0.4% for 64 kB loopback segments).
hi() { echo $(($1 * 105 / 100)); }
check_range "$(sum "$CLI_ID" .traffic.tx_bytes)" "$cli_tx" "$(hi "$cli_tx")" "client tx_bytes = payload + headers"
check_range "$(sum "$SRV_ID" .traffic.rx_bytes)" "$srv_rx" "$(hi "$srv_rx")" "server rx_bytes = payload + headers"
check_range "$(sum "$SRV_ID" .traffic.tx_bytes)" "$srv_tx" "$(hi "$srv_tx")" "server tx_bytes = reply payload + headers"
check_range "$(sum "$CLI_ID" .traffic.rx_bytes)" "$cli_rx" "$(hi "$cli_rx")" "client rx_bytes = reply payload + headers"

check_eq "$(sum "$CLI_ID" .tcp.active_opens)" $((CONNS + RST)) "client active opens exact"
check_eq "$(sum "$SRV_ID" .tcp.passive_opens)" $((CONNS + RST)) "server passive opens exact"
check_eq "$(sum "$SRV_ID" .tcp.active_opens)" 0 "server made no active opens"
check_eq "$(sum "$CLI_ID" .tcp.closes)" $((CONNS + RST)) "client closes exact"
check_eq "$(sum "$SRV_ID" .tcp.closes)" $((CONNS + RST)) "server closes exact"
check_eq "$(sum "$SRV_ID" .tcp.resets_sent)" "$(truth server resets_sent)" "server resets sent exact"
check_eq "$(sum "$CLI_ID" .tcp.resets_received)" "$(truth client resets_received)" "client resets received exact"
check_eq "$(truth client resets_received)" "$RST" "client saw every reset (ground truth)"
check_eq "$(sum "$CLI_ID" .tcp.resets_sent)" 0 "client sent no resets"

path=$(jq -r --argjson id "$CLI_ID" 'select(.workload.cgroup_id == $id) | .workload.cgroup_path' "$W/agent.json" | head -1)
check_eq "$path" "/$(basename "$CLI")" "client workload (cgroup created while running) named by its path"
ns=$(jq -r --argjson id "$CLI_ID" 'select(.workload.cgroup_id == $id) | .workload.namespace' "$W/agent.json" | head -1)
check_eq "$ns" null "kubernetes fields are null on a plain host"
lat=$(jq -s --argjson id "$CLI_ID" '[.[] | select(.workload.cgroup_id == $id) | .tcp.connect_latency_us | select(. != null)] | length' "$W/agent.json")
check_ge "$lat" 1 "connect latency reported for the client"
execs=$(sum "$CLI_ID" .proc.execs)
check_ge "$execs" 1 "exec of the client process counted in its cgroup"
