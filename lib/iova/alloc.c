/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IOVA allocator: allocation and free through the per-thread caches.
 *
 * Each thread (dpi_thread_id()) has, per size class, a loaded and a previous magazine (after
 * Bonwick's magazines). A hit pops from or pushes to the loaded one: the inline code in
 * dmaplane_internal/iova_alloc.h, framed by the BUSY bit of the class word. This file holds the
 * out-of-line paths, framed by the busy flag of the hand-off protocol (see tc_enter in
 * alloc_impl.h) and working on the magazines' own counts (cls_unload / cls_load); they also
 * serve hits when the inline paths are closed (no membarrier, or a
 * reclaim in progress). When the loaded magazine is empty (alloc) or full (free), the two
 * are swapped if that helps; otherwise whole magazines are exchanged with the depot; only when
 * the depot has nothing does the thread take the backing allocator's lock, to refill half a
 * magazine at once or to flush one.
 *
 * Checks on free (O(1) each, nothing changes when one fails):
 *  - cached classes: the state map byte of the first page (alloc_impl.h) must say "live
 *    allocation of exactly this class"; the free sets its "cached" bit, the next allocation of
 *    the IOVA clears it. So a double free is caught whether the first free left the IOVA in a
 *    cache, in the depot or in the backing allocator (byte 0 there), and a free of a range never
 *    allocated (or of another size, or of an address inside an allocation) finds no such byte.
 *  - larger sizes: the backing allocator checks its page map word under its lock.
 * Where: the inline free (iova_alloc.h) makes the cached-class check itself (range and 4 KiB
 * alignment by a rotate and compare, then the byte must equal class + 1, which also checks
 * the class alignment) and sets the cached bit; anything that fails it comes here and is
 * checked again, with the reason logged. The inline alloc writes the byte back to "live".
 * Cost: a load and a store of the byte per free, a store per alloc; with the free's range and
 * alignment check and the map pointer loads that only the byte needs, 14 of the 40
 * instructions of a pair (the disassembly of dmaplane_bench's loop_pair_ours). At 1M live allocations the byte of a random IOVA is the one access of a hit
 * that can miss the caches (the magazines and the depot stay cached): it is what grows from
 * 1k to 1M live. It was a 32-bit word of the backing allocator's page map until callgrind's
 * cache simulation of mixed_live_1000000 put all of the allocator's last-level misses on it;
 * a byte per page of its own puts four times as many live allocations' states in a cache line
 * (dmaplane_bench iova, mixed_live_1000000 in one run on the dev VM: 22.1 ns per pair with the
 * word, 16.8 with the byte; 7.6 at 1k live). What the state costs a pair, from stand-alone
 * builds of the pair loop on the dev VM: 2.5-2.8 ns with it, 1.9-2.0 ns with no state at all
 * (the store at alloc, the check and the store at free each cost about a third of the
 * difference); it is what keeps a pair from 10x the mutex + tree baseline (about 20 ns).
 * One map per size class with a byte per slot halves the live set's state lines again but
 * showed no gain at 1M live (the harness's own live array shares the caches) and costs
 * instructions for variable sizes: not kept.
 */
#include <errno.h>
#include <inttypes.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/log.h>

#include "alloc_impl.h"

#define PAGE 4096ull
#define REFILL (DPI_IOVA_MAG_SIZE / 2)

/* ---- out-of-line paths --------------------------------------------------------------------------- */

static void count(uint64_t *c)
{
	ST(*c, LD(*c) + 1);
}

/* Pop from the loaded magazine, or after a swap or a depot exchange. Cache entered. */
static bool local_pop(struct dpi_iova_allocator *a, struct dpi_iova_tcache *tc, uint32_t c,
		      dp_iova_t *iova)
{
	struct dpi_iova_mag *m = tc->cls[c].mag[0], *p = tc->cls[c].mag[1], *full;
	uint32_t n;

	if (LD(m->n) == 0 && LD(p->n) != 0) {
		ST(tc->cls[c].mag[0], p);
		ST(tc->cls[c].mag[1], m);
		m = p;
	} else if (LD(m->n) == 0) {
		full = pool_get_full(&a->pool, c);
		if (full == NULL)
			return false;
		pool_put_empty(&a->pool, m);
		ST(tc->cls[c].mag[0], full);
		m = full;
		count(&tc->exchanges);
	}
	n = LD(m->n) - 1;
	*iova = m->iova[n];
	ST(m->n, n);
	sm_set(a, *iova, SM_LIVE(c));
	return true;
}

/* Refill half a magazine from the backing allocator and take one. */
static int refill(struct dpi_iova_allocator *a, struct dpi_iova_tcache *tc, uint32_t c, dp_iova_t *iova)
{
	dp_iova_t got[REFILL];
	uint64_t page;
	uint32_t n = 0;
	int rc;

	rc = backing_alloc(a, 1ull << c, c, &got[n]);
	if (rc != 0)
		return rc;
	sm_set(a, got[n], SM_LIVE(c));
	n++;
	pthread_mutex_lock(&a->range.lock);
	for (; n < REFILL && ra_alloc(&a->range, 1ull << c, c, &page) == 0; n++) {
		got[n] = a->hot.base + (page << RA_PAGE_SHIFT);
		sm_set(a, got[n], SM_LIVE(c) | SM_CACHED);
	}
	pthread_mutex_unlock(&a->range.lock);
	*iova = got[0];
	if (n == 1)
		return 0;
	tc_enter_wait(a, tc);
	cls_unload(&tc->cls[c]);
	/* Only this thread fills its magazines: the loaded one is still empty, or was emptied. */
	struct dpi_iova_mag *m = tc->cls[c].mag[0];
	uint32_t k = LD(m->n);
	for (uint32_t i = 1; i < n; i++)
		m->iova[k++] = got[i];
	ST(m->n, k);
	cls_load(&tc->cls[c]);
	tc_leave(tc);
	return 0;
}

static int alloc_cached(struct dpi_iova_allocator *a, uint32_t c, dp_iova_t *iova)
{
	struct dpi_iova_tcache *tc = tc_get(a);
	bool hit;

	if (tc == NULL) {
		int rc = backing_alloc(a, 1ull << c, c, iova);
		if (rc == 0) {
			sm_set(a, *iova, SM_LIVE(c));
			__atomic_fetch_add(&a->uncached_allocs, 1, __ATOMIC_RELAXED);
		}
		return rc;
	}
	tc_enter_wait(a, tc);
	cls_unload(&tc->cls[c]);
	hit = local_pop(a, tc, c, iova);
	cls_load(&tc->cls[c]);
	tc_leave(tc);
	if (!hit) {
		int rc = refill(a, tc, c, iova);
		if (rc != 0)
			return rc;
	}
	count(&tc->misses);
	return 0;
}

int dpi_iova_alloc_slow(struct dpi_iova_allocator *a, uint64_t size, uint64_t align,
			dp_iova_t *iova)
{
	uint32_t align_order = 0;
	int rc;

	if (size == 0 || (size & (PAGE - 1)) ||
	    (align != 0 && (!dpi_is_pow2(align) || align < PAGE))) {
		DPI_ERR("IOVA allocation of 0x%" PRIx64 " bytes aligned to 0x%" PRIx64 ": the size "
			"must be a non-zero multiple of 4 KiB and the alignment 0 or a power of two "
			">= 4 KiB", size, align);
		return -EINVAL;
	}
	if (size > DPI_IOVA_MAX_SPAN || align > DPI_IOVA_MAX_SPAN)
		return -ENOSPC;
	if (align != 0)
		align_order = (uint32_t)__builtin_ctzll(align) - RA_PAGE_SHIFT;
	if (size <= DPI_IOVA_CACHE_MAX) {
		uint32_t c = size_class(size);
		if (align_order <= c)
			return alloc_cached(a, c, iova);
		/* A stricter alignment than the class gives: a fresh block of the class. */
		rc = backing_alloc(a, 1ull << c, align_order, iova);
		if (rc == 0) {
			sm_set(a, *iova, SM_LIVE(c));
			__atomic_fetch_add(&a->uncached_allocs, 1, __ATOMIC_RELAXED);
		}
		return rc;
	}
	rc = backing_alloc(a, size >> RA_PAGE_SHIFT, align_order, iova);
	if (rc == 0)
		__atomic_fetch_add(&a->uncached_allocs, 1, __ATOMIC_RELAXED);
	return rc;
}

static int bad_free(struct dpi_iova_allocator *a, dp_iova_t iova, uint64_t size, bool twice)
{
	const char *why = "it is not a live allocation of this size";

	if (twice)
		why = "double free: it was freed already";
	__atomic_fetch_add(&a->bad_frees, 1, __ATOMIC_RELAXED);
	DPI_ERR("IOVA free of 0x%" PRIx64 "+0x%" PRIx64 " refused: %s", iova, size, why);
	return -EINVAL;
}

/* Push onto the loaded magazine, after a swap, a depot exchange or a flush. Cache entered. */
static void local_push(struct dpi_iova_allocator *a, struct dpi_iova_tcache *tc, uint32_t c,
		       dp_iova_t iova)
{
	struct dpi_iova_mag *m = tc->cls[c].mag[0], *p = tc->cls[c].mag[1], *e;
	uint32_t n;

	if (LD(m->n) == DPI_IOVA_MAG_SIZE && LD(p->n) == 0) {
		ST(tc->cls[c].mag[0], p);
		ST(tc->cls[c].mag[1], m);
		m = p;
	} else if (LD(m->n) == DPI_IOVA_MAG_SIZE) {
		/* Both full: the previous one goes to the depot (or back to the backing allocator
		 * when the depot is full), the loaded one becomes previous. */
		if (pool_put_full(&a->pool, c, p) && (e = pool_get_empty(&a->pool)) != NULL) {
			count(&tc->exchanges);
		} else {
			e = p; /* still ours when the depot refused it */
			if (LD(e->n) != 0)
				mag_flush(a, e, c);
		}
		ST(tc->cls[c].mag[1], m);
		ST(tc->cls[c].mag[0], e);
		m = e;
	}
	n = LD(m->n);
	m->iova[n] = iova;
	ST(m->n, n + 1);
	sm_set(a, iova, SM_LIVE(c) | SM_CACHED);
}

int dpi_iova_free_slow(struct dpi_iova_allocator *a, dp_iova_t iova, uint64_t size)
{
	uint64_t off = iova - a->hot.base, page = off >> RA_PAGE_SHIFT;
	struct dpi_iova_tcache *tc;
	uint8_t state;
	int rc;

	if (size == 0 || ((size | iova) & (PAGE - 1)) || iova < a->hot.base ||
	    off >= a->end - a->hot.base || size > a->end - iova)
		return bad_free(a, iova, size, false);
	if (size > DPI_IOVA_CACHE_MAX) {
		pthread_mutex_lock(&a->range.lock);
		rc = ra_free(&a->range, page, size >> RA_PAGE_SHIFT);
		pthread_mutex_unlock(&a->range.lock);
		if (rc != 0)
			return bad_free(a, iova, size, false);
		__atomic_fetch_add(&a->uncached_frees, 1, __ATOMIC_RELAXED);
		return 0;
	}
	uint32_t c = size_class(size);
	state = sm_get(a, iova);
	if (state != SM_LIVE(c))
		return bad_free(a, iova, size, state == (SM_LIVE(c) | SM_CACHED));
	tc = tc_get(a);
	if (tc == NULL) {
		pthread_mutex_lock(&a->range.lock);
		sm_set(a, iova, 0);
		rc = ra_free(&a->range, page, 1ull << c);
		pthread_mutex_unlock(&a->range.lock);
		__atomic_fetch_add(&a->uncached_frees, 1, __ATOMIC_RELAXED);
		return rc;
	}
	tc_enter_wait(a, tc);
	cls_unload(&tc->cls[c]);
	local_push(a, tc, c, iova);
	cls_load(&tc->cls[c]);
	tc_leave(tc);
	count(&tc->frees);
	return 0;
}
