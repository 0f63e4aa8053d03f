#!/bin/sh
# Regenerate the checked-in vmlinux.h for this machine's architecture from a kernel with BTF.
# CO-RE relocations make the result portable to other kernels; regenerate only to reach new types.
set -e
arch=$(uname -m); case "$arch" in x86_64) arch=x86;; aarch64) arch=arm64;; esac
mkdir -p "$(dirname "$0")/$arch"
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$(dirname "$0")/$arch/vmlinux.h"
