# test/vm/common.sh - helpers shared by the VM harness scripts (sourced, not executed).
# shellcheck shell=bash

DP_VM_CACHE=${DP_VM_CACHE:-/var/cache/dmaplane-vm}

vm_log() { printf '[%s] %s\n' "${DP_VM_TAG:-vm}" "$*"; }
vm_die() { printf '[%s] ERROR: %s\n' "${DP_VM_TAG:-vm}" "$*" >&2; exit 1; }

# The Debian mirror this machine already uses: the first non-security ".../debian" URI in the
# apt sources (one-line or deb822 format); deb.debian.org when none is found.
vm_debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri=$(sed -n -e 's/^[[:space:]]*deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([a-z]\+:\/\/[^[:space:]]*\/debian\/\?\)[[:space:]].*/\2/p' \
                     -e 's/^[[:space:]]*URIs:[[:space:]]*\([a-z]\+:\/\/[^[:space:]]*\/debian\/\?\)[[:space:]]*$/\1/p' "$f" | head -n1)
        [ -n "$uri" ] && { echo "${uri%/}"; return; }
    done
    echo http://deb.debian.org/debian
}
