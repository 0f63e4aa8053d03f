#!/bin/bash
# cri/kubelet.c and cri/k8s_namespaces.c against an HTTPS stand-in (k8s_standin/k8s_api.py) that
# answers as the Kubernetes API reference documents: kubelet PodList, NamespaceList, a watch
# stream with ADDED/MODIFIED/DELETED, 410 Gone (ERROR event), disconnects, injected 500s, and
# token and CA checks. Ground truth: the fixture PodList, the commands this script sends, and
# the stand-in's request log.
. "$(dirname "$0")/../lib.sh"
cd "$TOP"
TOOL=$BUILD/bin/podlens-cri
PY=/usr/bin/python3
[ -x "$TOOL" ] || { tap_fail "podlens-cri built ($TOOL)"; exit 1; }

D=$(mktemp -d /tmp/podlens-k8s.XXXXXX)
defer rm -rf "$D"
mkdir "$D/ctl"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=podlens-test-ca \
	-keyout "$D/ca.key" -out "$D/ca.crt" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$D/srv.key" -out "$D/srv.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' >"$D/ext"
openssl x509 -req -in "$D/srv.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial -days 1 \
	-extfile "$D/ext" -out "$D/srv.crt" >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other -keyout "$D/o.key" -out "$D/other.crt" \
	>/dev/null 2>&1
printf 'sa-token-%s\n' "$RANDOM$RANDOM" >"$D/token"
printf 'wrong\n' >"$D/bad-token"

$PY tests/integration/k8s_standin/k8s_api.py --cert "$D/srv.crt" --key "$D/srv.key" --token-file "$D/token" \
	--pods tests/fixtures/cri/kubelet_pods.json --namespaces tests/fixtures/cri/namespaces.json \
	--control "$D/ctl" --log "$D/requests.log" --port-file "$D/port" >"$D/server.log" 2>&1 &
SPID=$!
defer "kill $SPID"
wait_for 20 "stand-in port" test -s "$D/port" || exit 1
URL=https://127.0.0.1:$(cat "$D/port")
N=0
send() { N=$((N + 1)); printf '%s\n' "$1" >"$D/ctl/.c"; mv "$D/ctl/.c" "$D/ctl/$(printf %04d $N).json"; }
count() { grep -c "$1" "$D/requests.log" 2>/dev/null || echo 0; }

# ------------------------------------------------------------------ kubelet /pods
out=$("$TOOL" kubelet "$URL" --token-file "$D/token" --ca "$D/ca.crt")
check_eq "$(grep -c '^pods=8$' <<<"$out")" 1 "kubelet: all 8 pods of the PodList parsed"
check_eq "$(grep '^shop/web-7d9f8b6c5d-x2x7k ' <<<"$out" | grep -o 'owner=[^ ]*')" "owner=Deployment/web" \
	"kubelet: ReplicaSet owner resolved to its Deployment"
check_eq "$(grep '^batch/backup-29412345-abcde ' <<<"$out" | grep -o 'owner=[^ ]*')" "owner=CronJob/backup" \
	"kubelet: Job owner with a schedule suffix resolved to its CronJob"
check_eq "$(grep '^data/db-0 ' <<<"$out" | grep -o 'owner=[^ ]*')" "owner=StatefulSet/db" "kubelet: StatefulSet owner"
check_eq "$(grep '^shop/web-7d9f8b6c5d-x2x7k ' <<<"$out" | grep -o 'ips=[^ ]*')" "ips=10.244.1.5,fd00:10:244:1::5" \
	"kubelet: dual-stack pod IPs"
check_eq "$(grep '^shop/web-7d9f8b6c5d-x2x7k ' <<<"$out" | grep -o 'ctrs=[^ ]*')" \
	"ctrs=httpd:containerd:aaaaaaaaaaaa,sidecar:containerd:bbbbbbbbbbbb,init-db:containerd:cccccccccccc" \
	"kubelet: container IDs without the runtime prefix"
