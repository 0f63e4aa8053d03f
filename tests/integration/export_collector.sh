#!/bin/bash
# Exporter -> the real podlens-collector (nghttp2 server, SQLite): 1500 batches over one libcurl
# connection (past nghttp2's default rapid-reset burst of 1000 streams, TOOLCHAIN-FACTS bug 2),
# bearer token, every batch stored once; the disk spool resends after a restart and the collector
# drops the duplicates by (agent_id, sequence). Counts come from the collector's /metrics.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/integration/export/common.sh"

COLLECTOR=$BDIR/bin/podlens-collector
[ -x "$COLLECTOR" ] || { tap_fail "podlens-collector not built ($COLLECTOR)"; exit 1; }

free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
metric() {   # metric NAME_WITH_LABELS: value from the collector's /metrics
	curl -sf "http://127.0.0.1:$hport/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

gport=$(free_port)
hport=$(free_port)
echo "ingest-token" > "$WORK/tokens"
echo "ingest-token" > "$WORK/token"
"$COLLECTOR" --grpc-addr "127.0.0.1:$gport" --http-addr "127.0.0.1:$hport" --data-dir "$WORK/db" \
	--token-file "$WORK/tokens" --log-level warn 2>"$WORK/collector.log" &
cpid=$!
defer "kill $cpid 2>/dev/null; wait $cpid 2>/dev/null"
wait_for 20 "collector /healthz" curl -sf "http://127.0.0.1:$hport/healthz" ||
	{ tap_fail "collector did not start: $(tail -3 "$WORK/collector.log")"; exit 1; }

t0=$(date +%s%N)
"$DRIVER" --collector "http://127.0.0.1:$gport" --token-file "$WORK/token" --batches 1500 --workloads 2 \
	--flush-ms 120000 --stats "$WORK/c1.stats" 2>"$WORK/c1.driver.log"
check_eq "$?" 0 "driver exported 1500 batches to podlens-collector"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
diag "1500 exports (2 workloads each, SQLite commit before each ack) in ${ms} ms: $(( 1500 * 1000 / (ms > 0 ? ms : 1) )) batches/s"
check_eq "$(jget "$WORK/c1.stats" '"\(.collector.sent_batches) sent, \(.collector.retries) retries"')" \
	"1500 sent, 0 retries" "exporter: every batch acknowledged on the first try"
check_eq "$(metric 'podlens_collector_batches_total{result="stored"}')" 1500 "collector stored 1500 batches"
check_eq "$(metric 'podlens_collector_batches_total{result="duplicate"}')" 0 "no duplicates"

# agent restart with a disk spool: batches spooled while the collector refused the token are kept
# (UNAUTHENTICATED is dropped, so use an unreachable port for the outage instead)
dead=$(free_port)
"$DRIVER" --collector "http://127.0.0.1:$dead" --token-file "$WORK/token" --spool-dir "$WORK/spool" \
	--agent-id restart-agent --batches 5 --workloads 2 --no-flush 2>"$WORK/c2.driver.log"
"$DRIVER" --collector "http://127.0.0.1:$gport" --token-file "$WORK/token" --spool-dir "$WORK/spool" \
	--agent-id restart-agent --first-batch 6 --batches 3 --workloads 2 --stats "$WORK/c3.stats" \
	2>"$WORK/c3.driver.log"
check_eq "$?" 0 "restarted agent flushed its disk spool to the collector"
check_eq "$(metric 'podlens_collector_batches_total{result="stored"}')" 1508 "collector stored the 8 batches of the restarted agent"
# a third run replays sequence 1..3 of the same agent id: the collector must call them duplicates
rm -rf "$WORK/spool"
"$DRIVER" --collector "http://127.0.0.1:$gport" --token-file "$WORK/token" --agent-id restart-agent \
	--batches 3 --workloads 2 --stats "$WORK/c4.stats" 2>"$WORK/c4.driver.log"
check_eq "$(jget "$WORK/c4.stats" .collector.sent_batches)" 3 "replayed sequences acknowledged (at-least-once)"
check_eq "$(metric 'podlens_collector_batches_total{result="duplicate"}')" 3 "collector dropped the 3 replays as duplicates"
check_eq "$(metric 'podlens_collector_batches_total{result="stored"}')" 1508 "nothing stored twice"
