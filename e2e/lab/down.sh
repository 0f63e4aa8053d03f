#!/bin/bash
# down.sh - tear down what up.sh, podctl.py and the scenarios created; leave the host as before.
# Idempotent; also cleans up after a failed or half-finished up.sh, or a dead/killed containerd.
#   1. remove every pod through the CRI (containerd does CNI DEL, netns unmount, runc delete)
#   2. stop containerd (the pid up.sh recorded, checked to be ours)
#   3. unclean path: SIGKILL shims carrying our socket on their command line, and every process
#      left in our cgroup tree ($E2E_CGROUP_ROOT, ours alone), by pid
#   4. unmount everything under $E2E_RUN, deepest first
#   5. bridge $E2E_BRIDGE and its ports, libcni cache entries of our sandboxes, shim sockets
#   6. our cgroup tree in every hierarchy (rmdir, bottom-up)
#   7. rm -rf $E2E_RUN, then a leftover check: exit 1 if anything of ours remains
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
T0=$(date +%s%N)
step() { printf '[down %5d ms] %s\n' $(( ($(date +%s%N) - T0) / 1000000 )) "$*"; }
[ "$(id -u)" = 0 ] || { echo "down.sh: must run as root" >&2; exit 1; }
# the cgroup root up.sh used, even if the environment changed since
[ -f "$E2E_RUN/cgroup-root" ] && E2E_CGROUP_ROOT=$(cat "$E2E_RUN/cgroup-root")
case $E2E_CGROUP_ROOT in /?*) ;; *) echo "down.sh: refusing cgroup root '$E2E_CGROUP_ROOT'" >&2; exit 1 ;; esac

# 1. the clean path
if "$E2E_LAB/containerd.sh" pid >/dev/null && [ -S "$E2E_SOCK" ]; then
	step "removing pods via CRI"
	timeout 60 "$E2E_PY" "$E2E_LAB/podctl.py" --timeout 20 rm-all || step "rm-all failed (continuing)"
fi
# 2.
if "$E2E_LAB/containerd.sh" pid >/dev/null; then
	step "stopping containerd pid $("$E2E_LAB/containerd.sh" pid)"
	"$E2E_LAB/containerd.sh" stop
fi

# sandbox/container IDs this containerd ever knew (CNI cache and shim socket cleanup)
IDS=$(ls "$E2E_RUN/root/io.containerd.grpc.v1.cri/sandboxes" "$E2E_RUN/root/io.containerd.grpc.v1.cri/containers" \
	"$E2E_RUN/state/io.containerd.runtime.v2.task/k8s.io" 2>/dev/null | grep -E '^[0-9a-f]{64}$' | sort -u)

# 3. leftovers of an unclean stop
for p in $(pgrep -f -- "-address $E2E_SOCK( |\$)"); do
	case $(readlink "/proc/$p/exe" 2>/dev/null) in */containerd-shim-runc-v2) ;; *) continue ;; esac
	step "killing leftover shim pid $p"; kill -KILL "$p" 2>/dev/null
done
cg_procs() { for r in $(e2e_cg_roots); do [ -d "$r$E2E_CGROUP_ROOT" ] && find "$r$E2E_CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -un; }
for _ in 1 2 3; do
	pids=$(cg_procs)
	[ -z "$pids" ] && break
	for p in $pids; do step "killing pid $p left in $E2E_CGROUP_ROOT ($(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | cut -c1-60))"; kill -KILL "$p" 2>/dev/null; done
	for ((i = 0; i < 100; i++)); do [ -z "$(cg_procs)" ] && break; sleep 0.05; done
done

# 4.
if [ -d "$E2E_RUN" ]; then
	for _ in 1 2 3; do
		mps=$(awk -v r="$E2E_RUN/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r)
		[ -z "$mps" ] && break
		for m in $mps; do step "umount $m"; umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	done
fi

# 5. bridge (the CNI bridge plugin never deletes it), CNI cache, shim sockets
if ip link show "$E2E_BRIDGE" >/dev/null 2>&1; then
	for v in $(ip -o link show master "$E2E_BRIDGE" | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$v" 2>/dev/null; done
	step "deleting bridge $E2E_BRIDGE"
	ip link del "$E2E_BRIDGE"
fi
rm -f /var/lib/cni/results/"$E2E_NET"-* 2>/dev/null
for id in $IDS; do
	rm -f /var/lib/cni/results/cni-loopback-"$id"-* 2>/dev/null
	rm -f "/run/containerd/s/$(printf '%s' "$E2E_SOCK/k8s.io/$id" | sha256sum | cut -d' ' -f1)"
done
rmdir /var/lib/cni/results /var/lib/cni /run/containerd/s /run/containerd/fifo /run/containerd/runc/k8s.io \
	/run/containerd/runc /run/containerd 2>/dev/null

# 6. our cgroup tree, bottom-up, in every hierarchy (rmdir fails on a cgroup with tasks: reported below)
for r in $(e2e_cg_roots); do
	[ -d "$r$E2E_CGROUP_ROOT" ] || continue
	find "$r$E2E_CGROUP_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# 7.
if awk -v r="$E2E_RUN/" 'index($5, r) == 1' /proc/self/mountinfo | grep . >/dev/null; then
	echo "down.sh: still mounted under $E2E_RUN, not deleting it" >&2
elif [ -e "$E2E_RUN" ]; then
	step "removing $E2E_RUN"
	rm -rf "$E2E_RUN"
fi

left=0
if pgrep -a -f -- "$E2E_RUN/"; then echo "^ processes still referencing $E2E_RUN"; left=1; fi
if awk -v r="$E2E_RUN/" 'index($5, r) == 1 {print "mount: " $5; f=1} END {exit !f}' /proc/self/mountinfo; then left=1; fi
if ip link show "$E2E_BRIDGE" >/dev/null 2>&1; then echo "bridge $E2E_BRIDGE still exists"; left=1; fi
for r in $(e2e_cg_roots); do [ -d "$r$E2E_CGROUP_ROOT" ] && { echo "cgroup $r$E2E_CGROUP_ROOT still exists"; left=1; }; done
ls /var/lib/cni/results/"$E2E_NET"-* 2>/dev/null && left=1
if [ $left = 0 ]; then step "clean"; else step "leftovers remain (see above)"; exit 1; fi
