#!/bin/sh
# Every NVMe controller is bound to vfio-pci and has its VFIO device cdev /dev/vfio/devices/vfioN
# (plus its group node /dev/vfio/<group>); DP_EXPECT_NVME controllers are expected.
. "$(dirname "$0")/../lib.sh"
bdfs=$(nvme_bdfs)
n=$(echo $bdfs | wc -w)
expect=${DP_EXPECT_NVME:-1}
say "method: $(cat /run/dmaplane-bind.method 2>/dev/null || echo unknown); controllers: $(echo $bdfs)"
[ "$n" -ge "$expect" ] || fail "found $n NVMe controller(s), expected $expect"
[ -d /dev/vfio/devices ] || fail "/dev/vfio/devices missing (CONFIG_VFIO_DEVICE_CDEV?)"
bad=0
for b in $bdfs; do
    d=/sys/bus/pci/devices/$b
    drv=$(pci_driver "$b")
    if [ "$drv" != vfio-pci ]; then
        say "$b: bound to '${drv:-nothing}', not vfio-pci"; bad=1; continue
    fi
    cdev=$(ls "$d/vfio-dev" 2>/dev/null | head -n1)
    if [ -z "$cdev" ]; then
        say "$b: no $d/vfio-dev/vfioN"; bad=1; continue
    fi
    if [ ! -c "/dev/vfio/devices/$cdev" ]; then
        say "$b: /dev/vfio/devices/$cdev is missing"; bad=1; continue
    fi
    if ! (exec 3<>"/dev/vfio/devices/$cdev") 2>/dev/null; then
        say "$b: cannot open /dev/vfio/devices/$cdev"; bad=1; continue
    fi
    grp=$(basename "$(readlink "$d/iommu_group" 2>/dev/null)")
    if [ -n "$grp" ] && [ -c "/dev/vfio/$grp" ]; then gnode="/dev/vfio/$grp"; else gnode="no group node"; fi
    say "$b: vfio-pci, /dev/vfio/devices/$cdev, iommu group ${grp:-?} ($gnode)"
done
[ $bad -eq 0 ] || fail "not every NVMe controller is usable through VFIO cdev"
exit 0
