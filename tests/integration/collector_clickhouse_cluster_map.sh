#!/bin/bash
# collector_map.sh, every check, with the store on a 2-shard ClickHouse cluster (two private
# clickhouse-servers, Distributed tables over local ones; collectors entering at either node).
COLLECTOR_STORE=clickhouse-cluster exec bash "$(dirname "$0")/collector_map.sh"
