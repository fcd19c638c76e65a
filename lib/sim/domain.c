/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sim IOMMU domains: a page table behind a rwlock, plus the list of (requester, PASID) pairs
 * attached to it, whose IOTLBs an unmap invalidates. All three x86 address widths are supported:
 * 39 bits (3 levels), 48 (4 levels) and 57 (5 levels).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "sim_impl.h"

static bool g_skip_invalidation;

void dpi_sim_iommu_skip_invalidation(bool skip)
{
	__atomic_store_n(&g_skip_invalidation, skip, __ATOMIC_RELAXED);
}

bool sim_skip_invalidation_on(void)
{
	return __atomic_load_n(&g_skip_invalidation, __ATOMIC_RELAXED);
}

int dpi_sim_domain_create(uint32_t aw_bits, struct dpi_sim_domain **domain)
{
	struct dpi_sim_domain *d;
	int rc;

	if (domain == NULL || (aw_bits != 39 && aw_bits != 48 && aw_bits != 57))
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	rc = sim_pt_init(&d->pt, (aw_bits - SIM_PAGE_SHIFT) / 9);
	if (rc != 0) {
		free(d);
		return rc;
	}
	pthread_rwlock_init(&d->lock, NULL);
	d->aw_bits = aw_bits;
	d->last_iova = (1ull << aw_bits) - 1;
	*domain = d;
	return 0;
}

void dpi_sim_domain_destroy(struct dpi_sim_domain *d)
{
	if (d == NULL)
		return;
	pthread_rwlock_wrlock(&d->lock);
	for (uint32_t i = 0; i < d->nbind; i++) {
		struct dpi_sim_requester *req = d->bind[i].req;

		pthread_mutex_lock(&req->lock);
		sim_req_remove_locked(req, d->bind[i].pasid);
		sim_iotlb_flush_pasid(&req->tlb, d->bind[i].pasid);
		pthread_mutex_unlock(&req->lock);
	}
	pthread_rwlock_unlock(&d->lock);
	/* Nobody can find the domain now; wait for misses that found it before. */
	while (__atomic_load_n(&d->walkers, __ATOMIC_ACQUIRE) != 0)
		sched_yield();
	sim_pt_fini(&d->pt);
	if (d->parent != NULL)
		__atomic_sub_fetch(&d->parent->children, 1, __ATOMIC_RELEASE);
	pthread_rwlock_destroy(&d->lock);
	free(d->bind);
	free(d);
}

uint64_t dpi_sim_domain_last_iova(const struct dpi_sim_domain *d)
{
	return d->last_iova;
}

uint64_t dpi_sim_domain_mapped_bytes(const struct dpi_sim_domain *d)
{
	return __atomic_load_n(&d->pt.mapped, __ATOMIC_RELAXED);
}

uint64_t dpi_sim_domain_table_pages(const struct dpi_sim_domain *d)
{
	return __atomic_load_n(&d->pt.tables, __ATOMIC_RELAXED);
}

/* 0; -EINVAL (misaligned, zero length); -ERANGE (not inside the address width). */
static int check_range(const struct dpi_sim_domain *d, uint64_t iova, uint64_t len)
{
	if (len == 0 || (iova | len) & (SIM_PAGE_SIZE - 1))
		return -EINVAL;
	if (iova > d->last_iova || len - 1 > d->last_iova - iova)
		return -ERANGE;
	return 0;
}

int dpi_sim_domain_map(struct dpi_sim_domain *d, uint64_t iova, void *va, size_t len, uint32_t prot)
{
	int rc;

	if (d == NULL || ((uintptr_t)va & (SIM_PAGE_SIZE - 1)) != 0 || prot == 0 ||
	    (prot & ~(DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE)) != 0)
		return -EINVAL;
	if (d->parent != NULL)
		return -EINVAL; /* nested: the user writes stage 1 itself */
	rc = check_range(d, iova, len);
	if (rc != 0)
		return rc;
	pthread_rwlock_wrlock(&d->lock);
	rc = sim_pt_map(&d->pt, iova, va, len, prot);
	pthread_rwlock_unlock(&d->lock);
	return rc;
}

/* Under the write lock: a DMA cannot refill what this drops until the unmap is complete. */
static void invalidate_attached(struct dpi_sim_domain *d, uint64_t iova, uint64_t len)
{
	if (__atomic_load_n(&g_skip_invalidation, __ATOMIC_RELAXED))
		return;
	for (uint32_t i = 0; i < d->nbind; i++) {
		struct dpi_sim_requester *req = d->bind[i].req;

		pthread_mutex_lock(&req->lock);
		sim_iotlb_invalidate(&req->tlb, d->bind[i].pasid, iova, iova + len - 1);
		pthread_mutex_unlock(&req->lock);
	}
}

