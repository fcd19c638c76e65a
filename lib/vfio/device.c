/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/vfio front end: argument checks and dispatch to the VFIO PCI or sim device kinds. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DP_LOG_COMPONENT "vfio"
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/mmio.h>

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MASTER 0x4
#define MAX_OPEN_PCI 256

/* PCI devices open in this process: the kernel lets a group hand out a device twice, but two
 * handles on one device would fight over its registers, so the second open is refused. */
static pthread_mutex_t g_open_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_open_pci[MAX_OPEN_PCI][13];

static int pci_claim(const char *bdf)
{
	int free_slot = -1;

	pthread_mutex_lock(&g_open_lock);
	for (int i = 0; i < MAX_OPEN_PCI; i++) {
		if (strcmp(g_open_pci[i], bdf) == 0) {
			pthread_mutex_unlock(&g_open_lock);
			DPI_ERR("%s is open already in this process: close it before opening it again",
				bdf);
			return -EBUSY;
		}
		if (g_open_pci[i][0] == '\0' && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0)
		memcpy(g_open_pci[free_slot], bdf, 13);
	pthread_mutex_unlock(&g_open_lock);
	return free_slot >= 0 ? 0 : -EMFILE;
}

static void pci_unclaim(const char *bdf)
{
	pthread_mutex_lock(&g_open_lock);
	for (int i = 0; i < MAX_OPEN_PCI; i++)
		if (strcmp(g_open_pci[i], bdf) == 0)
			g_open_pci[i][0] = '\0';
	pthread_mutex_unlock(&g_open_lock);
}

int dp_pci_device_open(const char *addr, struct dp_ioas *ioas, struct dp_device **out)
{
	struct dp_device *dev;
	char bdf[13];
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (addr == NULL || ioas == NULL) {
		DPI_ERR("dp_pci_device_open: %s is NULL", addr == NULL ? "addr" : "ioas");
		return -EINVAL;
	}
	dev = dpi_fault("malloc") ? NULL : calloc(1, sizeof(*dev));
	if (dev == NULL)
		return -ENOMEM;
	dev->ioas = ioas;
	dev->info.size = sizeof(dev->info);
	if (strncmp(addr, "sim:", 4) == 0) {
		rc = dpi_vfio_sim_open(addr + 4, ioas, dev);
	} else if (dpi_pci_addr_parse(addr, bdf) != 0) {
		DPI_ERR("'%s' is not a PCI address (DDDD:BB:DD.F, e.g. 0000:03:00.0) or a sim "
			"device (sim:test0)", addr);
		rc = -EINVAL;
	} else if ((rc = pci_claim(bdf)) == 0) {
		rc = dpi_vfio_pci_open(bdf, ioas, dev);
		if (rc != 0)
			pci_unclaim(bdf);
	}
	if (rc != 0) {
		free(dev);
		return rc;
	}
	for (uint32_t i = 0; i < dev->info.num_regions && i < DPI_MAX_REGIONS; i++) {
		struct dp_region_info ri = {.size = sizeof(ri)};
		if (dev->ops->region_info(dev, i, &ri) == 0) {
			dev->region_len[i] = ri.length;
			dev->region_flags[i] = ri.flags;
		}
	}
	DPI_INFO("opened %s (%04x:%04x) on the %s IOAS", dev->info.addr, dev->info.vendor_id,
		 dev->info.device_id, dp_iommu_backend_name(dev->info.backend));
	*out = dev;
	return 0;
}

int dp_device_close(struct dp_device *dev)
{
	if (dev == NULL)
		return -EINVAL;
	/* Stop the device's DMA before its mappings can go away. */
	if (dev->region_len[DP_REGION_CONFIG] != 0)
		dp_device_set_bus_master(dev, false);
	/* PASIDs attached through lib/pasid go before the device detaches from its IOAS. */
	if (dev->pasid_release != NULL)
		dev->pasid_release(dev);
	for (uint32_t i = 0; i < DPI_MAX_REGIONS; i++)
		if (dev->mmap_addr[i] != NULL)
			munmap(dev->mmap_addr[i], dev->mmap_len[i]);
	dev->ops->close(dev);
	if (!(dev->info.flags & DP_DEVICE_F_SIM))
		pci_unclaim(dev->info.addr);
	free(dev);
	return 0;
}

int dp_device_get_info(struct dp_device *dev, struct dp_device_info *info)
{
	size_t size;

	if (dev == NULL || info == NULL || info->size < offsetof(struct dp_device_info, vendor_id))
		return -EINVAL;
	size = DPI_MIN(info->size, sizeof(*info));
	memcpy(info, &dev->info, size);
	info->size = size;
	return 0;
}

static int check_region(struct dp_device *dev, uint32_t index, const char *who)
{
	if (dev == NULL)
		return -EINVAL;
	if (index >= dev->info.num_regions || index >= DPI_MAX_REGIONS) {
		DPI_ERR("%s(%s): region %u does not exist (the device has %u)", who, dev->info.addr,
			index, dev->info.num_regions);
		return -EINVAL;
	}
	return 0;
}

int dp_device_region_info(struct dp_device *dev, uint32_t index, struct dp_region_info *info)
{
	int rc = check_region(dev, index, "dp_device_region_info");

	if (rc != 0)
		return rc;
	if (info == NULL || info->size < offsetof(struct dp_region_info, flags))
		return -EINVAL;
	info->length = dev->region_len[index];
	if (info->size >= offsetof(struct dp_region_info, reserved0))
		info->flags = dev->region_flags[index];
	return 0;
}

int dp_device_region_mmap(struct dp_device *dev, uint32_t index, void **addr)
{
	int rc = check_region(dev, index, "dp_device_region_mmap");

	if (rc != 0 || addr == NULL)
		return rc ? rc : -EINVAL;
	if (!(dev->region_flags[index] & DP_REGION_F_MMAP) || dev->region_len[index] == 0) {
		DPI_ERR("region %u of %s cannot be mapped: use dp_device_region_read/write", index,
			dev->info.addr);
		return -ENOTSUP;
	}
	if (dev->mmap_addr[index] == NULL) {
		rc = dev->ops->region_mmap(dev, index, &dev->mmap_addr[index],
					   &dev->mmap_len[index]);
		if (rc != 0)
			return rc;
	}
	*addr = dev->mmap_addr[index];
	return 0;
}

static int check_access(struct dp_device *dev, uint32_t index, uint64_t off, const void *buf,
			size_t len, const char *who)
{
	int rc = check_region(dev, index, who);

	if (rc != 0)
		return rc;
	if (buf == NULL || len == 0 || off + len < off || off + len > dev->region_len[index]) {
		DPI_ERR("%s(%s): region %u offset 0x%" PRIx64 " length %zu is outside its 0x%" PRIx64
			" bytes", who, dev->info.addr, index, off, len, dev->region_len[index]);
		return -EINVAL;
	}
	return 0;
}

int dp_device_region_read(struct dp_device *dev, uint32_t index, uint64_t offset, void *buf,
			  size_t len)
{
	int rc = check_access(dev, index, offset, buf, len, "dp_device_region_read");

	return rc ? rc : dev->ops->region_read(dev, index, offset, buf, len);
}

int dp_device_region_write(struct dp_device *dev, uint32_t index, uint64_t offset,
			   const void *buf, size_t len)
{
	int rc = check_access(dev, index, offset, buf, len, "dp_device_region_write");

	return rc ? rc : dev->ops->region_write(dev, index, offset, buf, len);
}

int dp_device_cfg_read(struct dp_device *dev, uint32_t offset, void *buf, size_t len)
{
	return dp_device_region_read(dev, DP_REGION_CONFIG, offset, buf, len);
}

int dp_device_cfg_write(struct dp_device *dev, uint32_t offset, const void *buf, size_t len)
{
	return dp_device_region_write(dev, DP_REGION_CONFIG, offset, buf, len);
}

int dp_device_reset(struct dp_device *dev)
{
	if (dev == NULL)
		return -EINVAL;
	if (!(dev->info.flags & DP_DEVICE_F_RESET)) {
		DPI_ERR("%s has no reset method (no FLR, PM or bus reset available)",
			dev->info.addr);
		return -ENOTSUP;
	}
	return dev->ops->reset(dev);
}

int dp_device_set_bus_master(struct dp_device *dev, bool enable)
{
	uint16_t cmd;
	int rc = dp_device_cfg_read(dev, PCI_COMMAND, &cmd, sizeof(cmd));

	if (rc != 0)
		return rc;
	cmd = enable ? (uint16_t)(cmd | PCI_COMMAND_MASTER) : (uint16_t)(cmd & ~PCI_COMMAND_MASTER);
	return dp_device_cfg_write(dev, PCI_COMMAND, &cmd, sizeof(cmd));
}

int dp_device_irq_enable(struct dp_device *dev, uint32_t type, uint32_t start, uint32_t count,
			 const int *eventfds)
{
	if (dev == NULL || type > DP_IRQ_MSIX || count == 0 || eventfds == NULL ||
	    start + count < start) {
		if (dev != NULL)
			DPI_ERR("dp_device_irq_enable(%s): bad type %u or vectors %u+%u",
				dev->info.addr, type, start, count);
		return -EINVAL;
	}
	return dev->ops->irq_set(dev, type, start, count, eventfds);
}

int dp_device_irq_disable(struct dp_device *dev, uint32_t type)
{
	if (dev == NULL || type > DP_IRQ_MSIX)
		return -EINVAL;
	return dev->ops->irq_set(dev, type, 0, 0, NULL);
}

struct dp_ioas *dp_device_ioas(struct dp_device *dev)
{
	return dev ? dev->ioas : NULL;
}

void dpi_mmio_region_write32(const struct dpi_mmio *m, uint64_t off, uint32_t v)
{
	m->dev->ops->region_write(m->dev, m->region, off, &v, sizeof(v));
}

int dpi_device_mmio(struct dp_device *dev, uint32_t region, struct dpi_mmio *mmio)
{
	void *base = NULL;
	int rc = check_region(dev, region, "dpi_device_mmio");

	if (rc != 0)
		return rc;
	if (dev->region_flags[region] & DP_REGION_F_MMAP) {
		rc = dp_device_region_mmap(dev, region, &base);
		if (rc != 0)
			return rc;
	}
	*mmio = (struct dpi_mmio){.base = base, .dev = dev, .region = region,
				  .len = dev->region_len[region]};
	if (base == NULL && dev->ops->mmio_direct != NULL)
		dev->ops->mmio_direct(dev, region, mmio);
	return 0;
}
