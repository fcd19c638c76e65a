/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The IOVA allocator behind dp_iova_map(): hands out IOVA ranges from a set of usable ranges,
 * fast and from any thread. Three layers (lib/iova/alloc*.c):
 *
 *  - per-thread caches (alloc.c): for each size class 4 KiB, 8 KiB, ... 1 MiB, two magazines of
 *    IOVAs per thread, indexed by dpi_thread_id(). A hit is inline code in this header: a few
 *    plain loads and stores, no call, no lock, no locked instruction, no fence (about 18
 *    instructions for an allocation and 22 for a free on x86-64 when the size is a constant:
 *    40 per pair, dmaplane_bench iova --instr);
 *    everything else goes to the out-of-line dpi_iova_alloc_slow() / dpi_iova_free_slow();
 *  - a lock-free depot (alloc_depot.c): per class, Treiber stacks of full and of empty
 *    magazines that threads exchange whole; ABA-safe by a generation counter next to a 32-bit
 *    magazine index in one 64-bit word;
 *  - the backing range allocator (alloc_range.c): a binary buddy system over 4 KiB pages whose
 *    free lists are hierarchical bitmaps, under one mutex; every operation O(log n), no scan.
 *
 * Sizes up to 1 MiB are served in their power-of-two class (a 12 KiB request takes a 16 KiB
 * IOVA range, naturally aligned); larger sizes go to the backing allocator, which gives exactly
 * the pages asked for, aligned to the next power of two (so 2 MiB and 1 GiB sizes stay usable
 * as IOMMU superpages).
 *
 * Error checking on free (see alloc.c): a free of a range that is not a live allocation of
 * exactly that size is refused with -EINVAL and a log line, and changes nothing. Caught
 * everywhere, in O(1): a double free, a free of something never allocated, a wrong size, an
 * address inside an allocation. Not caught: two threads freeing the same live range at the
 * same instant (a race in the caller; one of the frees may be taken twice). The inline free
 * makes the same check as the out-of-line one (the state map byte, see alloc.c).
 *
 * Reclaim of another thread's cache (the hit paths' side of it). A reclaimer must be able to
 * empty a cache whose owner is idle, without the owner paying for a lock or a fence per hit.
 * Protocol (asymmetric Dekker, the heavy side on the rare reclaimer). Each class of a cache
 * has one owner-written word w: the loaded magazine's count n (low byte), a BUSY bit, and a
 * hit counter above them. The owner reads nothing a reclaimer writes on the way to a
 * decision except the class's limit:
 *  - owner, a hit path: load w, store w + BUSY, (compiler barrier), load the limit (lo for
 *    alloc, hi for free); a hit needs n > lo (alloc) or n < hi (free); it pops or pushes,
 *    and leaves by storing w with the new count and one more hit (release). On a miss it
 *    stores w back unchanged and goes out of line. So the protocol costs one store more
 *    to a word the hit writes anyway, and no read-modify-write. (The sequence counters this
 *    replaced were two read-modify-writes to memory per hit, whose store-to-load chains set
 *    the pace of an alloc + free pair: 3.8 ns then, 2.8 ns now, on the dev VM.)
 *  - reclaimer: marks every cache stolen, runs membarrier(PRIVATE_EXPEDITED) (a full barrier
 *    on every running thread of the process), waits until no owner is in an out-of-line path
 *    (busy flag); then closes the limits (lo = UINT32_MAX, hi = 0, no hit possible), runs
 *    membarrier again, and for each class waits until w has no BUSY bit. After that barrier
 *    an owner either had its BUSY store visible (the reclaimer waits for its commit, and
 *    reads the count after it) or loads its limit after the barrier and sees it closed. The
 *    reclaimer then empties the caches, but never writes w: it flags the cache for a reset
 *    and leaves the limits closed; the owner's next operation misses, and its out-of-line
 *    path zeroes the loaded counts and reopens the limits itself.
 * Without membarrier the limits stay closed and every operation takes the out-of-line path,
 * which fences. Under ThreadSanitizer the owner's mark and limit load are sequentially
 * consistent instead (TSan does not know membarrier). Statistics: hits per class are the
 * counter in w; how many were allocations follows from the count's drift (see alloc_life.c).
 */
#ifndef DMAPLANE_INTERNAL_IOVA_ALLOC_H
#define DMAPLANE_INTERNAL_IOVA_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/env.h>

struct dpi_iova_allocator;

