/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sim devices through the same device interface as VFIO PCI devices: regions are the model's
 * BARs (accessed through calls, never mmap) and the bus's emulated config space; the model's
 * requester is attached to the IOAS's sim domain, so its DMA goes through the sim IOMMU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "vfio"
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/mmio.h>
#include <dmaplane_internal/sim.h>
#include <dmaplane_internal/sys.h>

#define SIM_REGIONS (DP_REGION_CONFIG + 1)
#define SIM_CFG_SIZE 256
#define MAX_RESERVED 8

/* dev->priv: the sim device, and its model and state looked up once (register accesses are
 * the sim's hot path). */
struct sim_priv {
	struct dpi_sim_device *s;
	const struct dpi_sim_model *m;
	void *state;
};

static struct dpi_sim_device *sdev_of(struct dp_device *dev)
{
	return ((struct sim_priv *)dev->priv)->s;
}

static int sim_region_info(struct dp_device *dev, uint32_t index, struct dp_region_info *info)
{
	struct dpi_sim_device *s = sdev_of(dev);
	const struct dpi_sim_model *m = dpi_sim_device_model(s);

	info->flags = 0;
	if (index <= DP_REGION_BAR5)
		info->length = m->bar_size(dpi_sim_device_state(s), index);
	else if (index == DP_REGION_CONFIG)
		info->length = SIM_CFG_SIZE;
	else
		info->length = 0;
	if (info->length != 0)
		info->flags = DP_REGION_F_READ | DP_REGION_F_WRITE;
	return 0;
}

static int sim_region_mmap(struct dp_device *dev, uint32_t index, void **addr, size_t *len)
{
	return -ENOTSUP;
}

static int sim_region_read(struct dp_device *dev, uint32_t index, uint64_t off, void *buf,
			   size_t len)
{
	struct sim_priv *p = dev->priv;

	if (index == DP_REGION_CONFIG)
		return dpi_sim_cfg_read(p->s, (uint32_t)off, buf, len);
	return p->m->mmio_read(p->state, index, off, buf, len);
}

static int sim_region_write(struct dp_device *dev, uint32_t index, uint64_t off, const void *buf,
			    size_t len)
{
	struct sim_priv *p = dev->priv;

	if (index == DP_REGION_CONFIG)
		return dpi_sim_cfg_write(p->s, (uint32_t)off, buf, len);
	return p->m->mmio_write(p->state, index, off, buf, len);
}

static int sim_reset(struct dp_device *dev)
{
	struct dpi_sim_device *s = sdev_of(dev);

	return dpi_sim_device_model(s)->reset(dpi_sim_device_state(s));
}

static int sim_irq_set(struct dp_device *dev, uint32_t type, uint32_t start, uint32_t count,
		       const int *eventfds)
{
	DPI_ERR("%s: sim devices have no interrupts; poll them", dev->info.addr);
	return -ENOTSUP;
}

static void sim_close(struct dp_device *dev)
{
	struct dpi_sim_device *s = sdev_of(dev);

	dpi_ioas_device_detached(dev->ioas, dev);
	dpi_sim_requester_detach(dpi_sim_device_requester(s), DPI_SIM_NO_PASID);
	dpi_ioas_sim_unreserve(dev->ioas, dev);
	dpi_sim_device_destroy(s);
	free(dev->priv);
	dev->priv = NULL;
	dpi_ioas_device_gone(dev->ioas);
}

static void sim_poll(struct dp_device *dev)
{
	struct sim_priv *p = dev->priv;

	if (p->m->poll != NULL)
		p->m->poll(p->state);
}

/* The model's direct entries for dpi_mmio: BAR0 stores and the poll, on the model's state. */
static void sim_mmio_direct(struct dp_device *dev, uint32_t index, struct dpi_mmio *m)
{
	struct sim_priv *p = dev->priv;

	if (index == DP_REGION_BAR0)
		m->write32 = p->m->mmio_write32;
	m->poll = p->m->poll;
	m->ctx = p->state;
}

