#!/usr/bin/env bash
# Compare dmaplane's own uAPI definitions (include/dmaplane_internal/uapi_*.h) with a kernel's
# <linux/iommufd.h> and <linux/vfio.h>: every struct's size and alignment, every field's offset
# and size, and every constant and ioctl number used, printed by the same program compiled
# twice (own definitions; kernel headers) and diffed.
#
#   test/vm/smoke/uapi_crosscheck.sh /path/to/linux-source-7.3
#
# Exit 0 when identical. Needs only a C compiler and the kernel source (include/uapi).
set -euo pipefail

ksrc=${1:?usage: $0 KERNEL_SOURCE_DIR}
root=$(cd "$(dirname "$0")/../../.." && pwd)
uapi="$ksrc/include/uapi/linux"
[ -f "$uapi/iommufd.h" ] && [ -f "$uapi/vfio.h" ] || { echo "no $uapi/{iommufd,vfio}.h" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# An overlay that makes the kernel's headers the system ones (they need a recent stddef.h).
mkdir -p "$tmp/ov/linux"
cp "$uapi/iommufd.h" "$uapi/vfio.h" "$tmp/ov/linux/"
ver=$(sed -n 's/^VERSION = //p' "$ksrc/Makefile" 2>/dev/null || echo 99)
pl=$(sed -n 's/^PATCHLEVEL = //p' "$ksrc/Makefile" 2>/dev/null || echo 0)
printf '#define LINUX_VERSION_CODE %d\n#define KERNEL_VERSION(a,b,c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))\n' \
	$(( (ver << 16) + (pl << 8) )) > "$tmp/ov/linux/version.h"
printf '#include_next <linux/stddef.h>\n#ifndef __counted_by\n#define __counted_by(m)\n#endif\n' \
	> "$tmp/ov/linux/stddef.h"

structs=$(cat <<'LIST'
iommu_destroy size id
iommu_ioas_alloc size flags out_ioas_id
iommu_iova_range start last
iommu_ioas_iova_ranges size ioas_id num_iovas __reserved allowed_iovas out_iova_alignment
iommu_ioas_allow_iovas size ioas_id num_iovas __reserved allowed_iovas
iommu_ioas_map size flags ioas_id __reserved user_va length iova
iommu_ioas_copy size flags dst_ioas_id src_ioas_id length dst_iova src_iova
iommu_ioas_unmap size ioas_id iova length
iommu_option size option_id op __reserved object_id val64
iommu_hwpt_vtd_s1 flags pgtbl_addr addr_width __reserved
iommu_hwpt_alloc size flags dev_id pt_id out_hwpt_id __reserved data_type data_len data_uptr fault_id __reserved2
iommu_hwpt_vtd_s1_invalidate addr npages flags __reserved
iommu_hwpt_invalidate size hwpt_id data_uptr data_type entry_len entry_num __reserved
iommu_hw_info_vtd flags __reserved cap_reg ecap_reg
iommu_hw_info size flags dev_id data_len data_uptr in_data_type out_data_type out_max_pasid_log2 __reserved out_capabilities
vfio_info_cap_header id version next
vfio_group_status argsz flags
vfio_device_info argsz flags num_regions num_irqs cap_offset pad
vfio_region_info argsz flags index cap_offset size offset
vfio_region_sparse_mmap_area offset size
vfio_region_info_cap_sparse_mmap header nr_areas reserved areas
vfio_irq_info argsz flags index count
vfio_irq_set argsz flags index start count data
vfio_device_bind_iommufd argsz flags iommufd out_devid token_uuid_ptr
vfio_device_attach_iommufd_pt argsz flags pt_id pasid
vfio_device_detach_iommufd_pt argsz flags pasid
vfio_iommu_type1_info argsz flags iova_pgsizes cap_offset pad
vfio_iova_range start end
vfio_iommu_type1_info_cap_iova_range header nr_iovas reserved iova_ranges
vfio_iommu_type1_info_dma_avail header avail
vfio_iommu_type1_dma_map argsz flags vaddr iova size
vfio_iommu_type1_dma_unmap argsz flags iova size data
LIST
)
consts="$(cat <<'LIST'
IOMMU_DESTROY IOMMU_IOAS_ALLOC IOMMU_IOAS_ALLOW_IOVAS IOMMU_IOAS_COPY IOMMU_IOAS_IOVA_RANGES
IOMMU_IOAS_MAP IOMMU_IOAS_UNMAP IOMMU_OPTION IOMMU_HWPT_ALLOC IOMMU_GET_HW_INFO
IOMMU_HWPT_INVALIDATE IOMMU_IOAS_MAP_FIXED_IOVA IOMMU_IOAS_MAP_WRITEABLE
IOMMU_IOAS_MAP_READABLE IOMMU_OPTION_RLIMIT_MODE IOMMU_OPTION_HUGE_PAGES IOMMU_OPTION_OP_SET
IOMMU_OPTION_OP_GET IOMMU_HWPT_ALLOC_NEST_PARENT IOMMU_HWPT_ALLOC_DIRTY_TRACKING
IOMMU_HWPT_FAULT_ID_VALID IOMMU_HWPT_ALLOC_PASID IOMMU_HWPT_DATA_NONE IOMMU_HWPT_DATA_VTD_S1
IOMMU_HWPT_DATA_ARM_SMMUV3 IOMMU_HWPT_DATA_AMD_GUEST IOMMU_VTD_S1_SRE IOMMU_VTD_S1_EAFE
IOMMU_VTD_S1_WPE IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3
IOMMU_VTD_INV_FLAGS_LEAF IOMMU_HW_INFO_TYPE_NONE IOMMU_HW_INFO_TYPE_DEFAULT
IOMMU_HW_INFO_TYPE_INTEL_VTD IOMMU_HW_INFO_TYPE_ARM_SMMUV3 IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV
IOMMU_HW_INFO_TYPE_AMD IOMMU_HW_CAP_DIRTY_TRACKING IOMMU_HW_CAP_PCI_PASID_EXEC
IOMMU_HW_CAP_PCI_PASID_PRIV IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED
IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 VFIO_API_VERSION VFIO_TYPE1_IOMMU VFIO_TYPE1v2_IOMMU
VFIO_NOIOMMU_IOMMU VFIO_UNMAP_ALL VFIO_GET_API_VERSION VFIO_CHECK_EXTENSION VFIO_SET_IOMMU
VFIO_GROUP_FLAGS_VIABLE VFIO_GROUP_FLAGS_CONTAINER_SET VFIO_GROUP_GET_STATUS
VFIO_GROUP_SET_CONTAINER VFIO_GROUP_UNSET_CONTAINER VFIO_GROUP_GET_DEVICE_FD
VFIO_DEVICE_FLAGS_RESET VFIO_DEVICE_FLAGS_PCI VFIO_DEVICE_FLAGS_CAPS VFIO_DEVICE_GET_INFO
VFIO_REGION_INFO_FLAG_READ VFIO_REGION_INFO_FLAG_WRITE VFIO_REGION_INFO_FLAG_MMAP
VFIO_REGION_INFO_FLAG_CAPS VFIO_DEVICE_GET_REGION_INFO VFIO_REGION_INFO_CAP_SPARSE_MMAP
VFIO_REGION_INFO_CAP_MSIX_MAPPABLE VFIO_IRQ_INFO_EVENTFD VFIO_IRQ_INFO_MASKABLE
VFIO_IRQ_INFO_AUTOMASKED VFIO_IRQ_INFO_NORESIZE VFIO_DEVICE_GET_IRQ_INFO VFIO_IRQ_SET_DATA_NONE
VFIO_IRQ_SET_DATA_BOOL VFIO_IRQ_SET_DATA_EVENTFD VFIO_IRQ_SET_ACTION_MASK
VFIO_IRQ_SET_ACTION_UNMASK VFIO_IRQ_SET_ACTION_TRIGGER VFIO_DEVICE_SET_IRQS VFIO_DEVICE_RESET
VFIO_PCI_BAR0_REGION_INDEX VFIO_PCI_BAR5_REGION_INDEX VFIO_PCI_ROM_REGION_INDEX
VFIO_PCI_CONFIG_REGION_INDEX VFIO_PCI_VGA_REGION_INDEX VFIO_PCI_NUM_REGIONS
VFIO_PCI_INTX_IRQ_INDEX VFIO_PCI_MSI_IRQ_INDEX VFIO_PCI_MSIX_IRQ_INDEX VFIO_PCI_ERR_IRQ_INDEX
VFIO_PCI_REQ_IRQ_INDEX VFIO_PCI_NUM_IRQS VFIO_DEVICE_BIND_FLAG_TOKEN VFIO_DEVICE_BIND_IOMMUFD
VFIO_DEVICE_ATTACH_PASID VFIO_DEVICE_ATTACH_IOMMUFD_PT VFIO_DEVICE_DETACH_PASID
VFIO_DEVICE_DETACH_IOMMUFD_PT VFIO_IOMMU_INFO_PGSIZES VFIO_IOMMU_INFO_CAPS VFIO_IOMMU_GET_INFO
VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL VFIO_DMA_MAP_FLAG_READ
VFIO_DMA_MAP_FLAG_WRITE VFIO_IOMMU_MAP_DMA VFIO_DMA_UNMAP_FLAG_ALL VFIO_IOMMU_UNMAP_DMA
LIST
)"

