#!/bin/bash
# collector_dns.sh, every check, with the store in a private clickhouse-server (Debian package,
# started and killed by the script): the ClickHouse backend's DNS reads against the same ground truth.
COLLECTOR_STORE=clickhouse exec bash "$(dirname "$0")/collector_dns.sh"
