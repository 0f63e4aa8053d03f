#!/bin/bash
# Not a test: the ingest figures of docs/collector.md "ClickHouse" and "A ClickHouse cluster". N
# python exporters (client.py bulk, sequential small batches each) at once against one collector
# per store in MODES (sqlite, clickhouse: a private clickhouse-server, cluster: a 2-shard cluster of
# them, Distributed tables, synchronous inserts); prints the wall time of each.
# CLIENTS=8 COUNT=250 MODES="sqlite clickhouse cluster" by default; CH_PORT_BASE for the ports.
#   bash tests/integration/collector/ch_ingest_bench.sh
source "$(dirname "$0")/../../lib.sh"
source "$TOP/tests/integration/collector/lib.sh"
source "$TOP/tests/integration/collector/clickhouse.sh"
CLIENTS=${CLIENTS:-8} COUNT=${COUNT:-250} MODES=${MODES:-sqlite clickhouse cluster}
WORK=$(mktemp -d /tmp/podlens-ch-bench.XXXXXX); defer "rm -rf '$WORK'"
PYDIR=$WORK/py; mkdir -p "$PYDIR"; gen_py "$PYDIR" || exit 1
for mode in $MODES; do
	case $mode in
	sqlite) start_collector C$mode --data-dir "$WORK/d" || exit 1 ;;
	clickhouse)
		start_clickhouse B || exit 1
		start_collector C$mode --store "clickhouse:$B_URL/bench" --store-credentials "$B_CRED" || exit 1 ;;
	cluster)
		start_clickhouse_cluster pl2 BA BB || exit 1
		start_collector C$mode --store "clickhouse:$BA_URL/bench" --store-credentials "$BA_CRED" \
			--store-cluster pl2 --store-nodes "$BA_URL,$BB_URL" || exit 1 ;;
	*) echo "MODES: sqlite, clickhouse or cluster, not '$mode'" >&2; exit 2 ;;
	esac
	eval "port=\$C${mode}_GRPC"
	t0=$(date +%s%N); pids=""
	for a in $(seq "$CLIENTS"); do
		pyclient bulk "127.0.0.1:$port" --count "$COUNT" --agent "bulk$a" > "$WORK/$mode.$a" & pids="$pids $!"
	done
	wait $pids
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	ok=$(cat "$WORK/$mode".* | sed -n 's/.*ok=\([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s}')
	diag "$mode: $CLIENTS clients x $COUNT exports: $ok stored in $ms ms ($(( ok * 1000 / (ms ? ms : 1) )) exports/s)"
done
