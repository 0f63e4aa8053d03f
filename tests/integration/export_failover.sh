#!/bin/bash
# Exporter failover between endpoints on each retryable failure class (docs/export.md, "Failover"),
# against python3-grpcio receivers on loopback. The agent id is picked so that the exporter starts
# on the first (failing) endpoint of its list (the start index is FNV-1a of the agent id mod the
# number of endpoints, agent/export/endpoints.c):
#  1. a retryable status (RESOURCE_EXHAUSTED on every call): each batch goes on to the second
#     endpoint at once, sticks there: every sequence arrives there once;
#  2. a timeout (the first call sleeps past the 500 ms deadline, then answers OK: a batch stored
#     whose ack is lost): the same batch (same agent id and sequence) goes to the second endpoint,
#     every sequence arrives there;
#  3. connection refused (nobody listens on the first endpoint);
#  4. both refuse: the batches wait in the spool (backoff per round), and all arrive once the
#     second endpoint comes back.
#  5. TLS to a name (a private /etc/hosts in a mount namespace: needs root): connected by the
#     resolved address, the certificate checked against the name; the first endpoint's certificate
#     names another host: that is a failure like any other, the batches go to the second.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/integration/export/common.sh"

gen_stubs || { tap_fail "generate python stubs from proto/ (python3-grpc-tools)"; exit 1; }