check_eq "$(count 'GET /pods 200')" 1 "stand-in served one authorised /pods"

out=$("$TOOL" kubelet "$URL" --token-file "$D/bad-token" --ca "$D/ca.crt")
check_eq "$out" "error=Permission denied" "kubelet: wrong token refused (401 -> EACCES)"
check_eq "$(count 'GET /pods 401')" 1 "stand-in saw the bad token"
out=$("$TOOL" kubelet "$URL" --token-file "$D/token" --ca "$D/other.crt")
check_eq "$out" "error=Protocol error" "kubelet: server not signed by the given CA refused"
send '{"op":"fail","path":"/pods","count":1,"code":500}'
wait_for 5 "fail command applied" bash -c "! ls $D/ctl/*.json >/dev/null 2>&1 || [ \$(ls $D/ctl | wc -l) -ge 1 ]"
# the control loop polls every 20 ms: retry the failing call until the stand-in logged the 500
wait_for 5 "injected 500" bash -c "'$TOOL' kubelet '$URL' --token-file '$D/token' --ca '$D/ca.crt' | grep -q 'error=Protocol error'"
check_eq "$(count 'GET /pods 500')" 1 "kubelet: injected 500 reported as an error"
out=$("$TOOL" kubelet "$URL" --token-file "$D/token" --ca "$D/ca.crt" | tail -1)
check_eq "$out" "pods=8" "kubelet: next call after the failure succeeds"

# the kubelet read-only port: plain http, same parser
$PY tests/integration/k8s_standin/k8s_api.py --plain --cert "$D/srv.crt" --key "$D/srv.key" --token-file "$D/token" \
	--pods tests/fixtures/cri/kubelet_pods.json --namespaces tests/fixtures/cri/namespaces.json \
	--control "$D/ctl-plain" --log "$D/plain.log" --port-file "$D/plain.port" >"$D/plain.server.log" 2>&1 &
PPID2=$!
defer "kill $PPID2"
mkdir -p "$D/ctl-plain"
wait_for 20 "plain stand-in port" test -s "$D/plain.port"
out=$("$TOOL" kubelet "http://127.0.0.1:$(cat "$D/plain.port")" --token-file "$D/token" | tail -1)
check_eq "$out" "pods=8" "kubelet over plain http (read-only port)"

# ------------------------------------------------------------------ Namespace list + watch
"$TOOL" nswatch "$URL" --token-file "$D/token" --ca "$D/ca.crt" --until-file "$D/stop" --seconds 60 \
	>"$D/watch.out" 2>"$D/watch.err" &
WPID=$!
defer "touch $D/stop; kill $WPID"
last_block() { awk '/^gen=/{b=""} {b=b $0 "\n"} /^end /{last=b} END{printf "%s", last}' "$D/watch.out"; }
state_has() { last_block | grep -qx -- "$1"; }
state_lacks() { last_block | grep -q '^end ' && ! last_block | grep -q -- "$1"; }

wait_for 10 "initial namespace list" state_has "ns shop podlens.io/monitor=true" &&
	tap_ok "namespaces listed with their annotations (shop monitor=true)" || tap_fail "initial namespace list"
state_has "ns payments podlens.io/l7=false" && tap_ok "payments carries l7=false from the list" ||
	tap_fail "payments l7=false from the list"

send '{"op":"set","name":"shop","annotations":{"podlens.io/monitor":"false"}}'
wait_for 10 "MODIFIED shop" state_has "ns shop podlens.io/monitor=false" &&
	tap_ok "MODIFIED event applied (shop monitor=false)" || tap_fail "MODIFIED event applied"
send '{"op":"set","name":"added","annotations":{"podlens.io/l7":"false","team":"x"}}'
wait_for 10 "ADDED namespace" bash -c "$(declare -f last_block); D=$D; last_block | grep -q '^ns added ' && last_block | grep '^ns added ' | grep -q podlens.io/l7=false" &&
	tap_ok "ADDED event applied (namespace added)" || tap_fail "ADDED event applied"
