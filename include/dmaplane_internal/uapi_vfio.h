/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The VFIO uAPI as dmaplane uses it: the type1 container and group path, device regions,
 * interrupts and reset, and the device cdev path bound to iommufd (Linux >= 6.6; PASID attach
 * fields 6.15).
 *
 * Include this instead of <linux/vfio.h>. The choice between the system header and the own
 * definitions below is made once, in uapi_iommufd.h (DPI_UAPI_SYSTEM), for both headers:
 * Debian 12's 6.1 <linux/vfio.h> lacks the cdev ioctls, and a 6.6-6.14 one has them without
 * the PASID fields, so a partial header cannot be completed and is not used at all. The static
 * asserts at the end check the values of the Linux 7.3 uAPI whichever definitions are in use.
 *
 * Semantics worth knowing (Linux 7.3, drivers/vfio):
 *  - every struct starts with argsz, the size the caller passes; the kernel reads what it knows;
 *  - INFO ioctls with a capability chain set VFIO_*_CAPS and raise argsz when the buffer was too
 *    small for the chain (no error: call again with argsz bytes); cap offsets and next are
 *    relative to the start of the info buffer, next 0 ends the chain;
 *  - a container accepts VFIO_IOMMU_* only after VFIO_SET_IOMMU, which needs a group attached
 *    with VFIO_GROUP_SET_CONTAINER; when the last group leaves, the container's IOMMU and all
 *    its mappings are released;
 *  - VFIO_DEVICE_BIND_IOMMUFD fails with -EBUSY when the device's group is open, and with
 *    -EINVAL when the device is already open through another file.
 */
#ifndef DMAPLANE_INTERNAL_UAPI_VFIO_H
#define DMAPLANE_INTERNAL_UAPI_VFIO_H

#include <dmaplane_internal/uapi_iommufd.h>

#if DPI_UAPI_SYSTEM
#include <linux/vfio.h>
#ifndef VFIO_DEVICE_ATTACH_PASID
#error "<linux/vfio.h> is older than Linux 6.15: build with -DDPI_UAPI_SYSTEM=0"
#endif
#define DPI_UAPI_VFIO_SOURCE "system <linux/vfio.h>"
#else /* own definitions */

#ifdef _UAPIVFIO_H
#error "<linux/vfio.h> was included before dmaplane_internal/uapi_vfio.h: include only this"
#endif
/* Keep a later #include <linux/vfio.h> from redefining what follows. */
#define _UAPIVFIO_H
#define DPI_UAPI_VFIO_SOURCE "dmaplane's own definitions (Linux 7.3 layout)"

#define VFIO_API_VERSION   0

/* VFIO_CHECK_EXTENSION / VFIO_SET_IOMMU arguments (selection). */
#define VFIO_TYPE1_IOMMU   1
#define VFIO_TYPE1v2_IOMMU 3
#define VFIO_NOIOMMU_IOMMU 8
#define VFIO_UNMAP_ALL     9

/* All VFIO ioctls are _IO(';', 100 + n). */
#define VFIO_TYPE          ';'
#define VFIO_BASE          100

/* Header of one capability in an INFO buffer's chain. */
struct vfio_info_cap_header {
	uint16_t id;
	uint16_t version;
	uint32_t next; /* offset from the start of the info buffer; 0 ends the chain */
};

/* ---- container (/dev/vfio/vfio) ------------------------------------------------------------ */

/* returns VFIO_API_VERSION */
#define VFIO_GET_API_VERSION               _IO(VFIO_TYPE, VFIO_BASE + 0)
/* arg: extension; returns > 0 */
#define VFIO_CHECK_EXTENSION               _IO(VFIO_TYPE, VFIO_BASE + 1)
/* arg: IOMMU type (value) */
#define VFIO_SET_IOMMU                     _IO(VFIO_TYPE, VFIO_BASE + 2)

/* ---- group (/dev/vfio/N) ------------------------------------------------------------------- */