# an agent id whose exporter starts on endpoint 0 of 2
AID=$($PY -c '
for i in range(100):
    s = "failover-%d" % i
    h = 1469598103934665603
    for c in s.encode():
        h = ((h ^ c) * 1099511628211) % (1 << 64)
    if h % 2 == 0:
        print(s); break')
seqs_ok() {   # seqs_ok FILE -> "N seqs, M OK answers" (distinct OK sequences, OK lines)
	echo "$(jq -r 'select(.status == "OK") | .batch.sequence' "$1" | sort -un | wc -l) seqs, $(ok_lines "$1") OK answers"
}
failovers() { jq .collector.failovers "$1"; }

# --- 1. retryable status
start_receiver busy 0 --fail RESOURCE_EXHAUSTED:1000 || { tap_fail "start receiver"; exit 1; }
busy=$RPORT
start_receiver good1 0 || { tap_fail "start receiver"; exit 1; }
"$DRIVER" --collector "http://127.0.0.1:$busy,127.0.0.1:$RPORT" --agent-id "$AID" --batches 20 --workloads 2 \
	--stats "$WORK/s1.stats" 2>"$WORK/d1.log"
check_eq "$?" 0 "RESOURCE_EXHAUSTED: driver flushed 20 batches"
check_eq "$(grep -c '"status": "RESOURCE_EXHAUSTED"' "$WORK/busy.jsonl")" 1 \
	"the busy endpoint was tried once (the first batch), then never again (sticky)"
check_eq "$(seqs_ok "$WORK/good1.jsonl")" "20 seqs, 20 OK answers" "every batch arrived once at the second endpoint"
check_eq "$(failovers "$WORK/s1.stats")" 1 "one failover"
check_eq "$(jq -r .collector.endpoint "$WORK/s1.stats")" "http://127.0.0.1:$RPORT" "the exporter ended on the second endpoint"
stop_receiver busy; stop_receiver good1

# --- 2. timeout: the first call outlives its 500 ms deadline (the receiver keeps the batch)
start_receiver slow 0 --delay-first-ms 2000 || { tap_fail "start receiver"; exit 1; }
slow=$RPORT
start_receiver good2 0 || { tap_fail "start receiver"; exit 1; }
"$DRIVER" --collector "http://127.0.0.1:$slow,127.0.0.1:$RPORT" --agent-id "$AID" --batches 20 --workloads 2 \
	--deadline-ms 500 --stats "$WORK/s2.stats" 2>"$WORK/d2.log"
check_eq "$?" 0 "DEADLINE_EXCEEDED: driver flushed 20 batches"
check_eq "$(seqs_ok "$WORK/good2.jsonl")" "20 seqs, 20 OK answers" "every batch arrived once at the second endpoint"
wait_for 10 "the slow receiver logged its late answer" test -s "$WORK/slow.jsonl"
check_eq "$(jq -r '"\(.batch.agent_id) \(.batch.sequence)"' "$WORK/slow.jsonl")" "$AID 1" \
	"the timed-out batch was agent $AID's sequence 1 ..."
check_eq "$(jq -r 'select(.batch.sequence == "1") | "\(.batch.agent_id) \(.batch.sequence)"' "$WORK/good2.jsonl")" "$AID 1" \
	"... and the same agent id and sequence went to the second endpoint (the collector's dedup holds)"
check_ge "$(failovers "$WORK/s2.stats")" 1 "failed over on the timeout"
stop_receiver slow; stop_receiver good2

# --- 3. connection refused
start_receiver gone 0 || { tap_fail "start receiver"; exit 1; }
gone=$RPORT
stop_receiver gone
start_receiver good3 0 || { tap_fail "start receiver"; exit 1; }
"$DRIVER" --collector "http://127.0.0.1:$gone,127.0.0.1:$RPORT" --agent-id "$AID" --batches 20 --workloads 2 \
	--stats "$WORK/s3.stats" 2>"$WORK/d3.log"
check_eq "$?" 0 "connection refused: driver flushed 20 batches"
check_eq "$(seqs_ok "$WORK/good3.jsonl")" "20 seqs, 20 OK answers" "every batch arrived once at the second endpoint"
check_eq "$(failovers "$WORK/s3.stats")" 1 "one failover"
stop_receiver good3

# --- 4. both endpoints down for a while: spooled, then delivered to the one that comes back
start_receiver back 0 || { tap_fail "start receiver"; exit 1; }
back=$RPORT
stop_receiver back
"$DRIVER" --collector "http://127.0.0.1:$gone,127.0.0.1:$back" --agent-id "$AID" --batches 30 --workloads 2 \
	--every-ms 50 --backoff-ms 50 --backoff-max-ms 400 --progress "$WORK/s4.progress" --stats "$WORK/s4.stats" \
	--flush-ms 30000 2>"$WORK/d4.log" &
dpid=$!
defer "kill $dpid 2>/dev/null"
wait_for 30 "30 batches submitted while both endpoints refuse" bash -c "[ \"\$(awk '{print \$2}' '$WORK/s4.progress' 2>/dev/null)\" = 30 ]" ||
	tap_fail "driver did not submit its batches"
start_receiver back "$back" || { tap_fail "restart receiver on port $back"; exit 1; }
wait "$dpid"
check_eq "$?" 0 "both down, then one back: driver flushed 30 batches"
check_eq "$(seqs_ok "$WORK/back.jsonl")" "30 seqs, 30 OK answers" "every batch arrived once at the endpoint that came back"
check_ge "$(jq .collector.retries "$WORK/s4.stats")" 4 "several rounds of failures while both were down"
check_eq "$(jq '[.collector | to_entries[] | select(.key | startswith("dropped_batches")) | .value] | add' "$WORK/s4.stats")" 0 \
	"nothing dropped"

# --- 5. TLS to a name that resolves to an address (a private /etc/hosts in a mount namespace):
# the connection goes to the address, the certificate is checked against the name; a server
# whose certificate names another host is a failure like any other (the batch moves on)
if [ "$(id -u)" != 0 ]; then
	tap_fail "part 5 needs root (a private /etc/hosts in a mount namespace)"; exit 1
fi
tls=$WORK/tls
mkdir -p "$tls"
(
	cd "$tls" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=podlens-test-ca -keyout ca.key -out ca.crt
	for h in collectors.podlens.test other.podlens.test; do
		openssl req -newkey rsa:2048 -nodes -subj "/CN=$h" -keyout "$h.key" -out "$h.csr"
		printf 'subjectAltName=DNS:%s\n' "$h" > "$h.ext"
		openssl x509 -req -in "$h.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile "$h.ext" -out "$h.crt"
	done
) >"$WORK/openssl.log" 2>&1
check_eq "$?" 0 "openssl made a CA and server certificates for collectors.podlens.test and other.podlens.test"
printf '127.0.0.1 collectors.podlens.test\n' > "$WORK/hosts"
start_receiver wrongname 0 --tls-cert "$tls/other.podlens.test.crt" --tls-key "$tls/other.podlens.test.key" ||
	{ tap_fail "start TLS receiver"; exit 1; }
wrong=$RPORT
start_receiver tlsgood 0 --tls-cert "$tls/collectors.podlens.test.crt" --tls-key "$tls/collectors.podlens.test.key" ||
	{ tap_fail "start TLS receiver"; exit 1; }
unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$WORK/hosts" \
	"$DRIVER" --collector "https://collectors.podlens.test:$wrong,collectors.podlens.test:$RPORT" --ca "$tls/ca.crt" \
	--agent-id "$AID" --batches 10 --workloads 2 --verbose --stats "$WORK/s5.stats" 2>"$WORK/d5.log"
check_eq "$?" 0 "TLS by name: driver flushed 10 batches"
check_eq "$(seqs_ok "$WORK/tlsgood.jsonl")" "10 seqs, 10 OK answers" "every batch arrived once at the endpoint whose certificate names the host"
check_eq "$(ok_lines "$WORK/wrongname.jsonl")" 0 "nothing sent to the server whose certificate names another host"
check_eq "$(jq -r .collector.endpoint "$WORK/s5.stats")" "https://collectors.podlens.test:$RPORT (127.0.0.1)" \
	"connected by the resolved address, verified by the name"
check_eq "$(failovers "$WORK/s5.stats")" 1 "one failover (certificate mismatch on the first endpoint)"
grep -q "collector https://collectors.podlens.test:$wrong (127.0.0.1): UNAVAILABLE: SSL: no alternative certificate subject name matches target host name 'collectors.podlens.test'" "$WORK/d5.log" &&
	tap_ok "the first endpoint failed on its certificate" ||
	tap_fail "the first endpoint's failure is not the certificate: $(grep warn "$WORK/d5.log" | head -1)"
