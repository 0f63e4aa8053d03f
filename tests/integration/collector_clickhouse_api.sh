#!/bin/bash
# collector_api.sh, every check, with the store in a private clickhouse-server (Debian package,
# started and killed by the script): the conformance of the ClickHouse backend to the SQLite one.
COLLECTOR_STORE=clickhouse exec bash "$(dirname "$0")/collector_api.sh"
