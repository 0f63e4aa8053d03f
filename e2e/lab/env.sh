# Settings shared by the lab scripts (sourced by up.sh, down.sh, fingerprint.sh, run.sh and the
# scenarios). Every value can be overridden from the environment, so labs can run side by side:
#   E2E_RUN          state dir (containerd root/state/socket, CNI config, images, pod logs, stubs)
#   E2E_BRIDGE       CNI bridge name            (default podlens0)
#   E2E_SUBNET       pod subnet (host-local)    (default 10.244.88.0/24)
#   E2E_CGROUP_ROOT  cgroup above kubepods, like kubelet's --cgroup-root (default /podlens-e2e-<bridge>);
#                    pods get <root>/kubepods/besteffort/pod<uid>, containers .../pod<uid>/<id>.
#                    Everything under it belongs to this lab (down.sh removes it in every hierarchy).
# Derived: E2E_SOCK (CRI socket), E2E_NET (CNI network name), E2E_CG2 (cgroup2 mount: /sys/fs/cgroup
# on pure v2, /sys/fs/cgroup/unified on hybrid), E2E_PY (Debian's python with grpcio).
_e2e_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${E2E_RUN:=$_e2e_top/${BUILD:-build}/e2e-run}"
case $E2E_RUN in /*) ;; *) E2E_RUN=$_e2e_top/$E2E_RUN ;; esac
: "${E2E_BRIDGE:=podlens0}"
: "${E2E_SUBNET:=10.244.88.0/24}"
: "${E2E_CGROUP_ROOT:=/podlens-e2e-$E2E_BRIDGE}"
E2E_SOCK=$E2E_RUN/containerd.sock
E2E_NET=podlens-e2e-$E2E_BRIDGE
E2E_PY=/usr/bin/python3
E2E_LAB=$_e2e_top/e2e/lab
E2E_TOP=$_e2e_top
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then E2E_CG2=/sys/fs/cgroup
else E2E_CG2=/sys/fs/cgroup/unified; fi
export E2E_RUN E2E_BRIDGE E2E_SUBNET E2E_CGROUP_ROOT E2E_SOCK E2E_NET E2E_PY E2E_LAB E2E_TOP E2E_CG2
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

# e2e_cg_roots: every mounted cgroup hierarchy (pure v2: just /sys/fs/cgroup; hybrid/v1: each
# /sys/fs/cgroup/<controller> plus unified).
e2e_cg_roots() {
	awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts | grep '^/sys/fs/cgroup' | sort -u
}
