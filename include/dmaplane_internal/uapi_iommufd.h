/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The iommufd uAPI (/dev/iommu) as dmaplane uses it.
 *
 * Include this instead of <linux/iommufd.h>. When the installed uAPI headers are recent enough
 * (Linux >= 6.15: PASID attach, the newest layout of every struct used here) they are used;
 * otherwise (Debian 12 ships 6.1 headers without iommufd.h) the definitions below stand in for
 * them, under the kernel's names so that code reads like the kernel documentation. Either way
 * the static asserts at the end check every struct size and ioctl number against the values of
 * the Linux 7.3 uAPI. -DDPI_UAPI_SYSTEM=0 or =1 overrides the choice (0 checks the own
 * definitions on a machine with new headers).
 *
 * Semantics worth knowing (Linux 7.3, drivers/iommu/iommufd):
 *  - every command starts with a u32 size; reserved fields must be 0 (else -EOPNOTSUPP);
 *  - IOAS_IOVA_RANGES fills as many ranges as num_iovas allows, sets num_iovas to the total and
 *    fails with -EMSGSIZE when it was too small (the ranges change as devices attach/detach);
 *  - IOAS_UNMAP returns the bytes unmapped in length; -ENOENT when nothing was mapped there;
 *    it never splits a mapping and flushes the IOTLB before returning;
 *  - device attach fails with -EADDRINUSE when existing mappings fall into the device's
 *    reserved ranges.
 */
#ifndef DMAPLANE_INTERNAL_UAPI_IOMMUFD_H
#define DMAPLANE_INTERNAL_UAPI_IOMMUFD_H

#include <stddef.h>
#include <stdint.h>
#include <linux/ioctl.h>
#include <linux/version.h>

#include <dmaplane/common.h>

#ifndef DPI_UAPI_SYSTEM
/* One decision for both uapi_iommufd.h and uapi_vfio.h (which includes this header first). */
#if defined(LINUX_VERSION_CODE) && LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0) && \
	__has_include(<linux/iommufd.h>) && __has_include(<linux/vfio.h>)
#define DPI_UAPI_SYSTEM 1
#else
#define DPI_UAPI_SYSTEM 0
#endif
#endif

#if DPI_UAPI_SYSTEM
#include <linux/iommufd.h>
#ifndef IOMMU_VEVENTQ_ALLOC
#error "<linux/iommufd.h> is older than Linux 6.15: build with -DDPI_UAPI_SYSTEM=0"
#endif
#define DPI_UAPI_IOMMUFD_SOURCE "system <linux/iommufd.h>"
#else /* own definitions */

#ifdef _UAPI_IOMMUFD_H
#error "<linux/iommufd.h> was included before dmaplane_internal/uapi_iommufd.h: include only this"
#endif
/* Keep a later #include <linux/iommufd.h> from redefining what follows. */
#define _UAPI_IOMMUFD_H
#define DPI_UAPI_IOMMUFD_SOURCE "dmaplane's own definitions (Linux 7.3 layout)"

/* A u64 with 8-byte alignment on every ABI (the kernel's __aligned_u64). */
typedef uint64_t dpi_u64a __attribute__((aligned(8)));

/* All iommufd ioctls are _IO(';', 0x80 + n): the size lives in each struct, not in the number. */
#define IOMMUFD_TYPE            ';'

enum {
	IOMMUFD_CMD_BASE = 0x80,
	IOMMUFD_CMD_DESTROY = 0x80,
	IOMMUFD_CMD_IOAS_ALLOC = 0x81,
	IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82,
	IOMMUFD_CMD_IOAS_COPY = 0x83,
	IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84,
	IOMMUFD_CMD_IOAS_MAP = 0x85,
	IOMMUFD_CMD_IOAS_UNMAP = 0x86,
	IOMMUFD_CMD_OPTION = 0x87,
	IOMMUFD_CMD_HWPT_ALLOC = 0x89,
	IOMMUFD_CMD_GET_HW_INFO = 0x8a,
	IOMMUFD_CMD_HWPT_INVALIDATE = 0x8d,
};

/* ---- objects ------------------------------------------------------------------------------- */

/* Destroy any object (IOAS, HWPT, ...) by id. */
struct iommu_destroy {
	uint32_t size;
	uint32_t id;
};
#define IOMMU_DESTROY           _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)

/* Allocate an empty IOAS (full IOVA range until devices attach). flags must be 0. */
struct iommu_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};
#define IOMMU_IOAS_ALLOC        _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)

/* An IOVA range; last is inclusive. */
struct iommu_iova_range {
	dpi_u64a start;
	dpi_u64a last;
};

