/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/iova private: the layers of the IOVA allocator (see dmaplane_internal/iova_alloc.h). */
#ifndef DMAPLANE_ALLOC_IMPL_H
#define DMAPLANE_ALLOC_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmaplane/env.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/iova_alloc.h>

#define RA_PAGE_SHIFT 12

/* Relaxed single loads and stores: plain moves on x86, and race-free for sanitizers. */
#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/*
 * The page map: one word per 4 KiB page of the span, meaningful at the first page of a block.
 *   0                 nothing starts here (inside a block, or never usable)
 *   PM_FREE | order   a free buddy block of 2^order pages starts here
 *   pages             a live allocation of this many pages starts here
 *   pages | PM_CACHED the same, sitting freed in a thread cache or the depot
 */
#define PM_FREE (1u << 31)

/*
 * The state map (one byte per page, dpi_iova_hot.sm) is the cache layer's own: what the hit
 * paths read and write, a quarter of the page map's size so that the bytes of a random live set
 * share cache lines four times as often. At the first page of a block of a cached class c (2^c
 * pages, recorded as such in the page map from the moment it leaves the backing allocator until
 * it returns there):
 *   SM_LIVE(c)              a live allocation
 *   SM_LIVE(c) | SM_CACHED  freed, sitting in a thread cache or the depot
 * and 0 everywhere else (larger allocations, free blocks, pages inside blocks).
 */
#define SM_CACHED DPI_IOVA_SM_CACHED
#define SM_LIVE(c) ((uint8_t)((c) + 1))

/* ---- alloc_range.c: the backing buddy allocator (callers hold ra->lock) ------------------- */

struct ra_bitmap {
	uint32_t levels;
	uint64_t *word[6]; /* level 0: one bit per block; level i+1: one bit per word of level i */
};

struct range_alloc {
	pthread_mutex_t lock;
	dp_iova_t base;        /* IOVA of page 0 of the span */
	uint32_t order_max;    /* the span is 2^order_max pages */
	uint64_t nonempty;     /* bit k: a free block of order k exists */
	uint32_t *pm;          /* page map, 2^order_max words */
	uint8_t *sm;           /* state map of the cache layer, 2^order_max bytes (not used here) */
	struct ra_bitmap free[40];
	void *mem;             /* one mapping for the page map and the bitmaps */
	size_t mem_len;
	uint64_t free_pages, total_pages;
};

int ra_init(struct range_alloc *ra, const struct dp_iova_range *ranges, uint32_t n);
void ra_fini(struct range_alloc *ra);
/* Pages @pages (< 2^30) aligned to 2^@align_order pages; the block is recorded as @pages.
 * 0 or -ENOSPC. */
int ra_alloc(struct range_alloc *ra, uint64_t pages, uint32_t align_order, uint64_t *page);
/* Free a live allocation (page map entry == pages exactly). 0 or -EINVAL. */
int ra_free(struct range_alloc *ra, uint64_t page, uint64_t pages);

static inline uint32_t ra_order_ceil(uint64_t pages)
{
	return pages <= 1 ? 0 : 64 - (uint32_t)__builtin_clzll(pages - 1);
}

/* ---- alloc_depot.c: magazines and the lock-free depot ------------------------------------- */

#define MAG_NIL UINT32_MAX

/* A Treiber stack head: magazine index in the low 32 bits, generation in the high 32. */
struct mag_stack {
	uint64_t head;
	int32_t count; /* approximate: may lag a concurrent push or pop */
} __attribute__((aligned(64)));

struct mag_pool {
	struct dpi_iova_mag *mags; /* cap magazines, one mapping, never freed before the allocator */
	uint32_t cap;
	uint32_t used;    /* bump index for never used magazines */
	struct mag_stack empty;
	struct mag_stack full[DPI_IOVA_NCLASSES];
};

int pool_init(struct mag_pool *p, uint32_t cap);
void pool_fini(struct mag_pool *p);
/* An empty magazine (from the empty stack, else a new one), or NULL when all are in use. */
struct dpi_iova_mag *pool_get_empty(struct mag_pool *p);
void pool_put_empty(struct mag_pool *p, struct dpi_iova_mag *m);
/* A full magazine of class c, or NULL. */
struct dpi_iova_mag *pool_get_full(struct mag_pool *p, uint32_t c);
/* Give a full magazine to the depot: false when the depot holds DPI_IOVA_DEPOT_MAX already. */
bool pool_put_full(struct mag_pool *p, uint32_t c, struct dpi_iova_mag *m);

