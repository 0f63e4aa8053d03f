#!/bin/bash
# Exporter against independent python3-grpcio receivers (stubs generated now from proto/):
# decoded content equals what was submitted, 5000 sequential exports over one connection, every
# error class, TLS (openssl CA, client certificate) + bearer token, OTLP metrics.
# Ground truth: tests/integration/export/check.py recomputes every submitted value from the
# driver's documented formula. Needs no root and no kernel features (loopback only).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/integration/export/common.sh"

gen_stubs || { tap_fail "generate python stubs from proto/ (python3-grpc-tools)"; exit 1; }

# --- 1. content: 20 batches x (5 workloads + 3 flows + 2 process events)
start_receiver basic 0 || { tap_fail "start receiver"; exit 1; }
"$DRIVER" --collector "http://127.0.0.1:$RPORT" --batches 20 --workloads 5 --flows 3 --events 2 \
	--stats "$WORK/basic.stats" 2>"$WORK/basic.driver.log"
check_eq "$?" 0 "driver submitted and flushed 20 batches"
$PY "$EXP/check.py" podlens "$WORK/basic.jsonl" --k-last 20 --workloads 5 --flows 3 --events 2 > "$WORK/basic.sum"
check_eq "$(jget "$WORK/basic.sum" .unique_seqs)" 20 "distinct sequence numbers received"
check_eq "$(jget "$WORK/basic.sum" '"\(.min_seq)-\(.max_seq) gaps=\(.seq_gaps)"')" "1-20 gaps=0" "sequence range"
check_eq "$(jget "$WORK/basic.sum" .content_bad)" 0 "batches whose decoded records differ from the submitted ones"
check_eq "$(jget "$WORK/basic.sum" .records_received)" 200 "records received (20 x (5 + 3 + 2))"
check_eq "$(jget "$WORK/basic.sum" .agent_ids)" 1 "one agent id across batches"
check_eq "$(jget "$WORK/basic.sum" .drops.ringbuf_tcp)" "$(jget "$WORK/basic.sum" .expected_agent_ringbuf_tcp)" \
	"agent ring buffer drop counts passed through"
check_eq "$(jget "$WORK/basic.sum" .drops.l7_parse_errors)" "$(jget "$WORK/basic.sum" .expected_agent_l7)" \
	"agent l7 parse error counts passed through"
check_eq "$(jget "$WORK/basic.stats" .collector.sent_records)" 200 "exporter stats: records sent"
"$DRIVER" --collector "http://127.0.0.1:$RPORT" --batches 2 --workloads 1 --metrics "$WORK/basic.prom" 2>/dev/null
check_eq "$(grep -E '^podlens_export_(sent_batches_total|dropped_batches_total)\{dest="collector"(,reason="spool_overflow")?\}' "$WORK/basic.prom" | awk '{print $2}' | paste -sd,)" \
	"2,0" "/metrics text: sent batches and spool_overflow drops of a second run"
stop_receiver basic

# --- 1b. a submission larger than --max-batch-bytes is cut into several batches, records intact
start_receiver split 0 || { tap_fail "start receiver"; exit 1; }
"$DRIVER" --collector "http://127.0.0.1:$RPORT" --batches 5 --workloads 6 --flows 4 --events 4 \
	--max-batch-bytes 1500 --stats "$WORK/split.stats" 2>"$WORK/split.driver.log"
check_eq "$?" 0 "split: driver flushed"
$PY "$EXP/check.py" podlens "$WORK/split.jsonl" --k-last 5 --workloads 6 --flows 4 --events 4 > "$WORK/split.sum"
check_ge "$(jget "$WORK/split.sum" .unique_seqs)" 10 "batches produced by 5 submissions of ~3 KB at a 1500-byte limit"
check_eq "$(jget "$WORK/split.sum" '"records \(.records_received), bad \(.content_bad), missing k \(.ks_missing), gaps \(.seq_gaps)"')" \
	"records 70, bad 0, missing k 0, gaps 0" "split batches reassemble to exactly the submitted records"
size=$(jget "$WORK/split.sum" .max_batch_size)
check_eq "$([ "$size" -le 1500 ] && echo yes)" yes "largest split batch within 1500 bytes ($size)"
stop_receiver split

# --- 2. 5000 sequential exports over one connection
start_receiver seq5k 0 || { tap_fail "start receiver"; exit 1; }
t0=$(date +%s%N)
"$DRIVER" --collector "http://127.0.0.1:$RPORT" --batches 5000 --workloads 1 --flush-ms 120000 \
	--stats "$WORK/seq5k.stats" 2>"$WORK/seq5k.driver.log"
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_eq "$rc" 0 "driver exported 5000 batches"
$PY "$EXP/check.py" podlens "$WORK/seq5k.jsonl" --k-last 5000 --workloads 1 > "$WORK/seq5k.sum"
check_eq "$(jget "$WORK/seq5k.sum" .unique_seqs)" 5000 "distinct sequences of 5000 sequential exports"
check_eq "$(jget "$WORK/seq5k.sum" .calls)" 5000 "calls the receiver answered (no retries needed)"
check_eq "$(jget "$WORK/seq5k.sum" .content_bad)" 0 "5000 batches decode to what was submitted"
check_eq "$(jget "$WORK/seq5k.sum" .peers)" 1 "client connections seen by the receiver (distinct peers)"
diag "5000 sequential exports in ${ms} ms ($(( 5000 * 1000 / (ms > 0 ? ms : 1) )) calls/s against python grpcio)"
stop_receiver seq5k

