#!/usr/bin/env bash
# test/vm/build-kernel.sh - provide a guest bzImage with iommufd, VFIO cdev, VT-d and NVMe.
#
# Prints progress on stderr and the path of the cached bzImage as the last line on stdout.
#
# Kernel source: Debian's linux-source-X.Y packages. The newest packaged series is taken when it
# is >= 6.15 (PASID attach, vIOMMU/vDEVICE, VEVENTQ uAPI; these come from trixie-backports),
# otherwise linux-source-6.12 (trixie, bookworm-backports) as the fallback. When this harness was
# written (archive state of that day), trixie-backports carried linux-source-7.2 and -7.3
# (7.3.4-1~bpo13+1), trixie and bookworm-backports linux-source-6.12: the default pick was 7.3.
# Trixie packages are not installed on the host: the .deb is fetched with `apt-get download`
# through a private apt configuration under $DP_VM_CACHE/apt (its own sources and lists; the
# system's apt sources, pins and dpkg state are not touched, so nothing can be upgraded from
# trixie by accident) and unpacked with `dpkg-deb -x`.
#
# Build: make ARCH=x86_64 tinyconfig + test/vm/kernel.config (merge_config.sh -m) + olddefconfig,
# then bzImage. Cached in $DP_VM_CACHE/kernel/<package>_<version>-<sha256(fragment+recipe)>/.
#
# Environment:
#   DP_VM_CACHE            cache root (default /var/cache/dmaplane-vm)
#   DP_VM_KERNEL_PKG       force a source package, e.g. linux-source-6.12
#   DP_VM_KERNEL_EXACT=1   rebuild when the archive has a newer point release of the chosen series
#                          (default: reuse a cached build of the same series and fragment)
#   DP_VM_APT_MAX_AGE      seconds before the private apt lists are refreshed (default 86400)
#   DP_VM_KEEP_SRC=0       delete the unpacked/built source tree after a successful build (default:
#                          keep it under $DP_VM_CACHE/src, about 2 GB, so a changed kernel.config
#                          rebuilds incrementally; deleting 70k files is slow on a busy machine)
#   DP_VM_JOBS             make -j (default: nproc)
set -euo pipefail

DP_VM_TAG=kernel
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"

FRAGMENT=$HERE/kernel.config
# Bump when the build procedure changes in a way that must invalidate cached kernels.
RECIPE=1
# Options that the harness cannot do without: the build fails when one does not stick.
ESSENTIAL=(IOMMUFD IOMMUFD_TEST VFIO_PCI VFIO_DEVICE_CDEV INTEL_IOMMU BLK_DEV_NVME HUGETLBFS
           64BIT PCI PCI_MSI ACPI BLK_DEV_INITRD RD_GZIP DEVTMPFS SERIAL_8250_CONSOLE PRINTK
           BINFMT_ELF BINFMT_SCRIPT PROC_FS SYSFS)
PREFERRED_MIN=6.15
FALLBACK_PKG=linux-source-6.12

exec 3>&1 1>&2    # progress to stderr; the result goes to fd 3

mkdir -p "$DP_VM_CACHE"/{apt,debs,kernel,src}
frag_hash=$( { cat "$FRAGMENT"; echo "recipe=$RECIPE"; } | sha256sum | cut -c1-16)

# ---------------------------------------------------------------- private apt configuration
APTDIR=$DP_VM_CACHE/apt
setup_private_apt() {
    local mirror kr=/usr/share/keyrings/debian-archive-keyring.gpg opt=""
    mirror=$(vm_debian_mirror)
    [ -r "$kr" ] && opt="[signed-by=$kr] "
    mkdir -p "$APTDIR"/{lists/partial,cache/archives/partial,sources.list.d,preferences.d}
    cat > "$APTDIR/sources.list.new" <<SRC
deb ${opt}$mirror trixie main
deb ${opt}$mirror trixie-backports main
deb ${opt}$mirror bookworm-backports main
SRC
    if ! cmp -s "$APTDIR/sources.list.new" "$APTDIR/sources.list" 2>/dev/null; then
        mv "$APTDIR/sources.list.new" "$APTDIR/sources.list"
        rm -f "$APTDIR/stamp"
    else
        rm -f "$APTDIR/sources.list.new"
    fi
    : > "$APTDIR/preferences"
    APT_OPTS=(-o "Dir::Etc::SourceList=$APTDIR/sources.list"
              -o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
              -o "Dir::Etc::Preferences=$APTDIR/preferences"
              -o "Dir::Etc::PreferencesParts=$APTDIR/preferences.d"
              -o "Dir::State::Lists=$APTDIR/lists"
              -o "Dir::Cache=$APTDIR/cache"
              -o "APT::Sandbox::User=root")
}

