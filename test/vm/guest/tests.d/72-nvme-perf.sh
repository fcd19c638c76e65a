#!/bin/sh
# dmaplane_perf, the main job, on QEMU's NVMe controller through iommufd: a short mixed random
# workload with --verify (every read checked against what was written), zero errors expected.
# Under TCG the IOPS say nothing about speed; the run proves the harness works on a real device.
. "$(dirname "$0")/../lib.sh"
app=$DP_ROOT/build/bin/dmaplane_perf
[ -x "$app" ] || fail "$app is not in the payload"
bdf=$(nvme_bdfs | head -n1)
[ -n "$bdf" ] || fail "no NVMe controller found"
out=$(DP_IOMMU=iommufd "$app" -d "$bdf" -w randrw -M 60 -q 8 -t 2 --verify --json) ||
    fail "dmaplane_perf failed on $bdf: $out"
say "$out"
total=$(echo "$out" | grep '"device":"total"')
[ -n "$total" ] || fail "no total line in the JSON output"
echo "$total" | grep -q '"errors":0,' || fail "I/O errors reported"
echo "$total" | grep -q '"verify_errors":0' || fail "data did not verify"
echo "$total" | grep -q '"ios":0,' && fail "no I/O completed"
exit 0
