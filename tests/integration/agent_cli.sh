#!/bin/bash
# podlens-agent start-up and shutdown paths on the real kernel:
#   - bad input (flags, config, environment) -> exit 2 and one line naming the problem
#   - missing BTF, cgroup2 not mounted, no privileges, unusable metrics address -> exit 1, one line
#   - nothing of ours stays loaded after any of them
#   - --duration N during a ~20 MB transfer: exits by itself, flushing the last interval, with tx
#     and rx of both workloads within 5% of the bytes moved
source "$(dirname "$0")/../lib.sh"
AGENT=$TOP/$BUILD/bin/podlens-agent
XFER=$TOP/tests/integration/tools/tcpxfer.py
PY=/usr/bin/python3
[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT exists (run make)"; exit 1; }
W=$(mktemp -d /tmp/podlens-test-cli.XXXXXX)
defer "rm -rf $W"

podlens_prog_ids >"$W/progs.before"
ours_loaded() { new_prog_ids "$W/progs.before"; }

# expect RC PATTERN NAME -- ARGS...: exit code RC, exactly one stderr line matching PATTERN
expect() {
	local want=$1 pat=$2 name=$3; shift 4
	"$@" >"$W/out" 2>"$W/err" </dev/null; local rc=$?
	local lines; lines=$(grep -vc 'podlens-agent info' "$W/err")
	if [ "$rc" = "$want" ] && grep -qE -- "$pat" "$W/err" && [ "$lines" -eq 1 ]; then
		tap_ok "$name: exit $rc, '$(grep -v 'podlens-agent info' "$W/err" | head -1 | cut -c1-110)'"
	else
		tap_fail "$name: exit $rc (want $want), stderr: $(head -c 400 "$W/err")"
	fi
	check_eq "$(ours_loaded)" 0 "$name: nothing left loaded"
}

expect 2 "unknown option '--frobnicate'" "unknown flag" -- "$AGENT" --frobnicate
expect 2 "--interval: invalid value 'abc'" "non-numeric interval" -- "$AGENT" --interval abc
expect 2 "--output: invalid value 'xml'" "unknown output" -- "$AGENT" --output xml
expect 2 "PODLENS_DURATION: invalid value '-1'" "bad environment value" -- env PODLENS_DURATION=-1 "$AGENT"
echo '{"interval": 5, "namespaces": {"exclud": ["a"]}}' >"$W/typo.json"
expect 2 "unknown key 'namespaces.exclud'" "config key typo" -- "$AGENT" --config "$W/typo.json"
echo '{"interval": "5"}' >"$W/type.json"
expect 2 "key 'interval': expected an integer" "config wrong type" -- "$AGENT" --config "$W/type.json"
echo '{"interval": 5,' >"$W/broken.json"
expect 2 "config .*broken.json: line" "config not JSON" -- "$AGENT" --config "$W/broken.json"
expect 2 "config /nonexistent.json: cannot open" "config missing" -- "$AGENT" --config /nonexistent.json
expect 2 "--collector: invalid value 'not a url'" "collector not a URL" -- "$AGENT" --collector 'not a url' --duration 1
expect 2 "--otlp: invalid value 'http://h:0'" "OTLP port 0" -- "$AGENT" --otlp http://h:0 --duration 1
expect 2 "--btf: /etc/hostname: not a BTF file" "BTF file of another kind" -- "$AGENT" --btf /etc/hostname --duration 1
echo '{"cri": "containerd"}' >"$W/section.json"
expect 2 "key 'cri': expected an object" "config scalar for a section" -- "$AGENT" --config "$W/section.json"
printf '{"interval": 5}\0garbage' >"$W/nul.json"
expect 2 "nul.json: NUL byte at offset 15" "config with a NUL byte" -- "$AGENT" --config "$W/nul.json"
expect 1 "no kernel BTF at /nonexistent-btf" "missing BTF" -- "$AGENT" --btf /nonexistent-btf --duration 1
expect 1 "cgroup2 is not mounted at /tmp" "cgroup2 not mounted" -- "$AGENT" --cgroup-root /tmp --duration 1
expect 1 "operation not permitted .*CAP_BPF" "no privileges" -- \
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$AGENT" --duration 1
expect 1 "--metrics-addr not-an-address" "bad metrics address" -- "$AGENT" --metrics-addr not-an-address --duration 1

"$AGENT" --help >"$W/help" 2>&1; rc=$?
check_eq "$rc" 0 "--help exits 0"
grep -q -- "--collector URL" "$W/help" && tap_ok "--help lists the options" || tap_fail "--help lists the options"

# --duration: the agent stops by itself and flushes the last (partial) interval
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
SRV=$CG2/podlens-test-cli-$$-srv CLI=$CG2/podlens-test-cli-$$-cli
mkdir "$SRV" "$CLI"
defer "rmcg $SRV $CLI"
"$AGENT" --output json --interval 1 --duration 5 >"$W/agent.json" 2>"$W/agent.log" &
APID=$!
defer "kill -KILL $APID"
wait_for 20 "agent running" grep -q "running:" "$W/agent.log" || { tap_fail "agent starts"; exit 1; }
sh -c "echo \$\$ > $SRV/cgroup.procs && exec $PY $XFER server $W/port 1 0 10000000" >"$W/server.json" &
SPID=$!
defer "kill -KILL $SPID"
wait_for 10 "server port" test -s "$W/port" || { tap_fail "server listens"; exit 1; }
sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $XFER client $(cat "$W/port") 1 0 10000000" >"$W/client.json"
wait "$SPID"
wait "$APID"; rc=$?
check_eq "$rc" 0 "agent exits 0 when --duration is reached"
grep -q -- "--duration reached" "$W/agent.log" && tap_ok "agent logs why it stopped" || tap_fail "agent logs why it stopped"
moved=$(( $(jq .tx_payload "$W/client.json") + $(jq .tx_payload "$W/server.json") ))
check_eq "$moved" 20000000 "20 MB moved (ground truth)"
sum() { jq -s --argjson id "$(stat -c %i "$1")" "[.[] | select(.workload.cgroup_id == \$id) | $2] | add // 0" "$W/agent.json"; }
for side in SRV CLI; do
	d=${!side}
	total=$(( $(sum "$d" .traffic.tx_bytes) + $(sum "$d" .traffic.rx_bytes) ))
	check_within "$total" "$moved" 5 "$(basename "$d"): tx+rx within 5% of the bytes moved"
	check_range "$(sum "$d" .traffic.tx_bytes)" 10000000 10500000 "$(basename "$d"): tx within 5% of its 10 MB"
	check_range "$(sum "$d" .traffic.rx_bytes)" 10000000 10500000 "$(basename "$d"): rx within 5% of its 10 MB"
done
check_eq "$(programs_left "$W/agent.log")" 0 "none of the agent's BPF programs remains after --duration"
