#!/usr/bin/env bash
# Install every Debian package dmaplane's build and tests need. Run as root.
#   scripts/pkgdep.sh         build + unit tests + sanitizer and fuzzer builds + benchmarks
#   scripts/pkgdep.sh --vm    also what the real-kernel VM tests need (QEMU, kernel build tools)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "pkgdep.sh: run as root (sudo scripts/pkgdep.sh): it installs packages with apt-get" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null; then
	echo "pkgdep.sh: only Debian/Ubuntu (apt-get) is supported; install by hand: a C compiler," \
		"make, pkg-config, DPDK (libdpdk-dev), libnuma-dev, CUnit (libcunit1-dev), clang" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	build-essential pkg-config ca-certificates git \
	libdpdk-dev libnuma-dev libcunit1-dev \
	clang libclang-rt-14-dev llvm \
	valgrind binutils util-linux kmod pciutils shellcheck

if [ "${1:-}" = "--vm" ]; then
	test/vm/install-deps.sh
fi
echo "pkgdep.sh: dependencies installed"
