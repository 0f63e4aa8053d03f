#!/bin/bash
# podlens-agent DNS capture through the kernel's per-CPU batches (bpf/l7_dns.bpf.h: 16 records per
# CPU, a full batch through the ring, partial batches read at every harvest) on the real kernel.
# dnsmasq (Debian) on a loopback address of its own, in a monitored cgroup (the server side); clients
# (tests/integration/tools/dnscli.py) in a monitored cgroup:
#   1. a few queries (fewer records than one batch on any CPU): every one is reported by the running
#      agent (delivered at a harvest, not waiting for a batch to fill or for the agent's exit);
#   2. a burst of many batches from two clients at once, one pinned to each of CPU0 and CPU1 (the
#      query and its answer are recorded on different CPUs, so answers can reach the agent before
#      their queries): every query sent is counted once, on the client side and on the server side.
source "$(dirname "$0")/../lib.sh"
AGENT=$TOP/$BUILD/bin/podlens-agent
PY=/usr/bin/python3
TOOLS=$TOP/tests/integration/tools
SMALL=5 BURST=400          # BURST queries per client, two clients
[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT exists (run make)"; exit 1; }
command -v dnsmasq >/dev/null || { tap_fail "dnsmasq installed (deps/test.pkgs: dnsmasq-base)"; exit 1; }
[ "$(nproc)" -ge 2 ] || { tap_fail "two CPUs for the burst across CPUs (nproc $(nproc))"; exit 1; }
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
W=$(mktemp -d /tmp/podlens-test-dnsb.XXXXXX)
defer "rm -rf $W"
NET=127.$((200 + $$ % 50)).$(($$ / 50 % 250))
DM_IP=$NET.3

SRV=$CG2/podlens-test-dnsb-$$-srv CLI=$CG2/podlens-test-dnsb-$$-cli
mkdir "$SRV" "$CLI"
defer "rmcg $SRV"
defer "rmcg $CLI"
SRV_ID=$(stat -c %i "$SRV") CLI_ID=$(stat -c %i "$CLI")
zone=()
for i in $(seq 8); do zone+=(--address=/ok$i.podlens.test/10.0.0.$i); done
sh -c "echo \$\$ > $SRV/cgroup.procs && exec dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
	--no-hosts --bind-interfaces --listen-address=$DM_IP --port=53 --pid-file=$W/dnsmasq.pid \
	--local=/podlens.test/ ${zone[*]}" 2>"$W/dnsmasq.log" &
DMPID=$!
defer "kill -KILL $DMPID"
wait_for 10 "dnsmasq answers" sh -c "dig +short +time=1 +tries=1 @$DM_IP ok1.podlens.test | grep -q 10.0.0.1" ||
	{ tap_fail "dnsmasq answers: $(cat "$W/dnsmasq.log")"; exit 1; }

"$AGENT" --output json --interval 1 --l7-cgroups "/podlens-test-dnsb-$$-cli,/podlens-test-dnsb-$$-srv" \
	>"$W/agent.json" 2>"$W/agent.log" &
APID=$!
defer "kill -KILL $APID"
wait_for 20 "agent running" grep -q "running:" "$W/agent.log" || { tap_fail "agent starts"; cat "$W/agent.log"; exit 1; }

sum() {   # sum CGROUP_ID JQ_FILTER_ON_A_DNS_ROW FIELD: over every record of the agent so far
	jq -s --argjson id "$1" "[.[] | select(.workload.cgroup_id == \$id) | .dns[]? | select($2) | .$3] | add // 0" "$W/agent.json"
}
client() {   # client CPU ARGS...: dnscli.py in the client cgroup on CPU; its JSON on stdout
	local cpu=$1
	shift
	sh -c "echo \$\$ > $CLI/cgroup.procs && exec taskset -c $cpu $PY $TOOLS/dnscli.py $*"
}

# 1. fewer records than a batch: the running agent reports all of them
names=()
for i in $(seq $SMALL); do names+=(ok$i.podlens.test); done
client 0 $DM_IP "${names[@]}" >"$W/small.json"
check_eq "$(jq '.rcodes.NOERROR' "$W/small.json")" $SMALL "small: client: $SMALL names answered"
wait_for 15 "the running agent reports the $SMALL queries" \
	sh -c "[ \"\$(jq -s --argjson id $CLI_ID '[.[] | select(.workload.cgroup_id == \$id) | .dns[]? | .count] | add // 0' $W/agent.json)\" -ge $SMALL ]" ||
	diag "the $SMALL queries were not reported while the agent ran"
check_eq "$(sum $CLI_ID 'true' count)" $SMALL "small: the running agent counted every query of a partial batch (client side)"
wait_for 10 "server side reported" \
	sh -c "[ \"\$(jq -s --argjson id $SRV_ID '[.[] | select(.workload.cgroup_id == \$id) | .dns[]? | .count] | add // 0' $W/agent.json)\" -ge $SMALL ]" ||
	diag "server side not reported while the agent ran"
check_eq "$(sum $SRV_ID 'true' count)" $SMALL "small: the running agent counted every query of a partial batch (server side)"

# 2. a burst of many batches from CPU0 and CPU1 at once
names=()
for i in $(seq $BURST); do names+=(ok$((i % 8 + 1)).podlens.test); done
client 0 --wait 5 $DM_IP "${names[@]}" >"$W/burst0.json" &
C0=$!
client 1 --wait 5 $DM_IP "${names[@]}" >"$W/burst1.json" &
C1=$!
wait $C0 $C1
answered=$(( $(jq '.rcodes.NOERROR // 0' "$W/burst0.json") + $(jq '.rcodes.NOERROR // 0' "$W/burst1.json") ))
check_eq "$answered" $((2 * BURST)) "burst: client: $((2 * BURST)) queries answered"
total=$((SMALL + 2 * BURST))
wait_for 20 "the agent reports the burst" \
	sh -c "[ \"\$(jq -s --argjson id $CLI_ID '[.[] | select(.workload.cgroup_id == \$id) | .dns[]? | .count] | add // 0' $W/agent.json)\" -ge $total ]" ||
	diag "the burst was not reported while the agent ran"
kill -TERM "$APID"; wait "$APID"
check_eq "$?" 0 "agent exits 0"
check_eq "$(programs_left "$W/agent.log")" 0 "none of the agent's BPF programs remains after exit"
check_eq "$(sum $CLI_ID '.rcode == "NOERROR"' count)" $total "burst: agent: every query sent counted once, NOERROR (client side)"
check_eq "$(sum $CLI_ID 'true' count)" $total "burst: agent: nothing else (client side)"
check_eq "$(sum $SRV_ID '.direction == "server" and .rcode == "NOERROR"' count)" $total "burst: agent: every query answered counted once (server side)"
check_eq "$(sum $SRV_ID 'true' count)" $total "burst: agent: nothing else (server side)"
check_eq "$(grep -ci 'lost\|dropped' "$W/agent.log")" 0 "burst: the agent logged no loss"
diag "agent log: $(grep -i 'dns\|l7' "$W/agent.log" | tail -3)"
