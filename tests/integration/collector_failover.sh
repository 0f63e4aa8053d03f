#!/bin/bash
# Agent failover between collector replicas on one ClickHouse (docs/export.md, "Failover"; issue 16
# "How it will be checked"): the exporter (export-test-driver: synthetic batches whose content is
# known, tests/integration/export/driver.c) points at two podlens-collector replicas that store in
# one private clickhouse-server, and the replica in use is SIGKILLed while batches flow.
#   A. endpoint list "http://127.0.0.1:P,127.0.0.2:P": 300 batches, the replica in use killed
#      (batches go on to the other at once), restarted, then the other killed (batches come back to
#      the restarted one), restarted;
#   B. one name resolving to both addresses (a private /etc/hosts in a mount namespace: needs
#      root): 300 more batches of a second agent, the replica in use killed and restarted;
#   then the same 600 batches stored into a SQLite collector.
# Then 50 of agent A's batches are resent to each replica (an ack lost): duplicates.
# Checked: every batch sent is counted exactly once in the API answers of both replicas (the one
# restarted and the one that survived): per-pod requests, rx/tx bytes against the ground truth
# the test computes from what it sent, nothing twice; the per-pod answers (requests, latency
# percentiles, traffic) and series equal the SQLite collector's; the driver lost nothing and
# failed over. No BPF; loopback only (127.0.0.1 and 127.0.0.2); ports 19110/19111 (replicas).
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
source "$TOP/tests/integration/collector/clickhouse.sh"
cd "$TOP"

DRIVER=$TOP/$BUILD/test-bin/export-test-driver
[ -x "$DRIVER" ] || { tap_fail "export-test-driver not built ($DRIVER)"; exit 1; }
[ "$(id -u)" = 0 ] || { tap_fail "needs root (a private /etc/hosts in a mount namespace for part B)"; exit 1; }
WORK=$(mktemp -d /tmp/podlens-failover.XXXXXX)
defer "rm -rf '$WORK'"
GPORT=${FAILOVER_GRPC_PORT:-19110}
HPORT=${FAILOVER_HTTP_PORT:-19111}
A1=127.0.0.1; A2=127.0.0.2
W=6                  # workloads per batch: pod-<i> in ns-<i % 3>
N=300                # batches per agent (one per 40 ms: 12 s of traffic)

start_clickhouse CH || { tap_fail "private clickhouse-server starts"; exit 1; }
DB="clickhouse:$CH_URL/failover"

start_replica() {   # start_replica NAME ADDR: a replica on ADDR:GPORT/HPORT (the same after a restart)
	local name=$1 addr=$2 out pid try
	out=$WORK/$name.$(date +%s%N)
	for try in 1 2 3; do
		"$COLLECTOR_BIN" --grpc-addr "$addr:$GPORT" --http-addr "$addr:$HPORT" --store "$DB" \
			--store-credentials "$CH_CRED" --retention 7d --log-level warn >"$out" 2>"$out.err" &
		pid=$!
		defer "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null"
		eval "${name}_PID=$pid ${name}_ADDR=$addr"
		wait_for 20 "replica $name on $addr ready" bash -c "grep -q '^podlens-collector ready' '$out' || ! kill -0 $pid 2>/dev/null"
		grep -q '^podlens-collector ready' "$out" && return 0
		diag "replica $name: $(tail -1 "$out.err") (try $try)"
		wait_for 5 "port $GPORT of $addr free" bash -c "! ss -ltn | grep -q ' $addr:$GPORT '"
	done
	return 1
}
kill_replica() {   # kill_replica NAME: SIGKILL, as a node losing the pod
	local pid; eval "pid=\$${1}_PID"
	kill -9 "$pid"; wait "$pid" 2>/dev/null
}
metric() {   # metric ADDR NAME_WITH_LABELS
	curl -s "http://$1:$HPORT/metrics" | awk -v m="$2" '$1 == m {print $2; f=1} END {if (!f) print 0}'
}
stored() { metric "$1" 'podlens_collector_batches_total{result="stored"}'; }
progress() { awk '{print $2}' "$1" 2>/dev/null || echo 0; }
progress_ge() { [ "$(progress "$1")" -ge "$2" ] 2>/dev/null; }
stored_ge() { [ "$(stored "$1")" -ge "$2" ] 2>/dev/null; }
stored_sum_ge() { [ $(( $(stored $A1) + $(stored $A2) )) -ge "$1" ] 2>/dev/null; }
other() { [ "$1" = R1 ] && echo R2 || echo R1; }
addr_of() { eval "echo \$${1}_ADDR"; }