static const struct dpi_device_ops g_sim_ops = {
	.name = "sim",
	.region_info = sim_region_info,
	.region_mmap = sim_region_mmap,
	.region_read = sim_region_read,
	.region_write = sim_region_write,
	.reset = sim_reset,
	.irq_set = sim_irq_set,
	.close = sim_close,
	.poll = sim_poll,
	.mmio_direct = sim_mmio_direct,
};

static int reserve(struct dp_ioas *ioas, struct dp_device *dev, struct dpi_sim_device *s)
{
	const struct dpi_sim_model *m = dpi_sim_device_model(s);
	struct dp_iova_range r[MAX_RESERVED];
	uint32_t n = MAX_RESERVED;
	int rc;

	if (m->reserved_ranges == NULL)
		return 0;
	rc = m->reserved_ranges(dpi_sim_device_state(s), r, &n);
	if (rc == 0 && n != 0)
		rc = dpi_ioas_sim_reserve(ioas, dev, r, n);
	return rc;
}

int dpi_vfio_sim_open(const char *name, struct dp_ioas *ioas, struct dp_device *dev)
{
	struct dpi_sim_domain *domain;
	struct dpi_sim_device *s;
	const struct dpi_sim_model *m;
	struct sim_priv *priv;
	int rc;

	if (dpi_ioas_sim_domain(ioas, &domain) != 0) {
		DPI_ERR("sim:%s needs an IOAS on the sim backend (this one is %s): create it with "
			"backend DP_IOMMU_SIM or set DP_IOMMU=sim", name,
			dp_iommu_backend_name(dp_ioas_backend(ioas)));
		return -ENOTSUP;
	}
	rc = dpi_sim_device_create(name, &s);
	if (rc != 0) {
		DPI_ERR("sim:%s: %s", name,
			rc == -EBUSY	? "that sim device is open already"
			: rc == -ENODEV ? "no such sim device (models: test, nvme, dsa; e.g. sim:test0)"
					: "the model could not create it (its configuration or memory)");
		return rc;
	}
	m = dpi_sim_device_model(s);
	priv = dpi_calloc(1, sizeof(*priv));
	if (priv == NULL) {
		dpi_sim_device_destroy(s);
		return -ENOMEM;
	}
	*priv = (struct sim_priv){.s = s, .m = m, .state = dpi_sim_device_state(s)};
	dev->ops = &g_sim_ops;
	dev->priv = priv;
	snprintf(dev->info.addr, sizeof(dev->info.addr), "sim:%s", name);
	dev->info.vendor_id = m->vendor_id;
	dev->info.device_id = m->device_id;
	dev->info.class_code = m->class_code;
	dev->info.num_regions = SIM_REGIONS;
	dev->info.num_irqs = 0;
	dev->info.numa_node = -1;
	dev->info.flags = DP_DEVICE_F_SIM | (m->reset ? DP_DEVICE_F_RESET : 0);
	dev->info.backend = DP_IOMMU_SIM;

	rc = dpi_sim_requester_attach(dpi_sim_device_requester(s), DPI_SIM_NO_PASID, domain);
	if (rc != 0)
		goto err_destroy;
	rc = reserve(ioas, dev, s);
	if (rc != 0)
		goto err_detach;
	rc = dpi_ioas_device_attached(ioas, dev);
	if (rc != 0)
		goto err_unreserve;
	return 0;

err_unreserve:
	dpi_ioas_sim_unreserve(ioas, dev);
	dpi_ioas_device_gone(ioas);
err_detach:
	dpi_sim_requester_detach(dpi_sim_device_requester(s), DPI_SIM_NO_PASID);
err_destroy:
	dpi_sim_device_destroy(s);
	free(priv);
	dev->priv = NULL;
	return rc;
}

struct dpi_sim_device *dpi_device_sim(struct dp_device *dev)
{
	return dev && dev->ops == &g_sim_ops ? sdev_of(dev) : NULL;
}
