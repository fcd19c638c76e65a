#!/usr/bin/env bash
# Tests scripts/setup.sh against a fake sysfs/dev/proc tree built in a temporary directory.
# The kernel does not act on writes to a fake tree, so the tests check what setup.sh wrote, and
# pre-create what the kernel would create (vfio-dev/vfioN, /dev/vfio nodes).
# Last line of output: "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
SETUP="$(cd "$here/../.." && pwd)/scripts/setup.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/dp-setup-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
S="$T/sys"
PCI="$S/bus/pci"

pass=0
fail=0

ok() {
	pass=$((pass + 1))
	printf 'ok   - %s\n' "$1"
}
not_ok() {
	fail=$((fail + 1))
	printf 'FAIL - %s\n' "$1"
	shift
	local l
	for l in "$@"; do
		printf '       %s\n' "$l"
	done
	printf '       --- stdout:\n%s\n       --- stderr:\n%s\n' "${OUT:-}" "${ERR:-}" | sed 's/^/       /'
}
skip() { printf 'skip - %s\n' "$1"; }

assert_eq() {
	if [[ $3 == "$2" ]]; then ok "$1"; else not_ok "$1" "expected: '$2'" "actual:   '$3'"; fi
}
assert_contains() {
	if [[ $3 == *"$2"* ]]; then ok "$1"; else not_ok "$1" "expected to contain: '$2'"; fi
}
assert_not_contains() {
	if [[ $3 != *"$2"* ]]; then ok "$1"; else not_ok "$1" "expected not to contain: '$2'"; fi
}
assert_rc() {
	if [[ $RC == "$2" ]]; then ok "$1"; else not_ok "$1" "expected exit code $2, got $RC"; fi
}
assert_fails() {
	if ((RC != 0)); then ok "$1"; else not_ok "$1" "expected a non-zero exit code, got 0"; fi
}

# Contents of a file (trailing newline stripped), or <missing>.
content() {
	if [[ -e $1 ]]; then cat "$1"; else echo "<missing>"; fi
}

