#!/bin/bash
# Install the Debian packages listed in deps/*.pkgs (or only the lists named as arguments,
# e.g. `scripts/deps.sh build test`). Idempotent: installs only what is missing, so a fresh
# machine needs no manual step and a prepared one pays one dpkg-query.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -gt 0 ]; then lists=(); for l in "$@"; do lists+=("$top/deps/$l.pkgs"); done
else lists=("$top"/deps/*.pkgs); fi
want=$(cat "${lists[@]}" | sed 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
missing=()
for p in $want; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "deps: missing packages: ${missing[*]} (run as root to install)" >&2; exit 1; }
echo "deps: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
