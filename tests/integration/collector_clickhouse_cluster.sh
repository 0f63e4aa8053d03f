#!/bin/bash
# collector_clickhouse.sh, every check, on a 2-shard ClickHouse cluster (a single node and SQLite
# fed the same: three backends, one answer) plus the checks of the cluster itself.
CH_CLUSTER=1 exec bash "$(dirname "$0")/collector_clickhouse.sh"
