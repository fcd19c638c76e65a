#!/bin/sh
# /dev/iommu (iommufd) exists, is a character device and opens read-write.
. "$(dirname "$0")/../lib.sh"
[ -e /dev/iommu ] || fail "/dev/iommu does not exist (CONFIG_IOMMUFD?)"
[ -c /dev/iommu ] || fail "/dev/iommu is not a character device"
say "/dev/iommu: char device $(stat -c '%t:%T' /dev/iommu 2>/dev/null)"
if ! (exec 3<>/dev/iommu) 2>/dev/null; then
    fail "cannot open /dev/iommu read-write"
fi
say "/dev/iommu opens read-write"
exit 0
