#!/bin/bash
# 50-agent-pod: podlens-agent runs as a pod through the CRI exactly as charts/podlens renders it
# (issue 7 item 4), and reports the other pods' traffic correctly.
#   1. image/build-local.sh builds the image from build/bin/podlens-agent (no registry), ctr imports it
#   2. a real helm renders the chart; only site values are set (image, this lab's CRI socket and
#      cgroup2 mount, 1 s interval, json output); capabilities, mounts, env, security context and
#      config come from the chart
#   3. tests/integration/helm/dspod.py runs the DaemonSet's pod through the CRI the way the kubelet
#      would (downward API env, ConfigMap files, hostPath type checks, seccomp, masked paths, limits)
#   4. checks on the running container (/proc: capabilities exactly the rendered list, no_new_privs,
#      seccomp filter, own net and pid namespaces, read-only root and host mounts) and its readiness
#      (/healthz on the pod IP, as the kubelet's prober)
#   5. shop/web serves a 100000-byte file; payments/client fetches it N times; the agent's records
#      (its container log) give payments/client rx and shop/web tx within 5% of the fetched bytes
#   6. SIGTERM (StopContainer): exit 0, last interval flushed
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
N=${E2E_FETCHES:-20}
SIZE=100000
NODE=e2e-node-$$
cd "$E2E_TOP"

HELM=$(tests/integration/helm/get-helm.sh) || { tap_fail "helm fetched (tests/integration/helm/get-helm.sh)"; exit 1; }
helm() { HOME=$E2E_TMP/helm XDG_CACHE_HOME=$E2E_TMP/helm/cache XDG_CONFIG_HOME=$E2E_TMP/helm/config \
	XDG_DATA_HOME=$E2E_TMP/helm/data "$HELM" "$@"; }
[ -x "$AGENT" ] || { tap_fail "agent binary $AGENT built"; exit 1; }

# ---------------------------------------------------------------- 1. image
TAG=e2e-$$
IMG=localhost/podlens:$TAG
if image/build-local.sh -o "$E2E_TMP/podlens.tar" -n "$IMG" >"$E2E_TMP/image.log" 2>&1 &&
	ctr --address "$E2E_SOCK" --namespace k8s.io images import "$E2E_TMP/podlens.tar" >>"$E2E_TMP/image.log" 2>&1; then
	tap_ok "image $IMG built from $AGENT and imported ($(stat -c %s "$E2E_TMP/podlens.tar") bytes)"
else
	tap_fail "image built and imported"; sed 's/^/# /' "$E2E_TMP/image.log"; exit 1
fi
defer ctr --address "$E2E_SOCK" --namespace k8s.io images rm "$IMG"
wait_for 10 "image $IMG visible through the CRI" podctl image-status "$IMG" || { tap_fail "CRI sees $IMG"; exit 1; }

# ---------------------------------------------------------------- 2. render the chart
M=$E2E_TMP/manifests.yaml
if helm template lab charts/podlens --namespace podlens \
	--set image.repository=localhost/podlens --set image.tag="$TAG" \
	--set agent.cri.socket="$E2E_SOCK" --set agent.cgroupRoot="$E2E_CG2" \
	--set agent.interval=1 --set agent.output=json >"$M" 2>"$E2E_TMP/helm.err"; then
	tap_ok "helm template charts/podlens with this lab's socket and cgroup2 mount"
else
	tap_fail "helm template"; sed 's/^/# /' "$E2E_TMP/helm.err"; exit 1
fi
mq() { "$E2E_PY" tests/integration/helm/manifest.py "$M" "$1"; }
diag "rendered: capabilities $(mq 'c(ds)["securityContext"]["capabilities"]') hostPaths $(mq 'hostpaths(ds)')"

# ---------------------------------------------------------------- 3. the agent pod
PODID_FILE=$E2E_TMP/agent-pod-id
defer '[ -s '"$PODID_FILE"' ] && podctl rm-pod "$(cat '"$PODID_FILE"')" --grace 5'
if out=$("$E2E_PY" tests/integration/helm/dspod.py run "$M" --state "$E2E_TMP/dspod" --node-name "$NODE" \
	--node-ip 127.0.0.1 --pod-id-file "$PODID_FILE" 2>"$E2E_TMP/dspod.err"); then
	read -r AGENT_POD AGENT_IP AGENT_CTR <<<"$out"
	tap_ok "agent pod started through the CRI ($AGENT_IP)"
else
	tap_fail "agent pod started through the CRI"; sed 's/^/# /' "$E2E_TMP/dspod.err"; exit 1
fi
APID=$(e2e_pid "$AGENT_CTR")
agent_logs() { podctl logs "$AGENT_CTR"; }
_ready() { nsenter -t "$APID" -n curl -sf -m 2 -o /dev/null "http://$AGENT_IP:9464/healthz"; }
if wait_for 30 "agent /healthz on $AGENT_IP:9464" _ready; then
	tap_ok "agent ready: /healthz answers on the pod IP (readiness probe of the chart)"
else
	tap_fail "agent ready"; podctl state "$AGENT_CTR" | sed 's/^/# state: /'; agent_logs | tail -20 | sed 's/^/# /'; exit 1
