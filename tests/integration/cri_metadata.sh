#!/bin/bash
# The metadata cache end to end over a real gRPC unix socket: cri/cri_client.c + lib/grpc_client.c
# + cri/meta_cache.c against a CRI stand-in (k8s_standin/cri_standin.py, Debian python3-grpcio)
# answering with replies captured from containerd. The cgroup2 hierarchy is a directory tree made
# here, so the cgroup IDs to expect are the inodes of directories this script created.
# Then the runtime is killed and restarted with a new container: the cache keeps its entries,
# logs the outage once, and names the new container within 10 s of the restart.
. "$(dirname "$0")/../lib.sh"
cd "$TOP"
TOOL=$BUILD/bin/podlens-cri
PY=/usr/bin/python3
STANDIN=tests/integration/k8s_standin/cri_standin.py
FIX=tests/fixtures/cri
[ -x "$TOOL" ] || { tap_fail "podlens-cri built ($TOOL)"; exit 1; }

WEB_UID=5b0c2a9e-6f1d-4c55-9a0e-5d2f1b7e0a11
CLI_UID=8d4e7f10-3a2b-4c6d-8e9f-0a1b2c3d4e5f
BATCH_UID=1f2e3d4c-0000-4aaa-8bbb-0123456789ab
HTTPD=63192c620109b963fec580c4b3e67d22bf70b1d433b91950795ba43151ce9b2a
FETCH=6a526c027076dd2376bec9f15f72005093eb71135a6fb6c8909b0598677f5a8d
BATCH_SB=e8937e522b17637f0087ac716c380c8973174c8891979081ca7d357966ad3212

D=$(mktemp -d /tmp/podlens-crimeta.XXXXXX)
defer rm -rf "$D"
CG=$D/cg
mkdir -p "$CG/kubepods/besteffort/pod$WEB_UID/$HTTPD" "$CG/kubepods/besteffort/pod$CLI_UID/$FETCH" \
	"$CG/kubepods/besteffort/pod$BATCH_UID/$BATCH_SB" "$CG/system.slice/nginx.service"
ino() { stat -c %i "$CG/$1"; }
I_HTTPD=$(ino "kubepods/besteffort/pod$WEB_UID/$HTTPD")
I_FETCH=$(ino "kubepods/besteffort/pod$CLI_UID/$FETCH")
I_BATCH=$(ino "kubepods/besteffort/pod$BATCH_UID/$BATCH_SB")
I_NGINX=$(ino system.slice/nginx.service)
SOCK=$D/cri.sock
SPID=

start_standin() {   # start_standin [--hide PREFIX]
	rm -f "$D/pid" "$SOCK"
	$PY "$STANDIN" --unix "$SOCK" --fixtures "$FIX" --pidfile "$D/pid" "$@" >>"$D/standin.log" 2>&1 &
	SPID=$!
	defer "kill $SPID"
	wait_for 20 "cri stand-in" test -s "$D/pid"
}
stop_standin() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }
line_of() { grep "^cgroup=$1 " <<<"$2"; }
field() { grep -o " $1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2-; }

start_standin
out=$("$TOOL" --socket "$SOCK" version)
check_eq "$out" "socket=$SOCK runtime=containerd version=1.6.20~ds1 api=v1" "Version over the unix socket"

# ------------------------------------------------------------------ one resync + lookups
out=$("$TOOL" --socket "$SOCK" meta --cgroup2-dir "$CG" --node node-a)
l=$(line_of "$I_HTTPD" "$out")
check_eq "$(field ns "$l")/$(field pod "$l")/$(field container "$l")" "shop/web/httpd" "httpd cgroup inode named shop/web/httpd"
check_eq "$(field ips "$l") $(field monitored "$l") $(field l7 "$l")" "10.244.91.2 1 1" "web pod IP and decision"
l=$(line_of "$I_FETCH" "$out")
check_eq "$(field ns "$l")/$(field pod "$l")/$(field container "$l")" "payments/client/fetcher" "fetcher cgroup inode named payments/client/fetcher"
check_eq "$(grep -c '^cgroup=' <<<"$out")" 2 "only the two running containers after a resync"

out=$("$TOOL" --socket "$SOCK" meta --cgroup2-dir "$CG" "$I_BATCH" "$I_NGINX" 4242424242)
l=$(line_of "$I_BATCH" "$out")
check_eq "$(field kind "$l") $(field ns "$l")/$(field pod "$l") $(field monitored "$l") $(field l7 "$l")" \
	"pod jobs/batch 0 0" "sandbox cgroup found from its ID: pod annotated monitor=false, l7=false"
l=$(line_of "$I_NGINX" "$out")
check_eq "$(field kind "$l") $(field host "$l") $(field monitored "$l")" "host nginx.service 1" "systemd unit named by its path"
check_eq "$(grep -c '^cgroup=4242424242 unknown' <<<"$out")" 1 "an ID with no cgroup stays unknown"

# ------------------------------------------------------------------ runtime killed and restarted
stop_standin
start_standin --hide "$FETCH"
PODLENS_LOG_LEVEL=info "$TOOL" --socket "$SOCK" meta --cgroup2-dir "$CG" --follow --resync-ms 200 --seconds 60 --until-file "$D/stop" \
	>"$D/follow.out" 2>"$D/follow.err" &
FPID=$!
defer "touch $D/stop; kill $FPID"
wait_for 10 "httpd announced" grep -q "^change cgroup=$I_HTTPD monitored=1" "$D/follow.out" &&
	tap_ok "running agent loop announced httpd" || tap_fail "running agent loop announced httpd"
check_eq "$(grep -c "^change cgroup=$I_FETCH " "$D/follow.out")" 0 "hidden container not announced"

stop_standin
wait_for 10 "resync failure seen" grep -q '^resync rc=-107' "$D/follow.out" &&
	tap_ok "runtime death seen by the resync (ENOTCONN)" || tap_fail "runtime death seen by the resync"
# let several failing resyncs happen (bounded poll on the stand-in being gone for >= 3 resyncs
# would need a counter: the follow loop prints only transitions, so count log lines instead)
wait_for 10 "warning logged" grep -q 'cri: list pods and containers failed' "$D/follow.err"
t0=$(date +%s%N)
start_standin                        # back, now with the fetcher container
wait_for 10 "new container named after the restart" grep -q "^change cgroup=$I_FETCH monitored=1 .* pod=client container=fetcher" "$D/follow.out" &&
	tap_ok "new container named after the runtime restart" || tap_fail "new container named after the runtime restart"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$ms" -le 10000 ]; then tap_ok "enriched within 10 s of the restart ($ms ms)"; else tap_fail "enriched within 10 s: $ms ms"; fi
touch "$D/stop"
wait "$FPID"
check_eq "$(grep -c 'cri: list pods and containers failed' "$D/follow.err")" 1 "the outage is logged once"
check_eq "$(grep -c 'is back' "$D/follow.err")" 1 "the recovery is logged once"
check_eq "$(grep -c "^change cgroup=$I_HTTPD " "$D/follow.out")" 1 "httpd kept across the outage (no re-announcement)"
stop_standin
