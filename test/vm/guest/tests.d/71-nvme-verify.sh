#!/bin/sh
# drivers/nvme data path on QEMU's NVMe controllers: write patterns through one queue pair, read
# them back through another, every namespace (512 and 4096-byte blocks), over iommufd on the
# first controller and over type1 on the second: build/test/unit/nvme_kernel_ut.
. "$(dirname "$0")/../lib.sh"
ut=$DP_ROOT/build/test/unit/nvme_kernel_ut
[ -x "$ut" ] || fail "$ut is not in the payload"
set -- $(nvme_bdfs)
[ $# -ge 1 ] || fail "no NVMe controller found"
cd "$DP_ROOT" || exit 1
DP_IOMMU=iommufd DP_TEST_BDF=$1 "$ut" || fail "nvme_kernel_ut over iommufd on $1"
last=$1
[ $# -ge 2 ] && last=$2
DP_IOMMU=vfio DP_TEST_BDF=$last "$ut" || fail "nvme_kernel_ut over type1 on $last"
exit 0
