#!/bin/bash
# Exporter across receiver outages and agent restarts (python3-grpcio receivers on loopback):
#  1. receiver down for 20 s while the driver keeps producing one batch per 100 ms: after the
#     restart every sequence arrives, no gap, nothing lost (20 s proves it; the issue's 60 s only
#     adds more spooled batches);
#  2. disk spool: the driver exits with everything unsent (receiver down), a second driver on the
#     same --spool-dir sends the old batches and continues the sequence;
#  3. spool overflow: the dropped count is exact (missing sequences = reported DropCounters =
#     exporter stats), and drop counts carried by evicted batches are carried forward.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/integration/export/common.sh"

gen_stubs || { tap_fail "generate python stubs from proto/ (python3-grpc-tools)"; exit 1; }

progress_ge() { [ "$(awk '{print $2}' "$1" 2>/dev/null || echo 0)" -ge "$2" ] 2>/dev/null; }
ok_ge() { [ "$(ok_lines "$1")" -ge "$2" ]; }

# --- 1. 20 s outage with the producer running
start_receiver outage 0 || { tap_fail "start receiver"; exit 1; }
port=$RPORT
"$DRIVER" --collector "http://127.0.0.1:$port" --batches 300 --every-ms 100 --workloads 4 \
	--backoff-max-ms 2000 --progress "$WORK/outage.progress" --stats "$WORK/outage.stats" \
	--flush-ms 30000 2>"$WORK/outage.driver.log" &
dpid=$!
defer "kill $dpid 2>/dev/null"
wait_for 30 "20 batches received" ok_ge "$WORK/outage.jsonl" 20
stop_receiver outage
down_at=$(awk '{print $2}' "$WORK/outage.progress")
t0=$(date +%s%N)
# the outage lasts while the driver produces 200 more batches at 10 per second (~20 s)
wait_for 60 "200 batches produced during the outage" progress_ge "$WORK/outage.progress" $((down_at + 200))
down_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
start_receiver outage "$port" || { tap_fail "restart receiver on port $port"; exit 1; }
wait "$dpid"
check_eq "$?" 0 "driver flushed everything after the receiver came back"
diag "receiver down for ${down_ms} ms while batches $((down_at + 1))..$((down_at + 200)) were produced"
check_ge "$down_ms" 19000 "outage lasted at least 19 s"
$PY "$EXP/check.py" podlens "$WORK/outage.jsonl" --k-last 300 --workloads 4 > "$WORK/outage.sum"
check_eq "$(jget "$WORK/outage.sum" '"\(.unique_seqs) seqs \(.min_seq)-\(.max_seq), gaps \(.seq_gaps), missing k \(.ks_missing)"')" \
	"300 seqs 1-300, gaps 0, missing k 0" "every sequence arrived across the outage"
check_eq "$(jget "$WORK/outage.sum" .content_bad)" 0 "batches spooled during the outage decode to what was submitted"
check_eq "$(jget "$WORK/outage.sum" '.drops.spool_overflow_batches + .drops.export_rejected_batches')" 0 \
	"no drops reported"
check_ge "$(jget "$WORK/outage.stats" .collector.retries)" 1 "the exporter retried during the outage"

# --- 2. disk spool survives an agent restart; sequences continue
spool=$WORK/spool
start_receiver disk 0 || { tap_fail "start receiver"; exit 1; }
port=$RPORT
stop_receiver disk            # a port with nobody listening: every call fails (UNAVAILABLE)
"$DRIVER" --collector "http://127.0.0.1:$port" --spool-dir "$spool" --batches 10 --workloads 3 --no-flush \
	--stats "$WORK/disk1.stats" 2>"$WORK/disk1.driver.log"