/* ---- alloc.c: thread caches ----------------------------------------------------------------- */

struct dpi_iova_allocator {
	struct dpi_iova_hot hot;           /* first: the inline hit paths read it */
	dp_iova_t end;                     /* base + span */
	bool fence;                        /* no membarrier: hit paths closed, owners fence */
	struct range_alloc range;
	struct mag_pool pool;
	pthread_mutex_t reclaim_lock;
	uint64_t reclaims, bad_frees, uncached_allocs, uncached_frees;
	struct dpi_iova_allocator *next; /* list for the thread-exit hook */
};

/*
 * Owner side of the out-of-line paths' cache hand-off: an asymmetric Dekker protocol. The owner
 * marks itself busy and then checks that no reclaimer holds its cache; a reclaimer marks the
 * cache stolen, forces a full barrier on every running thread of the process with membarrier(),
 * and then waits until the owner is not busy. So the owner needs no fence of its own, only a
 * compiler barrier. Without membarrier (a->fence) and under ThreadSanitizer (which does not
 * know membarrier) the owner uses a real sequentially consistent store instead. The inline hit
 * paths use the same protocol with their sequence counters (see iova_alloc.h).
 */
#define DPI_ALLOC_TSAN DPI_IOVA_TSAN

static inline bool tc_enter(const struct dpi_iova_allocator *a, struct dpi_iova_tcache *tc)
{
#if DPI_ALLOC_TSAN
	(void)a;
	__atomic_store_n(&tc->busy, 1, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&tc->stolen, __ATOMIC_SEQ_CST) == 0;
#else
	ST(tc->busy, 1);
	if (dpi_unlikely(a->fence))
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	else
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&tc->stolen, __ATOMIC_ACQUIRE) == 0;
#endif
}

static inline void tc_leave(struct dpi_iova_tcache *tc)
{
	__atomic_store_n(&tc->busy, 0, __ATOMIC_RELEASE);
}

/*
 * The loaded magazine's count lives in the class word w while the hit paths may run; the
 * out-of-line paths (cache entered) work on m->n: cls_unload copies it there, cls_load copies
 * the loaded magazine's count back into w (after a swap or exchange, another magazine) and
 * keeps k->base so that the hit counter of w still tells allocations from frees.
 */
static inline void cls_unload(struct dpi_iova_tc_class *k)
{
	ST(k->mag[0]->n, (uint32_t)LD(k->w) & DPI_IOVA_W_N);
}

static inline void cls_load(struct dpi_iova_tc_class *k)
{
	uint64_t w = LD(k->w);
	uint32_t n = LD(k->mag[0]->n);

	ST(k->base, LD(k->base) + (int64_t)n - (int64_t)(w & DPI_IOVA_W_N));
	__atomic_store_n(&k->w, (w & ~(uint64_t)DPI_IOVA_W_N) | n, __ATOMIC_RELEASE);
}

/* The state map byte of the block starting at @iova. */
static inline void sm_set(struct dpi_iova_allocator *a, dp_iova_t iova, uint8_t v)
{
	ST(a->hot.sm[(iova - a->hot.base) >> RA_PAGE_SHIFT], v);
}

static inline uint8_t sm_get(const struct dpi_iova_allocator *a, dp_iova_t iova)
{
	return LD(a->hot.sm[(iova - a->hot.base) >> RA_PAGE_SHIFT]);
}

/* Size class of a size in (0, DPI_IOVA_CACHE_MAX], a multiple of 4 KiB. */
static inline uint32_t size_class(uint64_t size)
{
	return (uint32_t)(63 - __builtin_clzll(size - 1)) - 11;
}

/* ---- alloc_life.c ---- */
/* The calling thread's cache, created on first use; NULL when it cannot have one. */
struct dpi_iova_tcache *tc_get(struct dpi_iova_allocator *a);
/* Enter the own cache, waiting while a reclaimer holds it; then, if a reclaimer emptied it
 * meanwhile, zero the loaded counts and reopen the hit paths. */
void tc_enter_wait(struct dpi_iova_allocator *a, struct dpi_iova_tcache *tc);
/* Return a magazine's IOVAs of class c to the backing allocator; it is left empty. */
void mag_flush(struct dpi_iova_allocator *a, struct dpi_iova_mag *m, uint32_t c);
/* Backing allocation with one reclaim and retry on -ENOSPC. */
int backing_alloc(struct dpi_iova_allocator *a, uint64_t pages, uint32_t align_order,
		  dp_iova_t *iova);

#endif
