#!/bin/bash
# collector_clickhouse_peers.sh on a 2-shard ClickHouse cluster.
CH_CLUSTER=1 exec bash "$(dirname "$0")/collector_clickhouse_peers.sh"
