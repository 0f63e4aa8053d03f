#!/bin/bash
# Before/after figures of docs/collector.md "Admission": the attack clients of
# collector_admission.sh against any podlens-collector binary (an older build has none of the
# admission flags, so only defaults are used). Not a test: prints figures.
#   tests/integration/collector/admission_ab.sh BINARY
# e.g. git archive OLD | tar -x -C /tmp/old && make -C /tmp/old build/bin/podlens-collector
set -u
BIN=$(realpath "$1")
TOP=$(cd "$(dirname "$0")/../../.." && pwd)
A=$TOP/tests/integration/collector/attack.py
PY=/usr/bin/python3
W=$(mktemp -d /tmp/podlens-admission-ab.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$W"' EXIT
echo s3cret > "$W/tok"
export PODLENS_PY=$W/py
mkdir -p "$W/py"
"$PY" -m grpc_tools.protoc -I"$TOP/proto" --python_out="$W/py" "$TOP/proto/podlens/v1/podlens.proto"
touch "$W/py/podlens/__init__.py" "$W/py/podlens/v1/__init__.py"
poll() { for _ in $(seq 600); do eval "$1" && return 0; sleep 0.1; done; return 1; }   # <= 60 s
start() {
	"$BIN" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir "$W/d$1" --token-file "$W/tok" \
		>"$W/out$1" 2>"$W/err$1" &
	PID=$!
	poll "grep -q ready '$W/out$1'"
	G=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$W/out$1")
	H=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$W/out$1")
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null; PID=; }
rss() { sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$PID/status"; }

start 1
B=$(rss)
"$PY" "$A" pin "127.0.0.1:$G" --ready "$W/r1" --release "$W/rel1" --hold 120 --send-for 30 >"$W/pin" &
AP=$!
poll "[ -e '$W/r1' ]"
D=$(rss)
L=$("$PY" "$TOP/tests/integration/collector/client.py" bulk "127.0.0.1:$G" --token s3cret --count 50 2>&1 | tail -1)
touch "$W/rel1"
wait "$AP"
poll "[ \$(rss) -le $((B + 8192)) ]"
echo "pin 4x64x4MiB, no token, --token-file: $(head -1 "$W/pin")"
echo "  VmRSS before ${B} KiB, held ${D} KiB, after release $(rss) KiB; legitimate: $L"
stop

start 2
"$PY" "$A" idle "127.0.0.1:$G" --conns 1000 --ready "$W/r2" --release "$W/rel2" --hold 120 >"$W/idle" &
AP=$!
poll "[ -e '$W/r2' ]"
ok=0
for s in $(seq 20); do
	r=$("$PY" "$TOP/tests/integration/collector/client.py" one "127.0.0.1:$G" --token s3cret --seq $((100 + s)) 2>&1 | cut -d' ' -f1)
	[ "$r" = status=OK ] && ok=$((ok + 1))
done
echo "1000 idle gRPC connections: fresh exports ok=$ok/20, collector fds $(ls /proc/$PID/fd | wc -l)"
"$PY" "$A" idle "127.0.0.1:$H" --conns 250 --ready "$W/r3" --release "$W/rel2" --hold 120 >"$W/idle2" &
AP2=$!
poll "[ -e '$W/r3' ]"
echo "250 idle HTTP connections: $("$PY" "$A" healthz "127.0.0.1:$H" --count 80)"
touch "$W/rel2"
wait "$AP" "$AP2"
stop
