/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * "sim:dsaN/wqN.M": a shared WQ of the sim DSA model used the way a process uses a
 * kernel-owned WQ. Here lib/pasid plays the kernel's part of opening /dev/dsa/wqX.Y: it gives the
 * process one PASID (allocated from the process-wide space on the first open, freed with the
 * last close; on hardware the kernel's SVA bind does this and loads IA32_PASID), binds that PASID
 * to the process's address space in the model (dpi_sim_dsa_sva_bind: descriptors carry virtual
 * addresses), and submits through the model's per-process context, which stamps the PASID into
 * every descriptor as ENQCMD does. Someone must have opened and configured sim:dsaN (the driver,
 * in the role of the kernel's idxd driver); only shared, enabled WQs can be bound.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DP_LOG_COMPONENT "pasid"
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/idxd_spec.h>
#include <dmaplane_internal/kwq.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/pasid.h>
#include <dmaplane_internal/sim.h>

#include "kwq_impl.h"

#define MAX_SIM_DEVS 8

/* The process's PASID and which sim devices have it bound (guarded by g_lock). */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t g_pasid, g_pasid_refs;
static struct {
	struct dpi_sim_device *dev;
	uint32_t refs;
} g_bound[MAX_SIM_DEVS];

static int mmio_rd(struct dpi_sim_device *dev, uint64_t off, void *v, size_t len)
{
	const struct dpi_sim_model *m = dpi_sim_device_model(dev);

	return m->mmio_read(dpi_sim_device_state(dev), IDXD_BAR_MMIO, off, v, len);
}

/* Fill @info from the WQ's WQCFG. 0; -ENODEV (no such WQ); -EIO. */
static int sim_wq_info(struct dpi_sim_device *dev, uint32_t wq, struct dpi_kwq_info *info)
{
	uint64_t wqcap = 0, offsets = 0;
	uint32_t cfgsz, table, w[7];
	int rc = mmio_rd(dev, IDXD_REG_WQCAP, &wqcap, 8);

	if (rc == 0)
		rc = mmio_rd(dev, IDXD_REG_OFFSETS, &offsets, 8);
	if (rc != 0)
		return -EIO;
	if (wq >= IDXD_WQCAP_NUM_WQS(wqcap)) {
		DPI_ERR("%s: the device has %u WQs", info->wq, IDXD_WQCAP_NUM_WQS(wqcap));
		return -ENODEV;
	}
	cfgsz = 1u << (IDXD_WQCAP_WQCFG_SIZE(wqcap) + IDXD_WQCFG_MIN_SHIFT);
	table = IDXD_OFFSETS_WQCFG(offsets) * IDXD_TABLE_MULT;
	for (uint32_t i = 0; i < 7 && rc == 0; i++)
		rc = mmio_rd(dev, idxd_wqcfg_offset(table, cfgsz, wq, i), &w[i], 4);
	if (rc != 0)
		return -EIO;
	info->mode = (w[IDXD_WQCFG_W_MODE] & IDXD_WQCFG_MODE_DEDICATED) ? DPI_KWQ_DEDICATED
								       : DPI_KWQ_SHARED;
	info->size = w[IDXD_WQCFG_W_SIZE] & 0xffff;
	info->max_transfer_size = 1ull << IDXD_WQCFG_MAX_XFER_SHIFT(w[IDXD_WQCFG_W_XFER]);
	info->max_batch_size = 1u << IDXD_WQCFG_MAX_BATCH_SHIFT(w[IDXD_WQCFG_W_XFER]);
	snprintf(info->state, sizeof(info->state), "%s",
		 IDXD_WQCFG_STATE(w[IDXD_WQCFG_W_STATE]) == IDXD_WQ_STATE_ENABLED ? "enabled"
										   : "disabled");
	snprintf(info->type, sizeof(info->type), "user");
	snprintf(info->name, sizeof(info->name), "sim");
	return 0;
}

/* The process PASID bound on @dev, with a reference. */
static int pasid_get(struct dpi_sim_device *dev, uint32_t *pasid)
{
	uint32_t width = DPI_MIN(DPI_PASID_BITS, dpi_sim_iommu_pasid_bits());
	int slot = -1, rc = 0;

	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < MAX_SIM_DEVS; i++) {
		if (g_bound[i].dev == dev)
			slot = i;
		else if (slot < 0 && g_bound[i].dev == NULL)
			slot = i;
	}
	if (slot < 0) {
		rc = -ENOSPC;
		goto out;
	}
	if (g_pasid_refs == 0) {
		rc = width == 0 ? -EOPNOTSUPP : dpi_pasid_space_alloc(dpi_pasid_global(), width, &g_pasid);
		if (rc != 0)
			goto out;
	}
	if (g_bound[slot].dev == NULL) {
		rc = dpi_sim_dsa_sva_bind(dev, g_pasid, (int)getpid());
		if (rc != 0) {
			if (g_pasid_refs == 0)
				dpi_pasid_space_free(dpi_pasid_global(), g_pasid);
			goto out;
		}
		g_bound[slot].dev = dev;
	}
	g_bound[slot].refs++;
	g_pasid_refs++;
	*pasid = g_pasid;
out:
	pthread_mutex_unlock(&g_lock);
	return rc;
}

