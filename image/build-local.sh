#!/bin/bash
# Build the podlens image without a registry or a base image: a single-layer OCI image tarball
# (importable with `ctr -n k8s.io images import`) holding exactly
#   /usr/local/bin/podlens-agent, /usr/local/bin/podlens-collector ($BUILD/bin/, if built),
#   every shared library they load (ldd) at its host path, the ELF interpreter (ld.so),
#   /etc/ssl/certs/ca-certificates.crt, /etc/passwd and /etc/group (root, podlens 65532, nobody).
# No shell, no package manager. The layer is written by e2e/lab/mkimage.py (deterministic: same
# binaries, same digests). image/Containerfile is the registry-based recipe of the same image.
#
# usage: image/build-local.sh [-o OUT.tar] [-n NAME] [-r ROOTFS_DIR]
#   OUT      default $BUILD/image/podlens.tar
#   NAME     default localhost/podlens:<appVersion of charts/podlens> (the chart's default image)
#   ROOTFS   also unpack the layer into this directory (for tests: chroot into it)
# Prints "OUT NAME" on success.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
out=$BUILD/image/podlens.tar
app=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/podlens/Chart.yaml)
name=localhost/podlens:${app:-dev}
rootfs=
while getopts 'o:n:r:' opt; do
	case $opt in
	o) out=$OPTARG ;; n) name=$OPTARG ;; r) rootfs=$OPTARG ;;
	*) echo "usage: image/build-local.sh [-o OUT.tar] [-n NAME] [-r ROOTFS_DIR]" >&2; exit 2 ;;
	esac
done
MKIMAGE=e2e/lab/mkimage.py
[ -f "$MKIMAGE" ] || { echo "build-local: $MKIMAGE missing (the e2e lab's OCI writer)" >&2; exit 1; }
[ -x "$BUILD/bin/podlens-agent" ] || { echo "build-local: $BUILD/bin/podlens-agent not built (make)" >&2; exit 1; }
CA=/etc/ssl/certs/ca-certificates.crt
[ -s "$CA" ] || { echo "build-local: $CA missing (Debian package ca-certificates)" >&2; exit 1; }

args=(--bin "$BUILD/bin/podlens-agent:/usr/local/bin/podlens-agent")
# every product binary is in $BUILD/bin/ (make)
collector=$BUILD/bin/podlens-collector
if [ -x "$collector" ]; then
	args+=(--bin "$collector:/usr/local/bin/podlens-collector")
else
	echo "build-local: podlens-collector not built: image has the agent only" >&2
fi
etc=$(mktemp -d)
trap 'rm -rf "$etc"' EXIT
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\npodlens:x:65532:65532:podlens:/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$etc/passwd"
printf 'root:x:0:\npodlens:x:65532:\nnogroup:x:65534:\n' >"$etc/group"
args+=(--add "$CA:$CA" --add "$etc/passwd:/etc/passwd" --add "$etc/group:/etc/group")

mkdir -p "$(dirname "$out")"
/usr/bin/python3 "$MKIMAGE" "$out" "$name" "${args[@]}" \
	--entrypoint '["/usr/local/bin/podlens-agent"]' --cmd '[]' >&2

if [ -n "$rootfs" ]; then
	# the OCI layout: index.json -> manifest -> the one layer blob
	mkdir -p "$rootfs"
	layer=$(/usr/bin/python3 - "$out" <<'PY'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
idx = json.load(t.extractfile("index.json"))
man = json.load(t.extractfile("blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
print(man["layers"][0]["digest"][7:])
PY
)
	tar -xOf "$out" "blobs/sha256/$layer" | tar -x -C "$rootfs"
fi
echo "$out $name"