/* Size classes served by the per-thread caches: 4 KiB << 0 .. 4 KiB << (N - 1). */
#define DPI_IOVA_NCLASSES 9
#define DPI_IOVA_CACHE_MAX (4096ull << (DPI_IOVA_NCLASSES - 1))
/* IOVAs per magazine. */
#define DPI_IOVA_MAG_SIZE 64
/* Full magazines the depot keeps per class; more go back to the backing allocator. */
#define DPI_IOVA_DEPOT_MAX 16
/* Largest span (lowest to highest usable byte) one allocator covers. */
#define DPI_IOVA_MAX_SPAN (1ull << 38)

struct dpi_iova_alloc_stats {
	uint64_t allocs;          /* successful dpi_iova_alloc calls */
	uint64_t frees;           /* successful dpi_iova_free calls */
	uint64_t cache_hits;      /* allocations served by the caller's thread cache */
	uint64_t cache_misses;    /* cached-class allocations that went to the depot or backing */
	uint64_t depot_exchanges; /* magazines taken from or given to the depot */
	uint64_t reclaims;        /* times every cache was emptied because space ran out */
	uint64_t bad_frees;       /* frees refused (double, never allocated, wrong size) */
	uint64_t bytes_cached;    /* IOVA bytes sitting in thread caches and the depot now */
	uint64_t bytes_free;      /* IOVA bytes free in the backing allocator now */
	uint64_t bytes_total;     /* usable IOVA bytes the allocator manages */
};

/*
 * Create an allocator over @n usable ranges (inclusive ends; IOVA 0's page is never handed out).
 * Parts of ranges that are not 4 KiB aligned are left out.
 * @return 0; -EINVAL (NULL, n == 0, a range with start > last); -E2BIG (the ranges span more
 *   than DPI_IOVA_MAX_SPAN); -ENOSPC (no whole page usable); -ENOMEM.
 */
int dpi_iova_allocator_create(const struct dp_iova_range *ranges, uint32_t n,
			      struct dpi_iova_allocator **out);

/* Destroy; no thread may use the allocator any more. NULL is ignored. */
void dpi_iova_allocator_destroy(struct dpi_iova_allocator *a);

/*
 * Allocate @size bytes of IOVA space (a multiple of 4 KiB, up to the whole space).
 * @param align 0: natural alignment for power-of-two sizes (the next power of two for others);
 *   else a power of two >= 4 KiB the IOVA must be a multiple of.
 * Any thread. Before failing with -ENOSPC, everything in thread caches and the depot is
 * returned to the backing allocator and the allocation retried.
 * @p a and @p iova must not be NULL (not checked on the hot path). *iova is 0 on failure.
 * @return 0; -EINVAL (size 0 or not a multiple of 4 KiB, bad align); -ENOSPC (no free range
 *   fits); -ENOMEM.
 */
static inline int dpi_iova_alloc(struct dpi_iova_allocator *a, uint64_t size, uint64_t align,
				 dp_iova_t *iova);

/*
 * Free an allocation: @iova and @size exactly as allocated (any thread).
 * @return 0; -EINVAL (not a live allocation of this size: double free, never allocated, wrong
 *   size; logged, nothing changes).
 */
static inline int dpi_iova_free(struct dpi_iova_allocator *a, dp_iova_t iova, uint64_t size);

/* Return everything in every thread cache and the depot to the backing allocator. */
void dpi_iova_reclaim(struct dpi_iova_allocator *a);

/* Counters and gauges (a snapshot; racy against concurrent callers but never torn). */
void dpi_iova_alloc_stats(struct dpi_iova_allocator *a, struct dpi_iova_alloc_stats *st);


/* ---- the inline hit paths (layout shared with lib/iova/alloc*.c) --------------------------- */

/* The state map byte of the first page of a cached-class allocation (class c) out of the backing
 * allocator: c + 1 while live; c + 1 with this bit while it sits freed in a thread cache or the
 * depot; 0 for every other page (see alloc.c). */
#define DPI_IOVA_SM_CACHED 0x80u

/* A magazine: IOVAs of one size class. */
struct dpi_iova_mag {
	uint32_t n;    /* IOVAs held */
	uint32_t idx;  /* own index in the pool */
	uint32_t next; /* next in a depot stack */
	uint32_t pad;
	dp_iova_t iova[DPI_IOVA_MAG_SIZE];
};

/* The class word w of a thread cache (owner-written only): */
#define DPI_IOVA_W_N 0xffu     /* the loaded magazine's count (0 .. DPI_IOVA_MAG_SIZE) */
#define DPI_IOVA_W_BUSY 0x100u /* the owner is inside a hit path */
#define DPI_IOVA_W_HIT 0x200u  /* one hit (alloc or free) in the counter above */

