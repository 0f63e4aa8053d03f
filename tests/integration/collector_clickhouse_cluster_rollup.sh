#!/bin/bash
# collector_clickhouse_rollup.sh, every check, on a 2-shard cluster of private clickhouse-servers
# (Distributed rollup tables over NAME_local, sharded by the pod at the end).
CH_CLUSTER=1 exec bash "$(dirname "$0")/collector_clickhouse_rollup.sh"
