#!/bin/sh
# lib/iova + lib/vfio on the real kernel through the vfio backend, against the first NVMe
# controller (bound to vfio-pci by bind-nvme.sh): build/test/unit/iova_kernel_ut.
. "$(dirname "$0")/../lib.sh"
run_unit_on_nvme iova_kernel_ut vfio