/* Usable ranges: num_iovas in = capacity of allowed_iovas, out = total; -EMSGSIZE if short. */
struct iommu_ioas_iova_ranges {
	uint32_t size;
	uint32_t ioas_id;
	uint32_t num_iovas;
	uint32_t __reserved;
	dpi_u64a allowed_iovas; /* user pointer to struct iommu_iova_range[] */
	dpi_u64a out_iova_alignment;
};
#define IOMMU_IOAS_IOVA_RANGES  _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES)

/* Restrict where automatic IOVA allocation may place mappings. */
struct iommu_ioas_allow_iovas {
	uint32_t size;
	uint32_t ioas_id;
	uint32_t num_iovas;
	uint32_t __reserved;
	dpi_u64a allowed_iovas; /* user pointer to struct iommu_iova_range[] */
};
#define IOMMU_IOAS_ALLOW_IOVAS  _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOW_IOVAS)

/* Flags of IOAS_MAP and IOAS_COPY. */
enum iommufd_ioas_map_flags {
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	IOMMU_IOAS_MAP_READABLE = 1 << 2,
};

/* Pin user memory and map it; with FIXED_IOVA at iova (which must be unused). */
struct iommu_ioas_map {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	uint32_t __reserved;
	dpi_u64a user_va;
	dpi_u64a length;
	dpi_u64a iova;
};
#define IOMMU_IOAS_MAP          _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP)

/* Share the pages of an existing mapping (src range exactly one IOAS_MAP) into another IOAS. */
struct iommu_ioas_copy {
	uint32_t size;
	uint32_t flags;
	uint32_t dst_ioas_id;
	uint32_t src_ioas_id;
	dpi_u64a length;
	dpi_u64a dst_iova;
	dpi_u64a src_iova;
};
#define IOMMU_IOAS_COPY         _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_COPY)

/* Unmap whole mappings inside [iova, iova+length); length out = bytes unmapped. */
struct iommu_ioas_unmap {
	uint32_t size;
	uint32_t ioas_id;
	dpi_u64a iova;
	dpi_u64a length;
};
#define IOMMU_IOAS_UNMAP        _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP)

/* ---- options -------------------------------------------------------------------------------- */

enum iommufd_option {
	/* global (object_id 0), privileged: 0 accounts pins per user, 1 per process */
	IOMMU_OPTION_RLIMIT_MODE = 0,
	/* per IOAS: 1 (default) combines contiguous pages into large IOMMU pages */
	IOMMU_OPTION_HUGE_PAGES = 1,
};

enum iommufd_option_ops {
	IOMMU_OPTION_OP_SET = 0,
	IOMMU_OPTION_OP_GET = 1,
};

struct iommu_option {
	uint32_t size;
	uint32_t option_id;
	uint16_t op;
	uint16_t __reserved;
	uint32_t object_id;
	dpi_u64a val64;
};
#define IOMMU_OPTION            _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION)

/* ---- hardware page tables (HWPT) ---------------------------------------------------------- */

enum iommufd_hwpt_alloc_flags {
	IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0,
	IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1,
	IOMMU_HWPT_FAULT_ID_VALID = 1 << 2,
	IOMMU_HWPT_ALLOC_PASID = 1 << 3, /* 6.15: the HWPT may be attached to PASIDs */
};

enum iommu_hwpt_data_type {
	IOMMU_HWPT_DATA_NONE = 0,
	IOMMU_HWPT_DATA_VTD_S1 = 1,
	IOMMU_HWPT_DATA_ARM_SMMUV3 = 2,
	IOMMU_HWPT_DATA_AMD_GUEST = 3,
};

enum iommu_hwpt_vtd_s1_flags {
	IOMMU_VTD_S1_SRE = 1 << 0,
	IOMMU_VTD_S1_EAFE = 1 << 1,
	IOMMU_VTD_S1_WPE = 1 << 2,
};

/* VT-d stage-1 (nested) page table description, data of IOMMU_HWPT_DATA_VTD_S1. */
struct iommu_hwpt_vtd_s1 {
	dpi_u64a flags;
	dpi_u64a pgtbl_addr;
	uint32_t addr_width;
	uint32_t __reserved;
};

/* Allocate a HWPT for dev_id on pt_id (an IOAS, or a nesting parent HWPT with data). */
struct iommu_hwpt_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t dev_id;
	uint32_t pt_id;
	uint32_t out_hwpt_id;
	uint32_t __reserved;
	uint32_t data_type;
	uint32_t data_len;
	dpi_u64a data_uptr;
	uint32_t fault_id;
	uint32_t __reserved2;
};
#define IOMMU_HWPT_ALLOC        _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC)