{
	echo '#include <stdio.h>'
	echo '#include <dmaplane_internal/uapi_vfio.h>'
	echo 'int main(void) {'
	while read -r s fields; do
		[ -n "$s" ] || continue
		echo "printf(\"$s size %zu align %zu\\n\", sizeof(struct $s), _Alignof(struct $s));"
		for f in $fields; do
			echo "printf(\"$s.$f %zu\\n\", offsetof(struct $s, $f));"
		done
	done <<< "$structs"
	for c in $consts; do
		echo "printf(\"$c %#llx\\n\", (unsigned long long)($c));"
	done
	echo 'return 0; }'
} > "$tmp/x.c"

cc=${CC:-cc}
$cc -std=gnu11 -Wall -I"$root/include" -DDPI_UAPI_SYSTEM=0 "$tmp/x.c" -o "$tmp/own"
$cc -std=gnu11 -Wall -I"$tmp/ov" -D__user= -I"$root/include" -DDPI_UAPI_SYSTEM=1 "$tmp/x.c" -o "$tmp/sys"
"$tmp/own" > "$tmp/own.txt"
"$tmp/sys" > "$tmp/sys.txt"
if diff -u "$tmp/sys.txt" "$tmp/own.txt"; then
	echo "uapi_crosscheck: $(grep -c ' size ' "$tmp/own.txt") structs ($(grep -c '\.' "$tmp/own.txt") fields)" \
		"and $(grep -c '^[A-Z]' "$tmp/own.txt") constants match $ksrc"
else
	echo "uapi_crosscheck: differences (- kernel, + dmaplane)" >&2
	exit 1
fi
