/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Dynamic mappings: dp_iova_map() takes an IOVA from the IOAS's allocator (lock-free) and maps
 * through the front end, which records the mapping as AREA_DYN; dp_iova_unmap() unmaps and
 * only then frees the IOVA (strict mode), or retags it AREA_DYN_PENDING and hands it to the
 * invalidation engine (inval.c, deferred mode), which frees the IOVA after its batched unmap:
 * either way a device can never reach the buffer through an IOVA that is handed out again.
 *
 * The allocator of an IOAS is created on the first dp_iova_map() over the window
 * [DPI_DYN_START, DPI_DYN_LAST] cut to the IOAS's usable ranges, minus fixed mappings that lie
 * there already; from then on the front end refuses fixed mappings in the window.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/iova_alloc.h>
#include <dmaplane_internal/log.h>

#include "iova_impl.h"

#define MAP_FLAGS (DP_MAP_READ | DP_MAP_WRITE)
#define MAX_PIECES 64

/* The window cut to the usable ranges, minus the areas in it. IOAS lock held. */
static int window_pieces(const struct dp_ioas *ioas, struct dp_iova_range *out, uint32_t *n)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < ioas->nranges; i++) {
		dp_iova_t s = DPI_MAX(ioas->ranges[i].start, DPI_DYN_START);
		dp_iova_t l = DPI_MIN(ioas->ranges[i].last, DPI_DYN_LAST);
		if (s > l)
			continue;
		for (struct area_pos j = area_lower(&ioas->areas, s);
		     area_valid(&ioas->areas, j) && area_at(&ioas->areas, j)->iova <= l && s <= l;
		     j = area_next(&ioas->areas, j)) {
			const struct area *a = area_at(&ioas->areas, j);
			if (a->iova > s) {
				if (k == MAX_PIECES)
					return -ENOSPC;
				out[k++] = (struct dp_iova_range){s, a->iova - 1};
			}
			s = a->iova + a->len;
		}
		if (s <= l && s != 0) {
			if (k == MAX_PIECES)
				return -ENOSPC;
			out[k++] = (struct dp_iova_range){s, l};
		}
	}
	*n = k;
	return k == 0 ? -ERANGE : 0;
}

