/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim backend: an IOAS is a lib/sim IOMMU domain. The usable ranges are the domain's
 * address width minus what attached sim devices reserve (e.g. the MSI window), so range
 * narrowing on attach behaves as with a real IOMMU. DP_SIM_AW_BITS (39, 48; default 48) sets
 * the address width, to exercise IOVA windows below the virtual addresses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sim.h>

#include "backend_sim.h"
#include "iova_impl.h"

#define MAX_RESERVED SIM_MAX_RESERVED

static int sim_init(struct dp_ioas *ioas)
{
	const char *s = getenv("DP_SIM_AW_BITS");
	uint32_t aw = 48;
	struct sim_ioas *si;
	int rc;

	if (s != NULL && s[0] != '\0') {
		aw = (uint32_t)strtoul(s, NULL, 10);
		if (aw != 39 && aw != 48) {
			DPI_ERR("DP_SIM_AW_BITS=%s: the sim IOMMU supports 39 or 48", s);
			return -EINVAL;
		}
	}
	si = dpi_fault("malloc") ? NULL : calloc(1, sizeof(*si));
	if (si == NULL)
		return -ENOMEM;
	rc = dpi_sim_domain_create(aw, &si->domain);
	if (rc != 0) {
		free(si);
		return rc;
	}
	dpi_ioas_set_priv(ioas, si);
	return 0;
}

static void sim_fini(struct dp_ioas *ioas)
{
	struct sim_ioas *si = dpi_ioas_priv(ioas);

	dpi_sim_domain_destroy(si->domain);
	free(si);
}

static int sim_map(struct dp_ioas *ioas, void *vaddr, dp_iova_t iova, size_t len, uint32_t prot)
{
	struct sim_ioas *si = dpi_ioas_priv(ioas);
	int err = dpi_fault("sim-map");

	if (err)
		return -err;
	/* A kernel backend pins the pages and fails on unmapped memory: so does the sim. */
	if (msync(vaddr, len, MS_ASYNC) != 0 && errno == ENOMEM) {
		DPI_ERR("cannot map %p+0x%zx: not mapped memory of this process", vaddr, len);
		return -EFAULT;
	}
	return dpi_sim_domain_map(si->domain, iova, vaddr, len, prot);
}

static int sim_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len)
{
	struct sim_ioas *si = dpi_ioas_priv(ioas);
	int err = dpi_fault("sim-unmap");

	if (err)
		return -err;
	return dpi_sim_domain_unmap(si->domain, iova, len);
}

/* [0, last] minus the union of reservations, as sorted disjoint ranges. */
int dpi_sim_ioas_get_ranges(struct dp_ioas *ioas, struct dp_iova_range *out, uint32_t *count)
{
	struct sim_ioas *si = dpi_ioas_priv(ioas);
	uint64_t last = dpi_sim_domain_last_iova(si->domain);
	uint32_t n = 0, cap = *count;
	dp_iova_t at = 0;
	bool done = false;

	while (!done) {
		/* The next reservation that starts at or after 'at' or covers it. */
		const struct dp_iova_range *next = NULL;
		for (uint32_t i = 0; i < si->nres; i++) {
			const struct dp_iova_range *r = &si->res[i].r;
			if (r->last >= at && (next == NULL || r->start < next->start))
				next = r;
		}
		dp_iova_t stop = next && next->start <= last ? next->start : last + 1;
		if (stop > at) {
			if (n < cap)
				out[n] = (struct dp_iova_range){at, stop - 1};
			n++;
		}
		if (next == NULL || next->last >= last || next->start > last)
			done = true;
		else
			at = DPI_MAX(at, next->last + 1);
	}
	*count = n;
	return n > cap ? -ENOSPC : 0;
}

const struct dpi_iommu_ops dpi_iommu_sim_ops = {
	.name = "sim",
	.backend = DP_IOMMU_SIM,
	.init = sim_init,
	.fini = sim_fini,
	.map = sim_map,
	.unmap = sim_unmap,
	.copy = NULL,
	.get_ranges = dpi_sim_ioas_get_ranges,
};

int dpi_ioas_sim_domain(const struct dp_ioas *ioas, struct dpi_sim_domain **domain)
{
	if (ioas->ops->backend != DP_IOMMU_SIM) /* the sim and the nested-on-sim backends */
		return -ENOTSUP;
	*domain = ((struct sim_ioas *)dpi_ioas_priv(ioas))->domain;
	return 0;
}

int dpi_ioas_sim_reserve(struct dp_ioas *ioas, const void *owner,
			 const struct dp_iova_range *ranges, uint32_t n)
{
	struct sim_ioas *si;

	if (ioas->ops->backend != DP_IOMMU_SIM)
		return -ENOTSUP;
	si = dpi_ioas_priv(ioas);
	pthread_mutex_lock(&ioas->lock);
	if (si->nres + n > MAX_RESERVED) {
		pthread_mutex_unlock(&ioas->lock);
		return -ENOSPC;
	}
	for (uint32_t i = 0; i < n; i++)
		si->res[si->nres++] = (struct reservation){owner, ranges[i]};
	pthread_mutex_unlock(&ioas->lock);
	return 0;
}

void dpi_ioas_sim_unreserve(struct dp_ioas *ioas, const void *owner)
{
	struct sim_ioas *si;

	if (ioas->ops->backend != DP_IOMMU_SIM)
		return;
	si = dpi_ioas_priv(ioas);
	pthread_mutex_lock(&ioas->lock);
	for (uint32_t i = 0; i < si->nres;) {
		if (si->res[i].owner == owner)
			si->res[i] = si->res[--si->nres];
		else
			i++;
	}
	pthread_mutex_unlock(&ioas->lock);
}
