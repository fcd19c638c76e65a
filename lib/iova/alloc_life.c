/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IOVA allocator: creation, thread caches' life (creation, exit, reclaim) and statistics.
 *
 * Memory held in caches is bounded: per thread and class two magazines, per class at most
 * DPI_IOVA_DEPOT_MAX full magazines in the depot, each of DPI_IOVA_MAG_SIZE IOVAs. When the
 * backing allocator runs out, reclaim takes everything back: it marks every thread cache
 * stolen, forces a barrier on all threads (membarrier) and waits until no owner is in an
 * out-of-line path (busy clear); then it closes the inline hit paths (the per-class limits),
 * forces a second barrier and waits until no owner is inside a hit path (no BUSY bit in the
 * class words; see iova_alloc.h); it empties the caches and the depot into the backing
 * allocator and gives the caches back flagged for a reset (stolen cleared, limits still
 * closed): the owner's next operation zeroes its loaded counts and reopens the limits, so
 * only the owner ever writes its class words. A thread that exits empties its own caches (a
 * thread-exit hook of lib/env).
 *
 * Hit statistics: the counter in a class word counts hits (allocs + frees); the loaded count
 * moves by -1 per alloc hit and +1 per free hit, and by whatever the out-of-line paths do,
 * which they add up in the class's base. So free hits - alloc hits = count - base, and the
 * two follow from their sum and difference.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/log.h>

#include "alloc_impl.h"

#define POOL_CAP (DP_MAX_THREADS * DPI_IOVA_NCLASSES * 2 + \
		  DPI_IOVA_NCLASSES * (DPI_IOVA_DEPOT_MAX + 2) + 64)

static struct {
	pthread_mutex_t lock;
	struct dpi_iova_allocator *list;
	bool hooked;
	int membarrier; /* 0: not tried; 1: registered; -1: not available */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct dpi_iova_mag g_none_mag;

struct dpi_iova_tcache dpi_iova_tc_none = {
	.cls = {[0 ... DPI_IOVA_NCLASSES - 1] = {.mag = {&g_none_mag, &g_none_mag},
						  .lo = UINT32_MAX, .hi = 0}},
};

/* A thread's cache, or NULL. */
static struct dpi_iova_tcache *tc_at(struct dpi_iova_allocator *a, int id)
{
	struct dpi_iova_tcache *tc = __atomic_load_n(&a->hot.tcs[id], __ATOMIC_ACQUIRE);

	return tc == &dpi_iova_tc_none ? NULL : tc;
}

/* ---- caches ------------------------------------------------------------------------------- */

static void tc_limits(const struct dpi_iova_allocator *a, struct dpi_iova_tcache *tc, bool open);

void tc_enter_wait(struct dpi_iova_allocator *a, struct dpi_iova_tcache *tc)
{
	while (!tc_enter(a, tc)) {
		tc_leave(tc);
		while (__atomic_load_n(&tc->stolen, __ATOMIC_ACQUIRE))
			sched_yield();
	}
	if (dpi_unlikely(__atomic_load_n(&tc->reset, __ATOMIC_ACQUIRE))) {
		/* A reclaimer emptied the magazines (their own counts are 0 now) but could not
		 * write the class words: the owner does, then reopens its hit paths. No reclaimer
		 * can close them meanwhile: it waits for busy to clear first. */
		for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++)
			cls_load(&tc->cls[c]);
		ST(tc->reset, 0);
		tc_limits(a, tc, true);
	}
}

void mag_flush(struct dpi_iova_allocator *a, struct dpi_iova_mag *m, uint32_t c)
{
	uint32_t n = LD(m->n);

	if (n == 0)
		return;
	pthread_mutex_lock(&a->range.lock);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t page = (m->iova[i] - a->hot.base) >> RA_PAGE_SHIFT;
		ST(a->hot.sm[page], 0);
		ra_free(&a->range, page, 1ull << c);
	}
	pthread_mutex_unlock(&a->range.lock);
	ST(m->n, 0);
}

static void tc_drain(struct dpi_iova_allocator *a, struct dpi_iova_tcache *tc)
{
	for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++)
		for (int k = 0; k < 2; k++)
			mag_flush(a, tc->cls[c].mag[k], c);
}

static void tc_destroy(struct dpi_iova_allocator *a, struct dpi_iova_tcache *tc)
{
	for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++)
		for (int k = 0; k < 2; k++)
			if (tc->cls[c].mag[k] != NULL)
				pool_put_empty(&a->pool, tc->cls[c].mag[k]);
	free(tc);
}

struct dpi_iova_tcache *tc_get(struct dpi_iova_allocator *a)
{
	int id = dpi_thread_id();
	struct dpi_iova_tcache *tc;

