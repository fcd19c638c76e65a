# test/vm/guest/lib.sh - helpers for guest tests (sourced; POSIX sh / busybox ash).
# Test scripts in tests.d/ exit 0 = pass, 77 = skip (print the reason first), other = fail.

DP_ROOT=${DP_ROOT:-/dmaplane}
[ -r /etc/dmaplane-vm.env ] && . /etc/dmaplane-vm.env

say()  { echo "$*"; }
skip() { echo "SKIP-REASON: $*"; exit 77; }
fail() { echo "FAIL-REASON: $*"; exit 1; }

# PCI addresses of NVMe controllers (class 0x010802) as found at boot (saved by bind-nvme.sh,
# because a controller's class stays readable but its driver changes)
nvme_bdfs() {
    if [ -s /run/dmaplane-nvme-bdfs ]; then
        cat /run/dmaplane-nvme-bdfs
        return
    fi
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/class" 2>/dev/null)" = 0x010802 ] && basename "$d"
    done
}

# driver bound to a PCI device ("" if none)
pci_driver() {
    l=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) || { echo ""; return; }
    basename "$l"
}

# 64-bit hex register value (with or without 0x) -> bit $2
hexbit() { v=${1#0x}; echo $(( (0x$v >> $2) & 1 )); }
hexfield() { v=${1#0x}; echo $(( (0x$v >> $2) & ((1 << $3) - 1) )); }

# Run a real-device unit-test program from build/test/unit against the first NVMe controller
# through one IOMMU backend (iommufd or vfio): run_unit_on_nvme PROGRAM BACKEND
run_unit_on_nvme() {
    ut=$DP_ROOT/build/test/unit/$1
    [ -x "$ut" ] || fail "$ut is not in the payload (build dmaplane before make test-vm)"
    bdf=$(nvme_bdfs | head -n1)
    [ -n "$bdf" ] || fail "no NVMe controller found"
    [ "$(pci_driver "$bdf")" = vfio-pci ] || fail "$bdf is not bound to vfio-pci"
    cd "$DP_ROOT" || exit 1
    DP_IOMMU=$2 DP_TEST_BDF=$bdf exec "$ut"
}
