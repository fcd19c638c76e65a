#!/usr/bin/env bash
# test/vm/run.sh - real-kernel integration tests of dmaplane in a QEMU (TCG) guest.
#
# Unattended, as root:
#   1. installs missing host packages (install-deps.sh: QEMU >= 10, busybox-static, kernel
#      build deps, nvme-cli, fio),
#   2. provides a guest kernel with iommufd, VFIO cdev, VT-d and NVMe (build-kernel.sh: Debian
#      linux-source, tinyconfig + kernel.config, cached in /var/cache/dmaplane-vm),
#   3. packs an initramfs with busybox, the repo's build/ and scripts/ and test/vm/guest/
#      (mkinitramfs.sh),
#   4. boots q35 + intel-iommu (scalable mode, PASID) + two NVMe controllers (nvme0: nsid 1 with
#      512 B blocks and nsid 2 with 4 KiB blocks; nvme1: nsid 1 with 512 B blocks),
#   5. streams the console to stdout and a log, and judges the run: fails when a guest test
#      failed, the guest panicked, the DMAPLANE-VM-DONE sentinel never came, or no test ran.
#      The last line printed is the guest's "N passed, N failed".
#
# Environment:
#   DP_VM_TIMEOUT       hard limit for the VM in seconds (default 600)
#   DP_VM_CACHE         cache directory (default /var/cache/dmaplane-vm)
#   DP_VM_LOG           console log (default $DP_VM_CACHE/logs/console-<date>.log; also
#                       linked as $DP_VM_CACHE/logs/console-latest.log)
#   DP_VM_SKIP_INSTALL=1  do not run install-deps.sh
#   DP_VM_KERNEL        use this bzImage instead of building/caching one
#   DP_VM_KERNEL_PKG    kernel source package (see build-kernel.sh)
#   DP_VM_MEM, DP_VM_SMP  guest memory / vCPUs (default 2G / 2)
#   DP_VM_IOMMU_OPTS    intel-iommu options (default intremap=on,eim=on,x-scalable-mode=on,x-pasid-mode=on)
#   DP_VM_APPEND        extra kernel command line
#   DP_VM_NS_SIZE       size of each namespace backing file (default 64M)
#   DP_TEST_TIMEOUT     per-test limit inside the guest, seconds (default 300)
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DP_VM_TAG=vm
. "$HERE/common.sh"

TIMEOUT=${DP_VM_TIMEOUT:-600}
MEM=${DP_VM_MEM:-2G}
SMP=${DP_VM_SMP:-2}
IOMMU_OPTS=${DP_VM_IOMMU_OPTS:-intremap=on,eim=on,x-scalable-mode=on,x-pasid-mode=on}
NS_SIZE=${DP_VM_NS_SIZE:-64M}
HUGEPAGES=256
EXPECT_NVME=2
t_start=$(date +%s)
elapsed() { echo $(( $(date +%s) - t_start ))s; }

final_line() {      # print the closing summary and exit
    echo "$1"
    exit "$2"
}

# ---- 1. host packages
# (one function, so bash has read all of it before it runs: editing the file mid-run is safe)
main() {
    if [ "${DP_VM_SKIP_INSTALL:-0}" != 1 ]; then
        "$HERE/install-deps.sh" || { vm_log "installing dependencies failed"; final_line "0 passed, 1 failed" 1; }
    fi
    command -v qemu-system-x86_64 >/dev/null || { vm_log "qemu-system-x86_64 not found"; final_line "0 passed, 1 failed" 1; }

    # ---- 2. kernel
    if [ -n "${DP_VM_KERNEL:-}" ]; then
        KERNEL=$DP_VM_KERNEL
    else
        KERNEL=$("$HERE/build-kernel.sh" | tail -n1)
    fi
    [ -n "$KERNEL" ] && [ -s "$KERNEL" ] || { vm_log "no guest kernel"; final_line "0 passed, 1 failed" 1; }
    vm_log "kernel: $KERNEL ($(elapsed))"

    # ---- 3. initramfs and disks
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/dmaplane-vm.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    trap 'exit 130' INT TERM

    pasid=0; case ",$IOMMU_OPTS," in *,x-pasid-mode=on,*) pasid=1 ;; esac
    cat > "$WORK/dmaplane-vm.env" <<ENV