	if (id < 0)
		return NULL;
	tc = tc_at(a, id);
	if (tc != NULL)
		return tc;
	tc = dpi_fault("malloc") ? NULL : aligned_alloc(64, DPI_ALIGN_UP(sizeof(*tc), 64));
	if (tc == NULL)
		return NULL;
	memset(tc, 0, sizeof(*tc));
	for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++) {
		for (int k = 0; k < 2; k++) {
			tc->cls[c].mag[k] = pool_get_empty(&a->pool);
			if (tc->cls[c].mag[k] == NULL) {
				tc_destroy(a, tc);
				return NULL;
			}
		}
	}
	tc_limits(a, tc, true);
	/* Published for reclaimers and statistics; the owner's own reads need no order. */
	__atomic_store_n(&a->hot.tcs[id], tc, __ATOMIC_RELEASE);
	return tc;
}

/* Open (normal) or close (while a reclaimer holds the cache) the inline hit paths. Without
 * membarrier they stay closed: every operation takes the out-of-line path, which fences. */
static void tc_limits(const struct dpi_iova_allocator *a, struct dpi_iova_tcache *tc, bool open)
{
	open = open && !a->fence;
	for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++) {
		__atomic_store_n(&tc->cls[c].lo, open ? 0 : UINT32_MAX, __ATOMIC_SEQ_CST);
		__atomic_store_n(&tc->cls[c].hi, open ? DPI_IOVA_MAG_SIZE : 0, __ATOMIC_SEQ_CST);
	}
}

/* After the second barrier: wait until the owner is outside a hit path it might have entered
 * before (no hit can start any more); returns the class word then. */
static uint64_t wait_hit_path(const struct dpi_iova_tc_class *k)
{
	uint64_t w;

	while ((w = __atomic_load_n(&k->w, __ATOMIC_SEQ_CST)) & DPI_IOVA_W_BUSY)
		sched_yield();
	return w;
}

/* The thread-exit hook: give back what the exiting thread's caches hold, in every allocator. */
static void on_thread_exit(int id, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g.lock);
	for (struct dpi_iova_allocator *a = g.list; a != NULL; a = a->next) {
		struct dpi_iova_tcache *tc = tc_at(a, id);
		if (tc == NULL)
			continue;
		tc_enter_wait(a, tc);
		for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++)
			cls_unload(&tc->cls[c]);
		tc_drain(a, tc);
		for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++)
			cls_load(&tc->cls[c]);
		tc_leave(tc);
	}
	pthread_mutex_unlock(&g.lock);
}

/* ---- reclaim ------------------------------------------------------------------------------ */

/* After marking caches stolen: every owner now either sees the mark or shows busy. */
static void barrier_all_threads(const struct dpi_iova_allocator *a)
{
#if DPI_ALLOC_TSAN
	(void)a; /* owners and reclaimers use sequentially consistent accesses */
#else
	if (a->fence || syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

void dpi_iova_reclaim(struct dpi_iova_allocator *a)
{
	struct dpi_iova_tcache *held[DP_MAX_THREADS];
	struct dpi_iova_mag *m;
	int nheld = 0;

	pthread_mutex_lock(&a->reclaim_lock);
	__atomic_fetch_add(&a->reclaims, 1, __ATOMIC_RELAXED);
	/* 1: no owner in an out-of-line path any more (they wait while stolen). */
	for (int i = 0; i < DP_MAX_THREADS; i++) {
		struct dpi_iova_tcache *tc = tc_at(a, i);
		if (tc != NULL) {
			__atomic_store_n(&tc->stolen, 1, __ATOMIC_SEQ_CST);
			held[nheld++] = tc; /* a cache created after this is empty */
		}
	}
	barrier_all_threads(a);
	for (int i = 0; i < nheld; i++)
		while (__atomic_load_n(&held[i]->busy, __ATOMIC_SEQ_CST))
			sched_yield();
	/* 2: no owner in a hit path any more. */
	for (int i = 0; i < nheld; i++)
		tc_limits(a, held[i], false);
	barrier_all_threads(a);
	for (int i = 0; i < nheld; i++) {
		struct dpi_iova_tcache *tc = held[i];
		bool emptied = __atomic_load_n(&tc->reset, __ATOMIC_RELAXED);
		for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++) {
			uint64_t w = wait_hit_path(&tc->cls[c]);
			/* the loaded magazine's count is in w, unless an earlier reclaim emptied
			 * it and its owner has not been back since (then it is 0 already) */
			if (!emptied)
				ST(tc->cls[c].mag[0]->n, (uint32_t)w & DPI_IOVA_W_N);
		}
		tc_drain(a, tc);
		/* limits stay closed: the owner's next operation resets its counts and opens */
		__atomic_store_n(&tc->reset, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&tc->stolen, 0, __ATOMIC_RELEASE);
	}
	for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++) {
		while ((m = pool_get_full(&a->pool, c)) != NULL) {
			mag_flush(a, m, c);
			pool_put_empty(&a->pool, m);
		}
	}
	pthread_mutex_unlock(&a->reclaim_lock);
}

int backing_alloc(struct dpi_iova_allocator *a, uint64_t pages, uint32_t align_order,
		  dp_iova_t *iova)
{
	uint64_t page;
	int rc;

	for (int attempt = 0;; attempt++) {
		pthread_mutex_lock(&a->range.lock);
		rc = ra_alloc(&a->range, pages, align_order, &page);
		pthread_mutex_unlock(&a->range.lock);
		if (rc == 0) {
			*iova = a->hot.base + (page << RA_PAGE_SHIFT);
			return 0;
		}
		if (attempt == 1)
			return rc;
		dpi_iova_reclaim(a);
	}
}

