#!/bin/bash
# podlens-collector gRPC ingest against an independent peer (python3-grpcio, stubs generated here
# from proto/podlens/v1/podlens.proto): storage visible in the API with exact counts, duplicates
# dropped, tokens, malformed input answered with the right status while other calls go on,
# 5000 sequential calls, TLS, and kill -9 in the middle of a stream of batches.
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
cd "$TOP"

WORK=$(mktemp -d /tmp/podlens-collector-ingest.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }
echo s3cret > "$WORK/tokens"

start_collector C --data-dir "$WORK/data" --token-file "$WORK/tokens" --max-msg-bytes 65536 ||
	{ tap_fail "collector starts"; exit 1; }
T=127.0.0.1:$C_GRPC

# --- batches stored, visible with exact counts; duplicates dropped
out=$(pyclient seed "$T" --token s3cret --batches 6)
check_eq "$(echo "$out" | grep -o 'stored=[0-9]*')" "stored=6" "6 new batches stored"
out=$(pyclient seed "$T" --token s3cret --batches 6)
check_eq "$(echo "$out" | grep -o 'stored=[0-9]* duplicate=[0-9]*')" "stored=0 duplicate=6" \
	"the same 6 (agent, sequence) again are duplicates"
pods=$(curl -sf "http://127.0.0.1:$C_HTTP/api/v1/namespaces/shop/pods?window=600")
web() { echo "$pods" | jq -r ".pods[] | select(.pod==\"web\") | .$1"; }
check_eq "$(web requests)" 600 "shop/web requests stored (6 x 100, duplicates not counted)"
check_eq "$(web errors)" 30 "shop/web 5xx requests"
check_eq "$(web req_per_s)" 10 "shop/web req/s (600 over 60 s of intervals)"
check_eq "$(web rx_bytes)/$(web tx_bytes)" 60000/120000 "shop/web rx/tx bytes"
p99=$(web p99_us)
check_eq "$([ "$p99" -ge 49152 ] && [ "$p99" -lt 53248 ] && echo in)" in "shop/web p99 ($p99 us) in the bucket of the 50 ms requests"
check_eq "$(curl -sf "http://127.0.0.1:$C_HTTP/api/v1/namespaces" | jq -c '[.namespaces[].name]')" \
	'["payments","shop"]' "namespaces listed"

# --- tokens
check_eq "$(pyclient one "$T" --token wrong --seq 900 | cut -d' ' -f1)" status=UNAUTHENTICATED "wrong token refused"
check_eq "$(pyclient one "$T" --seq 901 | cut -d' ' -f1)" status=UNAUTHENTICATED "missing token refused"

# --- malformed input, each on its own connection, and the next call still works
check_eq "$(pyclient raw "$T" --token s3cret --hex ffffffffff | cut -d' ' -f1)" status=INVALID_ARGUMENT \
	"undecodable protobuf -> INVALID_ARGUMENT"
check_eq "$(pyclient raw "$T" --token s3cret --hex 0a00 | cut -d' ' -f1)" status=INVALID_ARGUMENT \
	"batch without agent_id -> INVALID_ARGUMENT"
check_eq "$(pyclient raw "$T" --token s3cret --method /podlens.v1.Collector/Nope --hex 00 | cut -d' ' -f1)" \
	status=UNIMPLEMENTED "unknown method -> UNIMPLEMENTED"
check_eq "$(pyclient big "$T" --token s3cret | cut -d' ' -f1)" status=INVALID_ARGUMENT \
	"batch over --max-msg-bytes -> INVALID_ARGUMENT"
check_eq "$(pyclient one "$T" --token s3cret --compress --seq 902 | cut -d' ' -f1)" status=UNIMPLEMENTED \
	"gzip grpc-encoding -> UNIMPLEMENTED"
# compressed-flag set without grpc-encoding, sent raw by curl (h2c prior knowledge)
printf '\x01\x00\x00\x00\x02\x0a\x00' > "$WORK/compressed.bin"
hdr=$(curl -s --http2-prior-knowledge -o /dev/null -D - -H 'content-type: application/grpc' -H 'te: trailers' \
	-H 'authorization: Bearer s3cret' --data-binary @"$WORK/compressed.bin" "http://$T/podlens.v1.Collector/Export")
