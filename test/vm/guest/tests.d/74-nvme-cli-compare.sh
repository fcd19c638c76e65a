#!/bin/sh
# dmaplane_identify against nvme-cli, field by field, on every controller: what the kernel's
# driver and nvme-cli read (recorded by bind-nvme.sh before the controllers moved to vfio-pci)
# must be what dmaplane's driver reads through iommufd: identity strings, IDs, version, limits,
# optional-command support, namespaces with their sizes and block sizes.
. "$(dirname "$0")/../lib.sh"
app=$DP_ROOT/build/bin/dmaplane_identify
[ -x "$app" ] || fail "$app is not in the payload"
command -v nvme >/dev/null || fail "nvme-cli is not in the guest (test/vm/install-deps.sh installs it)"

# json_num FILE-CONTENT KEY: a number field of a flat JSON object (nvme-cli or ours)
json_num() { echo "$1" | tr ',{}' '\n\n\n' | sed -n "s/^[[:space:]]*\"$2\"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p" | head -n1; }
# json_str CONTENT KEY: a string field, trailing blanks removed (NVMe pads with spaces)
json_str() { echo "$1" | tr ',{}' '\n\n\n' | sed -n "s/^[[:space:]]*\"$2\"[[:space:]]*:[[:space:]]*\"\(.*\)\"[[:space:]]*$/\1/p" | head -n1 | sed 's/[[:space:]]*$//'; }

checked=0
same() { # same WHAT OURS THEIRS
    [ -n "$3" ] || fail "$bdf: nvme-cli gave no $1"
    [ "$2" = "$3" ] || fail "$bdf: $1 differs: dmaplane '$2', nvme-cli '$3'"
    checked=$((checked + 1))
}

n=0
for bdf in $(nvme_bdfs); do
    ctrl=/run/dmaplane-idctrl-$bdf.json
    [ -s "$ctrl" ] || fail "no nvme-cli record for $bdf (see the bind: lines of the boot log)"
    cli=$(cat "$ctrl")
    ours=$(DP_IOMMU=iommufd "$app" -d "$bdf" --json) || fail "dmaplane_identify -d $bdf failed"
    top=$(echo "$ours" | sed 's/"namespaces".*//') # the controller part of our object
    same vid "$(json_num "$top" vendor_id)" "$(json_num "$cli" vid)"
    same ssvid "$(json_num "$top" subsys_vendor_id)" "$(json_num "$cli" ssvid)"
    same cntlid "$(json_num "$top" cntlid)" "$(json_num "$cli" cntlid)"
    same sn "$(json_str "$top" serial)" "$(json_str "$cli" sn)"
    same mn "$(json_str "$top" model)" "$(json_str "$cli" mn)"
    same fr "$(json_str "$top" firmware)" "$(json_str "$cli" fr)"
    same subnqn "$(json_str "$top" subnqn)" "$(json_str "$cli" subnqn)"
    same nn "$(json_num "$top" nn)" "$(json_num "$cli" nn)"
    same oncs "$(json_num "$top" oncs)" "$(json_num "$cli" oncs)"
    same "vwc bit 0" "$(json_num "$top" vwc)" "$(( $(json_num "$cli" vwc) & 1 ))"
    ver=$(json_num "$cli" ver)
    same ver "$(json_str "$top" version)" "$((ver >> 16)).$(((ver >> 8) & 255)).$((ver & 255))"
    # MDTS is in units of the minimum page size (4 KiB here); dmaplane caps a command at 2 MiB.
    mdts=$(json_num "$cli" mdts)
    want=2097152
    [ "$mdts" -gt 0 ] && [ $((4096 << mdts)) -lt $want ] && want=$((4096 << mdts))
    same "max transfer (mdts $mdts)" "$(json_num "$top" max_xfer)" "$want"
    # Namespaces: every one nvme-cli saw, with its size, capacity and block size.
    nns=0
    for f in /run/dmaplane-idns-"$bdf"-*.json; do
        [ -e "$f" ] || continue
        nsid=${f##*-}; nsid=${nsid%.json}
        ns=$(tr -d ' \n\t' < "$f")
        mine=$(echo "$ours" | sed 's/},{/}\n{/g' | grep "\"nsid\":$nsid,") ||
            fail "$bdf: dmaplane does not list namespace $nsid"
        same "ns $nsid nsze" "$(json_num "$mine" blocks)" "$(json_num "$ns" nsze)"
        same "ns $nsid ncap" "$(json_num "$mine" capacity_blocks)" "$(json_num "$ns" ncap)"
        flbas=$(json_num "$ns" flbas)
        fmt=$(( (flbas & 15) + 1 ))
        lbads=$(echo "$ns" | sed 's/.*"lbafs":\[//; s/\].*//; s/},{/}\n{/g' | sed -n "${fmt}p" |
                sed -n 's/.*"ds":\([0-9]*\).*/\1/p')
        [ -n "$lbads" ] || fail "$bdf: no LBA format $fmt in nvme-cli's id-ns of namespace $nsid"
        same "ns $nsid block size" "$(json_num "$mine" block_size)" "$((1 << lbads))"
        nns=$((nns + 1))
    done
    [ $nns -ge 1 ] || fail "$bdf: nvme-cli recorded no namespace"
    same "namespace count" "$(echo "$ours" | grep -o '"nsid":' | wc -l)" "$nns"
    say "$bdf: $(json_str "$top" serial) matches nvme-cli on every compared field, $nns namespace(s)"
    n=$((n + 1))
done
[ $n -ge 1 ] || fail "no NVMe controller compared"
say "$checked fields compared with nvme-cli on $n controller(s): all equal"
exit 0