/* ---- create / destroy --------------------------------------------------------------------- */

/* membarrier(PRIVATE_EXPEDITED) lets cache owners go without fences; registered once. */
static bool have_membarrier(void)
{
	if (g.membarrier == 0) {
		long r = syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
		g.membarrier = r == 0 ? 1 : -1;
		if (r != 0)
			DPI_INFO("membarrier() is not available: IOVA cache hits take a fence");
	}
	return g.membarrier == 1;
}

int dpi_iova_allocator_create(const struct dp_iova_range *ranges, uint32_t n,
			      struct dpi_iova_allocator **out)
{
	struct dpi_iova_allocator *a;
	int rc;

	if (ranges == NULL || n == 0 || out == NULL)
		return -EINVAL;
	a = dpi_calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	rc = ra_init(&a->range, ranges, n);
	if (rc != 0)
		goto err_free;
	rc = pool_init(&a->pool, POOL_CAP);
	if (rc != 0)
		goto err_range;
	a->hot.tc_unknown = &dpi_iova_tc_none;
	for (int i = 0; i < DP_MAX_THREADS; i++)
		a->hot.tcs[i] = &dpi_iova_tc_none;
	a->hot.sm = a->range.sm;
	a->hot.base = a->range.base;
	a->hot.npages = 1ull << a->range.order_max;
	a->hot.sm_by_page = (uintptr_t)a->hot.sm - (uintptr_t)(a->hot.base >> RA_PAGE_SHIFT);
	a->end = a->hot.base + (a->hot.npages << RA_PAGE_SHIFT);
	pthread_mutex_init(&a->reclaim_lock, NULL);
	pthread_mutex_lock(&g.lock);
	if (!g.hooked) {
		rc = dpi_thread_exit_register(on_thread_exit, NULL);
		g.hooked = rc == 0 || rc == -EEXIST;
	}
	a->fence = !have_membarrier();
	a->next = g.list;
	g.list = a;
	pthread_mutex_unlock(&g.lock);
	if (!g.hooked)
		DPI_WARN("no thread-exit hook: IOVAs cached by exiting threads wait for a reclaim");
	*out = a;
	return 0;

err_range:
	ra_fini(&a->range);
err_free:
	free(a);
	return rc;
}

void dpi_iova_allocator_destroy(struct dpi_iova_allocator *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&g.lock);
	for (struct dpi_iova_allocator **pp = &g.list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	pthread_mutex_unlock(&g.lock);
	for (int i = 0; i < DP_MAX_THREADS; i++)
		free(tc_at(a, i));
	pthread_mutex_destroy(&a->reclaim_lock);
	pool_fini(&a->pool);
	ra_fini(&a->range);
	free(a);
}

/* ---- statistics --------------------------------------------------------------------------- */

void dpi_iova_alloc_stats(struct dpi_iova_allocator *a, struct dpi_iova_alloc_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < DP_MAX_THREADS; i++) {
		struct dpi_iova_tcache *tc = tc_at(a, i);
		if (tc == NULL)
			continue;
		bool emptied = __atomic_load_n(&tc->reset, __ATOMIC_ACQUIRE);
		st->cache_misses += LD(tc->misses);
		st->frees += LD(tc->frees);
		st->depot_exchanges += LD(tc->exchanges);
		for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++) {
			const struct dpi_iova_tc_class *k = &tc->cls[c];
			uint64_t w = __atomic_load_n(&k->w, __ATOMIC_ACQUIRE);
			uint64_t hits = w / DPI_IOVA_W_HIT;
			int64_t drift = (int64_t)(w & DPI_IOVA_W_N) - LD(k->base); /* frees - allocs */
			st->cache_hits += (uint64_t)((int64_t)hits - drift) / 2;
			st->frees += (uint64_t)((int64_t)hits + drift) / 2;
			uint64_t n0 = emptied ? 0 : w & DPI_IOVA_W_N;
			st->bytes_cached += (n0 + LD(LD(k->mag[1])->n)) << (c + RA_PAGE_SHIFT);
		}
	}
	for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++) {
		int32_t full = __atomic_load_n(&a->pool.full[c].count, __ATOMIC_RELAXED);
		if (full > 0)
			st->bytes_cached += ((uint64_t)full * DPI_IOVA_MAG_SIZE)
					    << (c + RA_PAGE_SHIFT);
	}
	st->allocs = st->cache_hits + st->cache_misses + LD(a->uncached_allocs);
	st->frees += LD(a->uncached_frees);
	st->reclaims = LD(a->reclaims);
	st->bad_frees = LD(a->bad_frees);
	pthread_mutex_lock(&a->range.lock);
	st->bytes_free = a->range.free_pages << RA_PAGE_SHIFT;
	st->bytes_total = a->range.total_pages << RA_PAGE_SHIFT;
	pthread_mutex_unlock(&a->range.lock);
}
