#!/bin/sh
# The NVMe topology the host configured, as the kernel's nvme driver saw it at boot (recorded by
# bind-nvme.sh before the rebind): DP_EXPECT_NS = "SERIAL:LBS[,LBS...] ..." with the logical block
# sizes of each controller's namespaces in nsid order.
. "$(dirname "$0")/../lib.sh"
rec=/run/dmaplane-nvme-namespaces
[ -n "${DP_EXPECT_NS:-}" ] || skip "DP_EXPECT_NS not set: nothing to compare with"
[ -s "$rec" ] || fail "no namespaces recorded (nvme driver did not probe before the rebind?)"
sed 's/^/ns: /' "$rec"
bad=0
for want in $DP_EXPECT_NS; do
    serial=${want%%:*}
    lbs=${want#*:}
    got=$(awk -v s="$serial" '$2 == s { print $4, $5 }' "$rec" | sort -n | awk '{ printf "%s%s", sep, $2; sep = "," }')
    if [ "$got" = "$lbs" ]; then
        say "$serial: namespaces with block sizes $got"
    else
        say "$serial: block sizes '${got:-none}', expected '$lbs'"; bad=1
    fi
done
[ $bad = 0 ] || fail "NVMe namespaces differ from the VM configuration"
exit 0
