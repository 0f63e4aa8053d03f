#!/bin/bash
# podlens-collector admission (issue 18): hostile clients (tests/integration/collector/attack.py,
# raw sockets and python3-h2) next to a legitimate exporter (client.py, grpcio) that must keep
# working. Memory pinning with unfinished streams (with and without a token file), 1,000 idle
# connections on the gRPC port and 250 on the HTTP port, slowloris, a stream never finished,
# oversized header blocks and messages. Loopback only; no BPF, no root, ports picked by the kernel.
# The attacker raises its own fd limit to the hard limit (RLIMIT_NOFILE) for its 1,000 sockets.
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
cd "$TOP"

WORK=$(mktemp -d /tmp/podlens-collector-admission.XXXXXX)
defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"
gen_py "$PYDIR" || { tap_fail "generate python stubs from podlens.proto"; exit 1; }
"$PY" -c 'import h2' 2>/dev/null || { tap_fail "python3-h2 installed (deps/collector.pkgs)"; exit 1; }
echo s3cret > "$WORK/tokens"
attack() { "$PY" "$TOP/tests/integration/collector/attack.py" "$@"; }
rss_kib() { sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
jget() { echo "$1" | jq -r "$2"; }
seq_n=1000
export_one() { seq_n=$((seq_n + 1)); pyclient one "$1" --token s3cret --seq "$seq_n" | cut -d' ' -f1; }

# pin NAME PID TARGET [ARGS]: 4 connections x 64 streams x 4 MiB never finished, held while a
# legitimate client exports (with a token); sets PIN_OUT, RSS_BEFORE, RSS_PEAK, RSS_AFTER (KiB).
pin() {
	local name=$1 pid=$2 target=$3 apid spid; shift 3
	rm -f "$WORK/ready" "$WORK/release"
	RSS_BEFORE=$(rss_kib "$pid")
	( while kill -0 "$pid" 2>/dev/null && [ ! -e "$WORK/release" ]; do rss_kib "$pid"; sleep 0.2; done ) \
		>"$WORK/rss.$name" &
	spid=$!
	attack pin "$target" --conns 4 --streams 64 --bytes $((4 << 20)) --ready "$WORK/ready" \
		--release "$WORK/release" --hold 120 "$@" >"$WORK/pin.$name" &
	apid=$!
	defer "kill $apid $spid 2>/dev/null"
	wait_for 90 "$name: attacker sent everything it could" test -e "$WORK/ready"
	PIN_OUT=$(head -1 "$WORK/pin.$name")
	diag "$name: attacker: $PIN_OUT"
	LEGIT=$(pyclient bulk "$target" --token s3cret --count 50 2>&1 | tail -1)
	RSS_HELD=$(rss_kib "$pid")
	touch "$WORK/release"
	wait "$apid" "$spid"
	RSS_PEAK=$( (cat "$WORK/rss.$name"; echo "$RSS_HELD") | sort -n | tail -1)
	wait_for 20 "$name: memory given back" sh -c "[ \$(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' /proc/$pid/status) -le $((RSS_BEFORE + 8192)) ]"
	RSS_AFTER=$(rss_kib "$pid")
	diag "$name: VmRSS before ${RSS_BEFORE} KiB, peak ${RSS_PEAK} KiB (+$(((RSS_PEAK - RSS_BEFORE) / 1024)) MiB), after ${RSS_AFTER} KiB; legit: $LEGIT"
}

# --- (a) memory pinning by unauthenticated streams, collector with a token file
start_collector P --data-dir "$WORK/p" --token-file "$WORK/tokens" || { tap_fail "collector P starts"; exit 1; }
pin P "$P_PID" "127.0.0.1:$P_GRPC"
check_eq "$(jget "$PIN_OUT" '.answers["grpc-status 16"]')" 128 \
	"token file: every stream admitted by the server's stream limit is refused UNAUTHENTICATED on its HEADERS"
check_eq "$(jget "$PIN_OUT" '.answers["reset:7"]')" 128 \
	"streams beyond SETTINGS_MAX_CONCURRENT_STREAMS (32 per connection) refused (REFUSED_STREAM)"
check_range "$((RSS_PEAK - RSS_BEFORE))" -100000 $((64 << 10)) \
	"token file: collector grows by at most 64 MiB under 4 x 64 x 4 MiB unauthenticated streams (KiB)"
check_eq "$(echo "$LEGIT" | grep -o 'ok=[0-9]*')" ok=50 "token file: legitimate exports all succeed during the attack"
check_range "$RSS_AFTER" 0 $((RSS_BEFORE + 8192)) "token file: memory back within 8 MiB of before (KiB)"
check_eq "$(curl -s "http://127.0.0.1:$P_HTTP/metrics" | sed -n 's/^podlens_collector_batches_total{result="unauthenticated"} //p')" 128 \
	"refusals on HEADERS still counted in /metrics (batches_total unauthenticated)"

# --- (a') the same on a loopback collector without a token: the byte budgets bound it
start_collector N --data-dir "$WORK/n" || { tap_fail "collector N starts"; exit 1; }
pin N "$N_PID" "127.0.0.1:$N_GRPC"
check_ge "$(jget "$PIN_OUT" '.answers["grpc-status 8"] // 0')" 100 \
	"no token: streams beyond the per-connection/total budgets refused RESOURCE_EXHAUSTED"
check_range "$((RSS_PEAK - RSS_BEFORE))" -100000 $((64 << 10)) \
	"no token: collector grows by at most 64 MiB (buffers bounded by --grpc-total-buffer 48 MiB) (KiB)"
check_range "$RSS_AFTER" 0 $((RSS_BEFORE + 8192)) "no token: memory back within 8 MiB of before (KiB)"

# --- (b), (c) idle connections: hello deadlines set long so that only admission is at work;
# the idle clients come from 127.0.0.1 like the legitimate ones (the hardest case for a
# per-peer limit)
start_collector I --data-dir "$WORK/i" --token-file "$WORK/tokens" --grpc-hello-timeout 10m \
	--http-hello-timeout 10m || { tap_fail "collector I starts"; exit 1; }
rm -f "$WORK/ready" "$WORK/release"
attack idle "127.0.0.1:$I_GRPC" --conns 1000 --ready "$WORK/ready" --release "$WORK/release" \
	--hold 120 >"$WORK/idle.grpc" &
apid=$!
defer "kill $apid 2>/dev/null"
wait_for 60 "1000 idle gRPC connections opened" test -e "$WORK/ready"
diag "idle gRPC attacker: $(head -1 "$WORK/idle.grpc"); collector fds $(fds "$I_PID")"
ok=0
for i in $(seq 20); do [ "$(export_one "127.0.0.1:$I_GRPC")" = status=OK ] && ok=$((ok + 1)); done
check_eq "$ok" 20 "(b) 20/20 fresh exports succeed while 1000 idle connections are held"
check_range "$(fds "$I_PID")" 1 400 "collector holds a bounded number of fds (max 256 gRPC + 128 HTTP)"
rm -f "$WORK/ready2"
attack idle "127.0.0.1:$I_HTTP" --conns 250 --ready "$WORK/ready2" --release "$WORK/release" \
	--hold 120 >"$WORK/idle.http" &
apid2=$!
defer "kill $apid2 2>/dev/null"
wait_for 60 "250 idle HTTP connections opened" test -e "$WORK/ready2"
out=$(attack healthz "127.0.0.1:$I_HTTP" --count 80)
diag "healthz: $out"
check_eq "$(jget "$out" .ok)" 80 "(c) 80/80 /healthz succeed while 250 idle HTTP connections are held"
touch "$WORK/release"
wait "$apid" "$apid2"
diag "idle gRPC at release: $(tail -1 "$WORK/idle.grpc"); HTTP: $(tail -1 "$WORK/idle.http")"
check_eq "$(export_one "127.0.0.1:$I_GRPC")" status=OK "export after the idle attack"

# --- (d) slow clients, (e) oversized: short request deadlines
start_collector D --data-dir "$WORK/d" --token-file "$WORK/tokens" --http-request-timeout 3s \
	--grpc-request-timeout 3s || { tap_fail "collector D starts"; exit 1; }
FDS0=$(fds "$D_PID")
out=$(attack slowloris "127.0.0.1:$D_HTTP" --every 1 --max 60)
diag "slowloris: $out"
check_eq "$(jget "$out" .result)" closed "(d) slowloris (1 byte/s of headers) closed by the server"
check_range "$(jget "$out" .bytes_sent)" 1 100 "(d) ... at the request deadline, long before its head was complete (bytes)"
out=$(attack pin "127.0.0.1:$D_GRPC" --token s3cret --conns 1 --streams 1 --bytes 100000 --hold 60 --until-closed)
diag "unfinished stream: $(echo "$out" | tr '\n' ' ')"
check_eq "$(echo "$out" | tail -1 | jq .conns_closed_by_server_at_release)" 1 \
	"(d) a gRPC stream never finished: its connection closed at the request deadline"
out=$(attack http-big-head "127.0.0.1:$D_HTTP" --size 9000)
check_eq "$(jget "$out" .status_line)" "HTTP/1.1 431 Request Header Fields Too Large" "(e) 9 kB HTTP head -> 431, closed"
out=$(attack grpc-big-header "127.0.0.1:$D_GRPC" --token s3cret --size 20000)
check_eq "$(jget "$out" .answer)" "grpc-status 8" "(e) 20 kB gRPC header list -> RESOURCE_EXHAUSTED"
out=$(attack grpc-big-msg "127.0.0.1:$D_GRPC" --token s3cret --declared $((64 << 20)))
diag "big message: $out"
check_eq "$(jget "$out" .answer)" "grpc-status 3" "(e) message prefix declaring 64 MiB -> INVALID_ARGUMENT"
check_range "$(jget "$out" .bytes_sent)" 5 $((1 << 20)) "(e) ... answered before the body was sent (bytes sent)"
out=$(attack grpc-big-msg "127.0.0.1:$D_GRPC" --declared 1000)
check_eq "$(jget "$out" .answer)" "grpc-status 16" "no token: refused on HEADERS although the body never ends"
wait_for 20 "connection state freed (collector fds back to $FDS0)" sh -c "[ \$(ls /proc/$D_PID/fd | wc -l) -le $FDS0 ]"
check_eq "$(export_one "127.0.0.1:$D_GRPC")" status=OK "a legitimate export after all of it"
check_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$D_HTTP/healthz")" 200 "/healthz after all of it"
