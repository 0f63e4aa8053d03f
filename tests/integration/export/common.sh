# Shared by tests/integration/export_*.sh (sourced after tests/lib.sh).
# Receivers are python3-grpcio servers generated at test time from the project's own proto files.
PY=/usr/bin/python3
EXP=$TOP/tests/integration/export
case $BUILD in /*) BDIR=$BUILD ;; *) BDIR=$TOP/$BUILD ;; esac
DRIVER=$BDIR/test-bin/export-test-driver
[ -x "$DRIVER" ] || { tap_fail "export-test-driver not built ($DRIVER): run make all"; exit 1; }
WORK=$(mktemp -d /tmp/podlens-export.XXXXXX)
defer rm -rf "$WORK"

gen_stubs() {   # python stubs for podlens.v1 and the OTLP subset into $WORK/gen
	mkdir -p "$WORK/gen"
	$PY -m grpc_tools.protoc -I"$TOP/proto" --python_out="$WORK/gen" --grpc_python_out="$WORK/gen" \
		"$TOP/proto/podlens/v1/podlens.proto" &&
	(cd "$TOP/proto/otlp" && $PY -m grpc_tools.protoc -I. --python_out="$WORK/gen" \
		--grpc_python_out="$WORK/gen" $(find opentelemetry -name '*.proto'))
}

# start_receiver NAME [PORT] [receiver.py args...]: listens on 127.0.0.1:PORT (0 = any free port),
# appends one JSON line per call to $WORK/NAME.jsonl; sets RPORT. Killed by PID on exit.
start_receiver() {
	local name=$1 port=$2 pid; shift 2
	rm -f "$WORK/$name.port"
	$PY "$EXP/receiver.py" --gen "$WORK/gen" --port "$port" --port-file "$WORK/$name.port" \
		--out "$WORK/$name.jsonl" "$@" 2>>"$WORK/$name.log" &
	pid=$!
	echo "$pid" > "$WORK/$name.pid"
	defer "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	touch "$WORK/$name.jsonl"
	if ! wait_for 20 "receiver $name listening" test -s "$WORK/$name.port"; then
		tail -5 "$WORK/$name.log"; return 1
	fi
	RPORT=$(cat "$WORK/$name.port")
}

stop_receiver() {   # stop_receiver NAME: SIGTERM by PID and wait for it to exit
	local pid
	pid=$(cat "$WORK/$1.pid")
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

ok_lines() { grep -c '"status": "OK"' "$1" 2>/dev/null || true; }

# check.py summary field: jget FILE '.field'
jget() { jq -r "$2" "$1"; }