fi

# ---------------------------------------------------------------- 4. the container is what the chart says
want_caps=$(mq 'c(ds)["securityContext"]["capabilities"]["add"]' | "$E2E_PY" -c '
import json, sys
bits = {"NET_ADMIN": 12, "SYS_ADMIN": 21, "SYS_RESOURCE": 24, "PERFMON": 38, "BPF": 39, "SYS_PTRACE": 19}
print("%016x" % sum(1 << bits[c] for c in json.load(sys.stdin)))')
st() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$APID/status"; }
check_eq "$(st CapEff)" "$want_caps" "agent effective capabilities are exactly the rendered list"
check_eq "$(st CapBnd)" "$want_caps" "agent bounding set is exactly the rendered list (everything else dropped)"
check_eq "$(st NoNewPrivs)" 1 "no_new_privs (allowPrivilegeEscalation: false)"
check_eq "$(st Seccomp)" 2 "seccomp filter active (RuntimeDefault)"
check_eq "$(awk '{print $1, $2, $3}' /proc/$APID/uid_map)/$(st Uid)" "0 0 4294967295/0" "runs as uid 0 in the host user namespace"
for ns in net pid; do
	if [ "$(readlink /proc/$APID/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ]; then tap_ok "own $ns namespace (no host$ns)"
	else tap_fail "agent shares the host $ns namespace"; fi
done
check_eq "$(awk '$5 == "/" {split($6, o, ","); print o[1]}' /proc/$APID/mountinfo)" ro "root filesystem read-only"
check_eq "$(awk '$5 ~ "^/host/" {split($6, o, ","); print $5 " " o[1]}' /proc/$APID/mountinfo | grep -vc ' ro$')" 0 \
	"every mount under /host (host cgroup fs and submounts) is read-only"
check_eq "$(awk -v s="$E2E_SOCK" '$5 == s {split($6, o, ","); print o[1]}' /proc/$APID/mountinfo)" ro "CRI socket mounted read-only"
# bind mounts the runtime made, minus the runtime's own (/etc/hosts, hostname, resolv.conf, /dev/shm)
binds=$(podctl inspect "$AGENT_CTR" | "$E2E_PY" -c '
import json, sys
spec = json.load(sys.stdin)["info"]["info"]["runtimeSpec"]
own = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/shm", "/dev/termination-log"}
print(" ".join(sorted(m["destination"] for m in spec["mounts"]
                      if "bind" in m.get("options", []) + [m.get("type", "")] and m["destination"] not in own)))')
check_eq "$binds" "$(printf '%s\n' /etc/podlens "/host$E2E_CG2" "$E2E_SOCK" | sort | tr '\n' ' ' | sed 's/ $//')" \
	"bind mounts are exactly the config, the host cgroup2 fs and the CRI socket"

# ---------------------------------------------------------------- 5. traffic of other pods
e2e_web WEB shop web $SIZE || { tap_fail "shop/web up"; exit 1; }
e2e_client CLI payments client "$WEB_IP" "$N" 0 body || { tap_fail "payments/client up"; exit 1; }
e2e_client_wait "$CLI_CTR" 60 || { tap_fail "client finished its fetches"; exit 1; }
TOTAL=$(e2e_client_total "$CLI_CTR")
check_eq "$TOTAL" $((N * SIZE)) "ground truth: payments/client received N * $SIZE body bytes"

REC=$E2E_TMP/records.json
records() { agent_logs | grep '^{' >"$REC"; }
sum_of() {   # sum_of NS POD CONTAINER FIELD
	agentjson "$REC" --eq workload.namespace="$1" --eq workload.pod="$2" --eq workload.container="$3" --sum "$4" 2>/dev/null
}
_reported() { records; [ "$(sum_of payments client fetcher traffic.rx_bytes)" -ge $((TOTAL * 95 / 100)) ]; }
wait_for 30 "agent records covering 95% of the client's bytes" _reported || diag "agent records incomplete after 30 s"

diag "agent pod memory: VmRSS $(st VmRSS) kB, VmHWM $(st VmHWM) kB (chart limit $(mq 'c(ds)["resources"]["limits"]["memory"]'))"

# 6. SIGTERM: the agent flushes its last interval and exits 0 (terminationGracePeriodSeconds)
podctl stop "$AGENT_CTR" --grace 10
check_eq "$(podctl state "$AGENT_CTR")" "CONTAINER_EXITED 0" "agent exits 0 on SIGTERM"
records
check_within "$(sum_of payments client fetcher traffic.rx_bytes)" "$TOTAL" 5 "payments/client rx bytes reported by the agent pod"
check_within "$(sum_of shop web httpd traffic.tx_bytes)" "$TOTAL" 5 "shop/web tx bytes reported by the agent pod"
check_eq "$(agentjson "$REC" --eq workload.namespace=payments --eq workload.pod=client --distinct workload.node 2>/dev/null)" \
	"$NODE" "records carry NODE_NAME from the downward API"
check_ge "$(agentjson "$REC" --count 2>/dev/null)" 1 "agent wrote JSON records to its container log"