# --- 3. retryable statuses: the first 3 calls fail, the batches arrive afterwards, nothing dropped
for code in UNAVAILABLE DEADLINE_EXCEEDED RESOURCE_EXHAUSTED; do
	start_receiver "r_$code" 0 --fail "$code:3" || { tap_fail "start receiver"; exit 1; }
	"$DRIVER" --collector "http://127.0.0.1:$RPORT" --batches 2 --workloads 2 --backoff-ms 20 \
		--stats "$WORK/r_$code.stats" 2>"$WORK/r_$code.driver.log"
	check_eq "$?" 0 "$code: driver flushed"
	$PY "$EXP/check.py" podlens "$WORK/r_$code.jsonl" --k-last 2 --workloads 2 > "$WORK/r_$code.sum"
	check_eq "$(jget "$WORK/r_$code.sum" '"\(.calls) calls, seqs \(.min_seq)-\(.max_seq), bad \(.content_bad)"')" \
		"5 calls, seqs 1-2, bad 0" "$code x3 then OK: both batches delivered after 3 retries"
	check_eq "$(jget "$WORK/r_$code.stats" '"\(.collector.retries) retries, \(.collector.dropped_batches_rejected_other + .collector.dropped_batches_invalid_argument) dropped"')" \
		"3 retries, 0 dropped" "$code: exporter counted the retries"
	stop_receiver "r_$code"
done

# --- 4. a real deadline: the receiver sits on the first call longer than the 500 ms grpc-timeout
start_receiver slow 0 --delay-first-ms 1500 || { tap_fail "start receiver"; exit 1; }
"$DRIVER" --collector "http://127.0.0.1:$RPORT" --batches 2 --workloads 2 --deadline-ms 500 --backoff-ms 20 \
	--stats "$WORK/slow.stats" 2>"$WORK/slow.driver.log"
check_eq "$?" 0 "deadline: driver flushed"
$PY "$EXP/check.py" podlens "$WORK/slow.jsonl" --k-last 2 --workloads 2 > "$WORK/slow.sum"
check_eq "$(jget "$WORK/slow.sum" '"\(.unique_seqs) seqs, bad \(.content_bad)"')" "2 seqs, bad 0" \
	"deadline exceeded once: both batches still delivered (at least once)"
check_ge "$(jget "$WORK/slow.stats" .collector.retries)" 1 "deadline: retries counted"
stop_receiver slow

# --- 5. non-retryable statuses for sequence 2: dropped once, counted, reported to the collector
for code in INVALID_ARGUMENT UNAUTHENTICATED PERMISSION_DENIED; do
	reason=$(echo "$code" | tr 'A-Z' 'a-z')
	start_receiver "n_$code" 0 --fail-seq "$code:2" || { tap_fail "start receiver"; exit 1; }
	"$DRIVER" --collector "http://127.0.0.1:$RPORT" --batches 4 --workloads 3 --backoff-ms 20 \
		--stats "$WORK/n_$code.stats" 2>"$WORK/n_$code.driver.log"
	check_eq "$?" 0 "$code: driver flushed"
	$PY "$EXP/check.py" podlens "$WORK/n_$code.jsonl" --k-last 4 --workloads 3 > "$WORK/n_$code.sum"
	check_eq "$(grep -c "\"status\": \"$code\"" "$WORK/n_$code.jsonl")" 1 "$code: sequence 2 sent once, not retried"
	check_eq "$(jget "$WORK/n_$code.sum" '"missing k \(.ks_missing), bad \(.content_bad)"')" "missing k 1, bad 0" \
		"$code: every other batch delivered intact"
	check_eq "$(jget "$WORK/n_$code.stats" ".collector.dropped_batches_$reason, .collector.dropped_records_$reason" | paste -sd/)" \
		"1/3" "$code: exporter stats count 1 batch / 3 records dropped as $reason"
	check_eq "$(jget "$WORK/n_$code.sum" '"\(.drops.export_rejected_batches)/\(.drops.export_rejected_records)"')" \
		"1/3" "$code: DropCounters received by the collector say 1 batch / 3 records rejected"
	stop_receiver "n_$code"
done

