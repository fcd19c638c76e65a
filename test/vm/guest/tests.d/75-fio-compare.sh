#!/bin/sh
# dmaplane_perf against fio on the same controller (QEMU's second NVMe), 4 KiB random reads at
# queue depth 32 for DP_VM_CMP_SECONDS (default 10) each: fio with io_uring on the kernel's
# driver with polled queues (nvme.poll_queues=1 on the guest command line, --hipri), dmaplane
# through vfio-pci + iommufd. Under TCG the guest's instructions per I/O dominate, so the ratio
# measures driver overhead. It is reported as one JSON line; the test asserts that both runs
# completed I/O without errors and that the controller went back to vfio-pci (later tests
# need it), not a speed: speed is for benchmarks.
. "$(dirname "$0")/../lib.sh"
app=$DP_ROOT/build/bin/dmaplane_perf
secs=${DP_VM_CMP_SECONDS:-10}
[ -x "$app" ] || fail "$app is not in the payload"
command -v fio >/dev/null || fail "fio is not in the guest (test/vm/install-deps.sh installs it)"
bdf=$(nvme_bdfs | tail -n1)
[ -n "$bdf" ] || fail "no NVMe controller found"
d=/sys/bus/pci/devices/$bdf

bind_to() { # bind_to DRIVER
    echo "$1" > "$d/driver_override"
    [ -e "$d/driver" ] && echo "$bdf" > "$d/driver/unbind"
    echo "$bdf" > /sys/bus/pci/drivers_probe 2>/dev/null
    [ "$(pci_driver "$bdf")" = "$1" ]
}
back_to_vfio() { bind_to vfio-pci || fail "$bdf did not go back to vfio-pci"; }

bind_to nvme || { back_to_vfio; fail "$bdf did not bind to the kernel's nvme driver"; }
dev=""
i=0
while [ -z "$dev" ] && [ $i -lt 100 ]; do
    for b in "$d"/nvme/nvme*/nvme*n1; do [ -e "$b" ] && dev=/dev/$(basename "$b"); done
    [ -n "$dev" ] || { sleep 0.1; i=$((i + 1)); }
done
[ -n "$dev" ] && [ -b "$dev" ] || { back_to_vfio; fail "no block device for $bdf under the kernel driver"; }
pq=$(cat /sys/module/nvme/parameters/poll_queues 2>/dev/null || echo "?")
hipri=--hipri
[ "$pq" = 0 ] || [ "$pq" = "?" ] && hipri=""
# terse output: field 8 is read IOPS, field 5 the error
t=$(fio --name=cmp --filename="$dev" --ioengine=io_uring $hipri --direct=1 --rw=randread \
        --bs=4k --iodepth=32 --runtime="$secs" --time_based --norandommap --minimal 2>&1)
frc=$?
back_to_vfio
[ $frc -eq 0 ] || fail "fio failed ($frc): $t"
fio_iops=$(echo "$t" | tail -n1 | cut -d';' -f8)
fio_err=$(echo "$t" | tail -n1 | cut -d';' -f5)
[ "$fio_err" = 0 ] || fail "fio reported error $fio_err"
[ "${fio_iops:-0}" -gt 0 ] 2>/dev/null || fail "fio completed no I/O: $t"

out=$(DP_IOMMU=iommufd "$app" -d "$bdf" -w randread -o 4096 -q 32 -t "$secs" --json) ||
    fail "dmaplane_perf failed on $bdf: $out"
total=$(echo "$out" | grep '"device":"total"')
echo "$total" | grep -q '"errors":0,' || fail "dmaplane_perf reported I/O errors: $total"
dp_iops=$(echo "$total" | sed -n 's/.*"iops":\([0-9]*\).*/\1/p')
[ "${dp_iops:-0}" -gt 0 ] || fail "dmaplane_perf completed no I/O: $total"
ratio=$(awk -v a="$dp_iops" -v b="$fio_iops" 'BEGIN { printf "%.2f", a / b }')
say "{\"case\":\"nvme_randread_4k_qd32\",\"device\":\"$bdf\",\"seconds\":$secs,\"fio_iops\":$fio_iops,\"fio_engine\":\"io_uring${hipri:+ hipri}\",\"poll_queues\":\"$pq\",\"dmaplane_iops\":$dp_iops,\"ratio\":$ratio,\"target_ratio\":1.5}"
exit 0
