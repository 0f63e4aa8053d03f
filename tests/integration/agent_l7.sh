#!/bin/bash
# podlens-agent HTTP capture on the real kernel: a server in a fresh cgroup (selected with
# --l7-cgroups) sleeps a known 20 ms per request and answers known statuses; a client in another
# cgroup sends exactly N requests per path, on one keep-alive connection and on new connections.
# The agent's JSON must count every request exactly per (route, status), with query strings and
# numeric ids normalised, and a server-side p50 within 15% of the p50 the client measured.
source "$(dirname "$0")/../lib.sh"
AGENT=$TOP/$BUILD/bin/podlens-agent
PY=/usr/bin/python3
N=15 SLEEP_MS=20
[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT exists (run make)"; exit 1; }
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
W=$(mktemp -d /tmp/podlens-test-l7.XXXXXX)
defer "rm -rf $W"
SRV=$CG2/podlens-test-l7-$$-srv CLI=$CG2/podlens-test-l7-$$-cli
mkdir "$SRV" "$CLI"
defer "rmcg $SRV $CLI"
SRV_ID=$(stat -c %i "$SRV")

"$AGENT" --output json --interval 1 --l7-cgroups "/podlens-test-l7-$$-srv" >"$W/agent.json" 2>"$W/agent.log" &
APID=$!
defer "kill -KILL $APID"
wait_for 20 "agent running" grep -q "running:" "$W/agent.log" || { tap_fail "agent starts"; cat "$W/agent.log"; exit 1; }
grep -q "l7: capturing HTTP of /podlens-test-l7-$$-srv" "$W/agent.log" && tap_ok "HTTP capture attached to the server's cgroup" ||
	tap_fail "HTTP capture attached to the server's cgroup: $(grep l7 "$W/agent.log")"

sh -c "echo \$\$ > $SRV/cgroup.procs && exec $PY $TOP/tests/integration/tools/httpsrv.py $W/port $SLEEP_MS" &
SPID=$!
defer "kill -KILL $SPID"
wait_for 10 "server port" test -s "$W/port" || { tap_fail "server listens"; exit 1; }
sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $TOP/tests/integration/tools/httpcli.py $(cat "$W/port") $N \
	/users/1001?token=secret /notfound/page /boom" >"$W/client.json"
diag "client: $(cat "$W/client.json")"
kill -TERM "$APID"; wait "$APID"
check_eq "$?" 0 "agent exits 0"
check_ge "$(programs_logged "$W/agent.log")" 12 "agent logged its BPF programs (10 L4 + 2 L7)"
check_eq "$(programs_left "$W/agent.log")" 0 "none of the agent's BPF programs (L7 included) remains after exit"

count() {   # count ROUTE STATUS
	jq -s --argjson id "$SRV_ID" --arg r "$1" --argjson s "$2" \
		'[.[] | select(.workload.cgroup_id == $id) | .http[]? | select(.direction == "server" and .route == $r and .status == $s) | .count] | add // 0' "$W/agent.json"
}
check_eq "$(jq '.total' "$W/client.json")" $((6 * N)) "client made $((6 * N)) requests (ground truth)"
check_eq "$(count /users/{id} 200)" $((2 * N)) "200s of /users/{id} counted exactly (id and query normalised away)"
check_eq "$(count /notfound/page 404)" $((2 * N)) "404s counted exactly"
check_eq "$(count /boom 500)" $((2 * N)) "500s counted exactly"
leak=$(grep -c 'secret\|token' "$W/agent.json" || true)
check_eq "$leak" 0 "no query string leaves the agent"
# p50 of the server's answers, weighted over intervals, against the client's own measurement
p50=$(jq -s --argjson id "$SRV_ID" '[.[] | select(.workload.cgroup_id == $id) | .http[]? | select(.direction == "server") | {c: .count, p: .p50_us}] | (map(.c * .p) | add) / (map(.c) | add) | floor' "$W/agent.json")
cp50=$(jq '.p50_us | floor' "$W/client.json")
check_within "$p50" "$cp50" 15 "server p50 within 15% of the client-measured p50"
# p50 comes from log-linear buckets 12.5% wide: an estimate below the sleep by less than a bucket is
# still right
check_ge "$p50" $((SLEEP_MS * 875)) "server p50 at least the known sleep (less the 12.5% bucket width)"
