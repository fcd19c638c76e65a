/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file vfio.h
 * Device access: open a PCI device owned through VFIO (or a sim device), its regions (BARs,
 * config space), reset, bus mastering and interrupts.
 *
 * Addresses: "0000:03:00.0" or "03:00.0" for PCI devices bound to vfio-pci
 * (`scripts/setup.sh bind`), "sim:<model><n>" (e.g. "sim:test0", "sim:nvme0") for lib/sim
 * device models. The device attaches to the IOAS it is opened with; its DMA goes through it.
 *
 * Errors: 0 or a negative errno as listed per call. Thread rules: a device handle is used by
 * one thread at a time for control calls; region reads/writes of different registers may come
 * from several threads.
 */
#ifndef DMAPLANE_VFIO_H
#define DMAPLANE_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmaplane/common.h>
#include <dmaplane/iova.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An open device. Opaque. */
struct dp_device;

/**
 * Open a device and attach it to @p ioas.
 * @return 0;
 *   -EINVAL  malformed address, or NULL arguments;
 *   -ENODEV  no such PCI device / no such sim model or instance;
 *   -ENXIO   the device is not bound to vfio-pci (the log says: scripts/setup.sh bind ADDR);
 *   -EACCES  no permission on /dev/vfio/... (run as root or chown the device node);
 *   -EBUSY   the device is open already (here or elsewhere), or its IOMMU group is not viable
 *            (other devices of the group are still bound to kernel drivers: the log names them);
 *   -ENOTSUP the IOAS's backend cannot attach this device (sim device on a kernel IOAS, PCI
 *            device on a sim IOAS, or the kernel lacks VFIO cdev / iommufd: the log says which);
 *   -ERANGE  mappings the IOAS already holds fall in IOVA ranges this device reserves;
 *   -ENOMEM; another negative errno from the kernel (logged).
 */
int dp_pci_device_open(const char *addr, struct dp_ioas *ioas, struct dp_device **dev);

/**
 * Close: disables interrupts and bus mastering, unmaps regions, detaches from the IOAS.
 * @return 0; -EINVAL (NULL).
 */
int dp_device_close(struct dp_device *dev);

/** Facts about an open device. */
struct dp_device_info {
	size_t size;          /**< sizeof(struct dp_device_info), set by the caller */
	char addr[32];        /**< canonical address, e.g. "0000:03:00.0" or "sim:test0" */
	uint16_t vendor_id;
	uint16_t device_id;
	uint32_t class_code;  /**< 24-bit PCI class code */
	uint32_t num_regions;
	uint32_t num_irqs;
	int32_t numa_node;    /**< -1 when unknown */
	uint32_t flags;       /**< DP_DEVICE_F_* */
	uint32_t backend;     /**< enum dp_iommu_backend of its IOAS */
	uint32_t reserved0;
};

#define DP_DEVICE_F_RESET (1u << 0) /**< dp_device_reset() is supported */
#define DP_DEVICE_F_SIM (1u << 1)   /**< a lib/sim model */

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_device_info) == 72, "dp_device_info layout is ABI");
#endif

/** @return 0; -EINVAL (NULL or info->size too small). */
int dp_device_get_info(struct dp_device *dev, struct dp_device_info *info);

/** Region indexes, as VFIO numbers them for PCI. */
enum dp_region_index {
	DP_REGION_BAR0 = 0,
	DP_REGION_BAR5 = 5,
	DP_REGION_ROM = 6,
	DP_REGION_CONFIG = 7,
};

struct dp_region_info {
	size_t size;       /**< sizeof(struct dp_region_info), set by the caller */
	uint64_t length;   /**< bytes; 0 when the region does not exist */
	uint32_t flags;    /**< DP_REGION_F_* */
	uint32_t reserved0;
};

#define DP_REGION_F_READ (1u << 0)
#define DP_REGION_F_WRITE (1u << 1)
#define DP_REGION_F_MMAP (1u << 2) /**< dp_device_region_mmap() works */

/** @return 0; -EINVAL (NULL, info->size too small, index out of range). */
int dp_device_region_info(struct dp_device *dev, uint32_t index, struct dp_region_info *info);

/**
 * Map a region into the process (e.g. BAR0 registers). The mapping lasts until close.
 * @return 0; -EINVAL (bad index); -ENOTSUP (not mappable: use dp_device_region_read/write;
 *   sim models are never mappable); another negative errno from mmap (logged).
 */
int dp_device_region_mmap(struct dp_device *dev, uint32_t index, void **addr);

/**
 * Read/write @p len bytes at @p offset of a region (pread/pwrite on the VFIO device; works for
 * regions that cannot be mapped). len must be 1, 2, 4 or 8 for registers, any size otherwise.
 * @return 0; -EINVAL (bad index, offset+len beyond the region); -EIO (short access).
 */
int dp_device_region_read(struct dp_device *dev, uint32_t index, uint64_t offset, void *buf,
			  size_t len);
int dp_device_region_write(struct dp_device *dev, uint32_t index, uint64_t offset,
			   const void *buf, size_t len);

/** PCI configuration space: shorthands for the CONFIG region. Same returns. */
int dp_device_cfg_read(struct dp_device *dev, uint32_t offset, void *buf, size_t len);
int dp_device_cfg_write(struct dp_device *dev, uint32_t offset, const void *buf, size_t len);

/** Function reset. @return 0; -ENOTSUP (the device has no reset method); kernel errno. */
int dp_device_reset(struct dp_device *dev);

/** Set or clear Bus Master Enable in the PCI command register. @return 0 or a region error. */
int dp_device_set_bus_master(struct dp_device *dev, bool enable);

/** Interrupt types, as VFIO numbers them. */
enum dp_irq_type {
	DP_IRQ_INTX = 0,
	DP_IRQ_MSI = 1,
	DP_IRQ_MSIX = 2,
};

/**
 * Route @p count vectors starting at @p start to eventfds (one per vector; -1 leaves a vector
 * unrouted). Drivers poll, but interrupts are available for those who want to sleep.
 * @return 0; -EINVAL (bad type or range); -ENOTSUP (type not supported by the device or by
 *   sim); kernel errno.
 */
int dp_device_irq_enable(struct dp_device *dev, uint32_t type, uint32_t start, uint32_t count,
			 const int *eventfds);

/** Disable all vectors of @p type. @return 0; -EINVAL; kernel errno. */
int dp_device_irq_disable(struct dp_device *dev, uint32_t type);

/** The IOAS the device is attached to. */
struct dp_ioas *dp_device_ioas(struct dp_device *dev);

#ifdef __cplusplus
}
#endif

#endif /* DMAPLANE_VFIO_H */
