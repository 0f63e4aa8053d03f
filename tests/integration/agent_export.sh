#!/bin/bash
# podlens-agent -> gRPC: a real agent on the real kernel exports to an independent receiver
# (python3-grpcio, stubs generated from proto/podlens/v1/podlens.proto) and to an OTLP receiver.
#   - every exported workload record decodes and matches the agent's own JSON lines, summed per
#     workload (bytes, opens, closes, resets, HTTP counts per status)
#   - the receiver is stopped for 6 s mid-run and restarted on the same port: every sequence number
#     arrives, without a gap
#   - closed connections arrive as Flows with the exact payload the client sent; execs as ProcessEvents
#   - OTLP: the agent's metrics arrive as OTLP ExportMetricsServiceRequests
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/export/common.sh"
AGENT=$BDIR/bin/podlens-agent
XFER=$TOP/tests/integration/tools/tcpxfer.py
[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT exists (run make)"; exit 1; }
gen_stubs || { tap_fail "python stubs generated from the project's protos"; exit 1; }
defer "mkdir -p $TOP/$BUILD/test-artifacts; cp $WORK/col.jsonl $WORK/agent.json $WORK/agent.log $TOP/$BUILD/test-artifacts/ 2>/dev/null"
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
SRV=$CG2/podlens-test-exp-$$-srv CLI=$CG2/podlens-test-exp-$$-cli
mkdir "$SRV" "$CLI"
defer "rmcg $SRV $CLI"
SRV_ID=$(stat -c %i "$SRV") CLI_ID=$(stat -c %i "$CLI")

start_receiver col 0 --kind podlens || { tap_fail "podlens receiver starts"; exit 1; }
CPORT=$RPORT
start_receiver otlp 0 --kind otlp || { tap_fail "otlp receiver starts"; exit 1; }
OPORT=$RPORT

"$AGENT" --output json --interval 1 --node-name test-node --collector "http://127.0.0.1:$CPORT" \
	--otlp "http://127.0.0.1:$OPORT" --l7-cgroups "/podlens-test-exp-$$-srv" \
	>"$WORK/agent.json" 2>"$WORK/agent.log" &
APID=$!
defer "kill -KILL $APID"
wait_for 20 "agent running" grep -q "running:" "$WORK/agent.log" || { tap_fail "agent starts"; cat "$WORK/agent.log"; exit 1; }
tap_ok "agent runs with --collector and --otlp"

# phase 1: bulk TCP (known bytes, 3 connections) + HTTP with known statuses
sh -c "echo \$\$ > $SRV/cgroup.procs && exec $PY $XFER server $WORK/port 3 0 1000" >"$WORK/server.json" &
SPID=$!
defer "kill -KILL $SPID"
wait_for 10 "server port" test -s "$WORK/port" || { tap_fail "server listens"; exit 1; }
sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $XFER client $(cat "$WORK/port") 3 0 2000000" >"$WORK/client.json"
wait "$SPID"
sh -c "echo \$\$ > $SRV/cgroup.procs && exec $PY $TOP/tests/integration/tools/httpsrv.py $WORK/hport 5" &
HPID=$!
defer "kill -KILL $HPID"
wait_for 10 "http port" test -s "$WORK/hport" || { tap_fail "http server listens"; exit 1; }
sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $TOP/tests/integration/tools/httpcli.py $(cat "$WORK/hport") 5 /ok /notfound" >"$WORK/http.json"

# phase 2: collector outage, traffic goes on, then the receiver comes back on the same port
wait_for 10 "a batch received" test "$(ok_lines "$WORK/col.jsonl")" -ge 2
stop_receiver col
sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $TOP/tests/integration/tools/httpcli.py $(cat "$WORK/hport") 5 /during-outage" >"$WORK/http2.json"
sleep 6   # the outage itself is what is being tested: a fixed length of time without a receiver
start_receiver col "$CPORT" --kind podlens || { tap_fail "podlens receiver restarts on port $CPORT"; exit 1; }
tap_ok "receiver stopped for 6 s and restarted on port $CPORT"
wait_for 30 "spooled batches delivered" sh -c "grep -q 'export' '$WORK/agent.log' && [ \$(grep -c '\"status\": \"OK\"' '$WORK/col.jsonl') -ge 10 ]"
kill -TERM "$APID"; wait "$APID"
check_eq "$?" 0 "agent exits 0 after flushing the exporter"

# every sequence number, once, no gap
seqs=$(jq -r 'select(.status == "OK") | .batch.sequence // "0"' "$WORK/col.jsonl" | sort -n | uniq)
n=$(echo "$seqs" | wc -l); first=$(echo "$seqs" | head -1); last=$(echo "$seqs" | tail -1)
check_eq "$((last - first + 1))" "$n" "sequence numbers $first..$last all received, no gap"
check_ge "$n" 8 "batches received"
agent_id=$(jq -r 'select(.status == "OK") | .batch.agent_id' "$WORK/col.jsonl" | sort -u | wc -l)
check_eq "$agent_id" 1 "one agent id across the outage"
check_eq "$(jq -r 'select(.status == "OK") | .batch.node' "$WORK/col.jsonl" | sort -u)" test-node "Batch.node"

# exported workload records == the agent's JSON lines, summed per workload (dedup retried batches)
jq -c 'select(.status == "OK") | .batch' "$WORK/col.jsonl" | jq -s 'unique_by(.sequence)' >"$WORK/batches.json"
bsum() {   # bsum CGROUP_ID JQ_EXPR_ON_WORKLOADSTATS
	jq --arg id "$1" "[.[] | .workloads[]? | select(.workload.cgroup_id == \$id) | ($2 // 0 | tonumber)] | add // 0" "$WORK/batches.json"
}
jsum() { jq -s --argjson id "$1" "[.[] | select(.workload.cgroup_id == \$id) | ($2 // 0)] | add // 0" "$WORK/agent.json"; }
for id in "$SRV_ID" "$CLI_ID"; do
	for f in rx_bytes:rx_bytes tx_bytes:tx_bytes rx_packets:rx_packets; do
		check_eq "$(bsum "$id" ".traffic.${f#*:}")" "$(jsum "$id" ".traffic.${f%:*}")" "cgroup $id exported traffic.${f%:*} = JSON"
	done
	for f in active_opens:active_opens passive_opens:passive_opens closes:closes; do
		check_eq "$(bsum "$id" ".tcp.${f#*:}")" "$(jsum "$id" ".tcp.${f%:*}")" "cgroup $id exported tcp.${f%:*} = JSON"
	done
done
for st in 200 404; do
	b=$(jq --arg id "$SRV_ID" --argjson s "$st" '[.[] | .workloads[]? | select(.workload.cgroup_id == $id) | .requests[]? | select((.status_code // 0) == $s) | .count | tonumber] | add // 0' "$WORK/batches.json")
	j=$(jsum "$SRV_ID" "[.http[]? | select(.status == $st) | .count] | add")
	check_eq "$b" "$j" "exported HTTP $st count = JSON"
done
check_eq "$(jq --arg id "$SRV_ID" '[.[] | .workloads[]? | select(.workload.cgroup_id == $id) | .requests[]? | .count | tonumber] | add // 0' "$WORK/batches.json")" 30 \
	"every request (20 before, 10 during the outage) exported"
bk=$(jq --arg id "$SRV_ID" '[.[] | .workloads[]? | select(.workload.cgroup_id == $id) | .requests[]? | ([.buckets[]? | .count | tonumber] | add) == (.count | tonumber)] | all' "$WORK/batches.json")
check_eq "$bk" true "histogram buckets add up to each request count"

# flows: the client's 3 bulk connections to one server port aggregate into one outbound record
# carrying exactly what it sent (+ at most one SYN and one FIN of sequence space per connection)
SPORT=$(cat "$WORK/port")
fl=$(jq -c --arg id "$CLI_ID" --argjson p "$SPORT" '[.[] | .flows[]? | select(.local.cgroup_id == $id and .direction == "DIRECTION_OUTBOUND" and .remote_port == $p)]' "$WORK/batches.json")
check_eq "$(echo "$fl" | jq '[.[].connections] | add')" 3 "outbound connections of the client to port $SPORT, aggregated"
check_range "$(echo "$fl" | jq '[.[].tx_bytes | tonumber] | add')" 6000000 6000006 "flow tx bytes = the 6,000,000 payload bytes"
check_range "$(echo "$fl" | jq '[.[].rx_bytes | tonumber] | add')" 3000 3006 "flow rx bytes = the 3 x 1000-byte replies (+ FIN)"
inb=$(jq --arg id "$SRV_ID" --argjson p "$SPORT" '[.[] | .flows[]? | select(.local.cgroup_id == $id and .direction == "DIRECTION_INBOUND" and .local_port == $p) | .connections] | add' "$WORK/batches.json")
check_eq "$inb" 3 "the server's inbound flow on port $SPORT counts the 3 connections"
execs=$(jq --arg id "$CLI_ID" '[.[] | .process_events[]? | select(.cgroup_id == $id and .kind == "KIND_EXEC")] | length' "$WORK/batches.json")
check_ge "$execs" 3 "exec process events of the client's cgroup"

check_ge "$(ok_lines "$WORK/otlp.jsonl")" 1 "OTLP metrics received"
otlp_ok=$(jq -r 'select(.status == "OK") | .request | tostring' "$WORK/otlp.jsonl" | grep -c 'k8s.node.name' || true)
check_ge "$otlp_ok" 1 "OTLP resources carry k8s.node.name"
# semantic conventions (issue 16): the server cgroup's requests as http.server.request.duration (s),
# cumulative per (method, route, status): the last point of each series adds up to the 30 requests
otlp_http=$(jq -c 'select(.status == "OK") | .request.resource_metrics[]?' "$WORK/otlp.jsonl" | "$PY" -c '
import json, sys
srv, last, names = sys.argv[1], {}, set()
for line in sys.stdin:
    rm = json.loads(line)
    ra = {a["key"]: a["value"].get("string_value") for a in rm.get("resource", {}).get("attributes", [])}
    if not (ra.get("podlens.cgroup.path") or "").endswith(srv):
        continue
    for sm in rm.get("scope_metrics", []):
        for m in sm.get("metrics", []):
            names.add(m["name"])
            if m["name"] != "http.server.request.duration" or m.get("unit") != "s":
                continue
            for p in m["histogram"]["data_points"]:
                key = json.dumps(sorted((a["key"], str(a["value"])) for a in p.get("attributes", [])))
                last[key] = int(p.get("count", 0))
print("%d %s" % (sum(last.values()), ",".join(sorted(n for n in names if "request" in n))))
' "podlens-test-exp-$$-srv")
check_eq "$otlp_http" "30 http.server.request.duration" \
	"OTLP: the server cgroup's 30 requests in http.server.request.duration (s), no other request metric"