int dpi_sim_domain_unmap(struct dpi_sim_domain *d, uint64_t iova, size_t len)
{
	int rc;

	if (d == NULL || d->parent != NULL)
		return -EINVAL;
	rc = check_range(d, iova, len);
	if (rc != 0) /* nothing can be mapped beyond the address width */
		return rc == -ERANGE ? -ENOENT : rc;
	pthread_rwlock_wrlock(&d->lock);
	rc = sim_pt_unmap(&d->pt, iova, len);
	if (rc == 0)
		invalidate_attached(d, iova, len);
	pthread_rwlock_unlock(&d->lock);
	return rc;
}

int dpi_sim_domain_translate(struct dpi_sim_domain *d, uint64_t iova, uint32_t access, void **va,
			     size_t *contig)
{
	struct sim_leaf leaf;
	int rc = -ENOENT;

	if (d == NULL || va == NULL || contig == NULL)
		return -EINVAL;
	pthread_rwlock_rdlock(&d->lock);
	if (iova <= d->last_iova && d->parent != NULL)
		rc = sim_s1_walk(d, iova, &leaf) == 0 ? 0 : -ENOENT;
	else if (iova <= d->last_iova)
		rc = sim_pt_lookup(&d->pt, iova, &leaf);
	pthread_rwlock_unlock(&d->lock);
	if (rc != 0)
		return rc;
	if ((leaf.prot & access) != access)
		return -EACCES;
	*va = leaf.host + (iova - leaf.base);
	*contig = leaf.base + (1ull << leaf.shift) - iova;
	return 0;
}

void sim_domain_get(struct dpi_sim_domain *d)
{
	__atomic_add_fetch(&d->walkers, 1, __ATOMIC_RELAXED);
}

void sim_domain_put(struct dpi_sim_domain *d)
{
	__atomic_sub_fetch(&d->walkers, 1, __ATOMIC_RELEASE);
}

uint32_t sim_domain_walk_fill(struct dpi_sim_domain *d, struct dpi_sim_requester *req,
			      uint32_t pasid, uint64_t iova, struct sim_leaf *leaf)
{
	uint32_t reason = 0;

	pthread_rwlock_rdlock(&d->lock);
	if (iova > d->last_iova)
		reason = DPI_SIM_FAULT_RANGE;
	else if (d->parent != NULL)
		reason = sim_s1_walk(d, iova, leaf);
	else if (sim_pt_lookup(&d->pt, iova, leaf) != 0)
		reason = DPI_SIM_FAULT_NOT_PRESENT;
	if (reason == 0) {
		pthread_mutex_lock(&req->lock);
		if (sim_req_domain_locked(req, pasid) == d) /* not detached meanwhile */
			sim_iotlb_insert(&req->tlb, pasid, leaf);
		pthread_mutex_unlock(&req->lock);
	}
	pthread_rwlock_unlock(&d->lock);
	return reason;
}

/* ---- attachments ---------------------------------------------------------------------------- */

static int bind_reserve(struct dpi_sim_domain *d)
{
	struct sim_binding *b;
	uint32_t cap;

	if (d->nbind < d->cbind)
		return 0;
	cap = d->cbind == 0 ? 4 : d->cbind * 2;
	b = realloc(d->bind, cap * sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	d->bind = b;
	d->cbind = cap;
	return 0;
}

int sim_domain_attach(struct dpi_sim_domain *d, struct dpi_sim_requester *req, uint32_t pasid)
{
	int rc;

	pthread_rwlock_wrlock(&d->lock);
	pthread_mutex_lock(&req->lock);
	rc = sim_req_domain_locked(req, pasid) != NULL ? -EBUSY : 0;
	if (rc == 0)
		rc = bind_reserve(d);
	if (rc == 0)
		rc = sim_req_reserve_locked(req);
	if (rc == 0) {
		d->bind[d->nbind++] = (struct sim_binding){.req = req, .pasid = pasid};
		sim_req_add_locked(req, pasid, d);
	}
	pthread_mutex_unlock(&req->lock);
	pthread_rwlock_unlock(&d->lock);
	return rc;
}

int sim_domain_detach(struct dpi_sim_domain *d, struct dpi_sim_requester *req, uint32_t pasid)
{
	int rc = -ENOENT;

	pthread_rwlock_wrlock(&d->lock);
	pthread_mutex_lock(&req->lock);
	if (sim_req_domain_locked(req, pasid) == d) {
		for (uint32_t i = 0; i < d->nbind; i++) {
			if (d->bind[i].req == req && d->bind[i].pasid == pasid) {
				d->bind[i] = d->bind[--d->nbind];
				break;
			}
		}
		sim_req_remove_locked(req, pasid);
		sim_iotlb_flush_pasid(&req->tlb, pasid);
		rc = 0;
	}
	pthread_mutex_unlock(&req->lock);
	pthread_rwlock_unlock(&d->lock);
	return rc;
}