/* One size class of a thread cache. */
struct dpi_iova_tc_class {
	/* Owner-written. While mag[0] is loaded, its count lives here (mag[0]->n is only
	 * meaningful inside the out-of-line paths and while a reclaimer holds the cache). */
	uint64_t w;
	struct dpi_iova_mag *mag[2]; /* loaded, previous; owner-written (out-of-line path only) */
	/* Closed by a reclaimer, reopened by the owner after its reset (out-of-line): an alloc
	 * hit needs n > lo, a free hit n < hi. Open: 0 and DPI_IOVA_MAG_SIZE; closed: UINT32_MAX
	 * and 0. */
	uint32_t lo, hi;
	/* Owner, out-of-line: the count of w minus (free hits - alloc hits) of w's counter. */
	int64_t base;
};

struct dpi_iova_tcache {
	struct dpi_iova_tc_class cls[DPI_IOVA_NCLASSES];
	int busy;  /* the out-of-line paths' flag (tc_enter in alloc_impl.h) */
	int reset; /* set by a reclaimer that emptied the cache: the owner zeroes its counts */
	uint64_t misses, frees, exchanges; /* out-of-line counters */
	/* Reclaimer-written. */
	int stolen __attribute__((aligned(64)));
};

/* The head of every allocator: what the hit paths read. */
/* Where a thread without a cache (or with id -1) lands: limits always closed, so its hit paths
 * always miss; no NULL test on the hit paths. Its counters are scribbled on, never read. */
extern struct dpi_iova_tcache dpi_iova_tc_none;

struct dpi_iova_hot {
	struct dpi_iova_tcache *tc_unknown;              /* for thread id -1: &dpi_iova_tc_none */
	struct dpi_iova_tcache *tcs[DP_MAX_THREADS];     /* by thread id; &dpi_iova_tc_none if none */
	uint8_t *sm;           /* the state map, one byte per 4 KiB page of the span */
	uintptr_t sm_by_page;  /* (uintptr_t)sm - (base >> 12): indexed by IOVA >> 12 */
	dp_iova_t base;        /* IOVA of the span's first page */
	uint64_t npages;       /* pages in the span */
};

int dpi_iova_alloc_slow(struct dpi_iova_allocator *a, uint64_t size, uint64_t align,
			dp_iova_t *iova);
int dpi_iova_free_slow(struct dpi_iova_allocator *a, dp_iova_t iova, uint64_t size);

#if defined(__SANITIZE_THREAD__)
#define DPI_IOVA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DPI_IOVA_TSAN 1
#endif
#endif
#ifndef DPI_IOVA_TSAN
#define DPI_IOVA_TSAN 0
#endif

/* The owner's BUSY mark on w, then its limit load: a compiler barrier between them for these
 * two locations only (the CPU side is the reclaimer's membarrier); under ThreadSanitizer both
 * are sequentially consistent instead. */
static inline void dpi_iova_mark(uint64_t *w, uint64_t v, uint32_t *lim)
{
#if DPI_IOVA_TSAN
	(void)lim;
	__atomic_store_n(w, v, __ATOMIC_SEQ_CST);
#else
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
	__asm__ volatile("" : "+m"(*w), "+m"(*lim));
#endif
}

