/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file pasid.h
 * PASIDs (PCIe Process Address Space IDs): allocate them, attach a PASID of a device to an
 * IOAS, and report what a device, its IOMMU, the CPU and the kernel support.
 *
 * Namespace: PASIDs are global per process, as the kernel's SVA PASIDs are global per system.
 * One allocator hands out every PASID of the process; a device's PASID width only limits which
 * of them it may be given (a device with a 5-bit PASID capability gets IDs below 32). So a
 * PASID number names one thing in the process on every device (the same IOAS may be attached
 * under the same PASID on several devices), and IDs never collide between devices when they
 * are handed around. PASID 0 is reserved (PCIe uses it as "no PASID" on VT-d); IDs are
 * 1 .. 2^width - 1, width at most 20.
 *
 * Thread rules: dp_pasid_alloc and dp_pasid_free are lock-free and may be called from any
 * thread at any time, also on one device from several threads (a refused free takes locks to
 * name the device in its log line). A free racing an attach of the same PASID in another
 * thread has one outcome: the free fails with -EBUSY and the attach succeeds, or the free
 * succeeds and the attach fails with -EINVAL; never both. dp_pasid_attach/detach and
 * dp_pasid_caps are control calls: one thread at a time per device (as every control call of
 * vfio.h). dp_device_close() detaches every PASID still attached to the device; it does not
 * free PASIDs (they belong to the process, not to the device).
 *
 * Errors: 0 or a negative errno as listed per call; every failure also logs one line that says
 * what to do.
 */
#ifndef DMAPLANE_PASID_H
#define DMAPLANE_PASID_H

#include <stddef.h>
#include <stdint.h>

#include <dmaplane/common.h>
#include <dmaplane/iova.h>
#include <dmaplane/vfio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Highest PASID of the PCIe 20-bit space. */
#define DP_PASID_MAX ((1u << 20) - 1)

/**
 * Allocate a PASID that @p dev can use: a free ID in 1 .. 2^width - 1 (no particular order),
 * width being the PASID width usable on the device (dp_pasid_caps: the device's capability and the
 * IOMMU's width, intersected).
 * @return 0 with *pasid set;
 *   -EINVAL    NULL arguments;
 *   -EOPNOTSUPP the device or its IOMMU has no PASID support (width 0; the log says which);
 *   -ENOSPC    every PASID the device can use is allocated (free some, or use a device or
 *              IOMMU with a wider PASID space);
 *   -ENOMEM    (the first PASID of a range of 4096 allocates their attach counters).
 */
int dp_pasid_alloc(struct dp_device *dev, uint32_t *pasid);

/**
 * Free a PASID from dp_pasid_alloc. It must be detached from every device first. @p dev may
 * be NULL: PASIDs belong to the process and may outlive the device they were allocated for
 * (with a device, the PASID is also checked against its width).
 * @return 0;
 *   -EINVAL  @p pasid is 0, beyond DP_PASID_MAX or the device's width; or it is not allocated
 *            (a double free: the log says so);
 *   -EBUSY   the PASID is still attached to a device (the log names it: dp_pasid_detach it
 *            there first), or an attach in another thread took it first.
 */
int dp_pasid_free(struct dp_device *dev, uint32_t pasid);

/**
 * Attach PASID @p pasid of @p dev to @p ioas: the device's DMA tagged with that PASID is
 * translated through the IOAS from then on (requests without PASID keep the IOAS the device
 * was opened with). The IOAS counts the attachment like an attached device: dp_ioas_destroy()
 * fails with -EBUSY until the PASID is detached (or the device closed).
 *
 * Backends: sim (the sim IOMMU keeps one address space per device and PASID); iommufd with a
 * kernel >= 6.15 (a PASID-capable HWPT is allocated on the IOAS for the device and the PASID
 * attached to it); vfio type1 has no PASID support.
 * @return 0;
 *   -EINVAL     NULL arguments; PASID 0 or beyond the device's width; a PASID not allocated
 *               with dp_pasid_alloc, or freed by another thread during the call (that free
 *               won the race); an IOAS on another backend than the device's;
 *   -EBUSY      that PASID of the device is attached already (detach it first);
 *   -EOPNOTSUPP no PASID support on this path: the device or IOMMU has none, the IOAS is on
 *               the vfio type1 backend or is a nested IOAS on iommufd (DP_IOAS_F_NESTED),
 *               the device was opened on such a nested IOAS (checked before anything else
 *               on iommufd; nothing changes), or
 *               the kernel is older than 6.15 (the log names the running kernel and what is
 *               needed);
 *   -ERANGE     mappings of the IOAS lie in IOVA ranges the device reserves;
 *   -ENOSPC     the PASID is attached on 32767 devices already;
 *   -ENOMEM; another negative errno from the kernel (logged).
 */
