#!/bin/sh
# 2 MiB hugepages are reserved (>= DP_HUGEPAGES_MIN, default 256) and hugetlbfs is mounted.
. "$(dirname "$0")/../lib.sh"
min=${DP_HUGEPAGES_MIN:-256}
total=$(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)
free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
size=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
say "HugePages_Total=$total HugePages_Free=$free Hugepagesize=${size}kB"
[ -n "$total" ] || fail "no hugepage counters in /proc/meminfo (CONFIG_HUGETLBFS?)"
[ "$size" = 2048 ] || fail "default hugepage size is ${size} kB, not 2048"
[ "$total" -ge "$min" ] || fail "only $total hugepages reserved, need >= $min"
n2m=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 2>/dev/null)
say "hugepages-2048kB/nr_hugepages=$n2m"
grep -q ' /dev/hugepages hugetlbfs ' /proc/mounts || fail "hugetlbfs is not mounted on /dev/hugepages"
exit 0