/* Leaving a hit path: w without BUSY, after everything the hit wrote (release). */
static inline void dpi_iova_leave(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

/* A limit, after entering: acquire pairs with the reclaimer's release when it reopens. */
static inline uint32_t dpi_iova_limit(const uint32_t *lim)
{
	return __atomic_load_n(lim, DPI_IOVA_TSAN ? __ATOMIC_SEQ_CST : __ATOMIC_ACQUIRE);
}

/* The calling thread's cache: tcs[id], or tc_unknown just before it for id -1; one load. */
static inline struct dpi_iova_tcache *dpi_iova_tc_of(struct dpi_iova_hot *h)
{
	uintptr_t at = (uintptr_t)h->tcs + (uintptr_t)(intptr_t)dpi_tls_thread_id * sizeof(h->tcs[0]);

	return __atomic_load_n((struct dpi_iova_tcache **)at, __ATOMIC_RELAXED);
}

/* The state map byte on the free hit path: a plain load (folded into the compare) except under
 * ThreadSanitizer; it only races with a concurrent free of the same IOVA, a caller's bug. */
static inline uint8_t dpi_iova_sm_byte(const uint8_t *pe)
{
#if DPI_IOVA_TSAN
	return __atomic_load_n(pe, __ATOMIC_RELAXED);
#else
	return *pe;
#endif
}

static inline uint64_t dpi_iova_ror12(uint64_t x)
{
	return x >> 12 | x << 52;
}

/* True for the sizes the caches serve, multiples of 4 KiB up to DPI_IOVA_CACHE_MAX: one
 * subtraction, a rotate and a compare. */
static inline bool dpi_iova_cached_size(uint64_t size)
{
	return dpi_iova_ror12(size - 4096) < (DPI_IOVA_CACHE_MAX >> 12);
}

/* Size class of a cached size: ceil(log2(size)) - 12, one bsr (12 KiB is class 2, 16 KiB). */
static inline uint32_t dpi_iova_class(uint64_t size)
{
	return (uint32_t)(63 - __builtin_clzll(size - 1)) - 11;
}

/* The state map byte of a live allocation of a cached size: class + 1. */
static inline uint8_t dpi_iova_sm_live(uint64_t size)
{
	return (uint8_t)((uint32_t)(63 - __builtin_clzll(size - 1)) - 10);
}

static inline int dpi_iova_alloc(struct dpi_iova_allocator *a, uint64_t size, uint64_t align,
				 dp_iova_t *iova)
{
	struct dpi_iova_hot *h = (struct dpi_iova_hot *)a;

	if (dpi_likely(align == 0 && dpi_iova_cached_size(size))) {
		struct dpi_iova_tcache *tc = dpi_iova_tc_of(h);
		uint32_t c = dpi_iova_class(size);
		struct dpi_iova_tc_class *k = &tc->cls[c];
		uint64_t w = __atomic_load_n(&k->w, __ATOMIC_RELAXED);
		uint64_t n = (uint8_t)w;
		/* BUSY is clear in w: only the owner sets it, and clears it before returning */
		dpi_iova_mark(&k->w, w + DPI_IOVA_W_BUSY, &k->lo);
		if (dpi_likely(n > dpi_iova_limit(&k->lo))) {
			struct dpi_iova_mag *m = __atomic_load_n(&k->mag[0], __ATOMIC_RELAXED);
			dp_iova_t v = m->iova[n - 1];
			dpi_iova_leave(&k->w, w - 1 + DPI_IOVA_W_HIT);
			__atomic_store_n((uint8_t *)(h->sm_by_page + (v >> 12)), dpi_iova_sm_live(size),
					 __ATOMIC_RELAXED);
			*iova = v;
			return 0;
		}
		dpi_iova_leave(&k->w, w);
	}
	/* through a local, so that the caller's variable does not escape and can stay in a
	 * register on the hit path */
	dp_iova_t got = 0;
	int rc = dpi_iova_alloc_slow(a, size, align, &got);
	*iova = got;
	return rc;
}

static inline int dpi_iova_free(struct dpi_iova_allocator *a, dp_iova_t iova, uint64_t size)
{
	struct dpi_iova_hot *h = (struct dpi_iova_hot *)a;

	if (dpi_likely(dpi_iova_cached_size(size))) {
		/* the page index, or a huge value when iova is not 4 KiB aligned */
		uint64_t page = dpi_iova_ror12(iova - h->base);
		struct dpi_iova_tcache *tc = dpi_iova_tc_of(h);
		if (dpi_likely(page < h->npages)) {
			uint32_t c = dpi_iova_class(size);
			struct dpi_iova_tc_class *k = &tc->cls[c];
			uint8_t *sm = h->sm, live = dpi_iova_sm_live(size);
			uint64_t w = __atomic_load_n(&k->w, __ATOMIC_RELAXED);
			uint64_t n = (uint8_t)w;
			dpi_iova_mark(&k->w, w + DPI_IOVA_W_BUSY, &k->hi);
			/* the byte is exactly "live, this class" only at the first page of a live
			 * allocation of this class: which also checks the class alignment */
			if (dpi_likely(n < dpi_iova_limit(&k->hi) &&
				       dpi_iova_sm_byte(&sm[page]) == live)) {
				struct dpi_iova_mag *m = __atomic_load_n(&k->mag[0], __ATOMIC_RELAXED);
				m->iova[n] = iova;
				/* inside: a reclaimer that saw us leave may flush the IOVA */
				__atomic_store_n(&sm[page], (uint8_t)(live | DPI_IOVA_SM_CACHED),
						 __ATOMIC_RELAXED);
				dpi_iova_leave(&k->w, w + 1 + DPI_IOVA_W_HIT);
				return 0;
			}
			dpi_iova_leave(&k->w, w);
		}
	}
	return dpi_iova_free_slow(a, iova, size);
}

#endif
