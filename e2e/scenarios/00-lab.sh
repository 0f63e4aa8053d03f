#!/bin/bash
# 00-lab: the lab itself, no agent. Two pods in two namespaces exchange HTTP through the bridge:
# shop/web (busybox httpd serving a 100000-byte file this test wrote) and payments/client (N fetches).
# Checks what every agent scenario relies on: the bytes arrive, pod IPs are on the lab subnet, CRI
# metadata is what we asked for, and each container's cgroup2 directory (from the CRI's cgroupsPath)
# exists and is the cgroup /proc/<pid>/cgroup's 0:: line names (same inode = the cgroup ID BPF sees).
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"
N=${E2E_FETCHES:-20}
SIZE=100000

e2e_web WEB shop web $SIZE --annotation podlens.io/monitor=true || { tap_fail "web pod up"; exit 1; }
tap_ok "shop/web: httpd listening on $WEB_IP:8080"
e2e_client CLI payments client "$WEB_IP" "$N" 0 body || { tap_fail "client pod up"; exit 1; }
e2e_client_wait "$CLI_CTR" 30
check_eq "$(e2e_client_count "$CLI_CTR")" "$N" "payments/client completed fetches"
check_eq "$(e2e_client_total "$CLI_CTR")" $((N * SIZE)) "payments/client body bytes received (N * $SIZE)"

for ip in "$WEB_IP" "$CLI_IP"; do
	if e2e_in_subnet "$ip"; then tap_ok "pod IP $ip in $E2E_SUBNET"; else tap_fail "pod IP '$ip' not in $E2E_SUBNET"; fi
done
check_eq "$(podctl pods --json | "$E2E_PY" -c '
import json, sys
print(" ".join(sorted(p["metadata"]["namespace"] + "/" + p["metadata"]["name"] for p in json.load(sys.stdin))))')" \
	"payments/client shop/web" "pods listed by the CRI"
check_eq "$(podctl inspect-pod "$WEB_ID" | "$E2E_PY" -c '
import json, sys; print(json.load(sys.stdin)["status"]["annotations"].get("podlens.io/monitor"))')" \
	true "pod annotation round-trips through PodSandboxStatus"

for c in WEB_CTR:web CLI_CTR:client; do
	var=${c%%:*}; ctr=${!var}; name=${c#*:}
	pid=$(e2e_pid "$ctr")
	dir=$(e2e_cgroup_dir "$ctr")
	uid_var=${var%_CTR}_UID
	case $dir in
	"$E2E_CG2$E2E_CGROUP_ROOT/kubepods/besteffort/pod${!uid_var}/$ctr") tap_ok "$name: cgroupsPath is <root>/kubepods/besteffort/pod<uid>/<container id>" ;;
	*) tap_fail "$name: unexpected cgroup dir $dir" ;;
	esac
	if [ -d "$dir" ]; then tap_ok "$name: cgroup2 directory exists"; else tap_fail "$name: cgroup2 dir $dir missing"; fi
	line=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
	ino_cri=$(stat -c %i "$dir" 2>/dev/null); ino_proc=$(stat -c %i "$E2E_CG2$line" 2>/dev/null)
	check_ge "${ino_cri:-0}" 2 "$name: cgroup ID (inode) of the CRI cgroup dir"
	check_eq "${ino_proc:-none}" "${ino_cri:-0}" "$name: inode of /proc/$pid/cgroup's 0:: path == CRI cgroup dir's"
	check_eq "$(grep -c "^$pid\$" "$dir/cgroup.procs")" 1 "$name: container init pid is in that cgroup"
done