enum iommu_hwpt_invalidate_data_type {
	IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0,
	IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1,
};

enum iommu_hwpt_vtd_s1_invalidate_flags {
	IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0,
};

/* One VT-d stage-1 invalidation entry; addr 0 with npages U64_MAX invalidates everything. */
struct iommu_hwpt_vtd_s1_invalidate {
	dpi_u64a addr;
	dpi_u64a npages;
	uint32_t flags;
	uint32_t __reserved;
};

/* Batched invalidation of a nested HWPT: entry_num in = entries, out = entries handled. */
struct iommu_hwpt_invalidate {
	uint32_t size;
	uint32_t hwpt_id;
	dpi_u64a data_uptr;
	uint32_t data_type;
	uint32_t entry_len;
	uint32_t entry_num;
	uint32_t __reserved;
};
#define IOMMU_HWPT_INVALIDATE   _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_INVALIDATE)

/* ---- hardware information ------------------------------------------------------------------- */

enum iommu_hw_info_type {
	IOMMU_HW_INFO_TYPE_NONE = 0,
	IOMMU_HW_INFO_TYPE_DEFAULT = 0,
	IOMMU_HW_INFO_TYPE_INTEL_VTD = 1,
	IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2,
	IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3,
	IOMMU_HW_INFO_TYPE_AMD = 4,
};

enum iommufd_hw_capabilities {
	IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0,
	IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1,
	IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2,
	IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3,
};

enum iommu_hw_info_vtd_flags {
	IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0,
};

/* VT-d data of IOMMU_GET_HW_INFO: the raw capability registers. */
struct iommu_hw_info_vtd {
	uint32_t flags;
	uint32_t __reserved;
	dpi_u64a cap_reg;
	dpi_u64a ecap_reg;
};

/* Facts about the IOMMU behind a bound device (dev_id from VFIO_DEVICE_BIND_IOMMUFD). */
struct iommu_hw_info {
	uint32_t size;
	uint32_t flags;
	uint32_t dev_id;
	uint32_t data_len;  /* in: buffer size; out: bytes the kernel has */
	dpi_u64a data_uptr; /* user pointer to e.g. struct iommu_hw_info_vtd */
	union {
		uint32_t in_data_type; /* 6.17: with IOMMU_HW_INFO_FLAG_INPUT_TYPE */
		uint32_t out_data_type;
	};
	uint8_t out_max_pasid_log2; /* 6.15; 0: no PASID */
	uint8_t __reserved[3];
	dpi_u64a out_capabilities; /* enum iommufd_hw_capabilities */
};
#define IOMMU_GET_HW_INFO       _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO)

#endif /* own definitions */

/*
 * Facts of the Linux 7.3 uAPI, checked whichever definitions are in use. _IO(';', n) is
 * (';' << 8) | n = 0x3b00 | n with no direction or size bits.
 */
DP_STATIC_ASSERT(IOMMU_DESTROY == 0x3b80, "IOMMU_DESTROY");
DP_STATIC_ASSERT(IOMMU_IOAS_ALLOC == 0x3b81, "IOMMU_IOAS_ALLOC");
DP_STATIC_ASSERT(IOMMU_IOAS_ALLOW_IOVAS == 0x3b82, "IOMMU_IOAS_ALLOW_IOVAS");
DP_STATIC_ASSERT(IOMMU_IOAS_COPY == 0x3b83, "IOMMU_IOAS_COPY");
DP_STATIC_ASSERT(IOMMU_IOAS_IOVA_RANGES == 0x3b84, "IOMMU_IOAS_IOVA_RANGES");
DP_STATIC_ASSERT(IOMMU_IOAS_MAP == 0x3b85, "IOMMU_IOAS_MAP");
DP_STATIC_ASSERT(IOMMU_IOAS_UNMAP == 0x3b86, "IOMMU_IOAS_UNMAP");
DP_STATIC_ASSERT(IOMMU_OPTION == 0x3b87, "IOMMU_OPTION");
DP_STATIC_ASSERT(IOMMU_HWPT_ALLOC == 0x3b89, "IOMMU_HWPT_ALLOC");
DP_STATIC_ASSERT(IOMMU_GET_HW_INFO == 0x3b8a, "IOMMU_GET_HW_INFO");
DP_STATIC_ASSERT(IOMMU_HWPT_INVALIDATE == 0x3b8d, "IOMMU_HWPT_INVALIDATE");

