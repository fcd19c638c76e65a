#!/usr/bin/env bash
# test/vm/install-deps.sh - install the host packages the real-kernel VM harness needs.
#
#   QEMU >= 10 (qemu-system-x86; from <codename>-backports on bookworm), busybox-static,
#   the kernel build dependencies, cpio/xz, and nvme-cli + fio (copied into the guest for
#   comparison tests).
#
# Idempotent and quick when everything is already there: apt is only touched (apt-get update,
# then apt-get install) when something is missing. Needs root for that.
# Environment:
#   DP_VM_NO_EXTRAS=1   do not install nvme-cli / fio
set -euo pipefail

DP_VM_TAG=install-deps
. "$(dirname "$0")/common.sh"

log() { vm_log "$@"; }
die() { vm_die "$@"; }

# package names that must be installed (dpkg status "install ok installed")
BASE_PKGS=(busybox-static build-essential bc bison flex libelf-dev libssl-dev cpio xz-utils
           gzip kmod python3 util-linux coreutils findutils)
EXTRA_PKGS=(nvme-cli fio)
QEMU_MIN_MAJOR=10

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

qemu_major() {
    local v
    command -v qemu-system-x86_64 >/dev/null 2>&1 || { echo 0; return; }
    v=$(qemu-system-x86_64 --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
    echo "${v:-0}"
}

missing=()
for p in "${BASE_PKGS[@]}"; do have_pkg "$p" || missing+=("$p"); done
if [ "${DP_VM_NO_EXTRAS:-0}" != 1 ]; then
    for p in "${EXTRA_PKGS[@]}"; do have_pkg "$p" || missing+=("$p"); done
fi
need_qemu=0
[ "$(qemu_major)" -ge "$QEMU_MIN_MAJOR" ] || need_qemu=1

if [ ${#missing[@]} -eq 0 ] && [ $need_qemu -eq 0 ]; then
    log "all host dependencies present ($(qemu-system-x86_64 --version | head -n1))"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || die "missing: ${missing[*]} $([ $need_qemu = 1 ] && echo "qemu>=$QEMU_MIN_MAJOR"); run as root to install"

export DEBIAN_FRONTEND=noninteractive
. /etc/os-release
codename=${VERSION_CODENAME:-bookworm}

# Is "<suite>" already configured in any enabled apt source?
suite_configured() {
    local suite=$1 f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        if grep -Eq "^[[:space:]]*deb([[:space:]]+\[[^]]*\])?[[:space:]]+[^[:space:]]+[[:space:]]+$suite([[:space:]]|$)" "$f" ||
           grep -Eq "^[[:space:]]*Suites:.*[[:space:]]$suite([[:space:]]|$)" "$f"; then
            return 0
        fi
    done
    return 1
}

backports="${codename}-backports"
if [ $need_qemu -eq 1 ] && ! suite_configured "$backports"; then
    mirror=$(vm_debian_mirror)
    log "adding $backports ($mirror) to /etc/apt/sources.list.d/dmaplane-backports.list"
    echo "deb $mirror $backports main" > /etc/apt/sources.list.d/dmaplane-backports.list
fi

log "apt-get update"
apt-get update -qq || die "apt-get update failed"

if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
fi

if [ $need_qemu -eq 1 ]; then
    # Prefer the distribution's own QEMU when it is new enough (trixie and later);
    # otherwise take it from backports (bookworm: 10.0.x).
    cand=$(apt-cache policy qemu-system-x86 | sed -n 's/^ *Candidate: *\(1:\)\?\([0-9]*\)\..*/\2/p')
    if [ "${cand:-0}" -ge "$QEMU_MIN_MAJOR" ]; then
        log "installing qemu-system-x86 ($cand.x) from the default suites"
        apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
    else
        log "installing qemu-system-x86 from $backports"
        apt-get install -y -qq --no-install-recommends -t "$backports" qemu-system-x86 >/dev/null
    fi ||
        die "could not install qemu-system-x86 >= $QEMU_MIN_MAJOR"
    [ "$(qemu_major)" -ge "$QEMU_MIN_MAJOR" ] ||
        die "qemu-system-x86_64 is $(qemu-system-x86_64 --version | head -n1), need >= $QEMU_MIN_MAJOR"
fi
log "done ($(qemu-system-x86_64 --version | head -n1))"
