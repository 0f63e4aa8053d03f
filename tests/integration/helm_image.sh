#!/bin/bash
# The podlens image, built without a registry (image/build-local.sh), and the Containerfile recipe:
#  - the OCI tarball names the image and holds exactly: the binaries (byte-identical to $BUILD's),
#    the libraries ldd resolves for them, the ELF interpreter, the CA bundle, passwd and group
#  - the agent (and collector, when built) start from that rootfs alone (chroot): no library missing
#  - the runtime packages image/Containerfile installs (plus their dependencies, per dpkg's database)
#    own every library the binaries load, so the Debian-based recipe needs nothing else
source "$(dirname "$0")/../lib.sh"
cd "$TOP"
PY=/usr/bin/python3
work=$(mktemp -d /tmp/podlens-image.XXXXXX)
defer rm -rf "$work"
[ -x "$BUILD/bin/podlens-agent" ] || { tap_fail "$BUILD/bin/podlens-agent built (make)"; exit 1; }

bins=("$BUILD/bin/podlens-agent")
[ -x "$BUILD/bin/podlens-collector" ] && bins+=("$BUILD/bin/podlens-collector")
if image/build-local.sh -o "$work/podlens.tar" -n localhost/podlens:test -r "$work/rootfs" >"$work/build.log" 2>&1; then
	tap_ok "image/build-local.sh: $(stat -c %s "$work/podlens.tar") bytes, ${#bins[@]} binaries"
else
	tap_fail "image/build-local.sh"; sed 's/^/# /' "$work/build.log"; exit 1
fi
check_eq "$(tar -xOf "$work/podlens.tar" index.json | $PY -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["annotations"]["io.containerd.image.name"])')" \
	localhost/podlens:test "index.json names the image (ctr images import uses it)"
check_eq "$(tar -xOf "$work/podlens.tar" oci-layout)" '{"imageLayoutVersion": "1.0.0"}' "OCI image layout marker"

# expected file list, computed here from ldd (ground truth independent of the image writer)
{
	for b in "${bins[@]}"; do
		echo "/usr/local/bin/$(basename "$b")"
		ldd "$b" | grep -oE '/[^ ]+ \(0x' | sed 's/ (0x$//'
	done
	echo /etc/ssl/certs/ca-certificates.crt; echo /etc/passwd; echo /etc/group
} | sort -u >"$work/want"
(cd "$work/rootfs" && find . -type f -o -type l) | sed 's/^\.//' | sort >"$work/got"
if diff -u "$work/want" "$work/got" >"$work/files.diff"; then
	tap_ok "image files are exactly binaries + their ldd libraries + ld.so + CA bundle + passwd/group ($(wc -l <"$work/got") files)"
else
	tap_fail "image file list"; sed 's/^/# /' "$work/files.diff"
fi
for b in "${bins[@]}"; do
	n=$(basename "$b")
	if cmp -s "$b" "$work/rootfs/usr/local/bin/$n"; then tap_ok "$n in the image is byte-identical to $b"
	else tap_fail "$n in the image differs from $b"; fi
	out=$(chroot "$work/rootfs" "/usr/local/bin/$n" --help 2>&1); rc=$?
	check_eq "$rc:$(echo "$out" | grep -c 'error while loading shared libraries')" "0:0" "$n --help runs from the image rootfs alone"
done
check_eq "$(chroot "$work/rootfs" /usr/local/bin/podlens-agent --version 2>&1)" "podlens-agent $(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/podlens/Chart.yaml)" \
	"agent version in the image is the chart's appVersion"
if [ ${#bins[@]} -gt 1 ]; then
	# the collector serves from the image rootfs alone: SQLite store created, /healthz answers
	mkdir -p "$work/rootfs/data"
	chroot "$work/rootfs" /usr/local/bin/podlens-collector --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
		--data-dir /data >"$work/collector.log" 2>&1 &
	cpid=$!
	defer "kill $cpid 2>/dev/null; wait $cpid 2>/dev/null"
	if wait_for 10 "collector ready line" grep -q 'ready grpc_port=' "$work/collector.log"; then
		hport=$(sed -n 's/.*ready grpc_port=[0-9]* http_port=\([0-9]*\).*/\1/p' "$work/collector.log")
		check_eq "$(curl -s -m 5 "http://127.0.0.1:$hport/healthz")" ok "collector from the image rootfs answers /healthz"
		check_eq "$(test -s "$work/rootfs/data/podlens.db" && echo yes)" yes "collector created its SQLite store in the data dir"
	else
		tap_fail "collector started from the image rootfs"; sed 's/^/# /' "$work/collector.log"
	fi
	kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
fi
check_eq "$(cmp -s /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt" && echo same)" same \
	"CA bundle is the host's (Debian ca-certificates)"
check_eq "$(awk -F: '$3 == 65532 {print $1}' "$work/rootfs/etc/passwd")" podlens "uid 65532 (the collector's runAsUser) named in /etc/passwd"

# Containerfile: its apt package list (with dependencies) owns every library
pkgs=$(sed -n '/apt-get install/,/ca-certificates/p' image/Containerfile | tr ' \\' '\n\n' | grep -E '^(lib[a-z0-9.+-]+|zlib1g|ca-certificates)$' | sort -u)
check_ge "$(echo "$pkgs" | wc -w)" 9 "Containerfile lists the runtime packages"
# dependency closure from dpkg's status database (installed packages: the binaries run here, so
# their libraries are installed; works without apt lists), alternatives and virtual packages included
dpkg-query -W -f='${Package}\t${Depends}, ${Pre-Depends}\t${Provides}\n' | $PY -c '
import re, sys
deps, prov = {}, {}
for line in sys.stdin:
    name, d, p = (line.rstrip("\n").split("\t") + ["", ""])[:3]
    deps[name] = [x.strip().split(" ")[0].split(":")[0] for x in re.split("[,|]", d) if x.strip()]
    for v in re.split(",", p):
        if v.strip():
            prov.setdefault(v.strip().split(" ")[0], []).append(name)
todo, seen = sys.argv[1:], set()
while todo:
    n = todo.pop()
    for m in [n] + prov.get(n, []):
        if m not in seen and m in deps:
            seen.add(m); todo.extend(deps[m])
print("\n".join(sorted(seen)))' $pkgs >"$work/closure"
owner() { dpkg -S "$1" 2>/dev/null || dpkg -S "/usr$1" 2>/dev/null || dpkg -S "$(readlink -f "$1")" 2>/dev/null; }
missing=
for lib in $(grep -v -e '^/usr/local/bin/' -e '^/etc/' "$work/want"); do
	p=$(owner "$lib" | head -1 | cut -d: -f1)
	[ -n "$p" ] && grep -qx "$p" "$work/closure" || missing="$missing $lib(${p:-no package})"
done
check_eq "${missing:-none}" none "every library is owned by a package the Containerfile installs (or a dependency of one)"
