#!/bin/bash
# 34-collector-rollups (issue 16): lab traffic -> agent -> two collector replicas on one ClickHouse
# server; the range read covers whole minutes only, so the answer comes from the rollups (proved by
# dropping the raw rows): same requests, latency, bytes and edge as a raw-only replica and a SQLite
# collector. What and how: e2e/scenarios/rollups.sh.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
ROLLUP_STORE=single
. "$(dirname "$0")/rollups.sh"
