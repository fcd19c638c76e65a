#!/bin/sh
# PASID capability of the IOMMU, as far as sysfs tells: ECAP.PASID (bit 40) and ECAP.PSS
# (bits 39:35, PASID width - 1). Expected when the host asked QEMU for it (DP_EXPECT_PASID=1);
# otherwise informational (skip). Also lists PCI functions with a PASID extended capability.
. "$(dirname "$0")/../lib.sh"
ecap=""
for u in /sys/class/iommu/*; do
    [ -r "$u/intel-iommu/ecap" ] && { ecap=$(cat "$u/intel-iommu/ecap"); name=$(basename "$u"); break; }
done
[ -n "$ecap" ] || skip "no Intel IOMMU ecap in sysfs: PASID support cannot be told"
pasid=$(hexbit "$ecap" 40)
pss=$(hexfield "$ecap" 35 5)
# PCI functions advertising PASID (extended capability ID 0x1b) in config space
devs=""
for d in /sys/bus/pci/devices/*; do
    cfg=$d/config
    [ "$(stat -c %s "$cfg" 2>/dev/null)" -gt 256 ] 2>/dev/null || continue
    off=256
    while [ "$off" -ne 0 ] && [ "$off" -lt 4096 ]; do
        hdr=$(od -An -tx4 -j "$off" -N4 "$cfg" 2>/dev/null | tr -d ' ')
        [ -n "$hdr" ] && [ "$hdr" != 00000000 ] && [ "$hdr" != ffffffff ] || break
        id=$(( 0x$hdr & 0xffff ))
        [ $id = 27 ] && { devs="$devs $(basename "$d")"; break; }
        off=$(( (0x$hdr >> 20) & 0xffc ))
    done
done
say "devices with a PCI PASID capability:${devs:- none}"
if [ "$pasid" = 1 ]; then
    say "$name: PASID supported; PSS=$pss: $((pss + 1))-bit PASIDs, the kernel allows $((2 << pss)) (PASID 0 is the RID's)"
    exit 0
fi
if [ "${DP_EXPECT_PASID:-0}" = 1 ]; then
    fail "$name: ECAP.PASID clear although the VM was started with PASID support"
fi
skip "$name: IOMMU does not report PASID support (ECAP.PASID clear)"
