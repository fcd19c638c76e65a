#!/bin/sh
# drivers/nvme on QEMU's NVMe controllers through iommufd: controller bring-up, Identify,
# namespaces and shutdown against a controller nobody here wrote. The first controller has
# serial DPVM00000001 and namespaces of 512 and 4096-byte blocks; the second DPVM00000002.
. "$(dirname "$0")/../lib.sh"
app=$DP_ROOT/build/bin/dmaplane_identify
[ -x "$app" ] || fail "$app is not in the payload"
n=0
for bdf in $(nvme_bdfs); do
    [ "$(pci_driver "$bdf")" = vfio-pci ] || fail "$bdf is not bound to vfio-pci"
    out=$(DP_IOMMU=iommufd "$app" -d "$bdf" --json) || fail "dmaplane_identify -d $bdf failed"
    say "$bdf: $(echo "$out" | head -c 300)"
    serial=$(echo "$out" | sed -n 's/.*"serial":"\([^"]*\)".*/\1/p')
    case $serial in
        DPVM00000001)
            echo "$out" | grep -q '"nsid":1,"block_size":512' || fail "$bdf: namespace 1 is not 512-byte"
            echo "$out" | grep -q '"nsid":2,"block_size":4096' || fail "$bdf: namespace 2 is not 4096-byte" ;;
        DPVM00000002)
            echo "$out" | grep -q '"nsid":1,"block_size":512' || fail "$bdf: namespace 1 is not 512-byte" ;;
        *) fail "$bdf: unexpected serial '$serial'" ;;
    esac
    n=$((n + 1))
done
[ $n -ge 1 ] || fail "no NVMe controller identified"
# The same through the type1 backend on one controller.
bdf=$(nvme_bdfs | head -n1)
DP_IOMMU=vfio "$app" -d "$bdf" --json >/dev/null || fail "dmaplane_identify over type1 failed on $bdf"
say "identified $n controller(s) over iommufd, and $bdf over type1"
exit 0
