#!/bin/sh
# test/vm/guest/run-guest-tests.sh - the test runner inside the dmaplane guest.
#
#  1. binds the NVMe controllers to vfio-pci (bind-nvme.sh),
#  2. runs every executable in tests.d/ in name order (exit 0 pass, 77 skip, other fail),
#  3. runs every executable under build/test/unit/ once (CUnit programs; exit status = result),
#  4. checks dmesg for kernel WARN/BUG/Oops during the tests (one more test: kernel-health),
#  5. prints "N passed, N failed" and "DMAPLANE-VM-DONE rc=<n>" (rc 0 only when something
#     passed and nothing failed).
# Tests get DP_TEST_BDF (first NVMe controller, bound to vfio-pci) and DP_TEST_BDFS (all of them).
# Result lines: "PASS: name", "FAIL: name (exit N)", "SKIP: name: reason".
# Environment (from /etc/dmaplane-vm.env written by the host): DP_ROOT, DP_EXPECT_NVME,
# DP_HUGEPAGES_MIN, DP_EXPECT_PASID, DP_TEST_TIMEOUT (seconds per test, default 300).
GUEST=$(cd "$(dirname "$0")" && pwd)
. "$GUEST/lib.sh"
export DP_ROOT GUEST
TEST_TIMEOUT=${DP_TEST_TIMEOUT:-300}
pass=0; fail=0; skipped=0; failed_names=""

# run_one NAME CMD...: stream the output indented, then one result line
run_one() {
    name=$1; shift
    echo "---- $name"
    out=/tmp/dp-test.out; rcf=/tmp/dp-test.rc
    case $(type "$1" 2>/dev/null) in
        *function*) { "$@" 2>&1; echo $? > "$rcf"; } | tee "$out" | sed 's/^/    /' ;;
        *) { timeout -s KILL "$TEST_TIMEOUT" "$@" 2>&1; echo $? > "$rcf"; } | tee "$out" | sed 's/^/    /' ;;
    esac
    rc=$(cat "$rcf" 2>/dev/null || echo 1)
    case $rc in
        0)  pass=$((pass + 1)); echo "PASS: $name" ;;
        77) skipped=$((skipped + 1))
            reason=$(grep 'SKIP-REASON:' "$out" | tail -n1 | sed 's/.*SKIP-REASON: *//')
            [ -n "$reason" ] || reason=$(grep . "$out" | tail -n1 | sed 's/^ *//')
            echo "SKIP: $name: ${reason:-no reason given}" ;;
        137) fail=$((fail + 1)); failed_names="$failed_names $name"
            echo "FAIL: $name (killed after ${TEST_TIMEOUT}s)" ;;
        *)  fail=$((fail + 1)); failed_names="$failed_names $name"
            echo "FAIL: $name (exit $rc)" ;;
    esac
}

echo "==== dmaplane guest tests: kernel $(uname -r), cmdline: $(cat /proc/cmdline)"

# 1. device binding (its success or failure is judged by tests.d/20-vfio-bind.sh)
sh "$GUEST/bind-nvme.sh"
# devices for tests that need one bound to vfio-pci (unit tests read these too)
DP_TEST_BDFS=$(nvme_bdfs | tr '\n' ' ' | sed 's/ *$//')
DP_TEST_BDF=${DP_TEST_BDFS%% *}
export DP_TEST_BDF DP_TEST_BDFS
dmesg_start=$(dmesg | wc -l)

# 2. scripted checks (their absence is a failure: a payload without them would pass vacuously)
if [ -z "$(ls "$GUEST"/tests.d/ 2>/dev/null)" ]; then
    fail=$((fail + 1)); failed_names="$failed_names tests.d"
    echo "FAIL: tests.d (no scripted checks in the payload: $GUEST/tests.d is empty or missing)"
fi
for t in "$GUEST"/tests.d/*; do
    [ -f "$t" ] || continue
    name=$(basename "$t")
    if [ -x "$t" ]; then
        run_one "$name" "$t"
    else
        case $t in
            *.sh) run_one "$name" sh "$t" ;;
            *) echo "note: $name is not executable, ignored" ;;
        esac
    fi
done

# 3. unit tests built by the project (build/test/unit/**, executables only)
unit_dir=$DP_ROOT/build/test/unit
if [ -d "$unit_dir" ]; then
    units=$(find "$unit_dir" -type f -perm -u+x ! -name '*.so' ! -name '*.so.*' ! -name '*.o' ! -name '*.a' ! -name '*.d' 2>/dev/null | sort)
    if [ -z "$units" ]; then
        echo "note: no unit-test executables under build/test/unit/"
    fi
    for u in $units; do
        rel=${u#"$DP_ROOT/"}
        # The *_kernel_ut programs need a device and a backend chosen for them: tests.d runs
        # each with both (here they would only skip). One that no script runs is a failure.
        case $(basename "$u") in
            *_kernel_ut)
                if grep -q -w "$(basename "$u")" "$GUEST"/tests.d/* 2>/dev/null; then
                    echo "note: $rel runs in tests.d (with a device and a backend)"
                else
                    fail=$((fail + 1)); failed_names="$failed_names $rel"
                    echo "FAIL: $rel: a kernel test that no tests.d script runs"
                fi
                continue ;;
        esac
        cd "$(dirname "$u")" || continue
        run_one "$rel" "$u"
        cd "$DP_ROOT" || exit 1
    done
else
    echo "note: build/test/unit/ is not in the payload (project not built?): no unit tests run"
fi

# 4. kernel health over the whole test run: any WARN/BUG/Oops fails it; IOMMU faults are listed
#    (tests may provoke them on purpose)
kernel_health() {
    dmesg | tail -n +"$((dmesg_start + 1))" > /tmp/dp-dmesg
    faults=$(grep -c -E 'DMAR: \[(DMA|INTR)|DMAR: DRHD: handling fault|iommu.*fault' /tmp/dp-dmesg)
    [ "$faults" -eq 0 ] || { echo "IOMMU fault messages during the tests: $faults"; \
        grep -E 'DMAR: \[(DMA|INTR)|DMAR: DRHD: handling fault|iommu.*fault' /tmp/dp-dmesg | head -n 10; }
    if grep -q -E 'WARNING: CPU:|BUG:|Oops|general protection fault|Unable to handle' /tmp/dp-dmesg; then
        echo "kernel warnings/oopses during the tests:"
        grep -E -A 12 'WARNING: CPU:|BUG:|Oops|general protection fault|Unable to handle' /tmp/dp-dmesg | head -n 60
        return 1
    fi
    echo "no kernel WARN/BUG/Oops in $(wc -l < /tmp/dp-dmesg) dmesg lines since the tests started"
    return 0
}
run_one kernel-health kernel_health

if [ "$fail" -gt 0 ]; then
    echo "==== failed:$failed_names"
    echo "==== last kernel messages:"
    dmesg | grep -v -E ': (resetting|reset done)$' | tail -n 40 | sed 's/^/    dmesg: /'
fi
echo "==== $skipped skipped"
echo "$pass passed, $fail failed"
rc=0
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ] || rc=1
: > /run/dmaplane-vm-done
echo "DMAPLANE-VM-DONE rc=$rc"
exit $rc
