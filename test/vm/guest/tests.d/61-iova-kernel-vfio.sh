#!/bin/sh
# lib/iova + lib/vfio on the real kernel through the vfio backend, against the first NVMe
# controller (bound to vfio-pci by bind-nvme.sh): build/test/unit/iova_kernel_ut.
. "$(dirname "$0")/../lib.sh"
ut=$DP_ROOT/build/test/unit/iova_kernel_ut
[ -x "$ut" ] || fail "$ut is not in the payload (build dmaplane before make test-vm)"
bdf=$(nvme_bdfs | head -n1)
[ -n "$bdf" ] || fail "no NVMe controller found"
[ "$(pci_driver "$bdf")" = vfio-pci ] || fail "$bdf is not bound to vfio-pci"
cd "$DP_ROOT" || exit 1
DP_IOMMU=vfio DP_TEST_BDF=$bdf exec "$ut"