struct vfio_group_status {
	uint32_t argsz;
	uint32_t flags;
};
/* every device of the group is VFIO's or free */
#define VFIO_GROUP_FLAGS_VIABLE            (1 << 0)
#define VFIO_GROUP_FLAGS_CONTAINER_SET     (1 << 1)
#define VFIO_GROUP_GET_STATUS              _IO(VFIO_TYPE, VFIO_BASE + 3)
/* arg: int32_t *container_fd */
#define VFIO_GROUP_SET_CONTAINER           _IO(VFIO_TYPE, VFIO_BASE + 4)
#define VFIO_GROUP_UNSET_CONTAINER         _IO(VFIO_TYPE, VFIO_BASE + 5) /* no arg */
#define VFIO_GROUP_GET_DEVICE_FD           _IO(VFIO_TYPE, VFIO_BASE + 6) /* arg: "0000:03:00.0" */

/* ---- device -------------------------------------------------------------------------------- */

struct vfio_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions; /* highest region index + 1 */
	uint32_t num_irqs;    /* highest IRQ index + 1 */
	uint32_t cap_offset;
	uint32_t pad;
};
#define VFIO_DEVICE_FLAGS_RESET            (1 << 0)
#define VFIO_DEVICE_FLAGS_PCI              (1 << 1)
#define VFIO_DEVICE_FLAGS_CAPS             (1 << 7)
#define VFIO_DEVICE_GET_INFO               _IO(VFIO_TYPE, VFIO_BASE + 7)

struct vfio_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset;
	dpi_u64a size;   /* bytes; 0: the region does not exist */
	dpi_u64a offset; /* of the region within the device fd (pread/pwrite/mmap) */
};
#define VFIO_REGION_INFO_FLAG_READ         (1 << 0)
#define VFIO_REGION_INFO_FLAG_WRITE        (1 << 1)
#define VFIO_REGION_INFO_FLAG_MMAP         (1 << 2)
#define VFIO_REGION_INFO_FLAG_CAPS         (1 << 3)
#define VFIO_DEVICE_GET_REGION_INFO        _IO(VFIO_TYPE, VFIO_BASE + 8)

/* Region capability: only these areas of the region may be mmap()ed. */
#define VFIO_REGION_INFO_CAP_SPARSE_MMAP   1
struct vfio_region_sparse_mmap_area {
	dpi_u64a offset;
	dpi_u64a size;
};
struct vfio_region_info_cap_sparse_mmap {
	struct vfio_info_cap_header header;
	uint32_t nr_areas;
	uint32_t reserved;
	struct vfio_region_sparse_mmap_area areas[];
};
/* Region capability (no data): the MSI-X table inside a BAR may be mmap()ed. */
#define VFIO_REGION_INFO_CAP_MSIX_MAPPABLE 3

struct vfio_irq_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count; /* vectors of this index; 0: not supported */
};
#define VFIO_IRQ_INFO_EVENTFD              (1 << 0)
#define VFIO_IRQ_INFO_MASKABLE             (1 << 1)
#define VFIO_IRQ_INFO_AUTOMASKED           (1 << 2)
#define VFIO_IRQ_INFO_NORESIZE             (1 << 3)
#define VFIO_DEVICE_GET_IRQ_INFO           _IO(VFIO_TYPE, VFIO_BASE + 9)

/* Route/unroute vectors [start, start+count) of index; data: count int32_t eventfds or none. */
struct vfio_irq_set {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t start;
	uint32_t count;
	uint8_t data[];
};
#define VFIO_IRQ_SET_DATA_NONE             (1 << 0)
#define VFIO_IRQ_SET_DATA_BOOL             (1 << 1)
#define VFIO_IRQ_SET_DATA_EVENTFD          (1 << 2)
#define VFIO_IRQ_SET_ACTION_MASK           (1 << 3)
#define VFIO_IRQ_SET_ACTION_UNMASK         (1 << 4)
#define VFIO_IRQ_SET_ACTION_TRIGGER        (1 << 5)
#define VFIO_DEVICE_SET_IRQS               _IO(VFIO_TYPE, VFIO_BASE + 10)