int dp_pasid_attach(struct dp_device *dev, uint32_t pasid, struct dp_ioas *ioas);

/**
 * Detach PASID @p pasid of @p dev: DMA with that PASID faults afterwards.
 * @return 0; -EINVAL (NULL device); -ENOENT (that PASID is not attached on the device);
 *   another negative errno from the kernel (logged; the PASID counts as detached anyway).
 */
int dp_pasid_detach(struct dp_device *dev, uint32_t pasid);

/** How a device's DMA gets its PASID (enum of dp_pasid_caps.mode). */
enum dp_pasid_mode {
	DP_PASID_MODE_NONE = 0,     /**< requests carry no PASID (RID only) */
	DP_PASID_MODE_FIXED = 1,    /**< the driver programs one PASID into the device */
	DP_PASID_MODE_PER_DESC = 2, /**< every descriptor carries its PASID (DSA shared WQs) */
};

/* dp_pasid_caps.flags */
#define DP_PASID_CAP_DEVICE (1u << 0)        /**< the device has a PCI PASID capability */
#define DP_PASID_CAP_EXEC (1u << 1)          /**< ... with Execute Permission Supported */
#define DP_PASID_CAP_PRIV (1u << 2)          /**< ... with Privileged Mode Supported */
#define DP_PASID_CAP_IOMMU (1u << 3)         /**< the IOMMU translates requests with PASID */
#define DP_PASID_CAP_CPU_ENQCMD (1u << 4)    /**< CPUID.(7,0):ECX[29] */
#define DP_PASID_CAP_CPU_MOVDIR64B (1u << 5) /**< CPUID.(7,0):ECX[28] */
#define DP_PASID_CAP_KERNEL_SVA (1u << 6)    /**< the kernel's idxd driver is there (see below) */
#define DP_PASID_CAP_KERNEL_ATTACH (1u << 7) /**< the kernel has iommufd PASID attach (>= 6.15) */
#define DP_PASID_CAP_ATTACH (1u << 8)        /**< dp_pasid_attach can work on this device */

/**
 * What a device and its surroundings support for PASIDs.
 *
 * KERNEL_SVA is set when <sysfs>/bus/dsa exists: the kernel's idxd driver is loaded, and it
 * binds a process's address space (SVA) to a work queue's PASID when the process opens
 * /dev/dsa/wqX.Y. It says nothing about this device (which is owned through VFIO here); it
 * tells whether kernel-owned DSA work queues are an option on this machine.
 */
struct dp_pasid_caps {
	size_t size;          /**< sizeof(struct dp_pasid_caps), set by the caller */
	uint32_t flags;       /**< DP_PASID_CAP_* */
	uint32_t mode;        /**< enum dp_pasid_mode: the driver's hint, else derived */
	uint8_t device_width; /**< Max PASID Width of the device's capability; 0: none */
	uint8_t iommu_width;  /**< PASID width of the IOMMU; 0: none or unknown */
	uint8_t width;        /**< usable width: the smaller of both; 0: no PASIDs */
	uint8_t reserved0;
	uint32_t max_pasid;   /**< highest PASID dp_pasid_alloc hands out (2^width - 1); 0 */
	uint32_t kernel_major; /**< running kernel version (uname), for the log and tests */
	uint32_t kernel_minor;
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_pasid_caps) == 32, "dp_pasid_caps layout is ABI");
#endif

/**
 * Fill @p caps (up to caps->size bytes; older, smaller structs get the fields they have).
 * @return 0; -EINVAL (NULL, or caps->size smaller than up to the flags field).
 */
int dp_pasid_caps(struct dp_device *dev, struct dp_pasid_caps *caps);

#ifdef __cplusplus
}
#endif

#endif /* DMAPLANE_PASID_H */
