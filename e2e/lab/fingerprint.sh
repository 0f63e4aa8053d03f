#!/bin/bash
# fingerprint.sh - what the e2e lab could leave behind on this host, one fact per line, stable across
# runs: e2e/run.sh compares the output before up.sh and after down.sh (must be identical).
# Scoped to what belongs to this lab (its run dir, bridge, CNI network, cgroup root, agent BPF
# links), because other engineers' labs and tests may come and go on the same host meanwhile.
# Host-wide settings a lab must never change (ip_forward, iptables/nft rules) are included in full.
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[ -f "$E2E_RUN/cgroup-root" ] && E2E_CGROUP_ROOT=$(cat "$E2E_RUN/cgroup-root")

echo "## processes referencing the run dir or our socket, or in our cgroups"
pgrep -a -f -- "$E2E_RUN" | sed "s/^[0-9]* /pid /"
for r in $(e2e_cg_roots); do
	[ -d "$r$E2E_CGROUP_ROOT" ] && find "$r$E2E_CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null
done | sort -un | sed 's/^/pid in lab cgroup: /'
echo "## mounts under the run dir, overlay/nsfs mounts naming it"
grep -F -- "$E2E_RUN" /proc/self/mountinfo | awk '{print $5, $9}'
echo "## links: the bridge and its ports, network namespaces"
ip -o link show "$E2E_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}'
ip -o link show master "$E2E_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}'
ip netns list 2>/dev/null | grep -i -e podlens -e "$E2E_BRIDGE"
echo "## cgroups under $E2E_CGROUP_ROOT (every hierarchy)"
for r in $(e2e_cg_roots); do [ -d "$r$E2E_CGROUP_ROOT" ] && find "$r$E2E_CGROUP_ROOT" -type d; done
echo "## CNI cache of our network, run dir"
ls /var/lib/cni/results 2>/dev/null | grep -F -- "$E2E_NET"
ls -d "$E2E_RUN" 2>/dev/null
echo "## bpf: links of podlens programs, pinned podlens objects, cgroup attachments in our tree"
# podlens programs are named pl_*: report their links that have no owner (leaked: pinned, or held
# by nothing) or whose owner is a process of this lab; other people's live tests are not ours.
ours=" $(pgrep -f -- "$E2E_RUN" | tr '\n' ' ')"
bpftool -j link list 2>/dev/null | OURS="$ours" $E2E_PY -c '
import json, os, sys
try: links = json.load(sys.stdin)
except ValueError: links = []
ours = set(os.environ["OURS"].split())
for l in links:
    if not str(l.get("prog_name", "")).startswith(("pl_", "podlens")):
        continue
    pids = [str(p.get("pid")) for p in l.get("pids", [])]
    if not pids or ours.intersection(pids):
        print("bpf link", l.get("type"), l.get("prog_name"), "owner", ",".join(pids) or "none")'
ls /sys/fs/bpf 2>/dev/null | grep -i podlens
[ -d "$E2E_CG2$E2E_CGROUP_ROOT" ] && bpftool cgroup tree "$E2E_CG2$E2E_CGROUP_ROOT" 2>/dev/null
echo "## host settings a lab must not touch"
echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
iptables-save 2>/dev/null | grep -v -e '^#' -e '^:' | sort
nft list ruleset 2>/dev/null | md5sum | sed 's/ .*/ nft ruleset md5/'