DP_STATIC_ASSERT(sizeof(struct iommu_destroy) == 8, "iommu_destroy");
DP_STATIC_ASSERT(sizeof(struct iommu_ioas_alloc) == 12, "iommu_ioas_alloc");
DP_STATIC_ASSERT(sizeof(struct iommu_iova_range) == 16, "iommu_iova_range");
DP_STATIC_ASSERT(sizeof(struct iommu_ioas_iova_ranges) == 32, "iommu_ioas_iova_ranges");
DP_STATIC_ASSERT(offsetof(struct iommu_ioas_iova_ranges, allowed_iovas) == 16, "iova_ranges");
DP_STATIC_ASSERT(sizeof(struct iommu_ioas_allow_iovas) == 24, "iommu_ioas_allow_iovas");
DP_STATIC_ASSERT(sizeof(struct iommu_ioas_map) == 40, "iommu_ioas_map");
DP_STATIC_ASSERT(offsetof(struct iommu_ioas_map, user_va) == 16, "iommu_ioas_map.user_va");
DP_STATIC_ASSERT(offsetof(struct iommu_ioas_map, iova) == 32, "iommu_ioas_map.iova");
DP_STATIC_ASSERT(sizeof(struct iommu_ioas_copy) == 40, "iommu_ioas_copy");
DP_STATIC_ASSERT(offsetof(struct iommu_ioas_copy, src_iova) == 32, "iommu_ioas_copy.src_iova");
DP_STATIC_ASSERT(sizeof(struct iommu_ioas_unmap) == 24, "iommu_ioas_unmap");
DP_STATIC_ASSERT(offsetof(struct iommu_ioas_unmap, iova) == 8, "iommu_ioas_unmap.iova");
DP_STATIC_ASSERT(sizeof(struct iommu_option) == 24, "iommu_option");
DP_STATIC_ASSERT(offsetof(struct iommu_option, object_id) == 12, "iommu_option.object_id");
DP_STATIC_ASSERT(sizeof(struct iommu_hwpt_alloc) == 48, "iommu_hwpt_alloc");
DP_STATIC_ASSERT(offsetof(struct iommu_hwpt_alloc, data_uptr) == 32, "hwpt_alloc.data_uptr");
DP_STATIC_ASSERT(offsetof(struct iommu_hwpt_alloc, fault_id) == 40, "hwpt_alloc.fault_id");
DP_STATIC_ASSERT(sizeof(struct iommu_hwpt_vtd_s1) == 24, "iommu_hwpt_vtd_s1");
DP_STATIC_ASSERT(sizeof(struct iommu_hwpt_invalidate) == 32, "iommu_hwpt_invalidate");
DP_STATIC_ASSERT(offsetof(struct iommu_hwpt_invalidate, entry_num) == 24, "invalidate.entry_num");
DP_STATIC_ASSERT(sizeof(struct iommu_hwpt_vtd_s1_invalidate) == 24, "vtd_s1_invalidate");
DP_STATIC_ASSERT(sizeof(struct iommu_hw_info) == 40, "iommu_hw_info");
DP_STATIC_ASSERT(offsetof(struct iommu_hw_info, out_data_type) == 24, "hw_info.out_data_type");
DP_STATIC_ASSERT(offsetof(struct iommu_hw_info, out_max_pasid_log2) == 28, "hw_info.max_pasid");
DP_STATIC_ASSERT(offsetof(struct iommu_hw_info, out_capabilities) == 32, "hw_info.caps");
DP_STATIC_ASSERT(sizeof(struct iommu_hw_info_vtd) == 24, "iommu_hw_info_vtd");

DP_STATIC_ASSERT(IOMMU_IOAS_MAP_FIXED_IOVA == 1 && IOMMU_IOAS_MAP_WRITEABLE == 2 &&
			 IOMMU_IOAS_MAP_READABLE == 4,
		 "iommufd_ioas_map_flags");
DP_STATIC_ASSERT(IOMMU_OPTION_RLIMIT_MODE == 0 && IOMMU_OPTION_HUGE_PAGES == 1 &&
			 IOMMU_OPTION_OP_SET == 0 && IOMMU_OPTION_OP_GET == 1,
		 "iommufd_option");
DP_STATIC_ASSERT(IOMMU_HW_CAP_PCI_PASID_EXEC == 2 && IOMMU_HW_CAP_PCI_PASID_PRIV == 4,
		 "iommufd_hw_capabilities (PASID)");
DP_STATIC_ASSERT(IOMMU_HWPT_ALLOC_PASID == 8 && IOMMU_HWPT_DATA_VTD_S1 == 1 &&
			 IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 == 0 &&
			 IOMMU_HW_INFO_TYPE_INTEL_VTD == 1,
		 "hwpt constants");

#endif /* DMAPLANE_INTERNAL_UAPI_IOMMUFD_H */
