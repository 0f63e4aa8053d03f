#!/bin/bash
# 01-podctl: what the agent's own pod will need from the lab (the Helm chart runs podlens-agent as a pod
# with capabilities and hostPath mounts): an image built from a host binary and its shared libraries
# runs; capabilities add/drop and privileged reach the container's effective set; hostPath mounts are
# visible and read-only when asked; a host-network pod shares the node's network namespace.
. "$(dirname "$0")/../../tests/lib.sh"
. "$(dirname "$0")/common.sh"

# a dynamically linked host binary (coreutils stat) plus its libraries, no busybox: it must run
bin=$(command -v stat)
e2e_image localhost/e2e-stat:1 -- --bin "$bin:/stat" --entrypoint '["/stat"]' || tap_fail "image from a host binary"
"$E2E_PY" "$E2E_LAB/mkimage.py" "$E2E_TMP/a.tar" localhost/x:1 --busybox --bin "$bin:/stat" >/dev/null
"$E2E_PY" "$E2E_LAB/mkimage.py" "$E2E_TMP/b.tar" localhost/x:1 --busybox --bin "$bin:/stat" >/dev/null
if cmp -s "$E2E_TMP/a.tar" "$E2E_TMP/b.tar" && [ -s "$E2E_TMP/a.tar" ]; then tap_ok "mkimage.py: same inputs, byte-identical tarball"
else tap_fail "mkimage.py output differs between two identical builds"; fi
rm -f "$E2E_TMP/a.tar" "$E2E_TMP/b.tar"
e2e_pod P caps e2e-podctl || { tap_fail "pod up"; exit 1; }
e2e_ctr DYN "$P_ID" dyn --image localhost/e2e-stat:1 -- /stat -c 'size=%s' /stat
dyn_done() { podctl state "$1" | grep -q '^CONTAINER_EXITED'; }
wait_for 20 "dynamic binary container exits" dyn_done "$DYN"
check_eq "$(podctl state "$DYN")" "CONTAINER_EXITED 0" "container of a binary + its ldd libraries: state, exit code"
check_eq "$(podctl logs "$DYN")" "size=$(stat -c %s "$bin")" "its output (the binary's own size)"

# capabilities: CapEff of the container's init, read from the host
capeff() { awk '/^CapEff:/ {print $2}' "/proc/$1/status"; }
e2e_ctr C1 "$P_ID" netadmin --cap-drop ALL --cap-add NET_ADMIN --cap-add BPF --cap-add PERFMON -- sleep 100000
check_eq "$(capeff "$(e2e_pid "$C1")")" "$(printf '%016x' $(( (1 << 12) | (1 << 38) | (1 << 39) )))" \
	"CapEff with --cap-drop ALL --cap-add NET_ADMIN,BPF,PERFMON"
e2e_pod PP priv e2e-podctl --privileged || { tap_fail "privileged pod up"; exit 1; }
e2e_ctr C2 "$PP_ID" privileged --privileged -- sleep 100000
check_eq "$(capeff "$(e2e_pid "$C2")")" "$(capeff $$)" "CapEff of a privileged container == this (root) shell's"

# hostPath mounts: read-only and read-write
mkdir -p "$E2E_TMP/ro" "$E2E_TMP/rw"; echo "from-host-$$" > "$E2E_TMP/ro/f"
e2e_ctr C3 "$P_ID" mounts --mount "$E2E_TMP/ro:/host/ro:ro" --mount "$E2E_TMP/rw:/host/rw" -- sh -c \
	'cat /host/ro/f; if (echo x > /host/ro/g) 2>/dev/null; then echo ro-writable; else echo ro-refused; fi; echo y > /host/rw/g; echo done; exec sleep 100000'
e2e_client_wait "$C3" 20
check_eq "$(podctl logs "$C3" | head -2 | paste -sd' ' -)" "from-host-$$ ro-refused" "hostPath :ro mount readable, not writable"
check_eq "$(cat "$E2E_TMP/rw/g" 2>/dev/null)" y "hostPath rw mount: the container's write reached the host"

# hostNetwork
e2e_pod HN hostnet e2e-podctl --host-network || { tap_fail "host-network pod up"; exit 1; }
e2e_ctr C4 "$HN_ID" hostnet -- sleep 100000
check_eq "$(readlink "/proc/$(e2e_pid "$C4")/ns/net")" "$(readlink /proc/self/ns/net)" "host-network pod: node's network namespace"
check_eq "${HN_IP:--}" "-" "host-network pod: no pod IP from the bridge"
if [ "$(readlink "/proc/$(e2e_pid "$C1")/ns/net")" != "$(readlink /proc/self/ns/net)" ]; then
	tap_ok "bridge pod: its own network namespace"; else tap_fail "bridge pod shares the node's netns"; fi
