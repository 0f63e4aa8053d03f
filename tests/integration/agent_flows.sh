#!/bin/bash
# podlens-agent flows on the real kernel: the exact 4-tuple of known connections.
# A client in one fresh cgroup2 cgroup connects to servers in another, each connection's ends named
# by the sockets themselves (getsockname/getpeername, the client's port bound explicitly):
#   v4    127.0.0.2 -> 127.0.0.1 (AF_INET listener)
#   v6    ::1 -> ::1 (AF_INET6 listener, IPV6_V6ONLY)
#   dual  127.0.0.3 -> 127.0.0.1 on a dual-stack [::] listener (the server's socket sees
#         ::ffff:127.0.0.3, reported as IPv4)
#   agg   3 connections 127.0.0.1 -> 127.0.0.1: one record per side, connections = 3, the client's
#         port reported only on records of one connection (0 = several)
# The podlens.v1 batches the agent exports (to an independent python receiver) must carry, on the
# client's outbound and the server's inbound record, exactly these local/remote addresses and
# ports, and exactly the connection counts the tool made.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/export/common.sh"
AGENT=$BDIR/bin/podlens-agent
PEER=$TOP/tests/integration/tools/flowpeer.py
[ "$(id -u)" = 0 ] || { tap_fail "agent_flows needs root (BPF, cgroups)"; exit 1; }
[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT exists (run make)"; exit 1; }
gen_stubs || { tap_fail "python stubs generated from the project's protos"; exit 1; }
defer "mkdir -p $TOP/$BUILD/test-artifacts; cp $WORK/col-*.jsonl $WORK/*/agent.log $TOP/$BUILD/test-artifacts/ 2>/dev/null"
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
[ -n "$CG2" ] || { tap_fail "a cgroup2 hierarchy is mounted"; exit 1; }
# Twice: the traffic subtree (every host cgroup monitored: TCP from sock_ops there) and per workload
# (--host-cgroups: TCP from the packet programs, --tcp-hooks auto), the same checks.
for ATTACH in subtree workloads; do
	D=$WORK/$ATTACH
	mkdir -p "$D"
	SRV=$CG2/podlens-test-flows-$$-$ATTACH-srv CLI=$CG2/podlens-test-flows-$$-$ATTACH-cli
	mkdir "$SRV" "$CLI"
	defer "rmcg $SRV $CLI"
	SRV_ID=$(stat -c %i "$SRV") CLI_ID=$(stat -c %i "$CLI")

	start_receiver "col-$ATTACH" 0 --kind podlens || { tap_fail "podlens receiver starts"; exit 1; }
	XARGS=()
	[ "$ATTACH" = workloads ] && XARGS=(--host-cgroups "/podlens-test-flows-$$-$ATTACH-*")
	"$AGENT" --output json --interval 1 --node-name test-node --collector "http://127.0.0.1:$RPORT" "${XARGS[@]}" \
		>"$D/agent.json" 2>"$D/agent.log" &
	APID=$!
	defer "kill -KILL $APID 2>/dev/null"
	wait_for 20 "agent running" grep -q "running:" "$D/agent.log" || { tap_fail "agent starts"; cat "$D/agent.log"; exit 1; }
	grep -q "tcp: $( [ "$ATTACH" = workloads ] && echo "from the packet programs" || echo "sock_ops on the traffic subtree")" "$D/agent.log" &&
		tap_ok "$ATTACH: agent runs with --collector" || tap_fail "$ATTACH: agent runs with --collector, TCP as expected"

	BYTES=3000 REPLY=1000
	# scenario NAME SERVER_BIND V6ONLY CLIENT_SRC CLIENT_DST CONNS
	scenario() {
		local name=$1 bind=$2 v6only=$3 src=$4 dst=$5 conns=$6 spid
		sh -c "echo \$\$ > $SRV/cgroup.procs && exec $PY $PEER server $bind $v6only $D/$name.port $conns $REPLY" \
			>"$D/$name.srv.json" &
		spid=$!
		defer "kill -KILL $spid 2>/dev/null"
		wait_for 10 "$name server port" test -s "$D/$name.port" || { tap_fail "$name server listens"; return 1; }
		sh -c "echo \$\$ > $CLI/cgroup.procs && exec $PY $PEER client $src $dst $(cat "$D/$name.port") $conns $BYTES" \
			>"$D/$name.cli.json"
		check_eq "$?" 0 "$name: the client made its $conns connection(s)"
		wait "$spid"
		check_eq "$?" 0 "$name: the server accepted them"
	}
	scenario v4 127.0.0.1 0 127.0.0.2 127.0.0.1 1
	scenario v6 ::1 1 ::1 ::1 1
	scenario dual :: 0 127.0.0.3 127.0.0.1 1
	scenario agg 127.0.0.1 0 127.0.0.1 127.0.0.1 3
	TOTAL=6

	# every connection's record reaches the receiver (both sides), then the agent exits cleanly
	conns_of() {   # conns_of CGROUP_ID: connections in the flows received so far (retries deduplicated)
		jq -c 'select(.status == "OK") | .batch' "$WORK/col-$ATTACH.jsonl" | jq -s --arg id "$1" \
			'unique_by(.sequence) | [.[] | .flows[]? | select(.local.cgroup_id == $id) | (.connections // 1)] | add // 0'
	}
	wait_for 30 "flows of every connection exported" \
		sh -c "[ \"\$(jq -c 'select(.status == \"OK\") | .batch' '$WORK/col-$ATTACH.jsonl' | jq -s --arg c '$CLI_ID' --arg s '$SRV_ID' \
		'unique_by(.sequence) | [.[] | .flows[]? | select(.local.cgroup_id == \$c or .local.cgroup_id == \$s) | (.connections // 1)] | add // 0')\" -ge $((2 * TOTAL)) ]"
	kill -TERM "$APID"; wait "$APID"
	check_eq "$?" 0 "agent exits 0 after flushing the exporter"
	check_eq "$(conns_of "$CLI_ID")" "$TOTAL" "the client cgroup's flows count exactly its $TOTAL connections"
	check_eq "$(conns_of "$SRV_ID")" "$TOTAL" "the server cgroup's flows count exactly its $TOTAL connections"

	# The exact 4-tuples: checks printed as "got<TAB>want<TAB>name" from the received batches and the
	# tool's ground truth (addresses compared as bytes: a mapped address must arrive as 4 bytes).
	jq -c 'select(.status == "OK") | .batch' "$WORK/col-$ATTACH.jsonl" | jq -s 'unique_by(.sequence)' >"$D/batches.json"
	$PY - "$D" "$CLI_ID" "$SRV_ID" "$BYTES" "$REPLY" >"$D/checks.tsv" <<'PYEOF'
import base64, ipaddress, json, sys

work, cli_id, srv_id, nbytes, reply = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
flows = [f for b in json.load(open(work + "/batches.json")) for f in b.get("flows", [])]


def want_ip(text):   # the ground truth as the agent must report it: a mapped IPv4 as IPv4
    ip = ipaddress.ip_address(text)
    return str(ip.ipv4_mapped) if ip.version == 6 and ip.ipv4_mapped else str(ip)


def got_ip(b64):     # 4 bytes = IPv4, 16 = IPv6, as the agent sent them
    raw = base64.b64decode(b64 or "")
    return str(ipaddress.ip_address(raw)) if len(raw) in (4, 16) else "len%d" % len(raw)


def check(got, want, name):
    print("%s\t%s\t%s" % (got, want, name))


def records(cg, direction, sport):
    svc = "remote_port" if direction == "DIRECTION_OUTBOUND" else "local_port"
    return [f for f in flows if f["local"].get("cgroup_id") == cg and f.get("direction") == direction
            and f.get(svc, 0) == sport]


for name in ("v4", "v6", "dual", "agg"):
    srv = json.load(open("%s/%s.srv.json" % (work, name)))
    cli = json.load(open("%s/%s.cli.json" % (work, name)))
    sport = srv["port"]
    n = len(cli["conns"])
    # the tool's two views of each connection agree (the ground truth is sound)
    for c, s in zip(cli["conns"], srv["conns"]):
        check(want_ip(c["local"][0]) + ":%d" % c["local"][1], want_ip(s["remote"][0]) + ":%d" % s["remote"][1],
              "%s: the client's name for itself is the server's name for its peer" % name)
    for side, cg, direction, truth in (("client", cli_id, "DIRECTION_OUTBOUND", cli["conns"]),
                                       ("server", srv_id, "DIRECTION_INBOUND", srv["conns"])):
        recs = records(cg, direction, sport)
        check(sum(r.get("connections", 1) for r in recs), n, "%s: %s %s connections" % (name, side, direction))
        t = truth[0]
        for r in recs:
            check(got_ip(r.get("local_addr")), want_ip(t["local"][0]), "%s: %s record local_addr" % (name, side))
            check(got_ip(r.get("remote_addr")), want_ip(t["remote"][0]), "%s: %s record remote_addr" % (name, side))
            check(r.get("local_port", 0), t["local"][1] if side == "server" or r.get("connections", 1) == 1 and n == 1
                  else r.get("local_port", 0), "%s: %s record local_port" % (name, side))
            check(r.get("remote_port", 0), t["remote"][1] if side == "client" or n == 1
                  else r.get("remote_port", 0), "%s: %s record remote_port" % (name, side))
        if n > 1:   # the client's port: one connection's record names it, several report 0
            eph = set(c["local"][1] for c in cli["conns"])
            key = "local_port" if side == "client" else "remote_port"
            ok = all((r.get(key, 0) == 0) if r.get("connections", 1) > 1 else (r.get(key, 0) in eph) for r in recs)
            check(ok, True, "%s: %s records report the client port only for a single connection" % (name, side))
        if n == 1 and recs:
            tx, rx = int(recs[0].get("tx_bytes", 0)), int(recs[0].get("rx_bytes", 0))
            sent, got = (nbytes, reply) if side == "client" else (reply, nbytes)
            # tcp_sock.bytes_acked/bytes_received count sequence space: + the SYN and the FIN at most
            check(sent <= tx <= sent + 2, True, "%s: %s tx_bytes %d = the %d payload bytes (+ SYN, FIN)" % (name, side, tx, sent))
            check(got <= rx <= got + 2, True, "%s: %s rx_bytes %d = the %d payload bytes (+ SYN, FIN)" % (name, side, rx, got))
PYEOF
	check_eq "$?" 0 "flow checks computed from the received batches"
	while IFS=$'\t' read -r got want name; do
		check_eq "$got" "$want" "$name"
	done <"$D/checks.tsv"
	check_ge "$(wc -l <"$D/checks.tsv")" 40 "flow checks made"
done