start_replica R1 $A1 || { tap_fail "replica 1 starts on $A1:$GPORT"; exit 1; }
start_replica R2 $A2 || { tap_fail "replica 2 starts on $A2:$GPORT"; exit 1; }

# 2 x N intervals of 10 s ending now: inside every retention and every API range
END=$(( ($(date +%s) * 1000 / 10000) * 10000 ))
BASE=$((END - (2 * N + 1) * 10000))
Q="from=$BASE&to=$END"
DRV=(--node failover-node --workloads $W --base-ms $BASE --every-ms 40 --backoff-ms 50 --backoff-max-ms 500
     --deadline-ms 5000 --flush-ms 60000)

# which replica takes this agent's batches: the one whose stored count moves (sticky: only one)
in_use() {   # in_use BEFORE1 BEFORE2 -> R1 | R2 | ""
	local d1=$(( $(stored $A1) - $1 )) d2=$(( $(stored $A2) - $2 ))
	if [ "$d1" -gt 0 ] && [ "$d2" -eq 0 ]; then echo R1
	elif [ "$d2" -gt 0 ] && [ "$d1" -eq 0 ]; then echo R2; fi
}

# --- A. endpoint list; kill the replica in use, restart it, kill the other, restart it
"$DRIVER" "${DRV[@]}" --collector "http://$A1:$GPORT,$A2:$GPORT" --agent-id failover-a --batches $N \
	--progress "$WORK/a.progress" --stats "$WORK/a.stats" 2>"$WORK/a.log" &
dpid=$!
defer "kill $dpid 2>/dev/null"
wait_for 30 "agent A: 30 batches stored" stored_sum_ge 30
X=$(in_use 0 0)
check_eq "${X:+one}" one "agent A sticks to one replica while it works ($X)"
[ -n "$X" ] || X=R1
Y=$(other $X)
at=$(progress "$WORK/a.progress"); ys=$(stored $(addr_of $Y)); xs=$(stored $(addr_of $X))
kill_replica $X
diag "killed $X ($(addr_of $X)) at batch $at of $N submitted, $xs stored"
check_ge $((N - xs)) $((N / 2)) "agent A had at least half its batches to deliver when $X was killed"
wait_for 60 "batches go on to $Y" stored_ge $(addr_of $Y) $((ys + 60)) &&
	tap_ok "agent A's batches went on to $Y after $X was killed" || tap_fail "no batches reached $Y after $X was killed"
start_replica $X $(addr_of $X) || { tap_fail "$X restarts"; exit 1; }
at=$(progress "$WORK/a.progress"); ys=$(stored $(addr_of $Y))
kill_replica $Y
diag "killed $Y ($(addr_of $Y)) at batch $at of $N submitted, $((xs + ys)) stored by both"
check_ge $((N - xs - ys)) 30 "agent A had batches left to deliver when $Y was killed"
rem=$((N - xs - ys)); [ $rem -gt 30 ] && rem=30
wait_for 60 "batches come back to the restarted $X" stored_ge $(addr_of $X) $rem &&
	tap_ok "agent A's batches came back to the restarted $X after $Y was killed" || tap_fail "no batches reached the restarted $X"
start_replica $Y $(addr_of $Y) || { tap_fail "$Y restarts"; exit 1; }
wait "$dpid"
check_eq "$?" 0 "agent A submitted and flushed $N batches"
check_eq "$(jq -r '.collector | "\(.sent_batches) sent, queued \(.queued_batches), dropped \([to_entries[] | select(.key | startswith("dropped_batches")) | .value] | add)"' "$WORK/a.stats")" \
	"$N sent, queued 0, dropped 0" "agent A: every batch acknowledged, none dropped"
