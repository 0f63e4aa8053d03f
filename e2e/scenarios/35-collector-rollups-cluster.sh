#!/bin/bash
# 35-collector-rollups-cluster (issue 16): 34-collector-rollups on a 2-shard ClickHouse cluster
# (Distributed tables, the replicas entering at either node). What and how: e2e/scenarios/rollups.sh.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
ROLLUP_STORE=cluster
. "$(dirname "$0")/rollups.sh"
