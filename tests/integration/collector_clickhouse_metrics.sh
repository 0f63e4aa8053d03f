#!/bin/bash
# collector_metrics.sh, every check, with the store in a private clickhouse-server (Debian package,
# started and killed by the script): the histograms merged by ClickHouse give the same exposition.
COLLECTOR_STORE=clickhouse exec bash "$(dirname "$0")/collector_metrics.sh"