#define VFIO_DEVICE_RESET                    _IO(VFIO_TYPE, VFIO_BASE + 11)

/* Fixed region and IRQ indexes of vfio-pci. */
enum {
	VFIO_PCI_BAR0_REGION_INDEX = 0,
	VFIO_PCI_BAR5_REGION_INDEX = 5,
	VFIO_PCI_ROM_REGION_INDEX = 6,
	VFIO_PCI_CONFIG_REGION_INDEX = 7,
	VFIO_PCI_VGA_REGION_INDEX = 8,
	VFIO_PCI_NUM_REGIONS = 9,
};

enum {
	VFIO_PCI_INTX_IRQ_INDEX = 0,
	VFIO_PCI_MSI_IRQ_INDEX = 1,
	VFIO_PCI_MSIX_IRQ_INDEX = 2,
	VFIO_PCI_ERR_IRQ_INDEX = 3,
	VFIO_PCI_REQ_IRQ_INDEX = 4,
	VFIO_PCI_NUM_IRQS = 5,
};

/* ---- device cdev (/dev/vfio/devices/vfioN) bound to iommufd ------------------------------- */

/* Bind the device to an iommufd; out_devid names it in iommufd commands. Undone by close. */
struct vfio_device_bind_iommufd {
	uint32_t argsz;
	uint32_t flags;
	int32_t iommufd;
	uint32_t out_devid;
	dpi_u64a token_uuid_ptr; /* 6.17: with VFIO_DEVICE_BIND_FLAG_TOKEN (VF token) */
};
#define VFIO_DEVICE_BIND_FLAG_TOKEN          (1 << 0)
#define VFIO_DEVICE_BIND_IOMMUFD             _IO(VFIO_TYPE, VFIO_BASE + 18)

/* Attach the device (or one PASID of it) to an IOAS or HWPT; pt_id out: the HWPT used. */
struct vfio_device_attach_iommufd_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pt_id;
	uint32_t pasid; /* 6.15: with VFIO_DEVICE_ATTACH_PASID */
};
#define VFIO_DEVICE_ATTACH_PASID             (1 << 0)
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT        _IO(VFIO_TYPE, VFIO_BASE + 19)

/* Detach the device (or one PASID); DMA is blocked afterwards. */
struct vfio_device_detach_iommufd_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pasid; /* 6.15: with VFIO_DEVICE_DETACH_PASID */
};
#define VFIO_DEVICE_DETACH_PASID             (1 << 0)
#define VFIO_DEVICE_DETACH_IOMMUFD_PT        _IO(VFIO_TYPE, VFIO_BASE + 20)

/* ---- type1 IOMMU (container ioctls after VFIO_SET_IOMMU) ---------------------------------- */

struct vfio_iommu_type1_info {
	uint32_t argsz;
	uint32_t flags;
	dpi_u64a iova_pgsizes; /* bitmap of supported IOMMU page sizes */
	uint32_t cap_offset;
	uint32_t pad;
};
#define VFIO_IOMMU_INFO_PGSIZES              (1 << 0)
#define VFIO_IOMMU_INFO_CAPS                 (1 << 1)
#define VFIO_IOMMU_GET_INFO                  _IO(VFIO_TYPE, VFIO_BASE + 12)

/* Capability: the usable IOVA ranges (end inclusive), after reserved regions are taken out. */
#define VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE 1
struct vfio_iova_range {
	uint64_t start;
	uint64_t end;
};
struct vfio_iommu_type1_info_cap_iova_range {
	struct vfio_info_cap_header header;
	uint32_t nr_iovas;
	uint32_t reserved;
	struct vfio_iova_range iova_ranges[];
};

/* Capability: how many more MAP_DMA calls the container accepts (dma_entry_limit). */
#define VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL      3
struct vfio_iommu_type1_info_dma_avail {
	struct vfio_info_cap_header header;
	uint32_t avail;
};

