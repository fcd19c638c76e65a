#!/bin/sh
# lib/pasid on the real kernel through the VFIO type1 backend, which has no PASID support:
# dp_pasid_caps reports no IOMMU PASID width and dp_pasid_attach refuses with -EOPNOTSUPP:
# build/test/unit/pasid_kernel_ut.
. "$(dirname "$0")/../lib.sh"
run_unit_on_nvme pasid_kernel_ut vfio
