/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vfio internals: the device object and the per-kind ops (VFIO PCI device, sim device).
 * The front end (lib/vfio/device.c) checks arguments and dispatches.
 */
#ifndef DMAPLANE_INTERNAL_DEVICE_H
#define DMAPLANE_INTERNAL_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include <dmaplane/vfio.h>

#define DPI_MAX_REGIONS 9 /* BAR0-5, ROM, CONFIG, VGA */

struct dpi_mmio;

struct dpi_device_ops {
	const char *name;
	/* index < info.num_regions. Fill length and flags. */
	int (*region_info)(struct dp_device *dev, uint32_t index, struct dp_region_info *info);
	/* Only called when the region has DP_REGION_F_MMAP; map it whole. */
	int (*region_mmap)(struct dp_device *dev, uint32_t index, void **addr, size_t *len);
	/* offset/len are within the region. */
	int (*region_read)(struct dp_device *dev, uint32_t index, uint64_t off, void *buf,
			   size_t len);
	int (*region_write)(struct dp_device *dev, uint32_t index, uint64_t off, const void *buf,
			    size_t len);
	int (*reset)(struct dp_device *dev);
	/* count 0: disable all vectors of type. */
	int (*irq_set)(struct dp_device *dev, uint32_t type, uint32_t start, uint32_t count,
		       const int *eventfds);
	/* Detach from the IOAS and release everything (mmaps are unmapped by the front end). */
	void (*close)(struct dp_device *dev);
	/* Give a software model its deferred work (delayed completions); NULL for real devices.
	 * Drivers call it from their poll path, in the polling thread. */
	void (*poll)(struct dp_device *dev);
	/* Optional (software devices): fill @m's write32, poll and ctx for region @index (see
	 * dmaplane_internal/mmio.h); called by dpi_device_mmio for a region it does not map. */
	void (*mmio_direct)(struct dp_device *dev, uint32_t index, struct dpi_mmio *m);
};

struct dp_device {
	const struct dpi_device_ops *ops;
	struct dp_ioas *ioas;
	struct dp_device_info info;
	void *priv;
	void *mmap_addr[DPI_MAX_REGIONS];
	size_t mmap_len[DPI_MAX_REGIONS];
	uint64_t region_len[DPI_MAX_REGIONS]; /* filled at open from region_info */
	uint32_t region_flags[DPI_MAX_REGIONS];
	/* lib/pasid's per-device state (NULL until a dp_pasid_* call needs it) and its release,
	 * called by dp_device_close after bus mastering is off and before the device detaches, so
	 * that every PASID still attached is detached first. */
	void *pasid;
	void (*pasid_release)(struct dp_device *dev);
};

/*
 * Openers: fill dev->ops, dev->priv and dev->info (addr, ids, class, num_regions, num_irqs,
 * numa_node, flags), attach to ioas (backend-specific), then call dpi_ioas_device_attached().
 * On failure everything is undone. Return 0 or a negative errno as documented for
 * dp_pci_device_open, with a log line that says what to do.
 */
int dpi_vfio_pci_open(const char *bdf, struct dp_ioas *ioas, struct dp_device *dev);
int dpi_vfio_sim_open(const char *name, struct dp_ioas *ioas, struct dp_device *dev);

/*
 * Parse a PCI address "DDDD:BB:DD.F" or "BB:DD.F" into canonical form (12 chars + NUL).
 * Returns 0 or -EINVAL.
 */
int dpi_pci_addr_parse(const char *in, char out[13]);

/*
 * iommufd: the VFIO device cdev's fd and the device id VFIO_DEVICE_BIND_IOMMUFD returned (the
 * dev_id of IOMMU_GET_HW_INFO and IOMMU_HWPT_ALLOC). The IOAS id comes from dpi_ioas_iommufd().
 * Returns 0; -ENOTSUP (not a PCI device on the iommufd backend: type1 or sim); -EINVAL (NULL).
 */
int dpi_device_iommufd(struct dp_device *dev, int *dev_fd, uint32_t *dev_id);

/* The sim device behind a sim dp_device (NULL for others). */
struct dpi_sim_device *dpi_device_sim(struct dp_device *dev);

#endif
