#!/usr/bin/env bash
# test/vm/mkinitramfs.sh REPO_ROOT OUT.cpio.gz [ENV_FILE]
#
# Builds the guest initramfs: busybox-static and its applet links, test/vm/guest/init as /init,
# the test payload at the same absolute path as on the host (so RPATH/RUNPATH and scripts that
# locate the repo keep working; /dmaplane links to it), bash, nvme-cli and fio when installed,
# and the shared-library closure (ldd, dynamic loader included) of every ELF file in the image.
# Payload: build/bin/, build/examples/, build/test/, build/lib/ (shared objects), scripts/, test/vm/guest/.
# ENV_FILE is installed as /etc/dmaplane-vm.env (read by /init and the guest tests).
set -euo pipefail
DP_VM_TAG=initramfs
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"

[ $# -ge 2 ] || vm_die "usage: $0 REPO_ROOT OUT.cpio.gz [ENV_FILE]"
ROOT=$(cd "$1" && pwd)
OUT=$2
ENVF=${3:-}

BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || vm_die "busybox not found (apt-get install busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    vm_log "WARNING: $BUSYBOX is dynamically linked; its libraries are added too"
fi

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/dmaplane-initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/root

# merged-/usr layout like the host, so library paths from ldd land where the loader looks
mkdir -p "$R"/usr/{bin,sbin,lib,lib64} "$R"/{dev,proc,sys,tmp,run,etc,root,mnt,var}
ln -s /run "$R/var/run"
ln -s usr/bin "$R/bin"; ln -s usr/sbin "$R/sbin"; ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"
cp "$BUSYBOX" "$R/usr/bin/busybox"
while read -r app; do
    [ -n "$app" ] || continue
    dst=$R/$app
    mkdir -p "$(dirname "$dst")"
    [ -e "$dst" ] || ln -s /usr/bin/busybox "$dst"
done < <("$BUSYBOX" --list-full)
cp "$HERE/guest/init" "$R/init"; chmod 755 "$R/init"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\n' > "$R/etc/group"
: > "$R/etc/ld.so.conf"
if [ "$(id -u)" -eq 0 ]; then
    mknod -m 600 "$R/dev/console" c 5 1
    mknod -m 666 "$R/dev/null" c 1 3
fi
[ -n "$ENVF" ] && install -m 644 "$ENVF" "$R/etc/dmaplane-vm.env"

# ---- payload, at its host path
P=$R$ROOT
mkdir -p "$P"
ln -s "$ROOT" "$R/dmaplane" 2>/dev/null || true
copy_tree() {     # copy_tree RELDIR [find predicates...]: regular files and symlinks
    local rel=$1; shift
    (cd "$ROOT" && find "$rel" \( -type f -o -type l \) "$@" -print0) |
        (cd "$ROOT" && cpio --null -pdm --quiet "$P")
}
missing=()
for item in build/bin build/examples build/test build/lib scripts test/vm/guest; do
    if [ ! -d "$ROOT/$item" ]; then
        missing+=("$item")
        continue
    fi
    case $item in
        build/lib) copy_tree "$item" \( -name '*.so' -o -name '*.so.*' \) ;;
        build/*)   copy_tree "$item" ! -name '*.o' ! -name '*.d' ! -name '*.a' ! -name '*.gcno' ! -name '*.gcda' ;;
        *)         copy_tree "$item" ;;
    esac
    vm_log "payload: $item ($(find "$P/$item" -type f | wc -l) files)"
done
for item in "${missing[@]}"; do
    case $item in
        build/bin)  vm_log "payload: build/bin/ absent - no apps in the guest (project not built?)" ;;
        build/examples) vm_log "payload: build/examples/ absent - no example programs in the guest" ;;
        build/test) vm_log "payload: build/test/ absent - no unit tests will run in the guest (project not built?)" ;;
        build/lib)  : ;;    # only used for shared builds
        scripts)    vm_log "payload: scripts/ absent - devices are bound through sysfs" ;;
        *)          vm_die "payload: $item absent" ;;
    esac
done
[ -e "$ROOT/scripts/setup.sh" ] || vm_log "payload: scripts/setup.sh absent - devices are bound through sysfs driver_override"
[ -d "$ROOT/build/test/unit" ] && [ -n "$(find "$ROOT/build/test/unit" -type f -perm -u+x 2>/dev/null | head -n1)" ] ||
    vm_log "payload: no unit-test executables under build/test/unit/"

# ---- host tools (same path in the guest)
for tool in bash nvme fio; do
    p=$(command -v "$tool" || true)
    if [ -z "$p" ]; then vm_log "tool: $tool not installed, not in the guest"; continue; fi
    p=$(readlink -f "$p")
    mkdir -p "$R$(dirname "$p")"
    rm -f "$R$p"; cp "$p" "$R$p"
    vm_log "tool: $p"
done

# ---- shared-library closure of every ELF file in the image
is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; }
declare -A seen=()
nlib=0; notfound=0
while IFS= read -r -d '' f; do
    is_elf "$f" || continue
    host=${f#"$R"}                          # same path on the host
    [ -e "$host" ] || host=$f
    while read -r lib; do
        [ -n "$lib" ] || continue
        if [ "$lib" = "NOTFOUND" ]; then notfound=$((notfound + 1)); continue; fi
        [ -n "${seen[$lib]:-}" ] && continue
        seen[$lib]=1
        [ -e "$R$lib" ] && continue
        mkdir -p "$R$(dirname "$lib")"
        cp -L "$lib" "$R$lib"
        nlib=$((nlib + 1))
    done < <(ldd "$host" 2>/dev/null | awk '
        /=> not found/ { print "NOTFOUND"; printf "[initramfs] WARNING: %s needs %s (not found)\n", FILE, $1 > "/dev/stderr"; next }
        /=> \//        { print $3; next }
        /^[ \t]*\/[^ ]+ \(0x/ { print $1 }' FILE="$host")
done < <(find "$R" -type f -print0)
vm_log "libraries: $nlib copied${notfound:+, $notfound unresolved}"

mkdir -p "$(dirname "$OUT")"
(cd "$R" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
vm_log "$(basename "$OUT"): $(du -h "$OUT" | cut -f1) compressed, $(du -sh "$R" | cut -f1) unpacked"
