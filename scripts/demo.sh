#!/bin/bash
# The podlens demo (`sudo make demo`): a private containerd lab with a few pods exchanging HTTP at
# different latencies, podlens-collector, and podlens-agent exporting to it. Prints the web page's
# URL and a live per-pod table; Ctrl-C (or DEMO_SECONDS=N) stops everything and tears the lab down,
# leaving the host as it was.
#
#   shop/web       busybox httpd: /index.html (20 kB) and /cgi-bin/page (~20 ms)
#   shop/api       busybox httpd: /cgi-bin/items (~100 ms, a 500 now and then)
#   payments/client  calls web and api in a loop
#   payments/quiet   annotated podlens.io/monitor: "false": serves and calls itself on loopback,
#                    and never appears (it talks to no monitored pod: the service map shows the
#                    three pods above and their two edges, client -> web and client -> api)
#
# Env: DEMO_SECONDS (0 = until Ctrl-C), DEMO_GRPC_PORT (9417), DEMO_HTTP_PORT (9418), DEMO_INTERVAL (5)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
export E2E_RUN=${E2E_RUN:-$BUILD/demo-run} E2E_BRIDGE=${E2E_BRIDGE:-podlensd0} E2E_SUBNET=${E2E_SUBNET:-10.244.89.0/24}
. e2e/lab/env.sh
SECS=${DEMO_SECONDS:-0}
GPORT=${DEMO_GRPC_PORT:-9417} HPORT=${DEMO_HTTP_PORT:-9418}
INTERVAL=${DEMO_INTERVAL:-5}
AGENT=$BUILD/bin/podlens-agent COLLECTOR=$BUILD/bin/podlens-collector
LOG=$BUILD/demo-logs
die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (containerd, cgroups, BPF): sudo make demo"
[ -x "$AGENT" ] && [ -x "$COLLECTOR" ] || die "build first: make"
scripts/deps.sh e2e >/dev/null || die "installing the lab's packages failed"
rm -rf "$LOG"; mkdir -p "$LOG"

