#!/bin/sh
# When the project's scripts/setup.sh exists, it must have bound the controllers by itself
# (bind-nvme.sh falls back to sysfs, so the other tests still run when it did not).
. "$(dirname "$0")/../lib.sh"
state=$(cat /run/dmaplane-bind.setup-sh 2>/dev/null || echo unknown)
case $state in
    ok)      say "scripts/setup.sh bound every NVMe controller to vfio-pci"; exit 0 ;;
    absent)  skip "scripts/setup.sh not in the payload; bound through sysfs driver_override" ;;
    failed)  fail "scripts/setup.sh did not bind every NVMe controller (setup.sh bind exited $(cat /run/dmaplane-bind.setup-rc 2>/dev/null))" ;;
    *)       fail "bind-nvme.sh did not run" ;;
esac