refresh_private_apt() {
    local max_age=${DP_VM_APT_MAX_AGE:-86400} now stamp=0
    now=$(date +%s)
    [ -f "$APTDIR/stamp" ] && stamp=$(stat -c %Y "$APTDIR/stamp")
    if [ $((now - stamp)) -lt "$max_age" ]; then return 0; fi
    vm_log "refreshing private apt lists (trixie, trixie-backports, bookworm-backports)"
    if timeout 300 apt-get "${APT_OPTS[@]}" -qq update; then
        touch "$APTDIR/stamp"
    else
        vm_log "WARNING: apt-get update of the private lists failed"
        return 1
    fi
}

# newest version of a package in the private index
pkg_newest_version() {
    apt-cache "${APT_OPTS[@]}" show "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n1
}

choose_package() {
    local names newest series
    if [ -n "${DP_VM_KERNEL_PKG:-}" ]; then echo "$DP_VM_KERNEL_PKG"; return; fi
    names=$(apt-cache "${APT_OPTS[@]}" pkgnames linux-source- 2>/dev/null |
            grep -E '^linux-source-[0-9]+\.[0-9]+$' | sort -V) || true
    [ -n "$names" ] || return 1
    newest=$(echo "$names" | tail -n1)
    series=${newest#linux-source-}
    if [ "$(printf '%s\n%s\n' "$PREFERRED_MIN" "$series" | sort -V | head -n1)" = "$PREFERRED_MIN" ]; then
        echo "$newest"
    elif echo "$names" | grep -qx "$FALLBACK_PKG"; then
        echo "$FALLBACK_PKG"
    else
        echo "$newest"
    fi
}

# newest cached build of package $1 (any version) with this fragment
cached_for_series() {
    local d
    for d in $(ls -d "$DP_VM_CACHE/kernel/${1}_"*"-$frag_hash" 2>/dev/null | sort -V -r); do
        [ -s "$d/bzImage" ] && { echo "$d"; return 0; }
    done
    return 1
}

# ---------------------------------------------------------------- build
build_kernel() {     # $1 package  $2 version  $3 output dir
    local pkg=$1 ver=$2 out=$3 deb series work src jobs t0 pid rc last
    series=${pkg#linux-source-}
    jobs=${DP_VM_JOBS:-$(nproc)}
    find_deb() {     # apt-get download names it <pkg>_<version, ':' as %3a>_<arch>.deb
        local f
        for f in "$DP_VM_CACHE/debs/${pkg}_${ver//:/%3a}_"*.deb; do
            [ -s "$f" ] && { echo "$f"; return 0; }
        done
        return 1
    }
    if ! deb=$(find_deb); then
        vm_log "downloading $pkg=$ver"
        (cd "$DP_VM_CACHE/debs" && timeout 900 apt-get "${APT_OPTS[@]}" -qq download "$pkg=$ver") ||
            vm_die "apt-get download $pkg=$ver failed"
        deb=$(find_deb) || vm_die "downloaded $pkg=$ver but cannot find the .deb in $DP_VM_CACHE/debs"
    fi
    work=$DP_VM_CACHE/src/${pkg}_${ver}
    # source trees of other versions are not needed any more
    for d in "$DP_VM_CACHE"/src/*; do
        [ -d "$d" ] && [ "$d" != "$work" ] && { vm_log "removing old source tree $(basename "$d")"; rm -rf "$d"; }
    done
    if [ -e "$work/.unpacked" ]; then
        vm_log "reusing unpacked source in $work (incremental build)"
    else
        rm -rf "$work"; mkdir -p "$work"
        vm_log "unpacking $(basename "$deb")"
        dpkg-deb -x "$deb" "$work/deb"
        local tarball
        tarball=$(find "$work/deb/usr/src" -maxdepth 1 -name 'linux-source-*.tar.*' | head -n1)
        [ -n "$tarball" ] || vm_die "no source tarball in $deb"
        case "$tarball" in
            *.xz) xz -T0 -dc "$tarball" ;;
            *) gzip -dc < "$tarball" ;;
        esac | tar -x -C "$work" || vm_die "unpacking $tarball failed"
        rm -rf "$work/deb"
        touch "$work/.unpacked"
    fi
    src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -n1)
    [ -n "$src" ] && [ -f "$src/Makefile" ] || vm_die "unpacked source has no Makefile"
    vm_log "source: $(make -s -C "$src" kernelversion 2>/dev/null) in $src"

    local blog=$work/build.log mk=(make -C "$src" ARCH=x86_64)
    {
        "${mk[@]}" tinyconfig &&
        (cd "$src" && ARCH=x86_64 ./scripts/kconfig/merge_config.sh -m .config "$FRAGMENT") &&
        "${mk[@]}" olddefconfig
    } > "$blog" 2>&1 || { tail -n 40 "$blog"; vm_die "kernel configuration failed (log: $blog)"; }

    # every requested =y must have survived olddefconfig
    local opt missing=() missing_ess=() e
    for opt in $(sed -n 's/^CONFIG_\([A-Za-z0-9_]*\)=y$/\1/p' "$FRAGMENT"); do
        grep -qx "CONFIG_$opt=y" "$src/.config" || missing+=("$opt")
    done
    for e in "${ESSENTIAL[@]}"; do
        grep -qx "CONFIG_$e=y" "$src/.config" || missing_ess+=("$e")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        local unknown=() notset=()
        for opt in "${missing[@]}"; do
            if grep -rqs --include='Kconfig*' -E "^[[:space:]]*(menu)?config[[:space:]]+${opt}[[:space:]]*$" "$src"; then
                notset+=("$opt")
            else
                unknown+=("$opt")
            fi
        done
        [ ${#unknown[@]} -eq 0 ] ||
            vm_log "requested options this kernel does not have (renamed or removed): ${unknown[*]}"
        if [ ${#notset[@]} -gt 0 ]; then
            vm_log "requested options that are NOT =y after olddefconfig: ${notset[*]}"
            for opt in "${notset[@]}"; do
                vm_log "  $(grep -E "^(# )?CONFIG_${opt}[= ]" "$src/.config" || echo "CONFIG_$opt: unset (unmet dependencies)")"
            done
        fi
        missing=("${notset[@]}")
    else
        vm_log "all $(grep -c '^CONFIG_[A-Za-z0-9_]*=y$' "$FRAGMENT") requested options are =y"
    fi
    [ ${#missing_ess[@]} -eq 0 ] || vm_die "essential options missing: ${missing_ess[*]}"

    vm_log "make -j$jobs bzImage (log: $blog)"
    t0=$(date +%s)
    "${mk[@]}" -j"$jobs" bzImage >> "$blog" 2>&1 &
    pid=$!
    while true; do
        for _ in $(seq 30); do
            kill -0 "$pid" 2>/dev/null || break 2
            sleep 1
        done
        last=$(grep -E '^  [A-Z]' "$blog" | tail -n1 | sed 's/^ *//') || true
        vm_log "building... $(( $(date +%s) - t0 ))s elapsed, $(grep -c '^  CC' "$blog" || true) files compiled, at: $last"
    done
    rc=0; wait "$pid" || rc=$?
    if [ $rc -ne 0 ] || [ ! -s "$src/arch/x86/boot/bzImage" ]; then
        grep -E 'error|Error' "$blog" | head -n 20 || true
        tail -n 30 "$blog"
        vm_die "kernel build failed (rc=$rc, log: $blog)"
    fi
    vm_log "built in $(( $(date +%s) - t0 ))s"

    mkdir -p "$out.tmp"
    cp "$src/arch/x86/boot/bzImage" "$out.tmp/bzImage"
    cp "$src/.config" "$out.tmp/config"
    cp "$blog" "$out.tmp/build.log"
    {
        echo "package=$pkg"
        echo "version=$ver"
        echo "kernelversion=$(make -s -C "$src" kernelversion 2>/dev/null)"
        echo "fragment_sha=$frag_hash"
        echo "missing_options=${missing[*]}"
        echo "built=$(date -u +%FT%TZ)"
    } > "$out.tmp/meta"
    rm -rf "$out"; mv "$out.tmp" "$out"
    if [ "${DP_VM_KEEP_SRC:-1}" = 1 ]; then
        vm_log "source tree kept for incremental rebuilds: $work ($(du -sh "$work" 2>/dev/null | cut -f1))"
    else
        rm -rf "$work"
    fi
}

# ---------------------------------------------------------------- main
# (one function, so bash has read all of it before it runs: editing the file mid-build is safe)
main() {
    exec 9> "$DP_VM_CACHE/kernel.lock"
    flock 9     # one build at a time per cache

    setup_private_apt
    refresh_private_apt || true
    pkg=$(choose_package || true)
    if [ -z "$pkg" ]; then
        # offline and never resolved: take any cached build made from this fragment
        for d in $(ls -d "$DP_VM_CACHE"/kernel/*-"$frag_hash" 2>/dev/null | sort -V -r); do
            if [ -s "$d/bzImage" ]; then
                vm_log "no package index available; using cached $(basename "$d")"
                echo "$d/bzImage" >&3; exit 0
            fi
        done
        vm_die "cannot list linux-source packages (no network?) and nothing is cached"
    fi
    ver=$(pkg_newest_version "$pkg")
    [ -n "$ver" ] || vm_die "package $pkg not found in trixie/trixie-backports/bookworm-backports"
    key=${pkg}_${ver}-$frag_hash
    out=$DP_VM_CACHE/kernel/$key

    if [ -s "$out/bzImage" ]; then
        vm_log "cached: $key"
    elif [ "${DP_VM_KERNEL_EXACT:-0}" != 1 ] && prev=$(cached_for_series "$pkg"); then
        vm_log "cached: $(basename "$prev") (archive now has $ver; DP_VM_KERNEL_EXACT=1 rebuilds)"
        out=$prev
    else
        vm_log "building $pkg $ver (fragment $frag_hash); this takes several minutes on 2 cores"
        build_kernel "$pkg" "$ver" "$out"
    fi
    vm_log "$(grep -E '^(kernelversion|missing_options)=' "$out/meta" | tr '\n' ' ')"
    echo "$out/bzImage" >&3
}
main "$@"; exit $?