struct vfio_iommu_type1_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t vaddr;
	uint64_t iova;
	uint64_t size;
};
#define VFIO_DMA_MAP_FLAG_READ               (1 << 0) /* the device may read */
#define VFIO_DMA_MAP_FLAG_WRITE              (1 << 1) /* the device may write */
#define VFIO_IOMMU_MAP_DMA                   _IO(VFIO_TYPE, VFIO_BASE + 13)

/* Unmap whole mappings inside [iova, iova+size); size out = bytes unmapped. */
struct vfio_iommu_type1_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t iova;
	uint64_t size;
	uint8_t data[];
};
#define VFIO_DMA_UNMAP_FLAG_ALL              (1 << 1)
#define VFIO_IOMMU_UNMAP_DMA                 _IO(VFIO_TYPE, VFIO_BASE + 14)

#endif /* own definitions */

/* Facts of the Linux 7.3 uAPI: _IO(';', 100 + n) = 0x3b64 + n. */
DP_STATIC_ASSERT(VFIO_GET_API_VERSION == 0x3b64, "VFIO_GET_API_VERSION");
DP_STATIC_ASSERT(VFIO_CHECK_EXTENSION == 0x3b65, "VFIO_CHECK_EXTENSION");
DP_STATIC_ASSERT(VFIO_SET_IOMMU == 0x3b66, "VFIO_SET_IOMMU");
DP_STATIC_ASSERT(VFIO_GROUP_GET_STATUS == 0x3b67, "VFIO_GROUP_GET_STATUS");
DP_STATIC_ASSERT(VFIO_GROUP_SET_CONTAINER == 0x3b68, "VFIO_GROUP_SET_CONTAINER");
DP_STATIC_ASSERT(VFIO_GROUP_UNSET_CONTAINER == 0x3b69, "VFIO_GROUP_UNSET_CONTAINER");
DP_STATIC_ASSERT(VFIO_GROUP_GET_DEVICE_FD == 0x3b6a, "VFIO_GROUP_GET_DEVICE_FD");
DP_STATIC_ASSERT(VFIO_DEVICE_GET_INFO == 0x3b6b, "VFIO_DEVICE_GET_INFO");
DP_STATIC_ASSERT(VFIO_DEVICE_GET_REGION_INFO == 0x3b6c, "VFIO_DEVICE_GET_REGION_INFO");
DP_STATIC_ASSERT(VFIO_DEVICE_GET_IRQ_INFO == 0x3b6d, "VFIO_DEVICE_GET_IRQ_INFO");
DP_STATIC_ASSERT(VFIO_DEVICE_SET_IRQS == 0x3b6e, "VFIO_DEVICE_SET_IRQS");
DP_STATIC_ASSERT(VFIO_DEVICE_RESET == 0x3b6f, "VFIO_DEVICE_RESET");
DP_STATIC_ASSERT(VFIO_IOMMU_GET_INFO == 0x3b70, "VFIO_IOMMU_GET_INFO");
DP_STATIC_ASSERT(VFIO_IOMMU_MAP_DMA == 0x3b71, "VFIO_IOMMU_MAP_DMA");
DP_STATIC_ASSERT(VFIO_IOMMU_UNMAP_DMA == 0x3b72, "VFIO_IOMMU_UNMAP_DMA");
DP_STATIC_ASSERT(VFIO_DEVICE_BIND_IOMMUFD == 0x3b76, "VFIO_DEVICE_BIND_IOMMUFD");
DP_STATIC_ASSERT(VFIO_DEVICE_ATTACH_IOMMUFD_PT == 0x3b77, "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
DP_STATIC_ASSERT(VFIO_DEVICE_DETACH_IOMMUFD_PT == 0x3b78, "VFIO_DEVICE_DETACH_IOMMUFD_PT");

DP_STATIC_ASSERT(sizeof(struct vfio_info_cap_header) == 8, "vfio_info_cap_header");
DP_STATIC_ASSERT(sizeof(struct vfio_group_status) == 8, "vfio_group_status");
DP_STATIC_ASSERT(sizeof(struct vfio_device_info) == 24, "vfio_device_info");
DP_STATIC_ASSERT(sizeof(struct vfio_region_info) == 32, "vfio_region_info");
DP_STATIC_ASSERT(offsetof(struct vfio_region_info, offset) == 24, "vfio_region_info.offset");
DP_STATIC_ASSERT(sizeof(struct vfio_region_info_cap_sparse_mmap) == 16, "cap_sparse_mmap");
DP_STATIC_ASSERT(sizeof(struct vfio_region_sparse_mmap_area) == 16, "sparse_mmap_area");
DP_STATIC_ASSERT(sizeof(struct vfio_irq_info) == 16, "vfio_irq_info");
DP_STATIC_ASSERT(sizeof(struct vfio_irq_set) == 20, "vfio_irq_set");
DP_STATIC_ASSERT(offsetof(struct vfio_irq_set, data) == 20, "vfio_irq_set.data");
DP_STATIC_ASSERT(sizeof(struct vfio_device_bind_iommufd) == 24, "vfio_device_bind_iommufd");
DP_STATIC_ASSERT(offsetof(struct vfio_device_bind_iommufd, out_devid) == 12, "bind.out_devid");
DP_STATIC_ASSERT(sizeof(struct vfio_device_attach_iommufd_pt) == 16, "attach_iommufd_pt");
DP_STATIC_ASSERT(offsetof(struct vfio_device_attach_iommufd_pt, pasid) == 12, "attach.pasid");
DP_STATIC_ASSERT(sizeof(struct vfio_device_detach_iommufd_pt) == 12, "detach_iommufd_pt");
DP_STATIC_ASSERT(offsetof(struct vfio_device_detach_iommufd_pt, pasid) == 8, "detach.pasid");
DP_STATIC_ASSERT(sizeof(struct vfio_iommu_type1_info) == 24, "vfio_iommu_type1_info");
DP_STATIC_ASSERT(offsetof(struct vfio_iommu_type1_info, cap_offset) == 16, "type1_info.cap");
DP_STATIC_ASSERT(sizeof(struct vfio_iova_range) == 16, "vfio_iova_range");
DP_STATIC_ASSERT(sizeof(struct vfio_iommu_type1_info_cap_iova_range) == 16, "cap_iova_range");
DP_STATIC_ASSERT(offsetof(struct vfio_iommu_type1_info_dma_avail, avail) == 8, "dma_avail");
DP_STATIC_ASSERT(sizeof(struct vfio_iommu_type1_dma_map) == 32, "vfio_iommu_type1_dma_map");
DP_STATIC_ASSERT(sizeof(struct vfio_iommu_type1_dma_unmap) == 24, "vfio_iommu_type1_dma_unmap");

DP_STATIC_ASSERT(VFIO_API_VERSION == 0 && VFIO_TYPE1v2_IOMMU == 3, "VFIO constants");
DP_STATIC_ASSERT(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE == 1 && VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL == 3,
		 "type1 capability ids");
DP_STATIC_ASSERT(VFIO_IRQ_SET_DATA_NONE == 1 && VFIO_IRQ_SET_DATA_EVENTFD == 4 &&
			 VFIO_IRQ_SET_ACTION_TRIGGER == 32,
		 "irq_set flags");
DP_STATIC_ASSERT(VFIO_DEVICE_ATTACH_PASID == 1 && VFIO_DEVICE_DETACH_PASID == 1,
		 "PASID attach/detach flags (6.15)");
DP_STATIC_ASSERT(VFIO_PCI_CONFIG_REGION_INDEX == 7 && VFIO_PCI_NUM_REGIONS == 9 &&
			 VFIO_PCI_MSIX_IRQ_INDEX == 2,
		 "vfio-pci indexes");

#endif /* DMAPLANE_INTERNAL_UAPI_VFIO_H */