static int allocator_of(struct dp_ioas *ioas, struct dpi_iova_allocator **out)
{
	struct dp_iova_range pieces[MAX_PIECES];
	struct dpi_iova_allocator *a = __atomic_load_n(&ioas->dyn, __ATOMIC_ACQUIRE);
	uint32_t n;
	int rc = 0;

	if (dpi_likely(a != NULL)) {
		*out = a;
		return 0;
	}
	pthread_mutex_lock(&ioas->lock);
	a = ioas->dyn;
	if (a == NULL) {
		rc = window_pieces(ioas, pieces, &n);
		if (rc == 0)
			rc = dpi_iova_allocator_create(pieces, n, &a);
		if (rc == 0)
			__atomic_store_n(&ioas->dyn, a, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&ioas->lock);
	if (rc == -ERANGE || rc == -ENOSPC)
		DPI_ERR("dp_iova_map: the IOAS's usable ranges leave no room in the window "
			"0x%llx-0x%llx", DPI_DYN_START, DPI_DYN_LAST);
	*out = a;
	return rc == -ENOSPC ? -ERANGE : rc;
}

void dpi_dynmap_fini(struct dp_ioas *ioas)
{
	dpi_iova_allocator_destroy(ioas->dyn);
	ioas->dyn = NULL;
}

static int check_args(const struct dp_ioas *ioas, uintptr_t vaddr, size_t len, const char *who)
{
	if (ioas == NULL || len == 0 || ((vaddr | len) & (DPI_PAGE_4K - 1))) {
		DPI_ERR("%s: %s", who, ioas == NULL ? "ioas is NULL"
				       : "the address and length must be non-zero and 4 KiB aligned");
		return -EINVAL;
	}
	return 0;
}

int dp_iova_map(struct dp_ioas *ioas, void *vaddr, size_t len, uint32_t flags, dp_iova_t *iova)
{
	struct dpi_iova_allocator *a;
	dp_iova_t at;
	int rc = check_args(ioas, (uintptr_t)vaddr, len, "dp_iova_map");

	if (rc != 0)
		return rc;
	if (vaddr == NULL || iova == NULL || (flags & ~MAP_FLAGS)) {
		DPI_ERR("dp_iova_map: %s", flags & ~MAP_FLAGS ? "unknown flags" : "NULL argument");
		return -EINVAL;
	}
	rc = allocator_of(ioas, &a);
	if (rc != 0)
		return rc;
	inval_check_age(ioas);
	rc = dpi_iova_alloc(a, len, 0, &at);
	/* Pressure: flush deferred unmaps and retry (also when a concurrent flush, which this
	 * one waited for, did the reclaiming). */
	if (rc == -ENOSPC && inval_flush(ioas, INVAL_PRESSURE) >= 0)
		rc = dpi_iova_alloc(a, len, 0, &at);
	if (rc != 0) {
		DPI_ERR("dp_iova_map: no IOVA range of 0x%zx bytes free: %s", len, strerror(-rc));
		return rc;
	}
	pthread_mutex_lock(&ioas->lock);
	rc = dpi_ioas_map_locked(ioas, (uintptr_t)vaddr, len, at, flags ? flags : MAP_FLAGS,
				 AREA_DYN);
	pthread_mutex_unlock(&ioas->lock);
	if (rc != 0) {
		dpi_iova_free(a, at, len);
		return rc;
	}
	__atomic_add_fetch(&ioas->inval.c.maps, 1, __ATOMIC_RELAXED);
	*iova = at;
	return 0;
}

/* Deferred: retag the mapping as pending (a second unmap fails) and queue it. */
static int unmap_deferred(struct dp_ioas *ioas, struct area_pos first, dp_iova_t iova,
			  size_t len)
{
	int rc;

	area_at(&ioas->areas, first)->owner = AREA_DYN_PENDING;
	pthread_mutex_unlock(&ioas->lock);
	rc = inval_defer(ioas, iova, len);
	pthread_mutex_lock(&ioas->lock);
	if (rc == 0)
		return 0;
	/* No queue for this thread (no memory, or a failed flush left it full): unmap now. */
	uint32_t count;
	rc = dpi_ioas_unmap_run_locked(ioas, iova, len, AREA_DYN_PENDING, &count);
	if (rc == 0) {
		inval_count_unmap(ioas, 1);
		return 1; /* unmapped: the caller frees the IOVA */
	}
	if (area_exact(&ioas->areas, iova, len, AREA_DYN_PENDING, &first, &count) == 0)
		area_at(&ioas->areas, first)->owner = AREA_DYN; /* positions moved: look again */
	return rc;
}

int dp_iova_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len)
{
	struct dpi_iova_allocator *a;
	struct area_pos first;
	uint32_t count = 0;
	int rc = check_args(ioas, iova, len, "dp_iova_unmap");

	if (rc != 0)
		return rc;
	inval_check_age(ioas);
	a = __atomic_load_n(&ioas->dyn, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&ioas->lock);
	rc = a == NULL ? -ENOENT : area_exact(&ioas->areas, iova, len, AREA_DYN, &first, &count);
	if (rc == 0 && count != 1)
		rc = -ENOENT; /* several dynamic mappings: each has its own IOVA allocation */
	if (rc == 0 && ioas->inval.mode == DP_INVAL_DEFERRED) {
		rc = unmap_deferred(ioas, first, iova, len);
		pthread_mutex_unlock(&ioas->lock);
		if (rc < 0)
			return rc;
		__atomic_add_fetch(&ioas->inval.c.unmaps, 1, __ATOMIC_RELAXED);
		if (rc == 0)
			return 0; /* queued: the flush frees the IOVA after its unmap */
		goto reclaim;
	}
	if (rc == 0) {
		rc = dpi_ioas_unmap_locked(ioas, iova, len, AREA_DYN);
		if (rc == 0)
			inval_count_unmap(ioas, 1);
	}
	pthread_mutex_unlock(&ioas->lock);
	if (rc == -ENOENT)
		DPI_ERR("dp_iova_unmap: IOVA 0x%" PRIx64 "+0x%zx is not a mapping made by "
			"dp_iova_map", iova, len);
	if (rc != 0)
		return rc;
	__atomic_add_fetch(&ioas->inval.c.unmaps, 1, __ATOMIC_RELAXED);
reclaim:
	/* Strict: the backend has flushed the IOTLB; only now may the IOVA be reused. */
	rc = dpi_iova_free(a, iova, len);
	if (rc == 0)
		__atomic_add_fetch(&ioas->inval.c.reclaimed, 1, __ATOMIC_RELAXED);
	return rc;
}
