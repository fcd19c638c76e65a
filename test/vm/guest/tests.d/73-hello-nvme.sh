#!/bin/sh
# The hello_nvme example on a real controller (QEMU's NVMe) through iommufd: it writes
# "Hello world!" to LBA 0 of the first namespace and reads it back.
. "$(dirname "$0")/../lib.sh"
app=$DP_ROOT/build/examples/hello_nvme
[ -x "$app" ] || fail "$app is not in the payload"
bdf=$(nvme_bdfs | head -n1)
[ -n "$bdf" ] || fail "no NVMe controller found"
[ "$(pci_driver "$bdf")" = vfio-pci ] || fail "$bdf is not bound to vfio-pci"
out=$(DP_IOMMU=iommufd "$app" "$bdf" 2>&1) || fail "hello_nvme $bdf failed: $out"
say "$out"
case $out in
    *"LBA 0 reads: Hello world!"*) ;;
    *) fail "hello_nvme did not read back its message" ;;
esac
exit 0