# --- 6. TLS with an openssl-made CA, client certificate, bearer token
tls=$WORK/tls
mkdir -p "$tls"
(
	cd "$tls" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=podlens-test-ca -keyout ca.key -out ca.crt
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout srv.key -out srv.csr
	printf 'subjectAltName=IP:127.0.0.1\n' > srv.ext
	openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile srv.ext -out srv.crt
	openssl req -newkey rsa:2048 -nodes -subj /CN=podlens-agent -keyout cli.key -out cli.csr
	openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -out cli.crt
) >"$WORK/openssl.log" 2>&1
check_eq "$?" 0 "openssl made a CA, a server certificate for 127.0.0.1 and a client certificate"
echo "s3cret-token" > "$tls/token"
echo "wrong-token" > "$tls/bad-token"
start_receiver tls 0 --tls-cert "$tls/srv.crt" --tls-key "$tls/srv.key" --client-ca "$tls/ca.crt" \
	--token s3cret-token || { tap_fail "start TLS receiver"; exit 1; }
"$DRIVER" --collector "https://127.0.0.1:$RPORT" --ca "$tls/ca.crt" --cert "$tls/cli.crt" --key "$tls/cli.key" \
	--token-file "$tls/token" --batches 3 --workloads 2 --stats "$WORK/tls.stats" 2>"$WORK/tls.driver.log"
check_eq "$?" 0 "TLS + client cert + token: driver flushed"
$PY "$EXP/check.py" podlens "$WORK/tls.jsonl" --k-last 3 --workloads 2 > "$WORK/tls.sum"
check_eq "$(jget "$WORK/tls.sum" '"\(.unique_seqs) seqs, bad \(.content_bad), \(.statuses|join(","))"')" \
	"3 seqs, bad 0, OK" "TLS + token: every batch delivered"
: > "$WORK/tls.jsonl"
"$DRIVER" --collector "https://127.0.0.1:$RPORT" --ca "$tls/ca.crt" --cert "$tls/cli.crt" --key "$tls/cli.key" \
	--token-file "$tls/bad-token" --batches 3 --workloads 2 --stats "$WORK/tlsbad.stats" 2>"$WORK/tlsbad.driver.log"
check_eq "$(ok_lines "$WORK/tls.jsonl")" 0 "wrong token: nothing accepted"
check_eq "$(jget "$WORK/tlsbad.stats" '"\(.collector.dropped_records_unauthenticated) records, \(.collector.retries) retries"')" \
	"6 records, 0 retries" "wrong token: UNAUTHENTICATED counted as dropped, never retried"
"$DRIVER" --collector "https://127.0.0.1:$RPORT" --token-file "$tls/token" --batches 1 --flush-ms 1500 \
	--backoff-ms 50 --stats "$WORK/tlsnoca.stats" 2>"$WORK/tlsnoca.driver.log"
check_eq "$?" 3 "server certificate from an unknown CA: flush times out (driver exit 3)"
check_eq "$(ok_lines "$WORK/tls.jsonl")" 0 "unknown CA: nothing delivered"
check_eq "$(jget "$WORK/tlsnoca.stats" .collector.queued_batches)" 1 "unknown CA: the batch is still queued (retryable), not dropped"
stop_receiver tls

# --- 7. OTLP: cumulative sums and histograms with Kubernetes resource attributes
start_receiver otlp 0 --kind otlp || { tap_fail "start OTLP receiver"; exit 1; }
"$DRIVER" --otlp "http://127.0.0.1:$RPORT" --batches 4 --workloads 3 --stats "$WORK/otlp.stats" 2>"$WORK/otlp.driver.log"
check_eq "$?" 0 "OTLP: driver flushed"
$PY "$EXP/check.py" otlp "$WORK/otlp.jsonl" --k-last 4 --workloads 3 > "$WORK/otlp.sum"
check_eq "$(jget "$WORK/otlp.sum" '"\(.ok_calls) requests, \(.pods) pods"')" "4 requests, 3 pods" "OTLP requests received"
check_eq "$(jget "$WORK/otlp.stats" '"\(.otlp.sent_batches) requests, \(.otlp.sent_records) resources"')" \
	"4 requests, 12 resources" "OTLP exporter stats"
check_eq "$(jget "$WORK/otlp.sum" '.bad|join("; ")')" "" \
	"OTLP: cumulative network/tcp sums, histogram buckets+bounds, k8s resource attributes match"
stop_receiver otlp

# --- 8. OTLP semantic conventions: HTTP server and client, gRPC server and client (one of each)
start_receiver otlpmix 0 --kind otlp || { tap_fail "start OTLP receiver"; exit 1; }
"$DRIVER" --otlp "http://127.0.0.1:$RPORT" --batches 3 --workloads 4 --mixed-requests --stats "$WORK/otlpmix.stats" \
	2>"$WORK/otlpmix.driver.log"
check_eq "$?" 0 "OTLP mixed: driver flushed"
$PY "$EXP/check.py" otlp "$WORK/otlpmix.jsonl" --k-last 3 --workloads 4 --mixed > "$WORK/otlpmix.sum"
check_eq "$(jget "$WORK/otlpmix.sum" '"\(.ok_calls) requests, \(.pods) pods"')" "3 requests, 4 pods" "OTLP mixed: requests received"
check_eq "$(jget "$WORK/otlpmix.sum" '.bad|join("; ")')" "" \
	"OTLP mixed: http.server/client.request.duration (s), rpc.server/client.duration (ms), their attributes, counts, sums and bounds"
stop_receiver otlpmix
