#!/bin/bash
# Decisions driven by annotations from every source at once: the CRI stand-in (pod annotations
# captured from containerd), the kubelet and Namespace list+watch stand-in (HTTPS, token, CA).
# A namespace annotation changed on the "API server" must flip the decision of that namespace's
# containers within one resync of the running cache; the kubelet supplies owner and IPs.
. "$(dirname "$0")/../lib.sh"
cd "$TOP"
TOOL=$BUILD/bin/podlens-cri
PY=/usr/bin/python3
[ -x "$TOOL" ] || { tap_fail "podlens-cri built ($TOOL)"; exit 1; }

WEB_UID=5b0c2a9e-6f1d-4c55-9a0e-5d2f1b7e0a11
CLI_UID=8d4e7f10-3a2b-4c6d-8e9f-0a1b2c3d4e5f
HTTPD=63192c620109b963fec580c4b3e67d22bf70b1d433b91950795ba43151ce9b2a
FETCH=6a526c027076dd2376bec9f15f72005093eb71135a6fb6c8909b0598677f5a8d

D=$(mktemp -d /tmp/podlens-nsfilter.XXXXXX)
defer rm -rf "$D"
mkdir -p "$D/ctl" "$D/cg/kubepods/besteffort/pod$WEB_UID/$HTTPD" "$D/cg/kubepods/besteffort/pod$CLI_UID/$FETCH"
I_HTTPD=$(stat -c %i "$D/cg/kubepods/besteffort/pod$WEB_UID/$HTTPD")
I_FETCH=$(stat -c %i "$D/cg/kubepods/besteffort/pod$CLI_UID/$FETCH")

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=podlens-test-ca \
	-keyout "$D/ca.key" -out "$D/ca.crt" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$D/srv.key" -out "$D/srv.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' >"$D/ext"
openssl x509 -req -in "$D/srv.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial -days 1 \
	-extfile "$D/ext" -out "$D/srv.crt" >/dev/null 2>&1
printf 'tok-%s\n' "$RANDOM$RANDOM" >"$D/token"

$PY tests/integration/k8s_standin/cri_standin.py --unix "$D/cri.sock" --fixtures tests/fixtures/cri \
	--pidfile "$D/cri.pid" >"$D/cri.log" 2>&1 &
CPID=$!
defer "kill $CPID"
$PY tests/integration/k8s_standin/k8s_api.py --cert "$D/srv.crt" --key "$D/srv.key" --token-file "$D/token" \
	--pods tests/fixtures/cri/kubelet_pods.json --namespaces tests/fixtures/cri/namespaces.json \
	--control "$D/ctl" --log "$D/requests.log" --port-file "$D/port" >"$D/k8s.log" 2>&1 &
KPID=$!
defer "kill $KPID"
wait_for 20 "cri stand-in" test -s "$D/cri.pid" || exit 1
wait_for 20 "k8s stand-in" test -s "$D/port" || exit 1
URL=https://127.0.0.1:$(cat "$D/port")

PODLENS_LOG_LEVEL=info "$TOOL" --socket "$D/cri.sock" meta --cgroup2-dir "$D/cg" --follow --resync-ms 300 \
	--seconds 60 --until-file "$D/stop" --kubelet-url "$URL" --kubelet-token-file "$D/token" \
	--kubelet-ca "$D/ca.crt" --k8s-api "$URL" --k8s-token-file "$D/token" --k8s-ca "$D/ca.crt" \
	>"$D/follow.out" 2>"$D/follow.err" &
FPID=$!
defer "touch $D/stop; kill $FPID"

# namespaces.json: payments has podlens.io/l7=false; the client pod has no l7 annotation, so its
# fetcher is monitored without L7 (namespace annotation over config). The watch may deliver the
# namespaces one resync after the first pods: wait for the settled state.
wait_for 10 "fetcher l7 off" grep -q "^change cgroup=$I_FETCH monitored=1 l7=0 " "$D/follow.out" &&
	tap_ok "namespace annotation l7=false applies to its pod" || tap_fail "namespace annotation l7=false applies to its pod"
wait_for 10 "httpd announced" grep -q "^change cgroup=$I_HTTPD monitored=1 l7=1 " "$D/follow.out" &&
	tap_ok "shop/web monitored with L7" || tap_fail "shop/web monitored with L7"

# the API server changes namespace annotations: shop gets podlens.io/l7=false, payments loses
# its l7=false, and both get monitor=false, which their pods' own monitor=true overrides
n0=$(wc -l <"$D/follow.out")
after() { tail -n +$((n0 + 1)) "$D/follow.out" | grep -q "$1"; }
printf '{"op":"set","name":"shop","annotations":{"podlens.io/l7":"false","podlens.io/monitor":"false"}}\n' >"$D/ctl/.c"
mv "$D/ctl/.c" "$D/ctl/0001.json"
printf '{"op":"set","name":"payments","annotations":{"podlens.io/monitor":"false"}}\n' >"$D/ctl/.c"
mv "$D/ctl/.c" "$D/ctl/0002.json"
t0=$(date +%s%N)
wait_for 10 "httpd l7 off" after "^change cgroup=$I_HTTPD monitored=1 l7=0 " &&
	tap_ok "namespace l7=false added on the API server turns L7 off for shop/web" ||
	tap_fail "namespace l7=false added on the API server turns L7 off for shop/web"
wait_for 10 "fetcher l7 on" after "^change cgroup=$I_FETCH monitored=1 l7=1 " &&
	tap_ok "namespace l7=false removed turns L7 back on for payments/client" ||
	tap_fail "namespace l7=false removed turns L7 back on for payments/client"
diag "decisions changed $(( ($(date +%s%N) - t0) / 1000000 )) ms after the namespace updates (resync every 300 ms)"
touch "$D/stop"
wait "$FPID"
# both pods say podlens.io/monitor=true themselves: the pod annotation wins over the namespace
check_eq "$(grep -c "monitored=0" "$D/follow.out")" 0 "pod annotation monitor=true beats namespace monitor=false"
check_eq "$(grep -c 'namespace watch not started' "$D/follow.err")" 0 "namespace watch started"

# kubelet data: owner and IPs of the web pod come from /pods (same uid as the captured sandbox)
out=$("$TOOL" --socket "$D/cri.sock" meta --cgroup2-dir "$D/cg" --kubelet-url "$URL" \
	--kubelet-token-file "$D/token" --kubelet-ca "$D/ca.crt" 2>/dev/null)
l=$(grep "^cgroup=$I_HTTPD " <<<"$out")
check_eq "$(grep -o ' owner=[^ ]*' <<<"$l")" " owner=Deployment/web" "owner workload from the kubelet"
check_eq "$(grep -o ' ips=[^ ]*' <<<"$l")" " ips=10.244.1.5,fd00:10:244:1::5" "pod IPs from the kubelet"
check_ge "$(grep -c 'GET /pods 200' "$D/requests.log")" 2 "kubelet asked with the token"