check_eq "$?" 0 "first agent run exits with its batches unsent"
check_eq "$(ls "$spool" | grep -c '\.pb$')" 10 "10 batch files in the spool dir"
check_eq "$(awk '$1 == "next_sequence" {print $2}' "$spool/state")" 11 "next sequence kept in the spool dir"
aid=$(cat "$spool/agent_id")
start_receiver disk "$port" || { tap_fail "restart receiver on port $port"; exit 1; }
"$DRIVER" --collector "http://127.0.0.1:$port" --spool-dir "$spool" --first-batch 11 --batches 5 --workloads 3 \
	--stats "$WORK/disk2.stats" 2>"$WORK/disk2.driver.log"
check_eq "$?" 0 "second agent run flushed old and new batches"
$PY "$EXP/check.py" podlens "$WORK/disk.jsonl" --k-last 15 --workloads 3 > "$WORK/disk.sum"
check_eq "$(jget "$WORK/disk.sum" '"\(.unique_seqs) seqs \(.min_seq)-\(.max_seq), gaps \(.seq_gaps), missing k \(.ks_missing), bad \(.content_bad)"')" \
	"15 seqs 1-15, gaps 0, missing k 0, bad 0" "batches of both runs delivered with continuous sequences"
check_eq "$(grep -o '"agent_id": "[^"]*"' "$WORK/disk.jsonl" | sort -u | wc -l) $(grep -c "\"agent_id\": \"$aid\"" "$WORK/disk.jsonl")" \
	"1 $(ok_lines "$WORK/disk.jsonl")" "one stable agent id (from the spool dir) across the restart"
check_eq "$(ls "$spool" | grep -c '\.pb$')" 0 "spool dir empty after delivery"
stop_receiver disk

# --- 3. overflow: 40 batches of ~2.4 KB into a 20 KB spool while the receiver is down
start_receiver ovf 0 || { tap_fail "start receiver"; exit 1; }
port=$RPORT
stop_receiver ovf
"$DRIVER" --collector "http://127.0.0.1:$port" --spool-max-bytes 20000 --batches 40 --workloads 12 \
	--backoff-ms 50 --progress "$WORK/ovf.progress" --stats "$WORK/ovf.stats" --flush-ms 30000 \
	2>"$WORK/ovf.driver.log" &
dpid=$!
defer "kill $dpid 2>/dev/null"
wait_for 30 "40 batches submitted" progress_ge "$WORK/ovf.progress" 40
start_receiver ovf "$port" || { tap_fail "restart receiver on port $port"; exit 1; }
wait "$dpid"
check_eq "$?" 0 "overflow: driver flushed what the spool kept"
$PY "$EXP/check.py" podlens "$WORK/ovf.jsonl" --k-last 40 --workloads 12 > "$WORK/ovf.sum"
missing=$(jget "$WORK/ovf.sum" .ks_missing)
check_ge "$missing" 25 "batches lost to overflow (a 20 KB spool holds 8 of the 40 ~2.4 KB batches)"
check_eq "$(jget "$WORK/ovf.sum" .content_bad)" 0 "overflow: surviving batches intact"
check_eq "$(jget "$WORK/ovf.sum" .drops.spool_overflow_batches)" "$missing" \
	"DropCounters.spool_overflow_batches received = batches never received"
check_eq "$(jget "$WORK/ovf.sum" .drops.spool_overflow_records)" "$((missing * 12))" \
	"DropCounters.spool_overflow_records received = records of the batches never received"
check_eq "$(jget "$WORK/ovf.stats" .collector.dropped_batches_spool_overflow)" "$missing" \
	"exporter stats: spool_overflow batches = batches never received"
check_eq "$(jget "$WORK/ovf.sum" .missing_seqs)" "$missing" "sequence numbers never received = batches dropped"
check_eq "$(jget "$WORK/ovf.sum" .drops.ringbuf_tcp)" "$(jget "$WORK/ovf.sum" .expected_agent_ringbuf_tcp)" \
	"agent ring buffer drop counts carried forward out of evicted batches (none lost)"
check_eq "$(jget "$WORK/ovf.sum" .drops.l7_parse_errors)" "$(jget "$WORK/ovf.sum" .expected_agent_l7)" \
	"agent l7 error counts carried forward out of evicted batches"