static void pasid_put(struct dpi_sim_device *dev)
{
	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < MAX_SIM_DEVS; i++) {
		if (g_bound[i].dev != dev)
			continue;
		if (--g_bound[i].refs == 0) {
			dpi_sim_dsa_sva_bind(dev, g_pasid, 0);
			g_bound[i].dev = NULL;
		}
		if (--g_pasid_refs == 0)
			dpi_pasid_space_free(dpi_pasid_global(), g_pasid);
		break;
	}
	pthread_mutex_unlock(&g_lock);
}

int kwq_sim_open(const char *addr, struct dpi_kwq_info *info, struct kwq_sim *ks)
{
	unsigned int n, x, y;
	char name[16];
	int end = 0, rc;

	if (sscanf(addr, "sim:dsa%u/wq%u.%u%n", &n, &x, &y, &end) != 3 || addr[end] != '\0' ||
	    x != n || n > 63 || y > 255) {
		DPI_ERR("'%s' is not a sim DSA work queue (sim:dsaN/wqN.M, e.g. sim:dsa0/wq0.2)",
			addr);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "dsa%u", n);
	snprintf(info->wq, sizeof(info->wq), "wq%u.%u", x, y);
	ks->dev = dpi_sim_device_find(name);
	if (ks->dev == NULL || dpi_sim_device_model(ks->dev)->vendor_id != DPI_SIM_DSA_VENDOR ||
	    dpi_sim_device_model(ks->dev)->device_id != DPI_SIM_DSA_DEVICE) {
		DPI_ERR("%s: no sim device %s: open and configure sim:%s first (its driver plays "
			"the kernel's idxd driver)",
			addr, name, name);
		ks->dev = NULL;
		return -ENODEV;
	}
	rc = sim_wq_info(ks->dev, y, info);
	if (rc != 0)
		return rc;
	if (strcmp(info->state, "enabled") != 0) {
		DPI_ERR("%s is not enabled: configure and enable it through the device first", addr);
		return -ENXIO;
	}
	if (info->mode != DPI_KWQ_SHARED) {
		DPI_ERR("%s is a dedicated WQ: a process binds only shared WQs here (a dedicated WQ "
			"belongs to the driver that configured it)",
			addr);
		return -ENOTSUP;
	}
	rc = pasid_get(ks->dev, &ks->pasid);
	if (rc != 0) {
		DPI_ERR("%s: no PASID for this process: %s", addr, strerror(-rc));
		return rc;
	}
	info->pasid = ks->pasid;
	rc = dpi_sim_dsa_wq_bind(ks->dev, y, ks->pasid, &ks->ctx);
	if (rc != 0) {
		DPI_ERR("%s: binding the WQ: %s", addr, strerror(-rc));
		pasid_put(ks->dev);
		return rc;
	}
	return 0;
}

void kwq_sim_close(struct kwq_sim *ks)
{
	if (ks->ctx == NULL)
		return;
	dpi_sim_dsa_ctx_unbind(ks->ctx);
	pasid_put(ks->dev);
	ks->ctx = NULL;
}

int kwq_sim_submit(struct kwq_sim *ks, const void *desc, int retries)
{
	for (int i = 0; i < retries; i++) {
		int rc = dpi_sim_dsa_ctx_submit(ks->ctx, desc, false);

		if (rc != -EAGAIN)
			return rc;
	}
	return -EAGAIN;
}
