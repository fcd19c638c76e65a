#!/bin/sh
# Nested translation on the real kernel (issue 8), against the first NVMe controller bound to
# vfio-pci: what IOMMU_GET_HW_INFO reports for it (VT-d cap/ecap: ECAP.NEST decides), that
# IOMMU_HWPT_ALLOC(NEST_PARENT) is refused when nesting is absent (QEMU's emulated VT-d is not
# expected to offer it), the stage-1 HWPT and IOMMU_HWPT_INVALIDATE when it is present, and a
# DP_IOAS_F_NESTED iommufd IOAS deciding at its first device (here: turning plain) while the
# NVMe controller DMAs through dp_iova_map mappings made before and after its open:
# build/test/unit/iova_nested_kernel_ut.
. "$(dirname "$0")/../lib.sh"
for u in /sys/class/iommu/*; do
    [ -r "$u/intel-iommu/ecap" ] || continue
    ecap=$(cat "$u/intel-iommu/ecap")
    say "$(basename "$u"): sysfs ecap 0x$ecap: NEST=$(hexbit "$ecap" 26) FLTS=$(hexbit "$ecap" 47) SLTS=$(hexbit "$ecap" 46) SMTS=$(hexbit "$ecap" 43)"
done
run_unit_on_nvme iova_nested_kernel_ut iommufd
