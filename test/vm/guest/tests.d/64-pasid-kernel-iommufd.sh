#!/bin/sh
# lib/pasid on the real kernel through iommufd, against the first NVMe controller (bound to
# vfio-pci by bind-nvme.sh): QEMU's NVMe has no PASID capability, so dp_pasid_caps must report
# RID only (the IOMMU width as VT-d's ECAP says) and alloc/attach must refuse with -EOPNOTSUPP
# and the documented reason: build/test/unit/pasid_kernel_ut.
. "$(dirname "$0")/../lib.sh"
run_unit_on_nvme pasid_kernel_ut iommufd
