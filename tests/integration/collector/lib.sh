# Helpers for the collector suites (sourced after tests/lib.sh).
#   gen_py DIR                  python stubs from proto/podlens/v1/podlens.proto into DIR
#   start_collector NAME ARGS   start build/bin/podlens-collector on port 0 with ARGS; sets
#                               <NAME>_PID, <NAME>_GRPC, <NAME>_HTTP, <NAME>_LOG; killed by PID on exit
#   pyclient ARGS               tests/integration/collector/client.py with the generated stubs
# With COLLECTOR_STORE=clickhouse (or clickhouse-cluster), start_collector stores in a private clickhouse-server started
# once per script (collector/clickhouse.sh): --data-dir DIR becomes a database of its own per DIR,
# so the same checks run against both backends (docs/collector.md, "ClickHouse").
COLLECTOR_BIN=$TOP/$BUILD/bin/podlens-collector
PY=/usr/bin/python3

gen_py() {
	"$PY" -m grpc_tools.protoc -I"$TOP/proto" --python_out="$1" "$TOP/proto/podlens/v1/podlens.proto" &&
		touch "$1/podlens/__init__.py" "$1/podlens/v1/__init__.py"
}

pyclient() {
	PODLENS_PY=$PYDIR "$PY" "$TOP/tests/integration/collector/client.py" "$@"
}

start_collector() {   # start_collector NAME ARGS...
	local name=$1 out pid; shift
	if [ "${COLLECTOR_STORE:-sqlite}" != sqlite ]; then
		ch_store_args "$@" || return 1
		set -- "${CH_ARGS[@]}"
	fi
	out=$(mktemp "${TMPDIR:-/tmp}/podlens-collector-$name.XXXXXX")
	"$COLLECTOR_BIN" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 "$@" >"$out" 2>"$out.err" &
	pid=$!
	defer "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f '$out' '$out.err'"
	eval "${name}_PID=$pid ${name}_LOG=$out.err"
	if ! wait_for 10 "collector $name ready line" grep -q '^podlens-collector ready' "$out"; then
		cat "$out.err" >&2
		return 1
	fi
	eval "${name}_GRPC=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$out")"
	eval "${name}_HTTP=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$out")"
}

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --data-dir DIR -> --store clickhouse:URL/pl_<hash of DIR> (in CH_ARGS); starts the server once.
# COLLECTOR_STORE=clickhouse-cluster: a 2-shard cluster (ports from CH_PORT_BASE, default 19200),
# the collectors entering it at either node in turn.
ch_store_args() {
	local a db entry cl=()
	if [ -z "${CHS_URL:-}" ]; then
		source "$TOP/tests/integration/collector/clickhouse.sh"
		if [ "$COLLECTOR_STORE" = clickhouse-cluster ]; then
			CH_PORT_BASE=${CH_PORT_BASE:-19200}
			start_clickhouse_cluster pl2 CHS CHS2 || return 1
		else
			start_clickhouse CHS || return 1
		fi
		CH_TURN=0
	fi
	entry=$CHS_URL
	if [ "$COLLECTOR_STORE" = clickhouse-cluster ]; then
		CH_TURN=$((CH_TURN + 1))
		[ $((CH_TURN % 2)) = 0 ] && entry=$CHS2_URL
		cl=(--store-cluster pl2 --store-nodes "$CHS_URL,$CHS2_URL")
	fi
	CH_ARGS=()
	while [ $# -gt 0 ]; do
		a=$1; shift
		if [ "$a" = --data-dir ]; then
			db=pl_$(printf '%s' "$1" | md5sum | cut -c1-12)
			diag "store of $1: clickhouse:$entry/$db${cl:+ (cluster)}"
			CH_ARGS+=(--store "clickhouse:$entry/$db" --store-credentials "$CHS_CRED" "${cl[@]}"); shift
		else
			CH_ARGS+=("$a")
		fi
	done
}

# start_prometheus TARGET_PORT TOKEN: a real Prometheus (Debian package) scraping the collector's
# /metrics on 127.0.0.1:TARGET_PORT every second with TOKEN, its API on 127.0.0.1:$PP, data in
# $WORK/prom, log $WORK/prom.log, killed by PID on exit; pq QUERY asks its API for an instant vector.
start_prometheus() {
	PP=$(free_port)
	cat > "$WORK/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: podlens-collector
    authorization: { credentials: $2 }
    static_configs: [ { targets: ["127.0.0.1:$1"] } ]
YML
	prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
		--web.listen-address="127.0.0.1:$PP" > "$WORK/prom.log" 2>&1 &
	local pid=$!
	defer "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
}
pq() { curl -sf --get "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1"; }