check_ge "$(jq .collector.failovers "$WORK/a.stats")" 2 "agent A failed over at least twice"

# --- B. one name for both replicas (a private /etc/hosts); kill the replica in use, restart it
printf '%s collectors.podlens.test\n%s collectors.podlens.test\n' $A1 $A2 > "$WORK/hosts"
b1=$(stored $A1); b2=$(stored $A2)
unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$WORK/hosts" \
	"$DRIVER" "${DRV[@]}" --collector "http://collectors.podlens.test:$GPORT" --agent-id failover-b \
	--first-batch $((N + 1)) --batches $N --verbose --progress "$WORK/b.progress" --stats "$WORK/b.stats" 2>"$WORK/b.log" &
dpid=$!
defer "kill $dpid 2>/dev/null"
wait_for 30 "agent B: 30 batches stored" stored_sum_ge $((b1 + b2 + 30))
X=$(in_use "$b1" "$b2")
check_eq "${X:+one}" one "agent B sticks to one of the name's addresses ($X)"
[ -n "$X" ] || X=R1
Y=$(other $X)
at=$(progress "$WORK/b.progress"); ys=$(stored $(addr_of $Y)); xs=$(stored $(addr_of $X))
kill_replica $X
diag "killed $X ($(addr_of $X)) at batch $at of $N submitted, $xs stored (all agents)"
wait_for 60 "agent B's batches go on to $Y" stored_ge $(addr_of $Y) $((ys + 60)) &&
	tap_ok "agent B's batches went on to the name's other address ($Y)" || tap_fail "no batches of agent B reached $Y"
start_replica $X $(addr_of $X) || { tap_fail "$X restarts"; exit 1; }
wait "$dpid"
check_eq "$?" 0 "agent B submitted and flushed $N batches"
check_eq "$(jq -r '.collector | "\(.sent_batches) sent, queued \(.queued_batches), dropped \([to_entries[] | select(.key | startswith("dropped_batches")) | .value] | add)"' "$WORK/b.stats")" \
	"$N sent, queued 0, dropped 0" "agent B: every batch acknowledged, none dropped"
check_ge "$(jq .collector.failovers "$WORK/b.stats")" 1 "agent B failed over"
check_eq "$(jq -r .collector.endpoint "$WORK/b.stats" | sed 's/.*(\(.*\))/\1/')" "$(addr_of $Y)" \
	"agent B ended on the name's other address"
grep -q "collector: 1 endpoint(s), 2 address(es)" "$WORK/b.log" &&
	tap_ok "the name was expanded into its 2 addresses" || tap_fail "name not expanded: $(grep endpoint "$WORK/b.log" | head -2)"

# --- an agent resending 50 batches that were stored (an ack lost), to both replicas in turn:
# acknowledged, answered as duplicates, counted nowhere again
d1=$(metric $A1 'podlens_collector_batches_total{result="duplicate"}'); d2=$(metric $A2 'podlens_collector_batches_total{result="duplicate"}')
for ep in "http://$A1:$GPORT" "http://$A2:$GPORT"; do
	"$DRIVER" "${DRV[@]}" --every-ms 0 --collector "$ep" --agent-id failover-a --batches 50 \
		--stats "$WORK/replay.stats" 2>>"$WORK/replay.log"
	check_eq "$(jq .collector.sent_batches "$WORK/replay.stats")" 50 "50 batches of agent A sent again to $ep: acknowledged"
done
check_eq "$(( $(metric $A1 'podlens_collector_batches_total{result="duplicate"}') - d1 )) $(( $(metric $A2 'podlens_collector_batches_total{result="duplicate"}') - d2 ))" \
	"50 50" "both replicas answered the 50 resent batches as duplicates"

