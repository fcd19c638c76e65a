#!/bin/sh
# test/vm/guest/bind-nvme.sh - bind every NVMe controller of the guest to vfio-pci.
# Uses the project's scripts/setup.sh when it exists (`setup.sh bind BDF...`), and falls back to
# sysfs driver_override when it left something unbound (tests.d/25-setup-sh.sh reports that).
# Records what happened in /run/dmaplane-bind.{method,setup-sh} for tests.d/.
. "$(dirname "$0")/lib.sh"

bdfs=$(nvme_bdfs)
echo "$bdfs" | grep . > /run/dmaplane-nvme-bdfs
echo "bind: NVMe controllers: $(echo $bdfs)"
[ -n "$bdfs" ] || { echo "bind: no NVMe controller found"; exit 1; }

# Record what the kernel's nvme driver sees before the controllers leave it:
# "<bdf> <serial> <namespace> <nsid> <logical block size>" per namespace. Namespace scanning is
# asynchronous, so give every controller a few seconds to show at least one namespace.
record_namespaces() {
    i=0
    while [ $i -lt 50 ]; do
        ok=1
        for c in /sys/class/nvme/nvme*; do
            [ -e "$c" ] || continue
            ls -d "$c"/nvme*n* >/dev/null 2>&1 || ok=0
        done
        [ $ok = 1 ] && break
        sleep 0.1; i=$((i + 1))
    done
    for c in /sys/class/nvme/nvme*; do
        [ -e "$c" ] || continue
        bdf=$(basename "$(readlink -f "$c/device")")
        serial=$(tr -d ' ' < "$c/serial")
        for ns in "$c"/nvme*n*; do
            [ -e "$ns" ] || continue
            n=$(basename "$ns")
            echo "$bdf $serial $n $(cat "/sys/block/$n/nsid" 2>/dev/null || echo ?) $(cat "/sys/block/$n/queue/logical_block_size" 2>/dev/null || echo ?)"
        done
    done > /run/dmaplane-nvme-namespaces
    sed 's/^/bind: namespace: /' /run/dmaplane-nvme-namespaces
}
record_namespaces

# What nvme-cli reads from each controller and namespace under the kernel driver, for the
# field-by-field comparison with dmaplane_identify (tests.d/74-nvme-cli-compare.sh):
# /run/dmaplane-idctrl-<bdf>.json and /run/dmaplane-idns-<bdf>-<nsid>.json.
record_nvme_cli() {
    command -v nvme >/dev/null || { echo "bind: nvme-cli is not in the guest"; return; }
    for c in /sys/class/nvme/nvme*; do
        [ -e "$c" ] || continue
        bdf=$(basename "$(readlink -f "$c/device")")
        nvme id-ctrl "/dev/$(basename "$c")" -o json > "/run/dmaplane-idctrl-$bdf.json" 2>&1 ||
            echo "bind: nvme id-ctrl on $bdf failed: $(head -c 200 "/run/dmaplane-idctrl-$bdf.json")"
        for ns in "$c"/nvme*n*; do
            [ -e "$ns" ] || continue
            n=$(basename "$ns")
            nsid=$(cat "/sys/block/$n/nsid" 2>/dev/null) || continue
            nvme id-ns "/dev/$n" -o json > "/run/dmaplane-idns-$bdf-$nsid.json" 2>&1 ||
                echo "bind: nvme id-ns on $n failed"
        done
    done
    echo "bind: nvme-cli records: $(ls /run/dmaplane-id*.json 2>/dev/null | wc -l) files"
}
record_nvme_cli

all_bound() {
    for b in $bdfs; do [ "$(pci_driver "$b")" = vfio-pci ] || return 1; done
}

setup=$DP_ROOT/scripts/setup.sh
if [ -f "$setup" ] && [ "${DP_VM_USE_SETUP_SH:-1}" = 1 ]; then
    echo "bind: scripts/setup.sh bind $(echo $bdfs)"
    if head -n1 "$setup" | grep -q bash && command -v bash >/dev/null; then sh="bash"; else sh="sh"; fi
    { timeout 120 $sh "$setup" bind $bdfs 2>&1; echo "$?" > /run/dmaplane-bind.setup-rc; } |
        sed 's/^/    setup.sh: /'
    echo "bind: scripts/setup.sh exited with $(cat /run/dmaplane-bind.setup-rc)"
    if all_bound; then
        echo ok > /run/dmaplane-bind.setup-sh
        echo setup.sh > /run/dmaplane-bind.method
        echo "bind: scripts/setup.sh bound all controllers to vfio-pci"
        exit 0
    fi
    echo "bind: scripts/setup.sh left some controllers unbound; falling back to sysfs"
    echo failed > /run/dmaplane-bind.setup-sh
else
    echo absent > /run/dmaplane-bind.setup-sh
fi

echo sysfs > /run/dmaplane-bind.method
rc=0
for b in $bdfs; do
    d=/sys/bus/pci/devices/$b
    echo vfio-pci > "$d/driver_override" || { rc=1; continue; }
    if [ -e "$d/driver" ]; then
        echo "$b" > "$d/driver/unbind" || rc=1
    fi
    echo "$b" > /sys/bus/pci/drivers_probe 2>/dev/null
    echo "bind: $b -> $(pci_driver "$b")"
    [ "$(pci_driver "$b")" = vfio-pci ] || rc=1
done
exit $rc