# run [VAR=value ...] ARGS...: run setup.sh on the fake tree; sets OUT, ERR and RC.
run() {
	local envs=()
	while (($#)) && [[ $1 =~ ^[A-Z_]+= ]]; do
		envs+=("$1")
		shift
	done
	set +e
	OUT=$(env -u HUGEMEM -u NRHUGE -u HUGENODE DP_SYSFS_ROOT="$T" DP_DEV_ROOT="$T" DP_PROC_ROOT="$T" \
		DP_RUN_DIR="$T/run" DP_KCONFIG="$T/kconfig" ${envs[@]+"${envs[@]}"} "$SETUP" "$@" 2>"$T/stderr")
	RC=$?
	set -e
	ERR=$(cat "$T/stderr")
}

# Field $2 (1-based) of the status line of device $1.
status_field() {
	awk -v b="$1" -v f="$2" '$1 == b { print $f }' <<<"$OUT"
}

# ---------------------------------------------------------------------------------------------------
# fake tree

mk_driver() {
	mkdir -p "$PCI/drivers/$1"
	: >"$PCI/drivers/$1/bind"
	: >"$PCI/drivers/$1/unbind"
}

set_driver() { # BDF DRIVER (empty: none)
	local d="$S/devices/pci0000:00/$1"
	rm -f "$d/driver"
	[[ -n $2 ]] && ln -s "../../../bus/pci/drivers/$2" "$d/driver"
	return 0
}

mk_dev() { # BDF CLASS VENDOR DEVICE NUMA DRIVER GROUP
	local bdf=$1 d="$S/devices/pci0000:00/$1"
	mkdir -p "$d"
	echo "$2" >"$d/class"
	echo "$3" >"$d/vendor"
	echo "$4" >"$d/device"
	echo "$5" >"$d/numa_node"
	echo "(null)" >"$d/driver_override"
	ln -s "../../../devices/pci0000:00/$bdf" "$PCI/devices/$bdf"
	set_driver "$bdf" "$6"
	if [[ -n $7 ]]; then
		mkdir -p "$S/kernel/iommu_groups/$7/devices"
		ln -s "../../../../devices/pci0000:00/$bdf" "$S/kernel/iommu_groups/$7/devices/$bdf"
		ln -s "../../../kernel/iommu_groups/$7" "$d/iommu_group"
	fi
}

dev_dir() { printf '%s' "$S/devices/pci0000:00/$1"; }

# Put every attribute setup.sh may write back to its initial state.
reset_writes() {
	local f
	for f in "$PCI"/drivers/*/bind "$PCI"/drivers/*/unbind "$PCI/drivers_probe"; do
		[[ -f $f ]] && : >"$f"
	done
	for f in "$S"/devices/pci0000:00/*/driver_override; do
		echo "(null)" >"$f"
	done
	rm -rf "$T/run"
}

build_tree() {
	mkdir -p "$PCI/devices" "$S/class/iommu/dmar0" "$S/module/vfio/parameters" "$S/block" \
		"$T/dev/vfio/devices" "$T/proc"
	: >"$PCI/drivers_probe"
	echo N >"$S/module/vfio/parameters/enable_unsafe_noiommu_mode"
	local drv
	for drv in nvme idxd vfio-pci ixgbe lpc_ich; do mk_driver "$drv"; done

	mk_dev 0000:03:00.0 0x010802 0x8086 0x0a54 0 nvme 12
	mkdir -p "$(dev_dir 0000:03:00.0)/nvme/nvme0/nvme0n1"
	mk_dev 0000:04:00.0 0x010802 0x144d 0xa808 0 vfio-pci 15
	mkdir -p "$(dev_dir 0000:04:00.0)/vfio-dev/vfio1"
	touch "$T/dev/vfio/devices/vfio1" "$T/dev/vfio/15"
	mk_dev 0000:05:00.0 0x010802 0x1b36 0x0010 1 nvme 16
	mk_dev 0000:05:00.1 0x020000 0x8086 0x10fb 1 ixgbe 16
	mk_dev 0000:07:00.0 0x010802 0x8086 0x0953 1 nvme 17
	mkdir -p "$(dev_dir 0000:07:00.0)/nvme/nvme1/nvme1n1"
	mk_dev 0000:08:00.0 0x010802 0x8086 0x0953 0 nvme ""
	mk_dev 0000:09:00.0 0x010802 0x8086 0x0953 0 "" 23
	mk_dev 0000:6a:01.0 0x088000 0x8086 0x0b25 1 idxd 20
	mkdir -p "$(dev_dir 0000:6a:01.0)/dsa0"
	mk_dev 0000:6a:02.0 0x088000 0x8086 0x0cfe 1 idxd 21
	mkdir -p "$(dev_dir 0000:6a:02.0)/iax1"
	mk_dev 0000:00:1f.0 0x060100 0x8086 0xa1c8 -1 lpc_ich 22

	touch "$T/dev/iommu" "$T/dev/vfio/vfio"

	local sz n
	for sz in 2048kB 1048576kB; do
		for d in "$S/kernel/mm/hugepages/hugepages-$sz" \
			"$S/devices/system/node/node0/hugepages/hugepages-$sz" \
			"$S/devices/system/node/node1/hugepages/hugepages-$sz"; do
			mkdir -p "$d"
			for n in nr_hugepages free_hugepages surplus_hugepages; do echo 0 >"$d/$n"; done
		done
	done
	echo 4 >"$S/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
	echo 3 >"$S/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

	cat >"$T/proc/mounts" <<EOF
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
hugetlbfs $T/dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0
/dev/nvme1n1p2 /data ext4 rw,relatime 0 0
EOF
	printf 'Hugepagesize:       2048 kB\n' >"$T/proc/meminfo"
	printf 'CONFIG_VFIO=y\nCONFIG_VFIO_DEVICE_CDEV=y\nCONFIG_IOMMUFD=y\nCONFIG_VFIO_CONTAINER=y\n' >"$T/kconfig"
}

build_tree

HP2="$S/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
HP1G="$S/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
NODE1_HP2="$S/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"
NODE0_HP2="$S/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"

# ---------------------------------------------------------------------------------------------------
# usage

run help
assert_rc "help exits 0" 0
for c in status hugepages hugepages-release reset bind unbind restore help --count --mem --size --node; do
	assert_contains "help mentions $c" "$c" "$OUT"
done

run
assert_fails "no command fails"
assert_contains "no command prints usage" "Usage:" "$ERR"

run frobnicate
assert_fails "unknown command fails"
assert_contains "unknown command is named" "unknown command 'frobnicate'" "$ERR"

# ---------------------------------------------------------------------------------------------------
# status

run status
assert_rc "status exits 0" 0
assert_eq "status: 03:00.0 is NVMe" NVMe "$(status_field 0000:03:00.0 2)"
assert_eq "status: 03:00.0 vendor:device" 8086:0a54 "$(status_field 0000:03:00.0 3)"
assert_eq "status: 03:00.0 NUMA node" 0 "$(status_field 0000:03:00.0 4)"
assert_eq "status: 03:00.0 driver nvme" nvme "$(status_field 0000:03:00.0 5)"
assert_eq "status: 03:00.0 IOMMU group" 12 "$(status_field 0000:03:00.0 6)"
assert_eq "status: 03:00.0 has no cdev" - "$(status_field 0000:03:00.0 7)"
assert_eq "status: 03:00.0 kernel name" nvme0 "$(status_field 0000:03:00.0 8)"
assert_eq "status: 04:00.0 driver vfio-pci" vfio-pci "$(status_field 0000:04:00.0 5)"
assert_eq "status: 04:00.0 vfio cdev" "$T/dev/vfio/devices/vfio1" "$(status_field 0000:04:00.0 7)"
assert_eq "status: 08:00.0 has no IOMMU group" - "$(status_field 0000:08:00.0 6)"
assert_eq "status: 09:00.0 has no driver" - "$(status_field 0000:09:00.0 5)"
assert_eq "status: 6a:01.0 is DSA" DSA "$(status_field 0000:6a:01.0 2)"
assert_eq "status: 6a:01.0 driver idxd" idxd "$(status_field 0000:6a:01.0 5)"
assert_eq "status: 6a:01.0 NUMA node" 1 "$(status_field 0000:6a:01.0 4)"
assert_eq "status: 6a:01.0 kernel name" dsa0 "$(status_field 0000:6a:01.0 8)"
assert_eq "status: 6a:02.0 is IAX" IAX "$(status_field 0000:6a:02.0 2)"
assert_not_contains "status: ISA bridge not listed" "0000:00:1f.0" "$OUT"
assert_not_contains "status: NIC not listed" "0000:05:00.1" "$OUT"
assert_contains "status: IOMMU present" "present (dmar0)" "$OUT"
assert_contains "status: iommufd present" "yes ($T/dev/iommu)" "$OUT"
assert_contains "status: type1 container present" "yes ($T/dev/vfio/vfio)" "$OUT"
assert_contains "status: VFIO cdev supported" "yes ($T/dev/vfio/devices exists)" "$OUT"
assert_contains "status: no-IOMMU mode off" "off" "$(grep 'no-IOMMU mode' <<<"$OUT" || true)"
assert_eq "status: 2M hugepages system-wide" "4 3 0" \
	"$(awk '$1 == "2048kB" && $2 == "all" { print $3, $4, $5 }' <<<"$OUT")"
assert_eq "status: 1G hugepages on node 1" "0 0 0" \
	"$(awk '$1 == "1048576kB" && $2 == "1" { print $3, $4, $5 }' <<<"$OUT")"
assert_contains "status: hugetlbfs mount" "$T/dev/hugepages" "$(sed -n '/hugetlbfs mounts/,$p' <<<"$OUT")"

run status --all
assert_eq "status --all: ISA bridge with its driver" lpc_ich "$(status_field 0000:00:1f.0 5)"

mv "$T/dev/vfio/devices" "$T/devices.away"
printf 'CONFIG_VFIO=y\n# CONFIG_VFIO_DEVICE_CDEV is not set\n# CONFIG_IOMMUFD is not set\n' >"$T/kconfig.old"
rm "$T/dev/iommu"
run DP_KCONFIG="$T/kconfig.old" status
assert_contains "status: no cdev support from kernel config" "no (CONFIG_VFIO_DEVICE_CDEV is not set" "$OUT"
assert_contains "status: no iommufd from kernel config" "kernel built without CONFIG_IOMMUFD" "$OUT"
mv "$T/devices.away" "$T/dev/vfio/devices"
touch "$T/dev/iommu"

# ---------------------------------------------------------------------------------------------------
# bind

reset_writes
D3=$(dev_dir 0000:03:00.0)
# What the kernel would create when 0000:03:00.0 binds to vfio-pci.
mkdir -p "$D3/vfio-dev/vfio0"
touch "$T/dev/vfio/devices/vfio0" "$T/dev/vfio/12"
run bind 03:00.0
assert_rc "bind 03:00.0 (short form) exits 0" 0
assert_eq "bind: driver_override set to vfio-pci" vfio-pci "$(content "$D3/driver_override")"
assert_eq "bind: BDF written to nvme/unbind" 0000:03:00.0 "$(content "$PCI/drivers/nvme/unbind")"
assert_eq "bind: BDF written to vfio-pci/bind" 0000:03:00.0 "$(content "$PCI/drivers/vfio-pci/bind")"
assert_eq "bind: original driver remembered" nvme "$(content "$T/run/0000:03:00.0.driver")"
assert_contains "bind: reports the driver change" "nvme -> vfio-pci" "$OUT"
assert_contains "bind: reports the vfio cdev" "$T/dev/vfio/devices/vfio0" "$OUT"
assert_contains "bind: reports the vfio group" "$T/dev/vfio/12" "$OUT"
assert_not_contains "bind: viable group gives no warning" "not viable" "$ERR"
assert_eq "bind: other drivers untouched" "" "$(content "$PCI/drivers/idxd/unbind")"

reset_writes
run bind 0000:04:00.0
assert_rc "bind of a device already on vfio-pci exits 0" 0
assert_contains "bind: says already bound" "already bound to vfio-pci" "$OUT"
assert_eq "bind: already bound device not rebound" "" "$(content "$PCI/drivers/vfio-pci/bind")"
assert_eq "bind: already bound device not unbound" "" "$(content "$PCI/drivers/vfio-pci/unbind")"

for bad in 3:00.0 0000:03:00 03:00.8 zz:00.0 0000:03:20.0 "03:00.0;x" ""; do
	reset_writes
	run bind "$bad"
	assert_fails "bind '$bad' fails"
	assert_contains "bind '$bad': message" "invalid PCI address" "$ERR"
	assert_eq "bind '$bad': nothing written" "" "$(content "$PCI/drivers/vfio-pci/bind")"
done

reset_writes
run bind 03:00.0 bogus
assert_fails "bind with one malformed address fails"
assert_eq "bind with one malformed address changes nothing" "(null)" "$(content "$D3/driver_override")"

reset_writes
run bind 0000:99:00.0
assert_fails "bind of an unknown device fails"
assert_contains "bind unknown: message" "no PCI device 0000:99:00.0" "$ERR"

run bind
assert_fails "bind without an address fails"

reset_writes
run bind 05:00.0
assert_rc "bind with a non-viable group still exits 0" 0
assert_contains "bind: warns group not viable" "IOMMU group 16 of 0000:05:00.0 is not viable" "$ERR"
assert_contains "bind: lists the device blocking the group" "0000:05:00.1 (ixgbe)" "$ERR"
assert_eq "bind: non-viable group device still bound" 0000:05:00.0 "$(content "$PCI/drivers/vfio-pci/bind")"

reset_writes
run bind 05:00.0 05:00.1
assert_rc "bind of a whole group exits 0" 0
assert_not_contains "bind of a whole group: no viability warning" "not viable" "$ERR"
assert_eq "bind of a whole group: NIC unbound from ixgbe" 0000:05:00.1 "$(content "$PCI/drivers/ixgbe/unbind")"
assert_eq "bind of a whole group: NIC driver_override" vfio-pci "$(content "$(dev_dir 0000:05:00.1)/driver_override")"

reset_writes
D7=$(dev_dir 0000:07:00.0)
run bind 07:00.0
assert_fails "bind of a mounted NVMe fails"
assert_contains "bind mounted: says where" "/dev/nvme1n1p2 mounted at /data" "$ERR"
assert_contains "bind mounted: suggests --force" "--force" "$ERR"
assert_eq "bind mounted: driver_override untouched" "(null)" "$(content "$D7/driver_override")"
assert_eq "bind mounted: not unbound" "" "$(content "$PCI/drivers/nvme/unbind")"
reset_writes
run bind --force 07:00.0
assert_rc "bind --force of a mounted NVMe exits 0" 0
assert_eq "bind --force: driver_override set" vfio-pci "$(content "$D7/driver_override")"

reset_writes
D8=$(dev_dir 0000:08:00.0)
run bind 08:00.0
assert_fails "bind of a device without IOMMU group fails"
assert_contains "bind no group: explains" "has no IOMMU group" "$ERR"
assert_contains "bind no group: mentions noiommu mode" "enable_unsafe_noiommu_mode=1" "$ERR"
assert_eq "bind no group: driver_override untouched" "(null)" "$(content "$D8/driver_override")"
echo Y >"$S/module/vfio/parameters/enable_unsafe_noiommu_mode"
reset_writes
run bind 08:00.0
assert_rc "bind without IOMMU group in no-IOMMU mode exits 0" 0
assert_eq "bind no-IOMMU mode: driver_override set" vfio-pci "$(content "$D8/driver_override")"
echo N >"$S/module/vfio/parameters/enable_unsafe_noiommu_mode"

reset_writes
run bind 09:00.0
assert_rc "bind of a device without driver exits 0" 0
assert_eq "bind no driver: bound" 0000:09:00.0 "$(content "$PCI/drivers/vfio-pci/bind")"
assert_eq "bind no driver: remembered as none" none "$(content "$T/run/0000:09:00.0.driver")"

reset_writes
mv "$S/class/iommu/dmar0" "$T/dmar0.away"
run bind 03:00.0
assert_contains "bind without IOMMU warns that vfio-pci needs one" "vfio-pci needs an IOMMU" "$ERR"
mv "$T/dmar0.away" "$S/class/iommu/dmar0"

reset_writes
mv "$PCI/drivers/vfio-pci" "$T/vfio-pci.away"
run bind 03:00.0
assert_fails "bind without vfio-pci driver fails"
assert_contains "bind without vfio-pci: message" "vfio-pci driver not available" "$ERR"
assert_eq "bind without vfio-pci: nothing changed" "(null)" "$(content "$D3/driver_override")"
mv "$T/vfio-pci.away" "$PCI/drivers/vfio-pci"

# The kernel refusing a write: the attribute is a directory here, so the write fails.
reset_writes
rm "$PCI/drivers/nvme/unbind"
mkdir "$PCI/drivers/nvme/unbind"
run bind 03:00.0
assert_fails "bind fails when unbinding from the old driver fails"
assert_contains "bind unbind failure: message" "could not unbind 0000:03:00.0 from nvme" "$ERR"
assert_eq "bind unbind failure: driver_override cleared again" "" "$(content "$D3/driver_override")"
rmdir "$PCI/drivers/nvme/unbind"
: >"$PCI/drivers/nvme/unbind"

reset_writes
rm "$PCI/drivers/vfio-pci/bind"
mkdir "$PCI/drivers/vfio-pci/bind"
run bind 03:00.0
assert_fails "bind fails when vfio-pci refuses the device"
assert_contains "bind refused: message" "vfio-pci refused 0000:03:00.0" "$ERR"
assert_eq "bind refused: driver_override cleared" "" "$(content "$D3/driver_override")"
assert_eq "bind refused: device reprobed" 0000:03:00.0 "$(content "$PCI/drivers_probe")"
rmdir "$PCI/drivers/vfio-pci/bind"
: >"$PCI/drivers/vfio-pci/bind"

# ---------------------------------------------------------------------------------------------------
# unbind

reset_writes
run bind 03:00.0
# Act as the kernel would have: the device is now on vfio-pci.
set_driver 0000:03:00.0 vfio-pci
: >"$PCI/drivers/vfio-pci/bind"
run unbind 0000:03:00.0
assert_rc "unbind exits 0" 0
assert_eq "unbind: BDF written to vfio-pci/unbind" 0000:03:00.0 "$(content "$PCI/drivers/vfio-pci/unbind")"
assert_eq "unbind: driver_override cleared" "" "$(content "$D3/driver_override")"
assert_eq "unbind: device reprobed" 0000:03:00.0 "$(content "$PCI/drivers_probe")"
assert_eq "unbind: state file removed" "<missing>" "$(content "$T/run/0000:03:00.0.driver")"
assert_contains "unbind: names the original driver" "vfio-pci -> nvme" "$OUT"
set_driver 0000:03:00.0 nvme
rm -r "$D3/vfio-dev" "$T/dev/vfio/devices/vfio0" "$T/dev/vfio/12"

reset_writes
run restore 6a:01.0
assert_rc "restore of a device not on vfio-pci exits 0" 0
assert_contains "restore: nothing to do" "nothing to do" "$OUT"
assert_eq "restore: nothing written" "" "$(content "$PCI/drivers_probe")"

run unbind 6a:01
assert_fails "unbind of a malformed address fails"

# ---------------------------------------------------------------------------------------------------
# hugepages

echo 0 >"$HP2"
run hugepages --count 8
assert_rc "hugepages --count 8 exits 0" 0
assert_eq "hugepages --count 8 writes 8" 8 "$(content "$HP2")"
assert_contains "hugepages: reports what was reserved" "requested 8, reserved 8" "$OUT"
assert_contains "hugepages: sees the existing mount" "already mounted at $T/dev/hugepages" "$OUT"

echo 0 >"$HP2"
run hugepages --count 8 --node 1
assert_rc "hugepages --node 1 exits 0" 0
assert_eq "hugepages --node 1 writes node 1" 8 "$(content "$NODE1_HP2")"
assert_eq "hugepages --node 1 leaves the system-wide count" 0 "$(content "$HP2")"

run hugepages --mem 1024
assert_eq "hugepages --mem 1024 writes 512 pages" 512 "$(content "$HP2")"
run HUGEMEM=64 hugepages
assert_eq "HUGEMEM=64 writes 32 pages" 32 "$(content "$HP2")"
run NRHUGE=5 hugepages
assert_eq "NRHUGE=5 writes 5 pages" 5 "$(content "$HP2")"
run hugepages
assert_eq "hugepages default is 1024 pages of 2M" 1024 "$(content "$HP2")"
run NRHUGE=3 HUGENODE=0 hugepages
assert_eq "HUGENODE=0 writes node 0" 3 "$(content "$NODE0_HP2")"

run hugepages --size 1G --count 2
assert_rc "hugepages --size 1G exits 0" 0
assert_eq "hugepages --size 1G writes 2" 2 "$(content "$HP1G")"
assert_contains "hugepages 1G: would mount /dev/hugepages1G" "$T/dev/hugepages1G" "$OUT"

echo 7 >"$HP2"
for args in "--count abc" "--size 3M" "--node 7" "--count 1 --mem 2" "--count" "--frob"; do
	# shellcheck disable=SC2086
	run hugepages $args
	assert_fails "hugepages $args fails"
done
assert_eq "failed hugepages calls leave the count alone" 7 "$(content "$HP2")"
run hugepages --size 3M
assert_contains "hugepages --size 3M: lists the sizes there are" "available: 1048576kB 2048kB" "$ERR"

# The kernel reserving nothing: reads of nr_hugepages come back empty.
mv "$HP1G" "$T/hp1g.away"
ln -s /dev/null "$HP1G"
run hugepages --size 1G --count 2
assert_fails "hugepages fails when the kernel reserves none"
assert_contains "hugepages none reserved: message" "could not reserve any 1G hugepages" "$ERR"
rm "$HP1G"
mv "$T/hp1g.away" "$HP1G"

echo 9 >"$NODE1_HP2"
run reset --node 1
assert_rc "reset --node 1 exits 0" 0
assert_eq "reset --node 1 clears node 1" 0 "$(content "$NODE1_HP2")"
assert_eq "reset --node 1 leaves the system-wide count" 7 "$(content "$HP2")"

echo 2 >"$HP1G"
run hugepages-release
assert_rc "hugepages-release exits 0" 0
assert_eq "hugepages-release clears 2M" 0 "$(content "$HP2")"
assert_eq "hugepages-release clears 1G" 0 "$(content "$HP1G")"

# ---------------------------------------------------------------------------------------------------
# root check, on the real tree (nothing is written: the check comes first, and an unprivileged
# user could not write sysfs anyway)

as_nobody=()
if ((EUID != 0)); then
	as_nobody=(env)
elif command -v setpriv >/dev/null 2>&1 &&
	setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$SETUP" 2>/dev/null; then
	as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups env)
fi
if ((${#as_nobody[@]})); then
	for c in "hugepages --count 1" "hugepages-release" "bind 0000:00:00.0" "unbind 0000:00:00.0"; do
		set +e
		# shellcheck disable=SC2086
		OUT=$("${as_nobody[@]}" -u DP_SYSFS_ROOT -u DP_DEV_ROOT -u DP_PROC_ROOT bash "$SETUP" $c 2>"$T/stderr")
		RC=$?
		set -e
		ERR=$(cat "$T/stderr")
		assert_fails "$c as non-root fails"
		assert_contains "$c as non-root: says to run as root" "must run as root" "$ERR"
	done
else
	skip "root check (cannot run as an unprivileged user here)"
fi

# ---------------------------------------------------------------------------------------------------

if command -v shellcheck >/dev/null 2>&1; then
	if OUT=$(shellcheck "$SETUP" "$here/setup_test.sh" 2>&1); then
		ok "shellcheck clean"
	else
		ERR=""
		not_ok "shellcheck clean"
	fi
else
	skip "shellcheck not installed"
fi

echo "$pass passed, $fail failed"
((fail == 0))