# --- the same 2 x N batches into a SQLite collector
start_collector S --data-dir "$WORK/sqlite" --retention 7d || { tap_fail "sqlite collector starts"; exit 1; }
for agent in a b; do
	first=1; [ $agent = b ] && first=$((N + 1))
	"$DRIVER" "${DRV[@]}" --every-ms 0 --collector "http://127.0.0.1:$S_GRPC" --agent-id failover-$agent \
		--first-batch $first --batches $N --stats "$WORK/s$agent.stats" 2>>"$WORK/s.log"
	check_eq "$(jq .collector.sent_batches "$WORK/s$agent.stats")" $N "sqlite: agent $agent's $N batches sent"
done

# --- ClickHouse holds each of the 2 x N batches once (whichever replica took it, however often)
check_eq "$(ch_query CH "SELECT uniqExact(agent_id, seq) FROM failover.batches WHERE agent_id IN ('failover-a', 'failover-b')")" \
	$((2 * N)) "clickhouse: $((2 * N)) distinct batches recorded"

diag "clickhouse: $(ch_query CH "SELECT count() FROM failover.batches WHERE agent_id IN ('failover-a', 'failover-b')") rows in batches (more than $((2 * N)): a batch stored again after a kill); duplicates answered since the last restarts: R1 $(metric $A1 'podlens_collector_batches_total{result="duplicate"}'), R2 $(metric $A2 'podlens_collector_batches_total{result="duplicate"}')"

# --- the answers: ground truth, and SQLite = either replica
get() {   # get ADDR:PORT PATH
	curl -s "http://$1$2" | jq -S 'walk(if type == "object" then del(.last_seen_ms) else . end)'
}
K=$((2 * N))                                  # intervals k = 1..2N for every pod
SUMK=$((K * (K + 1) / 2))
for C in "R1 $A1:$HPORT" "R2 $A2:$HPORT" "sqlite 127.0.0.1:$S_HTTP"; do
	set -- $C
	bad=0
	for ((i = 0; i < W; i++)); do
		want="$((3 * K)) $((1000 * SUMK + K * i)) $((2000 * SUMK + K * i))"
		got=$(get "$2" "/api/v1/namespaces/ns-$((i % 3))/pods?$Q" |
			jq -r ".pods[] | select(.pod == \"pod-$i\") | \"\(.requests) \(.rx_bytes) \(.tx_bytes)\"")
		if [ "$got" != "$want" ]; then
			bad=$((bad + 1)); diag "$1 pod-$i: got '$got', want '$want' (requests rx tx)"
		fi
	done
	check_eq "$bad" 0 "$1: every pod's requests, rx and tx bytes = the $K batches sent, each counted once"
done
for ns in ns-0 ns-1 ns-2; do
	s=$(get "127.0.0.1:$S_HTTP" "/api/v1/namespaces/$ns/pods?$Q")
	for C in "R1 $A1:$HPORT" "R2 $A2:$HPORT"; do
		set -- $C
		r=$(get "$2" "/api/v1/namespaces/$ns/pods?$Q")
		if [ -n "$s" ] && [ "$(jq '.pods | length' <<<"$s")" -ge 2 ] && [ "$s" = "$r" ]; then
			tap_ok "pods of $ns (requests, latency, traffic): $1 answers as the sqlite collector"
		else
			tap_fail "pods of $ns: $1 differs from sqlite"; diff <(echo "$s") <(echo "$r") | head -20 | sed 's/^/# /'
		fi
	done
done
for pod in pod-0 pod-4; do
	ns=ns-$(( ${pod#pod-} % 3 ))
	s=$(get "127.0.0.1:$S_HTTP" "/api/v1/namespaces/$ns/pods/$pod/series?$Q&step=10")
	for C in "R1 $A1:$HPORT" "R2 $A2:$HPORT"; do
		set -- $C
		r=$(get "$2" "/api/v1/namespaces/$ns/pods/$pod/series?$Q&step=10")
		if [ "$(jq '[.points[].requests] | add' <<<"$s")" = $((3 * K)) ] && [ "$s" = "$r" ]; then
			tap_ok "series of $ns/$pod (10 s steps, $((3 * K)) requests): $1 answers as the sqlite collector"
		else
			tap_fail "series of $ns/$pod: $1 differs from sqlite"; diff <(echo "$s") <(echo "$r") | head -20 | sed 's/^/# /'
		fi
	done
done
