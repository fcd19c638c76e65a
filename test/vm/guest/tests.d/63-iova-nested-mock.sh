#!/bin/sh
# Nested translation on the real kernel through iommufd's mock IOMMU (issue 8): the guest kernel
# is built with CONFIG_IOMMUFD_TEST (test/vm/kernel.config), whose IOMMU_TEST_CMD makes mock
# devices with a nesting-capable mock IOMMU, which QEMU's VT-d is not. Checks, with dmaplane's
# own calls: a NEST_PARENT HWPT on an IOAS for a mock device, a nested HWPT over it, the device
# replaced onto it, destruction in order (the parent refused with EBUSY while nested); batches
# of IOMMU_HWPT_INVALIDATE through dpi_s1_invalidate: all handled, split and resubmitted, a bad
# entry at index k reported as k with the entries before it applied and the rest resumable,
# checked in the mock IOTLB; and which entry_len the kernel accepts:
# build/test/unit/iova_nested_mock_kernel_ut (a kernel without the mock fails here).
. "$(dirname "$0")/../lib.sh"
ut=$DP_ROOT/build/test/unit/iova_nested_mock_kernel_ut
[ -x "$ut" ] || fail "$ut is not in the payload (build dmaplane before make test-vm)"
[ -e /dev/iommu ] || fail "no /dev/iommu in the guest"
cd "$DP_ROOT" || exit 1
DP_TEST_REQUIRE_IOMMUFD_MOCK=1 exec "$ut"
