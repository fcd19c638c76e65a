/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DMA as a device sees it: every access is translated through the requester's IOTLB and, on a
 * miss, the page table of the domain attached for the PASID. A blocked access is logged in the
 * fault log and fails with -EFAULT; nothing reaches the IOMMU while bus mastering is off (-EIO).
 */
#include <errno.h>
#include <string.h>

#include "sim_impl.h"

static bool bus_master(struct dpi_sim_requester *req)
{
	return __atomic_load_n(&req->bus_master, __ATOMIC_ACQUIRE);
}

/* Translate one access: 0 with the leaf holding iova; -EFAULT (logged); -EIO. */
static int xlate(struct dpi_sim_requester *req, uint32_t pasid, uint64_t iova, uint32_t access,
		 struct sim_leaf *leaf)
{
	struct dpi_sim_domain *d;
	uint32_t reason = 0;
	bool hit;

	if (!bus_master(req))
		return -EIO;
	pthread_mutex_lock(&req->lock);
	hit = sim_iotlb_lookup(&req->tlb, pasid, iova, leaf);
	d = hit ? NULL : sim_req_domain_locked(req, pasid);
	if (d != NULL)
		sim_domain_get(d);
	pthread_mutex_unlock(&req->lock);
	if (d != NULL) {
		reason = sim_domain_walk_fill(d, req, pasid, iova, leaf);
		sim_domain_put(d);
	} else if (!hit) {
		reason = DPI_SIM_FAULT_NO_DOMAIN;
	}
	if (reason == 0 && (leaf->prot & access) != access)
		reason = DPI_SIM_FAULT_PERM;
	if (reason != 0) {
		sim_fault_record(req->name, pasid, iova, access, reason);
		return -EFAULT;
	}
	return 0;
}

static size_t leaf_contig(const struct sim_leaf *leaf, uint64_t iova, size_t len)
{
	uint64_t left = leaf->base + (1ull << leaf->shift) - iova;

	return left < len ? (size_t)left : len;
}

static int dma_copy(struct dpi_sim_requester *req, uint32_t pasid, uint64_t iova, uint8_t *buf,
		    size_t len, uint32_t access)
{
	if (req == NULL || (buf == NULL && len != 0))
		return -EINVAL;
	if (!bus_master(req))
		return -EIO;
	while (len > 0) {
		struct sim_leaf leaf;
		uint8_t *host;
		size_t n;
		int rc = xlate(req, pasid, iova, access, &leaf);

		if (rc != 0)
			return rc;
		host = leaf.host + (iova - leaf.base);
		n = leaf_contig(&leaf, iova, len);
		if (access == DPI_SIM_ACCESS_READ)
			memcpy(buf, host, n);
		else
			memcpy(host, buf, n);
		buf += n;
		iova += n;
		len -= n;
	}
	return 0;
}

int dpi_sim_dma_read(struct dpi_sim_requester *req, uint32_t pasid, uint64_t iova, void *dst,
		     size_t len)
{
	return dma_copy(req, pasid, iova, dst, len, DPI_SIM_ACCESS_READ);
}

int dpi_sim_dma_write(struct dpi_sim_requester *req, uint32_t pasid, uint64_t iova, const void *src,
		      size_t len)
{
	return dma_copy(req, pasid, iova, (uint8_t *)src, len, DPI_SIM_ACCESS_WRITE);
}

/* Also -EINVAL for NULL pointers, zero len or no access bit. */
int dpi_sim_dma_translate(struct dpi_sim_requester *req, uint32_t pasid, uint64_t iova, size_t len,
			  uint32_t access, void **va, size_t *contig)
{
	struct sim_leaf leaf;
	int rc;

	if (req == NULL || va == NULL || contig == NULL || len == 0 || access == 0 ||
	    (access & ~(DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE)) != 0)
		return -EINVAL;
	rc = xlate(req, pasid, iova, access, &leaf);
	if (rc != 0)
		return rc;
	*va = leaf.host + (iova - leaf.base);
	*contig = leaf_contig(&leaf, iova, len);
	return 0;
}

/* ---- cached translations for hot buffers ---------------------------------------------------- */

static int dma_cached(struct dpi_sim_requester *req, struct dpi_sim_dma_cache *c, uint32_t pasid,
		      uint64_t iova, uint8_t *buf, size_t len, uint32_t access)
{
	struct sim_leaf leaf;
	uint64_t gen;
	uint8_t *host;
	int rc;

	if (req == NULL || buf == NULL || len == 0)
		return -EINVAL;
	host = dpi_sim_dma_cache_hit(c, pasid, iova, len, access);
	if (host == NULL) {
		/* The generation before the walk: an invalidation racing with it drops the entry. */
		gen = __atomic_load_n(&req->tlb.gen, __ATOMIC_ACQUIRE);
		rc = xlate(req, pasid, iova, access, &leaf);
		if (rc != 0)
			return rc;
		*c = (struct dpi_sim_dma_cache){.base = leaf.base, .span = (1ull << leaf.shift) - 1,
						.host = leaf.host, .gen = gen,
						.genp = &req->tlb.gen, .bmp = &req->bus_master,
						.pasid = pasid, .prot = leaf.prot};
		if (leaf_contig(&leaf, iova, len) < len) /* spans leaves: the plain way */
			return dma_copy(req, pasid, iova, buf, len, access);
		host = leaf.host + (iova - leaf.base);
	}
	if (access == DPI_SIM_ACCESS_READ)
		memcpy(buf, host, len);
	else
		memcpy(host, buf, len);
	return 0;
}

int dpi_sim_dma_read_cached(struct dpi_sim_requester *req, struct dpi_sim_dma_cache *c,
			    uint32_t pasid, uint64_t iova, void *dst, size_t len)
{
	return dma_cached(req, c, pasid, iova, dst, len, DPI_SIM_ACCESS_READ);
}

int dpi_sim_dma_write_cached(struct dpi_sim_requester *req, struct dpi_sim_dma_cache *c,
			     uint32_t pasid, uint64_t iova, const void *src, size_t len)
{
	return dma_cached(req, c, pasid, iova, (uint8_t *)src, len, DPI_SIM_ACCESS_WRITE);
}