APID= CPID=
cleanup() {
	trap - INT TERM EXIT
	echo; echo "demo: stopping"
	[ -n "$APID" ] && kill -TERM "$APID" 2>/dev/null && wait "$APID" 2>/dev/null
	[ -n "$CPID" ] && kill -TERM "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
	e2e/lab/down.sh >"$LOG/down.log" 2>&1 || echo "demo: lab teardown reported problems, see $LOG/down.log"
	echo "demo: done (logs in $LOG)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

podctl() { "$E2E_PY" "$E2E_LAB/podctl.py" "$@"; }
pod() {   # pod NAME NS [run-pod options] -> "id ip"
	podctl run-pod "$1" "$2" --uid "$(cat /proc/sys/kernel/random/uuid)" --label app="$1" "${@:3}"
}

echo "demo: bringing up the lab (containerd + runc + CNI bridge $E2E_BRIDGE)"
e2e/lab/up.sh >"$LOG/up.log" 2>&1 || die "lab up failed, see $LOG/up.log"

# the collector first, so the agent's first batch has somewhere to go
"$COLLECTOR" --grpc-addr "127.0.0.1:$GPORT" --http-addr "127.0.0.1:$HPORT" --data-dir "$E2E_RUN/collector" \
	>"$LOG/collector.out" 2>"$LOG/collector.log" &
CPID=$!
for _ in $(seq 100); do grep -q ready "$LOG/collector.out" 2>/dev/null && break
	kill -0 "$CPID" 2>/dev/null || die "collector exited: $(tail -2 "$LOG/collector.log")"; sleep 0.1; done

www=$E2E_RUN/demo-www
mkdir -p "$www/web/cgi-bin" "$www/api/cgi-bin"
head -c 20000 /dev/zero | tr '\0' x >"$www/web/index.html"
cat >"$www/web/cgi-bin/page" <<'EOF'
#!/bin/sh
sleep 0.02
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<p>page</p>\n'
EOF
cat >"$www/api/cgi-bin/items" <<'EOF'
#!/bin/sh
sleep 0.1
if [ $(( $(date +%s) % 9 )) = 0 ]; then printf 'HTTP/1.0 500 Internal Server Error\r\n\r\n'; exit; fi
printf 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"items":[1,2,3]}\n'
EOF
chmod 755 "$www"/*/cgi-bin/*

read -r WEB WEB_IP < <(pod web shop) || die "pod shop/web"
podctl run-container "$WEB" httpd --mount "$www/web:/www:ro" -- httpd -f -p 8080 -h /www >/dev/null || die "shop/web httpd"
read -r API API_IP < <(pod api shop) || die "pod shop/api"
podctl run-container "$API" httpd --mount "$www/api:/www:ro" -- httpd -f -p 8080 -h /www >/dev/null || die "shop/api httpd"
read -r CLI _ < <(pod client payments) || die "pod payments/client"
podctl run-container "$CLI" fetcher --env WEB="$WEB_IP" --env API="$API_IP" -- sh -c \
	'while true; do wget -q -O /dev/null http://$WEB:8080/index.html; wget -q -O /dev/null http://$WEB:8080/cgi-bin/page;
	  wget -q -O /dev/null "http://$API:8080/cgi-bin/items?user=$RANDOM"; sleep 0.2; done' >/dev/null || die "client"
read -r QUIET _ < <(pod quiet payments --annotation podlens.io/monitor=false) || die "pod payments/quiet"
podctl run-container "$QUIET" fetcher --mount "$www/web:/www:ro" -- sh -c \
	'httpd -p 127.0.0.1:8080 -h /www; while true; do wget -q -O /dev/null http://127.0.0.1:8080/index.html; sleep 1; done' \
	>/dev/null || die "quiet"

cat <<EOF

  podlens demo is running
    web page:   http://127.0.0.1:$HPORT/       (API: http://127.0.0.1:$HPORT/api/v1/namespaces)
    metrics:    http://127.0.0.1:$HPORT/metrics (collector), agent log $LOG/agent.log
    map:        http://127.0.0.1:$HPORT/?ns=shop  payments/client -> shop/web, payments/client -> shop/api
    pods:       shop/web (~20 ms page), shop/api (~100 ms, some 500s), payments/client,
                payments/quiet (podlens.io/monitor=false: never shown)
  $( [ "$SECS" = 0 ] && echo "Ctrl-C stops everything and tears the lab down." || echo "stopping by itself after ${SECS}s." )

EOF
"$AGENT" --output table --interval "$INTERVAL" --duration "$SECS" --cri-socket "$E2E_SOCK" \
	--collector "http://127.0.0.1:$GPORT" --node-name demo-node --metrics-addr 127.0.0.1:0 2>"$LOG/agent.log" &
APID=$!
wait "$APID"
rc=$?
APID=
[ "$rc" = 0 ] || { echo "demo: agent exited $rc: $(grep -E 'error' "$LOG/agent.log" | head -3)"; exit 1; }
sleep 1   # let the collector commit the agent's last batch before we ask for it
echo "demo: what the collector holds for namespace shop (GET /api/v1/namespaces/shop/pods):"
curl -s "http://127.0.0.1:$HPORT/api/v1/namespaces/shop/pods?window=600" |
	jq -r '.pods[] | "  \(.pod): \(.requests) requests, p50 \(.p50_us / 1000 | floor) ms, p99 \(.p99_us / 1000 | floor) ms, errors \(.error_pct)%, rx \(.rx_bytes) B, tx \(.tx_bytes) B"' ||
	echo "  (no answer from the collector)"
echo "demo: the service map (GET /api/v1/namespaces/shop/edges):"
curl -s "http://127.0.0.1:$HPORT/api/v1/namespaces/shop/edges?window=600" |
	jq -r '.edges[] | "  \(.src) -> \(.dst): \(.connections) connections, \(.bytes) B, \(.requests // "no") requests\(if .requests then ", \(.error_pct | floor)% errors" else "" end)"' ||
	echo "  (no answer from the collector)"
