/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Nested sim domains: the sim IOMMU walking a user-owned VT-d first-stage table (the x86-64
 * 4-level format, dmaplane_internal/stage1.h) through a stage-2 parent domain, its
 * IOMMU_HWPT_INVALIDATE equivalent, and its GET_HW_INFO equivalent.
 *
 * The walk reads the user's table with atomic loads (the user updates it without locks while
 * devices run, as with hardware). A table pointer or leaf output that stage 2 does not map is a
 * not-present fault; a write through a leaf without R/W (at any level) is a permission fault.
 * The IOTLB caches the combined translation; only invalidation entries make it forget, so a
 * missing invalidation is seen as DMA through a stale translation.
 */
#include <errno.h>
#include <stdlib.h>

#include <dmaplane_internal/stage1.h>
#include <dmaplane_internal/uapi_iommufd.h>

#include "sim_impl.h"

static bool g_no_nesting;
static uint32_t g_stop_after = UINT32_MAX;

void dpi_sim_iommu_set_nesting(bool on)
{
	__atomic_store_n(&g_no_nesting, !on, __ATOMIC_RELAXED);
}

void dpi_sim_iommu_vtd_regs(uint64_t *cap, uint64_t *ecap)
{
	*cap = DPI_VTD_CAP_FL1GP;
	*ecap = DPI_VTD_ECAP_PASID | DPI_VTD_ECAP_SMTS | DPI_VTD_ECAP_SLTS | DPI_VTD_ECAP_FLTS;
	if (!__atomic_load_n(&g_no_nesting, __ATOMIC_RELAXED))
		*ecap |= DPI_VTD_ECAP_NEST;
}

void dpi_sim_iommu_s1_stop_after(uint32_t k)
{
	__atomic_store_n(&g_stop_after, k, __ATOMIC_RELAXED);
}

int dpi_sim_domain_create_nested(struct dpi_sim_domain *parent, uint64_t s1_root,
				 struct dpi_sim_domain **domain)
{
	struct dpi_sim_domain *d;

	if (parent == NULL || domain == NULL || parent->parent != NULL ||
	    (s1_root & (DPI_S1_PAGE - 1)) != 0 || s1_root > DPI_S1_ADDR_MASK)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	pthread_rwlock_init(&d->lock, NULL);
	d->aw_bits = DPI_S1_ADDR_WIDTH;
	d->last_iova = (1ull << DPI_S1_ADDR_WIDTH) - 1;
	d->parent = parent;
	d->s1_root = s1_root;
	__atomic_add_fetch(&parent->children, 1, __ATOMIC_RELAXED);
	*domain = d;
	return 0;
}

/* Stage 2 for one address: 0 with its leaf; -ENOENT. */
static int s2(struct dpi_sim_domain *p, uint64_t gpa, struct sim_leaf *leaf)
{
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&p->lock);
	if (gpa <= p->last_iova)
		rc = sim_pt_lookup(&p->pt, gpa, leaf);
	pthread_rwlock_unlock(&p->lock);
	return rc;
}

uint32_t sim_s1_walk(struct dpi_sim_domain *d, uint64_t iova, struct sim_leaf *leaf)
{
	uint64_t table = d->s1_root, e = 0;
	uint32_t level = DPI_S1_LEVELS - 1, prot = DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE;
	struct sim_leaf t;

	for (;; level--) {
		if (s2(d->parent, table, &t) != 0 || !(t.prot & DPI_SIM_ACCESS_READ))
			return DPI_SIM_FAULT_NOT_PRESENT; /* the table itself is out of reach */
		const uint64_t *ents = (const uint64_t *)(t.host + (table - t.base));
		e = __atomic_load_n(&ents[(iova >> (12 + 9 * level)) & (DPI_S1_ENTRIES - 1)],
				    __ATOMIC_ACQUIRE);
		if (!(e & DPI_S1_P))
			return DPI_SIM_FAULT_NOT_PRESENT;
		if (!(e & DPI_S1_RW))
			prot &= ~DPI_SIM_ACCESS_WRITE;
		if (level == 0 || (e & DPI_S1_PS))
			break;
		table = e & DPI_S1_ADDR_MASK;
	}
	uint32_t s1_shift = 12 + 9 * level;
	uint64_t s1_size = 1ull << s1_shift;
	uint64_t s1_base = iova & ~(s1_size - 1);
	uint64_t out = e & DPI_S1_ADDR_MASK & ~(s1_size - 1);
	if (s2(d->parent, out + (iova - s1_base), &t) != 0)
		return DPI_SIM_FAULT_NOT_PRESENT;
	uint32_t shift = t.shift < s1_shift ? t.shift : s1_shift;
	uint64_t base = iova & ~((1ull << shift) - 1);
	uint64_t gpa = out + (base - s1_base);
	leaf->base = base;
	leaf->shift = shift;
	leaf->host = t.host + (gpa - t.base);
	leaf->prot = prot & t.prot;
	return 0;
}

static int check_entry(const struct iommu_hwpt_vtd_s1_invalidate *e, uint64_t *start,
		       uint64_t *last)
{
	if ((e->flags & ~(uint32_t)IOMMU_VTD_INV_FLAGS_LEAF) != 0 || e->__reserved != 0)
		return -EOPNOTSUPP;
	if (e->addr == 0 && e->npages == UINT64_MAX) {
		*start = 0;
		*last = UINT64_MAX;
		return 0;
	}
	if ((e->addr & (DPI_S1_PAGE - 1)) != 0 || e->npages == 0 ||
	    e->npages > (UINT64_MAX - e->addr) / DPI_S1_PAGE + 1)
		return -EINVAL;
	*start = e->addr;
	*last = e->addr + (e->npages - 1) * DPI_S1_PAGE + (DPI_S1_PAGE - 1);
	return *last < *start ? -EINVAL : 0;
}

int dpi_sim_domain_s1_invalidate(struct dpi_sim_domain *d,
				 const struct iommu_hwpt_vtd_s1_invalidate *entries, uint32_t *num)
{
	uint32_t n, stop = __atomic_load_n(&g_stop_after, __ATOMIC_RELAXED), i;
	bool skip;
	int rc = 0;

	if (d == NULL || num == NULL || d->parent == NULL || (entries == NULL && *num != 0))
		return -EINVAL;
	n = *num < stop ? *num : stop;
	skip = sim_skip_invalidation_on();
	/* Under the write lock: a DMA miss cannot refill what an entry drops until we are done. */
	pthread_rwlock_wrlock(&d->lock);
	for (i = 0; i < n; i++) {
		uint64_t start, last;

		rc = check_entry(&entries[i], &start, &last);
		if (rc != 0)
			break;
		for (uint32_t b = 0; !skip && b < d->nbind; b++) {
			struct dpi_sim_requester *req = d->bind[b].req;
			pthread_mutex_lock(&req->lock);
			sim_iotlb_invalidate(&req->tlb, d->bind[b].pasid, start, last);
			pthread_mutex_unlock(&req->lock);
		}
	}
	pthread_rwlock_unlock(&d->lock);
	__atomic_add_fetch(&d->s1_calls, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&d->s1_entries, i, __ATOMIC_RELAXED);
	*num = i;
	return rc;
}

void dpi_sim_domain_s1_stats(const struct dpi_sim_domain *d, uint64_t *calls, uint64_t *entries)
{
	*calls = __atomic_load_n(&d->s1_calls, __ATOMIC_RELAXED);
	*entries = __atomic_load_n(&d->s1_entries, __ATOMIC_RELAXED);
}