send '{"op":"delete","name":"jobs"}'
wait_for 10 "DELETED jobs" state_lacks "^ns jobs " && tap_ok "DELETED event applied (jobs gone)" ||
	tap_fail "DELETED event applied"
lists=$(count 'GET /api/v1/namespaces 200')
check_eq "$lists" 1 "one list so far; every change came through the watch"

# disconnect: the client watches again from its last resourceVersion, without a relist
watches=$(count 'watch=1')
send '{"op":"disconnect"}'
wait_for 10 "re-watch after disconnect" bash -c "[ \$(grep -c 'watch=1' $D/requests.log) -gt $watches ]" &&
	tap_ok "watch re-established after a disconnect" || tap_fail "watch re-established after a disconnect"
check_eq "$(grep 'watch=1' "$D/requests.log" | tail -1 | grep -o 'resourceVersion=[0-9]*')" "resourceVersion=1003" \
	"re-watch resumes from the last event's resourceVersion"
send '{"op":"set","name":"payments","annotations":{"podlens.io/monitor":"false"}}'
wait_for 10 "change after re-watch" state_has "ns payments podlens.io/monitor=false" &&
	tap_ok "events flow on the new watch" || tap_fail "events flow on the new watch"
check_eq "$(count 'GET /api/v1/namespaces 200')" 1 "no relist after a plain disconnect"

# 410 Gone: ERROR event -> relist (a first relist fails with an injected 500 -> backoff, retry)
send '{"op":"fail","path":"/api/v1/namespaces","count":1,"code":500}'
send '{"op":"compact"}'
send '{"op":"set","name":"shop","annotations":{"podlens.io/monitor":"true","after":"gone"}}'
shop_after_gone() { state_has "ns shop after=gone,podlens.io/monitor=true" || state_has "ns shop podlens.io/monitor=true,after=gone"; }
wait_for 15 "relist after 410" shop_after_gone && tap_ok "state correct after 410 Gone and a failed relist" ||
	tap_fail "state correct after 410 Gone and a failed relist"
check_eq "$(count 'GET /api/v1/namespaces 500')" 1 "the injected relist failure happened"
check_ge "$(count 'GET /api/v1/namespaces 200')" 2 "relisted after 410 Gone"

# in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT, token and CA files overridden
KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$(cat "$D/port") "$TOOL" nswatch incluster \
	--token-file "$D/token" --ca "$D/ca.crt" --seconds 30 --until-file "$D/stop-ic" >"$D/ic.out" 2>&1 &
IPID=$!
defer "touch $D/stop-ic; kill $IPID"
wait_for 10 "in-cluster list" grep -q '^ns shop ' "$D/ic.out"
touch "$D/stop-ic"
wait "$IPID"
l=$(grep -m1 '^ns shop ' "$D/ic.out")
if grep -q 'after=gone' <<<"$l" && grep -q 'podlens.io/monitor=true' <<<"$l"; then
	tap_ok "in-cluster URL from KUBERNETES_SERVICE_HOST/PORT: current state listed ($l)"
else
	tap_fail "in-cluster URL from KUBERNETES_SERVICE_HOST/PORT: got '$l'"
fi

touch "$D/stop"
wait_for 10 "nswatch exit" bash -c "! kill -0 $WPID 2>/dev/null"
wait "$WPID"
check_eq "$?" 0 "watch thread stopped cleanly"
stats=$(grep '^stats' "$D/watch.out")
diag "$stats"
check_ge "$(sed 's/.* gone=\([0-9]*\).*/\1/' <<<"$stats")" 1 "client counted the 410 relist"
check_eq "$(count ' 401')" 1 "every namespace request carried the token (only the deliberate bad one was refused)"
