#!/bin/sh
# An Intel VT-d IOMMU is registered in /sys/class/iommu, supports scalable mode (ECAP.SMTS,
# bit 43), and - when the VT-d debugfs is available - runs in it (RTADDR_REG.TTM = 01b, bit 10).
. "$(dirname "$0")/../lib.sh"
found=0
for u in /sys/class/iommu/*; do
    [ -r "$u/intel-iommu/ecap" ] || continue
    found=1
    name=$(basename "$u")
    ecap=$(cat "$u/intel-iommu/ecap"); cap=$(cat "$u/intel-iommu/cap")
    say "$name: version $(cat "$u/intel-iommu/version" 2>/dev/null) cap 0x$cap ecap 0x$ecap"
    [ "$(hexbit "$ecap" 43)" = 1 ] || fail "$name: ECAP.SMTS clear: no scalable-mode translation"
    say "$name: scalable mode supported (SMTS), FLTS=$(hexbit "$ecap" 47) SLTS=$(hexbit "$ecap" 46) NEST=$(hexbit "$ecap" 26)"
done
[ $found = 1 ] || fail "no Intel IOMMU in /sys/class/iommu (intel_iommu=on? DMAR table?)"
regs=/sys/kernel/debug/iommu/intel/iommu_regset
if [ -r "$regs" ]; then
    rt=$(awk '$1 == "RTADDR" { print $3; exit }' "$regs")
    [ -n "$rt" ] || fail "no RTADDR in $regs"
    [ "$(hexbit "$rt" 10)" = 1 ] || fail "RTADDR_REG=$rt: legacy root table, scalable mode not in use (intel_iommu=sm_on?)"
    say "RTADDR_REG=$rt: scalable-mode root table in use"
else
    say "no VT-d debugfs ($regs): scalable mode in use not checked"
fi
exit 0
