#!/usr/bin/env bash
# dmaplane scripts/setup.sh: prepare a machine for userspace polled-mode drivers.
# Reserves hugepages, binds PCI devices to vfio-pci (and back), and reports what the kernel offers
# (IOMMU, iommufd, VFIO cdev / type1 container, hugepages, hugetlbfs mounts).
#
# Every /sys, /dev and /proc path is prefixed with DP_SYSFS_ROOT, DP_DEV_ROOT and DP_PROC_ROOT, so the
# script can run against a fake tree (see test/scripts/setup_test.sh). With DP_SYSFS_ROOT set the script
# does not require root, and never calls modprobe or mount.
set -euo pipefail
shopt -s nullglob

PROG=${0##*/}
SYS="${DP_SYSFS_ROOT:-}/sys"
DEV="${DP_DEV_ROOT:-}/dev"
PROC="${DP_PROC_ROOT:-}/proc"
RUN_DIR="${DP_RUN_DIR:-/run/dmaplane}"
FAKE=0
[[ -n ${DP_SYSFS_ROOT:-} ]] && FAKE=1

PCI_DEVS="$SYS/bus/pci/devices"
PCI_DRVS="$SYS/bus/pci/drivers"
VFIO_DRV="$PCI_DRVS/vfio-pci"

# ---------------------------------------------------------------------------------------------------
# messages

info() { printf '%s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
err() { printf '%s: error: %s\n' "$PROG" "$*" >&2; }
die() {
	err "$@"
	exit 1
}
usage_die() {
	err "$@"
	printf "Run '%s help' for usage.\n" "$0" >&2
	exit 2
}

usage() {
	cat <<USAGE
Usage: $0 COMMAND [OPTIONS]

Commands:
  status [--all]          Show NVMe (class 0x010802), DSA (8086:0b25) and IAX (8086:0cfe) devices
                          with NUMA node, driver, IOMMU group and VFIO cdev; whether an IOMMU,
                          iommufd (/dev/iommu), the VFIO type1 container (/dev/vfio/vfio) and VFIO
                          cdev support are present; hugepages per size and node; hugetlbfs mounts.
                          --all lists every PCI device instead of only NVMe/DSA/IAX.
  hugepages [--size 2M|1G] [--count N | --mem MiB] [--node N[,N...]]
                          Reserve hugepages (default size 2M; default amount HUGEMEM MiB, 2048 MiB
                          if unset, i.e. 1024 pages of 2M). With --node the pages are reserved on
                          each given NUMA node, otherwise system-wide. Mounts hugetlbfs at
                          /dev/hugepages (2M) or /dev/hugepages1G (1G) if not mounted there, and
                          reports how many pages the kernel actually gave (it may give fewer).
  hugepages-release [--size S] [--node N[,N...]]    (alias: reset)
                          Set hugepage counts back to 0 (all sizes, system-wide by default).
  bind [--force] BDF [BDF...]
                          Bind PCI devices to vfio-pci through driver_override, loading vfio-pci
                          if needed, and print the resulting /dev/vfio/devices/vfioN and
                          /dev/vfio/GROUP. The original driver is remembered in
                          \$DP_RUN_DIR/BDF.driver for 'unbind'. NVMe devices with mounted or
                          otherwise used namespaces are refused unless --force is given.
  unbind BDF [BDF...]
  restore BDF [BDF...]    Unbind from vfio-pci, clear driver_override and reprobe the device so it
                          returns to its original kernel driver.
  help                    Show this help.

BDF is a PCI address, DDDD:BB:DD.F or BB:DD.F (domain 0000 assumed), as 'lspci -D' prints it.
Commands that change kernel state (hugepages, hugepages-release, bind, unbind) must run as root.

Environment:
  HUGEMEM=MiB             amount of hugepage memory for 'hugepages' (like SPDK's setup.sh)
  NRHUGE=N                number of hugepages for 'hugepages' (overrides HUGEMEM)
  HUGENODE=N[,N...]       NUMA node(s) for 'hugepages' when --node is not given
  DP_RUN_DIR=DIR          where bind remembers original drivers (default /run/dmaplane)
  DP_SYSFS_ROOT=DIR       prefix for /sys paths (testing against a fake tree; disables modprobe,
                          mount and the root check)
  DP_DEV_ROOT=DIR         prefix for /dev paths
  DP_PROC_ROOT=DIR        prefix for /proc paths (mounts, swaps, meminfo, config.gz)
  DP_KCONFIG=FILE         kernel config to consult (default /proc/config.gz, /boot/config-\$(uname -r))
USAGE
}

# ---------------------------------------------------------------------------------------------------
# small helpers

# Print the contents of a sysfs attribute, or nothing if it cannot be read.
read_attr() {
	local v
	v=$(cat "$1" 2>/dev/null) || v=""
	printf '%s' "$v"
}

# Write a value to a sysfs attribute. Returns non-zero (with the kernel's reason) on failure.
write_attr() {
	local value=$1 file=$2 msg
	if ! msg=$({ printf '%s\n' "$value" >"$file"; } 2>&1); then
		msg=${msg##*: }
		err "writing '$value' to $file failed${msg:+: $msg}"
		return 1
	fi
}

# Basename of a symlink's target, or nothing.
link_name() {
	local t
	t=$(readlink "$1" 2>/dev/null) || t=""
	printf '%s' "${t##*/}"
}

is_uint() { [[ $1 =~ ^[0-9]{1,12}$ ]]; }

require_root() {
	((FAKE)) && return 0
	((EUID == 0)) && return 0
	die "'$1' changes kernel settings and must run as root: sudo $0 $1 ..."
}

# The kernel config, read once. Empty if no source is readable.
KCONFIG_TEXT=""
KCONFIG_READ=0
kconfig_load() {
	((KCONFIG_READ)) && return 0
	KCONFIG_READ=1
	local cands=() f
	if [[ -n ${DP_KCONFIG:-} ]]; then
		cands=("$DP_KCONFIG")
	else
		cands=("$PROC/config.gz")
		((FAKE)) || cands+=("/boot/config-$(uname -r)")
	fi
	for f in "${cands[@]}"; do
		[[ -r $f ]] || continue
		if [[ $f == *.gz ]]; then
			KCONFIG_TEXT=$(gzip -dc "$f" 2>/dev/null) || KCONFIG_TEXT=""
		else
			KCONFIG_TEXT=$(cat "$f" 2>/dev/null) || KCONFIG_TEXT=""
		fi
		[[ -n $KCONFIG_TEXT ]] && return 0
	done
}

# Print y, m or n for CONFIG_<name>, or nothing if the kernel config is unknown.
kconfig() {
	kconfig_load
	[[ -n $KCONFIG_TEXT ]] || return 0
	local line
	line=$(grep -E "^CONFIG_$1=" <<<"$KCONFIG_TEXT" || true)
	case ${line#*=} in
	y) echo y ;;
	m) echo m ;;
	*) echo n ;;
	esac
}

# ---------------------------------------------------------------------------------------------------
# PCI device helpers

# Validate and normalize a PCI address into BDF (global). Dies with a hint when malformed or unknown.
BDF=""
normalize_bdf() {
	local in=$1 b
	b=${1,,}
	if [[ $b =~ ^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]]; then
		b="0000:$b"
	elif ! [[ $b =~ ^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]]; then
		die "invalid PCI address '$in': expected DDDD:BB:DD.F or BB:DD.F, e.g. 0000:03:00.0 (see 'lspci -D' or '$0 status')"
	fi
	local dev=${b%.*}
	dev=${dev##*:}
	if ((16#$dev > 31)); then
		die "invalid PCI address '$in': device number $dev is above 1f (see 'lspci -D' or '$0 status')"
	fi
	if [[ ! -e $PCI_DEVS/$b ]]; then
		die "no PCI device $b on this machine ($PCI_DEVS/$b does not exist): check the address with 'lspci -D' or '$0 status --all'"
	fi
	BDF=$b
}

dev_driver() { link_name "$PCI_DEVS/$1/driver"; }
dev_group() { link_name "$PCI_DEVS/$1/iommu_group"; }

dev_ids() {
	local v d
	v=$(read_attr "$PCI_DEVS/$1/vendor")
	d=$(read_attr "$PCI_DEVS/$1/device")
	printf '%s:%s' "${v#0x}" "${d#0x}"
}

dev_type() {
	local class ids
	class=$(read_attr "$PCI_DEVS/$1/class")
	ids=$(dev_ids "$1")
	# DSA/IAX ids as the idxd driver lists them for Sapphire Rapids; add later generations here.
	case $ids in
	8086:0b25) echo DSA; return ;;
	8086:0cfe) echo IAX; return ;;
	esac
	[[ $class == 0x010802 ]] && echo NVMe
	return 0
}

# Kernel names below the PCI device: nvme0, dsa0, iax1 ...
dev_names() {
	local d names=()
	for d in "$PCI_DEVS/$1"/nvme/nvme* "$PCI_DEVS/$1"/dsa* "$PCI_DEVS/$1"/iax*; do
		names+=("${d##*/}")
	done
	local IFS=,
	printf '%s' "${names[*]}"
}

# VFIO cdev names (vfio0, or noiommu-vfio0 in no-IOMMU mode) of a device bound to vfio-pci.
dev_vfio_cdevs() {
	local e names=()
	for e in "$PCI_DEVS/$1"/vfio-dev/*; do
		names+=("${e##*/}")
	done
	printf '%s' "${names[*]}"
}

iommu_present() {
	local e
	for e in "$SYS"/class/iommu/*; do
		return 0
	done
	return 1
}

noiommu_enabled() {
	[[ $(read_attr "$SYS/module/vfio/parameters/enable_unsafe_noiommu_mode") == [Yy1]* ]]
}

# Whether a driver may share an IOMMU group with a device used through VFIO: VFIO drivers
# (vfio-pci and its variant drivers), pci-stub and pcieport do not do DMA of their own.
driver_vfio_safe() {
	case $1 in
	"" | *vfio* | pci-stub | pcieport) return 0 ;;
	esac
	return 1
}

# ---------------------------------------------------------------------------------------------------
# status

cdev_support() {
	if [[ -d $DEV/vfio/devices ]]; then
		echo "yes ($DEV/vfio/devices exists)"
		return
	fi
	local c v
	c=$(kconfig VFIO_DEVICE_CDEV)
	v=$(kconfig VFIO)
	if [[ $c == y ]]; then
		echo "yes (CONFIG_VFIO_DEVICE_CDEV=y; $DEV/vfio/devices appears once a device is bound)"
	elif [[ $v == n ]]; then
		echo "no (kernel built without CONFIG_VFIO)"
	elif [[ $c == n ]]; then
		echo "no (CONFIG_VFIO_DEVICE_CDEV is not set: only the group/container interface)"
	elif [[ -d $SYS/module/vfio ]]; then
		echo "no ($DEV/vfio/devices missing although vfio is loaded)"
	else
		echo "unknown (vfio not loaded and kernel config not readable)"
	fi
}

iommufd_support() {
	if [[ -e $DEV/iommu ]]; then
		echo "yes ($DEV/iommu)"
		return
	fi
	case $(kconfig IOMMUFD) in
	m) echo "no ($DEV/iommu missing: load it with 'modprobe iommufd')" ;;
	n) echo "no (kernel built without CONFIG_IOMMUFD)" ;;
	*) echo "no ($DEV/iommu missing)" ;;
	esac
}

type1_support() {
	if [[ -e $DEV/vfio/vfio ]]; then
		echo "yes ($DEV/vfio/vfio)"
		return
	fi
	if [[ $(kconfig VFIO) == n ]]; then
		echo "no (kernel built without CONFIG_VFIO)"
		return
	fi
	case $(kconfig VFIO_CONTAINER) in
	n) echo "no (kernel built without CONFIG_VFIO_CONTAINER)" ;;
	*) echo "no ($DEV/vfio/vfio missing: 'modprobe vfio-pci' loads it)" ;;
	esac
}

dev_row() { printf '%-13s %-5s %-10s %-5s %-12s %-6s %-24s %s\n' "$@"; }
hp_row() { printf '  %-12s %-6s %8s %8s %8s\n' "$@"; }

status_devices() {
	local all=$1 d bdf type n=0
	dev_row BDF Type Vendor:Dev NUMA Driver Group VFIO-cdev Name
	for d in "$PCI_DEVS"/*; do
		bdf=${d##*/}
		type=$(dev_type "$bdf")
		if [[ -z $type ]]; then
			((all)) || continue
			type=-
		fi
		local numa drv grp cdevs cdev_col="" c names
		numa=$(read_attr "$d/numa_node")
		[[ -z $numa || $numa == -1 ]] && numa=-
		drv=$(dev_driver "$bdf")
		grp=$(dev_group "$bdf")
		cdevs=$(dev_vfio_cdevs "$bdf")
		for c in $cdevs; do
			if [[ -e $DEV/vfio/devices/$c ]]; then
				cdev_col+="${cdev_col:+,}$DEV/vfio/devices/$c"
			else
				cdev_col+="${cdev_col:+,}$c(no-node)"
			fi
		done
		names=$(dev_names "$bdf")
		dev_row "$bdf" "$type" "$(dev_ids "$bdf")" "$numa" "${drv:--}" "${grp:--}" \
			"${cdev_col:--}" "${names:--}"
		n=$((n + 1))
	done
	if ((n == 0)); then
		if ((all)); then
			info "(no PCI devices under $PCI_DEVS)"
		else
			info "(no NVMe, DSA or IAX devices found; '$0 status --all' lists every PCI device)"
		fi
	fi
}

status_system() {
	local names=() e
	for e in "$SYS"/class/iommu/*; do
		names+=("${e##*/}")
	done
	info ""
	info "System:"
	printf '  %-22s %s\n' "Kernel:" "$(uname -r)"
	if ((${#names[@]})); then
		printf '  %-22s %s\n' "IOMMU:" "present (${names[*]})"
	else
		printf '  %-22s %s\n' "IOMMU:" "none ($SYS/class/iommu is empty: enable VT-d/AMD-Vi in firmware, boot with intel_iommu=on or amd_iommu=on)"
	fi
	printf '  %-22s %s\n' "iommufd:" "$(iommufd_support)"
	printf '  %-22s %s\n' "VFIO type1 container:" "$(type1_support)"
	printf '  %-22s %s\n' "VFIO cdev support:" "$(cdev_support)"
	if [[ -d $VFIO_DRV ]]; then
		printf '  %-22s %s\n' "vfio-pci driver:" "loaded"
	else
		printf '  %-22s %s\n' "vfio-pci driver:" "not loaded ('$0 bind' loads it)"
	fi
	if [[ -d $SYS/module/vfio ]]; then
		if noiommu_enabled; then
			printf '  %-22s %s\n' "VFIO no-IOMMU mode:" "ON (unsafe: no DMA isolation)"
		else
			printf '  %-22s %s\n' "VFIO no-IOMMU mode:" "off"
		fi
	fi
}

status_hugepages() {
	local d size node nd
	info ""
	info "Hugepages:"
	local def
	def=$(grep -E '^Hugepagesize:' "$PROC/meminfo" 2>/dev/null | awk '{print $2 "kB"}' || true)
	[[ -n $def ]] && info "  default size: $def"
	hp_row Size Node Total Free Surplus
	local any=0
	for d in "$SYS"/kernel/mm/hugepages/hugepages-*; do
		any=1
		size=${d##*/hugepages-}
		hp_row "$size" all "$(read_attr "$d/nr_hugepages")" "$(read_attr "$d/free_hugepages")" \
			"$(read_attr "$d/surplus_hugepages")"
		for nd in "$SYS"/devices/system/node/node[0-9]*; do
			node=${nd##*/}
			[[ -d $nd/hugepages/hugepages-$size ]] || continue
			hp_row "$size" "${node#node}" "$(read_attr "$nd/hugepages/hugepages-$size/nr_hugepages")" \
				"$(read_attr "$nd/hugepages/hugepages-$size/free_hugepages")" \
				"$(read_attr "$nd/hugepages/hugepages-$size/surplus_hugepages")"
		done
	done
	((any)) || info "  (none: kernel without CONFIG_HUGETLBFS, $SYS/kernel/mm/hugepages missing)"

	info ""
	info "hugetlbfs mounts:"
	local src mnt fstype opts rest n=0 ps
	if [[ -r $PROC/mounts ]]; then
		while read -r src mnt fstype opts rest; do
			[[ $fstype == hugetlbfs ]] || continue
			ps=default
			[[ ,$opts, =~ ,pagesize=([^,]+), ]] && ps=${BASH_REMATCH[1]}
			printf '  %-24s pagesize=%s\n' "$mnt" "$ps"
			n=$((n + 1))
		done <"$PROC/mounts"
	fi
	((n)) || info "  none ('$0 hugepages' mounts $DEV/hugepages)"
}

cmd_status() {
	local all=0
	while (($#)); do
		case $1 in
		-a | --all) all=1 ;;
		-h | --help)
			usage
			return 0
			;;
		*) usage_die "status: unknown option '$1'" ;;
		esac
		shift
	done
	if [[ ! -d $PCI_DEVS ]]; then
		warn "$PCI_DEVS does not exist: no PCI bus visible"
	else
		if ((all)); then info "PCI devices:"; else info "PCI devices (NVMe, DSA, IAX):"; fi
		status_devices "$all"
	fi
	status_system
	status_hugepages
}

# ---------------------------------------------------------------------------------------------------
# hugepages

# Parse a page size (2M, 1G, 2048kB, 64K ...) into SIZE_KB and SIZE_NAME (2M, 1G ...).
SIZE_KB=0
SIZE_NAME=""
parse_size() {
	local s=${1^^} num unit
	s=${s%IB}
	s=${s%B}
	if [[ ! $s =~ ^([0-9]{1,9})([KMG]?)$ ]]; then
		usage_die "invalid hugepage size '$1': use 2M or 1G (or a size in kB such as 2048kB)"
	fi
	num=${BASH_REMATCH[1]}
	unit=${BASH_REMATCH[2]}
	case $unit in
	"" | K) SIZE_KB=$num ;;
	M) SIZE_KB=$((num * 1024)) ;;
	G) SIZE_KB=$((num * 1024 * 1024)) ;;
	esac
	if ((SIZE_KB % (1024 * 1024) == 0)); then
		SIZE_NAME="$((SIZE_KB / 1024 / 1024))G"
	elif ((SIZE_KB % 1024 == 0)); then
		SIZE_NAME="$((SIZE_KB / 1024))M"
	else
		SIZE_NAME="${SIZE_KB}K"
	fi
	if [[ ! -d $SYS/kernel/mm/hugepages/hugepages-${SIZE_KB}kB ]]; then
		local avail=() d
		for d in "$SYS"/kernel/mm/hugepages/hugepages-*; do
			avail+=("${d##*/hugepages-}")
		done
		die "hugepage size $1 (${SIZE_KB}kB) is not supported here (available: ${avail[*]:-none}); 1G pages need CPU support (pdpe1gb)"
	fi
}

# Split a node list (0,1 or "0 1") into NODES (global), checking that each node exists.
NODES=()
parse_nodes() {
	local list=${1//,/ } n
	NODES=()
	for n in $list; do
		n=${n#node}
		is_uint "$n" || usage_die "invalid NUMA node '$n': expected a number such as 0"
		[[ -d $SYS/devices/system/node/node$n ]] ||
			die "NUMA node $n does not exist (see $SYS/devices/system/node/)"
		NODES+=("$n")
	done
	((${#NODES[@]})) || usage_die "--node needs a node number"
}

# nr_hugepages file for the current SIZE_KB on node $1 (or system-wide when $1 is empty).
hp_file() {
	if [[ -n $1 ]]; then
		printf '%s' "$SYS/devices/system/node/node$1/hugepages/hugepages-${SIZE_KB}kB/nr_hugepages"
	else
		printf '%s' "$SYS/kernel/mm/hugepages/hugepages-${SIZE_KB}kB/nr_hugepages"
	fi
}

hp_mount_point() {
	if ((SIZE_KB == 2048)); then
		printf '%s' "$DEV/hugepages"
	else
		printf '%s' "$DEV/hugepages$SIZE_NAME"
	fi
}

# Mount hugetlbfs with the current page size at its mount point, unless something is mounted there.
ensure_hugetlbfs() {
	local mp src mnt fstype opts rest
	mp=$(hp_mount_point)
	if [[ -r $PROC/mounts ]]; then
		while read -r src mnt fstype opts rest; do
			if [[ $mnt == "$mp" ]]; then
				if [[ $fstype != hugetlbfs ]]; then
					warn "$mp is mounted but not as hugetlbfs ($fstype): mount hugetlbfs elsewhere yourself"
				elif [[ ,$opts, == *,pagesize=*,* && ,$opts, != *,pagesize=$SIZE_NAME,* ]]; then
					warn "$mp is a hugetlbfs mount with another page size ($opts)"
				else
					info "hugetlbfs already mounted at $mp"
				fi
				return 0
			fi
		done <"$PROC/mounts"
	fi
	if ((FAKE)); then
		info "not mounting hugetlbfs at $mp (DP_SYSFS_ROOT is set)"
		return 0
	fi
	if ! mkdir -p "$mp" || ! mount -t hugetlbfs -o "pagesize=$SIZE_NAME" nodev "$mp"; then
		warn "could not mount hugetlbfs at $mp; the pages are reserved, mount it yourself: mount -t hugetlbfs -o pagesize=$SIZE_NAME nodev $mp"
		return 0
	fi
	info "mounted hugetlbfs (pagesize=$SIZE_NAME) at $mp"
}

cmd_hugepages() {
	local size=2M count="" mem="" nodes=${HUGENODE:-}
	while (($#)); do
		case $1 in
		--size | --count | --mem | --node)
			(($# >= 2)) || usage_die "hugepages: $1 needs a value"
			case $1 in
			--size) size=$2 ;;
			--count) count=$2 ;;
			--mem) mem=$2 ;;
			--node) nodes=$2 ;;
			esac
			shift 2
			continue
			;;
		--size=*) size=${1#*=} ;;
		--count=*) count=${1#*=} ;;
		--mem=*) mem=${1#*=} ;;
		--node=*) nodes=${1#*=} ;;
		-h | --help)
			usage
			return 0
			;;
		*) usage_die "hugepages: unknown option '$1'" ;;
		esac
		shift
	done
	[[ -n $count && -n $mem ]] && usage_die "hugepages: give either --count or --mem, not both"
	if [[ -n $count ]]; then
		is_uint "$count" || usage_die "hugepages: --count '$count' is not a number of pages"
	elif [[ -n $mem ]]; then
		is_uint "$mem" || usage_die "hugepages: --mem '$mem' is not a size in MiB"
	elif [[ -n ${NRHUGE:-} ]]; then
		is_uint "$NRHUGE" || usage_die "NRHUGE='$NRHUGE' is not a number of pages"
		count=$NRHUGE
	else
		mem=${HUGEMEM:-2048}
		is_uint "$mem" || usage_die "HUGEMEM='$mem' is not a size in MiB"
	fi

	require_root hugepages
	parse_size "$size"
	if [[ -z $count ]]; then
		count=$(((mem * 1024 + SIZE_KB - 1) / SIZE_KB))
	fi
	local targets=("")
	if [[ -n $nodes ]]; then
		parse_nodes "$nodes"
		targets=("${NODES[@]}")
	fi

	local node f got where failed=()
	for node in "${targets[@]}"; do
		f=$(hp_file "$node")
		where=${node:+on node $node}
		where=${where:-system-wide}
		[[ -e $f ]] || die "$f does not exist: no ${SIZE_NAME} hugepages ${where} on this kernel"
		write_attr "$count" "$f" ||
			die "could not set ${SIZE_NAME} hugepages ${where}: run as root on a kernel with hugetlbfs, and check dmesg"
		got=$(read_attr "$f")
		is_uint "$got" || got=0
		info "${SIZE_NAME} hugepages ${where}: requested $count, reserved $got"
		if ((got == 0 && count > 0)); then
			failed+=("$where")
		elif ((got < count)); then
			warn "the kernel reserved only $got of $count ${SIZE_NAME} hugepages ${where} (not enough free contiguous memory)"
		fi
	done
	if ((${#failed[@]})); then
		err "could not reserve any ${SIZE_NAME} hugepages (${failed[*]}): not enough free contiguous memory."
		err "Free memory and retry (sync; echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory),"
		err "ask for fewer pages, or reserve them at boot: hugepagesz=${SIZE_NAME} hugepages=$count on the kernel command line."
		exit 1
	fi
	((count > 0)) && ensure_hugetlbfs
	return 0
}

cmd_hugepages_release() {
	local sizes=() nodes=""
	while (($#)); do
		case $1 in
		--size | --node)
			(($# >= 2)) || usage_die "hugepages-release: $1 needs a value"
			if [[ $1 == --size ]]; then sizes+=("$2"); else nodes=$2; fi
			shift 2
			continue
			;;
		--size=*) sizes+=("${1#*=}") ;;
		--node=*) nodes=${1#*=} ;;
		-h | --help)
			usage
			return 0
			;;
		*) usage_die "hugepages-release: unknown option '$1'" ;;
		esac
		shift
	done
	require_root hugepages-release
	if ((${#sizes[@]} == 0)); then
		local d
		for d in "$SYS"/kernel/mm/hugepages/hugepages-*; do
			sizes+=("${d##*/hugepages-}")
		done
		((${#sizes[@]})) || die "no hugepage sizes under $SYS/kernel/mm/hugepages: kernel without hugetlbfs?"
	fi
	local targets=("")
	if [[ -n $nodes ]]; then
		parse_nodes "$nodes"
		targets=("${NODES[@]}")
	fi
	local s node f left where rc=0 surplus
	for s in "${sizes[@]}"; do
		parse_size "$s"
		for node in "${targets[@]}"; do
			f=$(hp_file "$node")
			where=${node:+on node $node}
			where=${where:-system-wide}
			[[ -e $f ]] || continue
			if ! write_attr 0 "$f"; then
				rc=1
				continue
			fi
			left=$(read_attr "$f")
			surplus=$(read_attr "${f%/nr_hugepages}/surplus_hugepages")
			info "${SIZE_NAME} hugepages ${where}: now ${left:-?}"
			if is_uint "$surplus" && ((surplus > 0)); then
				info "  ($surplus still in use by running processes; the kernel frees them when they exit)"
			fi
		done
	done
	return "$rc"
}

# ---------------------------------------------------------------------------------------------------
# bind / unbind

ensure_vfio_pci() {
	[[ -d $VFIO_DRV ]] && return 0
	if ((FAKE)); then
		die "vfio-pci driver not available: $VFIO_DRV is missing (DP_SYSFS_ROOT is set, not running modprobe)"
	fi
	if [[ $(kconfig VFIO_PCI) == n ]]; then
		die "vfio-pci driver not available: this kernel ($(uname -r)) is built without CONFIG_VFIO_PCI; boot a kernel with CONFIG_VFIO_PCI, CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV (and an IOMMU enabled)"
	fi
	if command -v modprobe >/dev/null 2>&1; then
		if ! modprobe vfio-pci; then
			die "'modprobe vfio-pci' failed: build the kernel with CONFIG_VFIO_PCI (and CONFIG_IOMMUFD, CONFIG_VFIO_DEVICE_CDEV) or install the kernel's modules package"
		fi
	fi
	[[ -d $VFIO_DRV ]] ||
		die "vfio-pci driver not available: $VFIO_DRV is missing and it is not built in; install kmod and run 'modprobe vfio-pci', or build the kernel with CONFIG_VFIO_PCI"
}

# Print what keeps an NVMe controller's namespaces busy: mounts, swap, holders (LVM, md, dm).
nvme_in_use() {
	local bdf=$1 ns name src mnt rest h
	for ns in "$PCI_DEVS/$bdf"/nvme/nvme*/nvme*n*; do
		name=${ns##*/}
		# With native multipath the per-path node is nvmeXcYnZ; its block device is the head nvmeXnZ.
		if [[ $name =~ ^nvme([0-9]+)c[0-9]+n([0-9]+)$ ]]; then
			name="nvme${BASH_REMATCH[1]}n${BASH_REMATCH[2]}"
		fi
		if [[ -r $PROC/mounts ]]; then
			while read -r src mnt rest; do
				[[ $src == /dev/$name || $src == /dev/${name}p* ]] && echo "$src mounted at $mnt"
			done <"$PROC/mounts"
		fi
		if [[ -r $PROC/swaps ]]; then
			while read -r src rest; do
				[[ $src == /dev/$name || $src == /dev/${name}p* ]] && echo "$src used as swap"
			done <"$PROC/swaps"
		fi
		for h in "$SYS/block/$name"/holders/* "$SYS/block/$name/$name"p*/holders/*; do
			echo "$name held by ${h##*/}"
		done
	done
	return 0
}

# Devices in the IOMMU group of $1 (other than those being bound now) bound to a kernel driver.
group_blockers() {
	local bdf=$1 grp d other drv b skip
	grp=$(dev_group "$bdf")
	[[ -n $grp ]] || return 0
	for d in "$SYS/kernel/iommu_groups/$grp"/devices/*; do
		other=${d##*/}
		[[ $other == "$bdf" ]] && continue
		skip=0
		for b in "${BIND_SET[@]}"; do
			[[ $b == "$other" ]] && skip=1
		done
		((skip)) && continue
		drv=$(link_name "$d/driver")
		driver_vfio_safe "$drv" || echo "$other ($drv)"
	done
	return 0
}

# Print the VFIO device nodes of a device bound to vfio-pci.
report_vfio_nodes() {
	local bdf=$1 grp cdevs c found=0 i
	grp=$(dev_group "$bdf")
	# udev/devtmpfs may need a moment to create the nodes.
	if ((!FAKE)); then
		for ((i = 0; i < 20; i++)); do
			cdevs=$(dev_vfio_cdevs "$bdf")
			[[ -n $cdevs && -e $DEV/vfio/devices/${cdevs%% *} ]] && break
			[[ -n $grp && (-e $DEV/vfio/$grp || -e $DEV/vfio/noiommu-$grp) ]] && break
			sleep 0.1
		done
	fi
	cdevs=$(dev_vfio_cdevs "$bdf")
	for c in $cdevs; do
		if [[ -e $DEV/vfio/devices/$c ]]; then
			info "  vfio cdev:  $DEV/vfio/devices/$c (iommufd)"
			found=1
		else
			info "  vfio cdev:  none ($c has no node in $DEV/vfio/devices: kernel without CONFIG_VFIO_DEVICE_CDEV)"
		fi
	done
	if [[ -z $cdevs ]]; then
		info "  vfio cdev:  none (no $PCI_DEVS/$bdf/vfio-dev/: kernel without VFIO cdev support)"
	fi
	if [[ -n $grp && -e $DEV/vfio/$grp ]]; then
		info "  vfio group: $DEV/vfio/$grp (type1 container)"
		found=1
	elif [[ -n $grp && -e $DEV/vfio/noiommu-$grp ]]; then
		info "  vfio group: $DEV/vfio/noiommu-$grp (no-IOMMU mode: no DMA isolation)"
		found=1
	else
		info "  vfio group: none${grp:+ ($DEV/vfio/$grp missing: kernel without CONFIG_VFIO_GROUP?)}"
	fi
	((found)) || warn "$bdf: no VFIO device node appeared; check dmesg and '$0 status'"
	return 0
}

# Return a device to driver $2 (or whatever the kernel picks) after vfio-pci is off it.
reprobe() {
	local bdf=$1 orig=$2 now
	write_attr "" "$PCI_DEVS/$bdf/driver_override" || true
	write_attr "$bdf" "$SYS/bus/pci/drivers_probe" || true
	now=$(dev_driver "$bdf")
	if ((!FAKE)) && [[ -n $orig && $orig != none && $now != "$orig" ]]; then
		if [[ ! -d $PCI_DRVS/$orig ]] && command -v modprobe >/dev/null 2>&1; then
			modprobe "$orig" 2>/dev/null || true
		fi
		if [[ -z $now && -d $PCI_DRVS/$orig ]]; then
			write_attr "$bdf" "$PCI_DRVS/$orig/bind" || true
		fi
	fi
	return 0
}

BIND_SET=()

bind_one() {
	local bdf=$1 force=$2 dev="$PCI_DEVS/$1" cur grp ids users blockers now
	cur=$(dev_driver "$bdf")
	ids=$(dev_ids "$bdf")
	if [[ $cur == vfio-pci ]]; then
		info "$bdf ($ids): already bound to vfio-pci"
		report_vfio_nodes "$bdf"
		return 0
	fi
	grp=$(dev_group "$bdf")
	if [[ -z $grp ]] && ! noiommu_enabled; then
		err "$bdf has no IOMMU group, so vfio-pci cannot take it: enable the IOMMU (VT-d/AMD-Vi in firmware, intel_iommu=on or amd_iommu=on), or for testing only 'modprobe vfio enable_unsafe_noiommu_mode=1'. Not binding $bdf."
		return 1
	fi
	if [[ $cur == nvme ]]; then
		users=$(nvme_in_use "$bdf")
		if [[ -n $users ]]; then
			if ((force)); then
				warn "$bdf is in use (${users//$'\n'/; }); binding anyway (--force)"
			else
				err "$bdf is in use: ${users//$'\n'/; }. Unmount/release it first, or pass --force. Not binding $bdf."
				return 1
			fi
		fi
	fi
	blockers=$(group_blockers "$bdf")
	if [[ -n $blockers ]]; then
		warn "IOMMU group $grp of $bdf is not viable: other devices in it are still bound to kernel drivers: ${blockers//$'\n'/, }."
		warn "VFIO cannot use $bdf until they are bound to vfio-pci too ($0 bind ...) or unbound."
	fi

	if ! mkdir -p "$RUN_DIR" || ! printf '%s\n' "${cur:-none}" >"$RUN_DIR/$bdf.driver"; then
		err "cannot record the original driver in $RUN_DIR/$bdf.driver (set DP_RUN_DIR to a writable directory). Not binding $bdf."
		return 1
	fi
	if [[ ! -e $dev/driver_override ]]; then
		err "$dev/driver_override is missing (kernel older than 3.16?). Not binding $bdf."
		return 1
	fi
	write_attr vfio-pci "$dev/driver_override" || return 1
	if [[ -n $cur ]] && ! write_attr "$bdf" "$PCI_DRVS/$cur/unbind"; then
		err "could not unbind $bdf from $cur; leaving it there"
		write_attr "" "$dev/driver_override" || true
		return 1
	fi
	if ! write_attr "$bdf" "$VFIO_DRV/bind" && [[ $(dev_driver "$bdf") != vfio-pci ]]; then
		err "vfio-pci refused $bdf (see dmesg); returning it to ${cur:-no driver}"
		reprobe "$bdf" "$cur"
		return 1
	fi
	now=$(dev_driver "$bdf")
	if [[ $now != vfio-pci ]]; then
		if ((FAKE)); then
			info "$bdf ($ids): ${cur:-no driver} -> vfio-pci (DP_SYSFS_ROOT is set: written, not verified)"
		else
			err "$bdf is not bound to vfio-pci after binding (driver: ${now:-none}); see dmesg. Returning it to ${cur:-no driver}"
			reprobe "$bdf" "$cur"
			return 1
		fi
	else
		info "$bdf ($ids): ${cur:-no driver} -> vfio-pci"
	fi
	report_vfio_nodes "$bdf"
}

cmd_bind() {
	local force=0 args=() a
	for a in "$@"; do
		case $a in
		-f | --force) force=1 ;;
		-h | --help)
			usage
			return 0
			;;
		-*) usage_die "bind: unknown option '$a'" ;;
		*) args+=("$a") ;;
		esac
	done
	((${#args[@]})) || usage_die "bind: give at least one PCI address, e.g. $0 bind 0000:03:00.0"
	require_root bind
	BIND_SET=()
	for a in "${args[@]}"; do
		normalize_bdf "$a"
		BIND_SET+=("$BDF")
	done
	ensure_vfio_pci
	if ! iommu_present && ! noiommu_enabled; then
		warn "no IOMMU found ($SYS/class/iommu is empty): vfio-pci needs an IOMMU. Enable VT-d/AMD-Vi in firmware and boot with intel_iommu=on (or amd_iommu=on), or, for testing only, use no-IOMMU mode: modprobe vfio enable_unsafe_noiommu_mode=1 (no DMA isolation, no iommufd)."
	fi
	local rc=0 bdf
	for bdf in "${BIND_SET[@]}"; do
		bind_one "$bdf" "$force" || rc=1
	done
	return "$rc"
}

unbind_one() {
	local bdf=$1 dev="$PCI_DEVS/$1" cur override orig state now ids
	cur=$(dev_driver "$bdf")
	ids=$(dev_ids "$bdf")
	override=$(read_attr "$dev/driver_override")
	state="$RUN_DIR/$bdf.driver"
	orig=$(read_attr "$state")
	if [[ $cur != vfio-pci && $override != vfio-pci ]]; then
		info "$bdf ($ids): not bound to vfio-pci (driver: ${cur:-none}); nothing to do"
		rm -f "$state"
		return 0
	fi
	if [[ $cur == vfio-pci ]] && ! write_attr "$bdf" "$VFIO_DRV/unbind"; then
		err "could not unbind $bdf from vfio-pci (is a process still using it? see 'fuser -v $DEV/vfio/*')"
		return 1
	fi
	reprobe "$bdf" "$orig"
	rm -f "$state"
	now=$(dev_driver "$bdf")
	if ((FAKE)); then
		info "$bdf ($ids): vfio-pci -> ${orig:-kernel default} (DP_SYSFS_ROOT is set: written, not verified)"
	elif [[ -z $now ]]; then
		warn "$bdf ($ids): unbound from vfio-pci, but no driver took it${orig:+ (was $orig)}; load the driver (modprobe ${orig:-DRIVER}) and run: echo $bdf > /sys/bus/pci/drivers_probe"
	else
		info "$bdf ($ids): vfio-pci -> $now"
		if [[ -n $orig && $orig != none && $now != "$orig" ]]; then
			warn "$bdf was on $orig before bind, now on $now"
		fi
	fi
	return 0
}

cmd_unbind() {
	local args=() a
	for a in "$@"; do
		case $a in
		-h | --help)
			usage
			return 0
			;;
		-*) usage_die "unbind: unknown option '$a'" ;;
		*) args+=("$a") ;;
		esac
	done
	((${#args[@]})) || usage_die "unbind: give at least one PCI address, e.g. $0 unbind 0000:03:00.0"
	require_root unbind
	local bdfs=() rc=0 bdf
	for a in "${args[@]}"; do
		normalize_bdf "$a"
		bdfs+=("$BDF")
	done
	for bdf in "${bdfs[@]}"; do
		unbind_one "$bdf" || rc=1
	done
	return "$rc"
}

# ---------------------------------------------------------------------------------------------------

main() {
	if (($# == 0)); then
		usage >&2
		exit 2
	fi
	local cmd=$1
	shift
	case $cmd in
	status) cmd_status "$@" ;;
	hugepages) cmd_hugepages "$@" ;;
	hugepages-release | reset) cmd_hugepages_release "$@" ;;
	bind) cmd_bind "$@" ;;
	unbind | restore) cmd_unbind "$@" ;;
	help | -h | --help) usage ;;
	*) usage_die "unknown command '$cmd'" ;;
	esac
}

main "$@"