DP_ROOT='$ROOT'
DP_EXPECT_NVME=$EXPECT_NVME
DP_EXPECT_NS='DPVM00000001:512,4096 DPVM00000002:512'
DP_HUGEPAGES_MIN=$HUGEPAGES
DP_EXPECT_PASID=$pasid
DP_TEST_TIMEOUT=${DP_TEST_TIMEOUT:-300}
DP_VM_USE_SETUP_SH=${DP_VM_USE_SETUP_SH:-1}
LD_LIBRARY_PATH='$ROOT/build/lib'
export DP_ROOT DP_EXPECT_NVME DP_EXPECT_NS DP_HUGEPAGES_MIN DP_EXPECT_PASID DP_TEST_TIMEOUT DP_VM_USE_SETUP_SH LD_LIBRARY_PATH
ENV
    "$HERE/mkinitramfs.sh" "$ROOT" "$WORK/initramfs.cpio.gz" "$WORK/dmaplane-vm.env" ||
        { vm_log "building the initramfs failed"; final_line "0 passed, 1 failed" 1; }
    for ns in nvme0n1 nvme0n2 nvme1n1; do
        truncate -s "$NS_SIZE" "$WORK/$ns.img"
    done

    # ---- 4. boot
    LOGDIR=$DP_VM_CACHE/logs
    mkdir -p "$LOGDIR"
    LOG=${DP_VM_LOG:-$LOGDIR/console-$(date +%Y%m%d-%H%M%S).log}
    mkdir -p "$(dirname "$LOG")"
    if [ -z "${DP_VM_LOG:-}" ]; then
        ln -sfn "$(basename "$LOG")" "$LOGDIR/console-latest.log"
        # keep the 20 newest console logs
        ls -1t "$LOGDIR"/console-2*.log 2>/dev/null | tail -n +21 | while read -r old; do rm -f "$old"; done
    fi

    APPEND="console=ttyS0 intel_iommu=on,sm_on iommu=nopt nvme.poll_queues=1 hugepagesz=2M hugepages=$HUGEPAGES panic=-1 log_buf_len=1M rdinit=/init ${DP_VM_APPEND:-}"
    # shellcheck disable=SC2054  # the commas belong to QEMU option values
    QEMU=(qemu-system-x86_64
          -machine q35,kernel-irqchip=split -cpu max -accel tcg -m "$MEM" -smp "$SMP"
          -device "intel-iommu,$IOMMU_OPTS"
          -nographic -no-reboot -nic none
          -kernel "$KERNEL" -initrd "$WORK/initramfs.cpio.gz" -append "$APPEND"
          -drive "file=$WORK/nvme0n1.img,if=none,id=nvme0n1,format=raw"
          -drive "file=$WORK/nvme0n2.img,if=none,id=nvme0n2,format=raw"
          -drive "file=$WORK/nvme1n1.img,if=none,id=nvme1n1,format=raw"
          -device nvme,id=nvme0,serial=DPVM00000001
          -device nvme-ns,drive=nvme0n1,bus=nvme0,nsid=1,logical_block_size=512,physical_block_size=512
          -device nvme-ns,drive=nvme0n2,bus=nvme0,nsid=2,logical_block_size=4096,physical_block_size=4096
          -device nvme,id=nvme1,serial=DPVM00000002
          -device nvme-ns,drive=nvme1n1,bus=nvme1,nsid=1,logical_block_size=512,physical_block_size=512)
    vm_log "booting ($(qemu-system-x86_64 --version | head -n1), timeout ${TIMEOUT}s, log $LOG) at $(elapsed)"
    vm_log "${QEMU[*]}"
    t_boot=$(date +%s)
    timeout -k 10 "$TIMEOUT" "${QEMU[@]}" < /dev/null 2>&1 | tee "$LOG"
    qrc=${PIPESTATUS[0]}
    vm_log "QEMU exited with $qrc after $(( $(date +%s) - t_boot ))s (total $(elapsed))"

    # ---- 5. verdict
    clean=$(tr -d '\r' < "$LOG")
    sentinel=$(printf '%s\n' "$clean" | grep -E '^DMAPLANE-VM-DONE rc=[0-9]+$' | tail -n1)
    summary=""
    if [ -n "$sentinel" ]; then
        summary=$(printf '%s\n' "$clean" | sed '/^DMAPLANE-VM-DONE rc=/q' | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n1)
    fi
    passed=0; failed=0
    if [ -n "$summary" ]; then
        passed=${summary%% passed*}
        failed=${summary#*passed, }; failed=${failed%% failed*}
    fi
    problems=()
    [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ] && problems+=("timed out after ${TIMEOUT}s")
    printf '%s\n' "$clean" | grep -q 'Kernel panic' && problems+=("guest kernel panic")
    [ -n "$sentinel" ] || problems+=("no DMAPLANE-VM-DONE sentinel")
    [ -n "$sentinel" ] && [ -z "$summary" ] && problems+=("no 'N passed, N failed' line")
    [ -n "$summary" ] && [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ] && problems+=("no test ran")
    [ "$failed" -gt 0 ] && problems+=("$failed guest test(s) failed")
    if [ -n "$sentinel" ] && [ "${sentinel#*rc=}" != 0 ] && [ "$failed" -eq 0 ]; then
        problems+=("guest runner exited with ${sentinel#*rc=}")
    fi
    if [ ${#problems[@]} -gt 0 ]; then
        why=$(printf '%s; ' "${problems[@]}")
        vm_log "FAILED: ${why%; } (console log: $LOG)"
        # keep the reprinted line consistent with a failure even when the guest could not count it
        [ "$failed" -gt 0 ] || failed=1
        final_line "$passed passed, $failed failed" 1
    fi
    vm_log "OK (console log: $LOG)"
    final_line "$passed passed, $failed failed" 0
}
main "$@"; exit $?
