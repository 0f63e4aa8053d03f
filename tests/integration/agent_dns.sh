#!/bin/bash
# podlens-agent DNS capture on the real kernel. Two DNS servers on loopback: dnsmasq (Debian) with a
# zone of known answers (okN.podlens.test -> 10.0.0.N; anything else under podlens.test and
# cluster.local: NXDOMAIN), and tools/dnsslow.py for what dnsmasq cannot do (slow* answered after a
# known delay, never* never answered, anything else SERVFAIL). A client in a fresh cgroup (selected
# with --l7-cgroups) resolves exactly: N existing names (plus one over TCP), M missing names, S
# search-list expansions of a service name (NXDOMAIN) before the name itself, D slow names, F
# SERVFAILs, K names that time out, and one non-DNS datagram to port 53. The agent's JSON must
# count every query per rcode exactly, K timeouts, the S expansions in dns_search, and a p50 of the
# slow name within 20% of the known delay. Twice: packet programs attached at the subtree (the
# client's cgroup selected with --l7-cgroups only) and per workload (--host-cgroups selects it too:
# traffic and L7 in one program per packet, pl_pkt_*).
source "$(dirname "$0")/../lib.sh"
AGENT=$TOP/$BUILD/bin/podlens-agent
PY=/usr/bin/python3
TOOLS=$TOP/tests/integration/tools
N=5 M=4 D=6 F=2 K=3 DELAY_MS=200
[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT exists (run make)"; exit 1; }
command -v dnsmasq >/dev/null || { tap_fail "dnsmasq installed (deps/test.pkgs: dnsmasq-base)"; exit 1; }
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
W=$(mktemp -d /tmp/podlens-test-dns.XXXXXX)
defer "rm -rf $W"
# two loopback addresses of our own (127.0.0.0/8 is all loopback): port 53 on them is ours
NET=127.$((200 + $$ % 50)).$(($$ / 50 % 250))
DM_IP=$NET.1 SLOW_IP=$NET.2

zone=()
for i in $(seq $N); do zone+=(--address=/ok$i.podlens.test/10.0.0.$i); done
zone+=(--address=/svc1.podlens.test/10.0.1.1)
# dnsmasq runs in a cgroup of its own, monitored too: its side of every exchange is the server side
SRV=$CG2/podlens-test-dns-$$-srv
mkdir "$SRV"
defer "rmcg $SRV"
SRV_ID=$(stat -c %i "$SRV")
sh -c "echo \$\$ > $SRV/cgroup.procs && exec dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
	--no-hosts --bind-interfaces --listen-address=$DM_IP --port=53 --pid-file=$W/dnsmasq.pid \
	--local=/podlens.test/ --local=/cluster.local/ ${zone[*]}" 2>"$W/dnsmasq.log" &
DMPID=$!
defer "kill -KILL $DMPID"
$PY "$TOOLS/dnsslow.py" $SLOW_IP $DELAY_MS "$W/slow.ready" 2>"$W/slow.log" &
SLPID=$!
defer "kill -KILL $SLPID"
wait_for 10 "dnsmasq answers" sh -c "dig +short +time=1 +tries=1 @$DM_IP ok1.podlens.test | grep -q 10.0.0.1" ||
	{ tap_fail "dnsmasq answers: $(cat "$W/dnsmasq.log")"; exit 1; }
wait_for 10 "slow server listens" test -s "$W/slow.ready" || { tap_fail "slow server listens"; exit 1; }

run() {   # run MODE EXPECTED_LOG_LINE AGENT_FLAGS...: one agent, one client cgroup, every check
	local MODE=$1 EXPECT=$2 NAME=podlens-test-dns-$$-$1 APID CLI CLI_ID
	shift 2
	CLI=$CG2/$NAME
	mkdir "$CLI"
	defer "rmcg $CLI"
	CLI_ID=$(stat -c %i "$CLI")
	"$AGENT" --output json --interval 1 --dns-timeout 1000 --l7-cgroups "/$NAME,/podlens-test-dns-$$-srv" "$@" \
		>"$W/$MODE.agent.json" 2>"$W/$MODE.agent.log" &
	APID=$!
	defer "kill -KILL $APID"
	wait_for 20 "agent running" grep -q "running:" "$W/$MODE.agent.log" || { tap_fail "agent starts"; cat "$W/$MODE.agent.log"; exit 1; }
	grep -q "$EXPECT" "$W/$MODE.agent.log" && tap_ok "$MODE: L7 programs attached to the client's cgroup" ||
		tap_fail "$MODE: L7 programs attached to the client's cgroup: $(grep -i 'l7\|packet programs' "$W/$MODE.agent.log")"
	# per workload, the cgroup is attached when the agent learns it: wait for its programs
	[ "$MODE" = subtree ] || wait_for 10 "client cgroup attached" sh -c "bpftool cgroup show $CLI 2>/dev/null | grep -q pl_pkt" ||
		tap_fail "$MODE: pl_pkt programs on the client cgroup"

	client() {   # client ARGS...: tools/dnscli.py inside the client cgroup; its JSON on stdout
		sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $TOOLS/dnscli.py $*"
	}
	ok=() miss=() slow=() fail=() never=()
	for i in $(seq $N); do ok+=(ok$i.podlens.test); done
	for i in $(seq $M); do miss+=(miss$i.podlens.test); done
	for i in $(seq $D); do slow+=(slow.podlens.test); done
	for i in $(seq $F); do fail+=(fail$i.podlens.test); done
	for i in $(seq $K); do never+=(never$i.podlens.test); done
	client $DM_IP "${ok[@]}" >"$W/$MODE.c.ok"
	client --tcp $DM_IP ok1.podlens.test >"$W/$MODE.c.tcp"
	client $DM_IP "${miss[@]}" >"$W/$MODE.c.miss"
	# a resolver with ndots:5 and search default.svc.cluster.local svc.cluster.local cluster.local
	client $DM_IP svc1.default.svc.cluster.local svc1.svc.cluster.local svc1.cluster.local svc1.podlens.test >"$W/$MODE.c.search"
	client $SLOW_IP "${slow[@]}" >"$W/$MODE.c.slow"
	client $SLOW_IP "${fail[@]}" >"$W/$MODE.c.fail"
	client --wait 1.5 $SLOW_IP "${never[@]}" >"$W/$MODE.c.never"
	sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b\"GET / HTTP/1.1 not dns at all\", (\"$DM_IP\", 53))'"
	for f in ok tcp miss search slow fail never; do diag "client $f: $(cat "$W/$MODE.c.$f")"; done

	# ground truth, from the client's side
	check_eq "$(jq '.rcodes.NOERROR' "$W/$MODE.c.ok")" $N "$MODE: client: $N existing names answered NOERROR"
	check_eq "$(jq '.rcodes.NOERROR' "$W/$MODE.c.tcp")" 1 "$MODE: client: one name over TCP answered NOERROR"
	check_eq "$(jq '.rcodes.NXDOMAIN' "$W/$MODE.c.miss")" $M "$MODE: client: $M missing names answered NXDOMAIN"
	check_eq "$(jq -c '.rcodes' "$W/$MODE.c.search")" '{"NXDOMAIN":3,"NOERROR":1}' "$MODE: client: 3 search expansions NXDOMAIN, then the name"
	check_eq "$(jq '.rcodes.NOERROR' "$W/$MODE.c.slow")" $D "$MODE: client: $D slow answers"
	check_eq "$(jq '.rcodes.SERVFAIL' "$W/$MODE.c.fail")" $F "$MODE: client: $F SERVFAILs"
	check_eq "$(jq '.timeouts' "$W/$MODE.c.never")" $K "$MODE: client: $K unanswered"

	sum() {   # sum JQ_FILTER_ON_A_DNS_ROW FIELD: over every record of the client's cgroup
		jq -s --argjson id "$CLI_ID" "[.[] | select(.workload.cgroup_id == \$id) | .dns[]? | select($1) | .$2] | add // 0" "$W/$MODE.agent.json"
	}
	# the timeouts come one harvest after dns.timeout: wait for them (bounded), not for a time
	wait_for 20 "agent reports $K timeouts" sh -c "[ \"\$(jq -s --argjson id $CLI_ID '[.[] | select(.workload.cgroup_id == \$id) | .dns[]? | .timeouts] | add // 0' $W/$MODE.agent.json)\" -ge $K ]" ||
		diag "timeouts not reported in time"
	kill -TERM "$APID"; wait "$APID"
	check_eq "$?" 0 "$MODE: agent exits 0"
	check_eq "$(programs_left "$W/$MODE.agent.log")" 0 "$MODE: none of the agent's BPF programs remains after exit"

	check_eq "$(sum '.rcode == "NOERROR" and (.domain | test("^ok"))' count)" $((N + 1)) "$MODE: agent: NOERROR of the existing names, UDP and TCP"
	check_eq "$(sum '.domain == "ok1.podlens.test"' count)" 2 "$MODE: agent: ok1 counted over UDP and over TCP"
	check_eq "$(sum '.rcode == "NXDOMAIN" and (.domain | test("^miss"))' count)" $M "$MODE: agent: NXDOMAIN of the missing names"
	check_eq "$(sum '.rcode == "NXDOMAIN" and (.domain | test("cluster.local$"))' count)" 3 "$MODE: agent: NXDOMAIN of the search expansions"
	check_eq "$(sum '.rcode == "NOERROR" and .domain == "svc1.podlens.test"' count)" 1 "$MODE: agent: the name after the expansions"
	check_eq "$(sum '.rcode == "NOERROR" and .domain == "slow.podlens.test"' count)" $D "$MODE: agent: the slow answers"
	check_eq "$(sum '.rcode == "SERVFAIL"' count)" $F "$MODE: agent: SERVFAILs"
	check_eq "$(sum '.rcode == "TIMEOUT"' timeouts)" $K "$MODE: agent: timeouts"
	check_eq "$(sum '.rcode == "TIMEOUT" and (.domain | test("^never"))' count)" $K "$MODE: agent: the timeouts are the never-answered names"
	check_eq "$(sum 'true' count)" $((N + 1 + M + 4 + D + F + K)) "$MODE: agent: every query once, nothing else"
	check_eq "$(sum '.direction != "client"' count)" 0 "$MODE: agent: every query of the client cgroup is a client query"
	check_eq "$(sum '.qtype != "A"' count)" 0 "$MODE: agent: every query is qtype A"
	search=$(jq -s --argjson id "$CLI_ID" '[.[] | select(.workload.cgroup_id == $id) | .dns_search.nxdomain? // 0] | add // 0' "$W/$MODE.agent.json")
	check_eq "$search" 3 "$MODE: agent: dns_search counts the 3 NXDOMAIN expansions (the ndots storm)"
	p50=$(jq -s --argjson id "$CLI_ID" '[.[] | select(.workload.cgroup_id == $id) | .dns[]? | select(.domain == "slow.podlens.test") | {c: .count, p: .p50_us}] | (map(.c * .p) | add) / (map(.c) | add) | floor' "$W/$MODE.agent.json")
	check_within "$p50" $((DELAY_MS * 1000)) 20 "$MODE: agent: p50 of the slow name within 20% of the server's delay"
	cp50=$(jq '.median_us | floor' "$W/$MODE.c.slow")
	diag "$MODE: slow name: agent p50 ${p50} us, client median ${cp50} us, server delay $((DELAY_MS * 1000)) us"
	# dnsmasq's side: the queries it answered (existing, TCP, missing, search + the name), as server
	ssum() {
		jq -s --argjson id "$SRV_ID" "[.[] | select(.workload.cgroup_id == \$id) | .dns[]? | select($1) | .$2] | add // 0" "$W/$MODE.agent.json"
	}
	check_eq "$(ssum '.direction == "server" and .rcode == "NOERROR"' count)" $((N + 2)) "$MODE: dnsmasq (server side): NOERROR answers"
	check_eq "$(ssum '.direction == "server" and .rcode == "NXDOMAIN"' count)" $((M + 3)) "$MODE: dnsmasq (server side): NXDOMAIN answers"
	check_eq "$(ssum 'true' count)" $((N + 2 + M + 3)) "$MODE: dnsmasq (server side): nothing else"
	sp50=$(ssum '.direction == "server"' p50_us)
	diag "$MODE: dnsmasq server-side p50 per row, summed: ${sp50} us"
	leak=$(jq -s --argjson id "$CLI_ID" '[.[] | select(.workload.cgroup_id == $id) | .dns[]? | select(.domain | test("GET|HTTP"))] | length' "$W/$MODE.agent.json")
	check_eq "$leak" 0 "$MODE: agent: the non-DNS datagram on port 53 is not a query"
	kill -KILL "$APID" 2>/dev/null || true   # exited already: the checks above waited for it
}

run subtree "l7: capturing HTTP of /podlens-test-dns-$$-subtree"
run workloads "packet programs: per monitored workload" --host-cgroups "/podlens-test-dns-$$-*"