check_eq "$(echo "$hdr" | tr -d '\r' | sed -n 's/^grpc-status: //p')" 13 "compressed-flag without encoding -> INTERNAL (Trailers-Only)"
check_eq "$(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' -H 'content-type: text/plain' \
	--data-binary x "http://$T/podlens.v1.Collector/Export")" 415 "non-gRPC content-type -> HTTP 415"
check_eq "$(pyclient one "$T" --token s3cret --seq 903)" "status=OK accepted=True duplicate=False" \
	"a good call right after the bad ones is stored"

# --- 5000 sequential calls on one channel
out=$(pyclient bulk "$T" --token s3cret --agent bulk-agent --count 5000)
diag "$out"
check_eq "$(echo "$out" | grep -o 'ok=[0-9]*')" ok=5000 "5000 sequential Export calls all stored"
metrics=$(curl -sf "http://127.0.0.1:$C_HTTP/metrics")
check_eq "$(echo "$metrics" | sed -n 's/^podlens_collector_batches_total{result="stored"} //p')" 5007 \
	"collector counts 6 + 1 + 5000 stored batches"
check_eq "$(echo "$metrics" | sed -n 's/^podlens_collector_batches_total{result="duplicate"} //p')" 6 \
	"collector counts 6 duplicates"
check_eq "$(sqlite3 "$WORK/data/podlens.db" "SELECT count(*) FROM batches WHERE agent_id='bulk-agent'")" 5000 \
	"5000 bulk batches in the database"

# --- TLS (self-signed for localhost), ALPN h2
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
start_collector S --data-dir "$WORK/tls" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" ||
	tap_fail "tls collector starts"
check_eq "$(pyclient one "127.0.0.1:$S_GRPC" --tls-ca "$WORK/cert.pem" --seq 1)" \
	"status=OK accepted=True duplicate=False" "Export over TLS (ALPN h2) stored"
check_eq "$(pyclient one "127.0.0.1:$S_GRPC" --seq 2 | cut -d' ' -f1)" status=UNAVAILABLE \
	"plaintext client on the TLS port gets no service"

# --- token required off loopback
"$COLLECTOR_BIN" --grpc-addr 0.0.0.0:0 --http-addr 127.0.0.1:0 --data-dir "$WORK/open" >/dev/null 2>"$WORK/open.err"
check_eq "$?/$(grep -c 'token-file is required' "$WORK/open.err")" 1/1 \
	"gRPC on a non-loopback address without --token-file: exit 1 with the reason"

# --- kill -9 in the middle of a stream of batches
start_collector K --data-dir "$WORK/kill" || tap_fail "collector for kill -9 starts"
: > "$WORK/acks"
PODLENS_PY=$PYDIR "$PY" tests/integration/collector/client.py stream "127.0.0.1:$K_GRPC" --agent crash \
	--count 20000 --acks "$WORK/acks" > "$WORK/stream.out" 2>&1 &
spid=$!
defer "kill $spid 2>/dev/null"
wait_for 30 "300 acknowledged batches" bash -c "[ \$(wc -l < '$WORK/acks') -ge 300 ]"
kill -9 "$K_PID"
wait_for 15 "the client to notice" bash -c "! kill -0 $spid 2>/dev/null"
acked=$(wc -l < "$WORK/acks")
diag "kill -9 after $acked acknowledged batches; client: $(cat "$WORK/stream.out")"
start_collector K2 --data-dir "$WORK/kill" || tap_fail "collector restarts on the killed database"
check_eq "$(sqlite3 "$WORK/kill/podlens.db" 'PRAGMA integrity_check')" ok "database integrity after kill -9"
sqlite3 "$WORK/kill/podlens.db" "SELECT seq FROM batches WHERE agent_id='crash' ORDER BY seq" > "$WORK/stored"
missing=$(sort -n "$WORK/acks" | comm -23 - <(sort -n "$WORK/stored") | wc -l)
check_eq "$missing" 0 "every acknowledged sequence ($acked) present after restart"
check_ge "$(wc -l < "$WORK/stored")" "$acked" "stored batches after restart"
check_eq "$(pyclient one "127.0.0.1:$K2_GRPC" --agent crash --seq 1 | cut -d' ' -f3)" duplicate=True \
	"restarted collector still deduplicates sequence 1"
