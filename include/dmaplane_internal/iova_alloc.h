/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The IOVA allocator behind dp_iova_map(): hands out IOVA ranges from a set of usable ranges,
 * fast and from any thread. Three layers (lib/iova/alloc*.c):
 *
 *  - per-thread caches (alloc.c): for each size class 4 KiB, 8 KiB, ... 1 MiB, two magazines of
 *    IOVAs per thread, indexed by dpi_thread_id(). A hit is a few plain loads and stores: no
 *    lock, no atomic read-modify-write, no fence;
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
 * same instant (a race in the caller; one of the frees may be taken twice).
 */
#ifndef DMAPLANE_INTERNAL_IOVA_ALLOC_H
#define DMAPLANE_INTERNAL_IOVA_ALLOC_H

#include <stdint.h>

#include <dmaplane/iova.h>

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
 * @p a and @p iova must not be NULL (not checked on the hot path).
 * @return 0; -EINVAL (size 0 or not a multiple of 4 KiB, bad align); -ENOSPC (no free range
 *   fits); -ENOMEM.
 */
int dpi_iova_alloc(struct dpi_iova_allocator *a, uint64_t size, uint64_t align, dp_iova_t *iova);

/*
 * Free an allocation: @iova and @size exactly as allocated (any thread).
 * @return 0; -EINVAL (not a live allocation of this size: double free, never allocated, wrong
 *   size; logged, nothing changes).
 */
int dpi_iova_free(struct dpi_iova_allocator *a, dp_iova_t iova, uint64_t size);

/* Return everything in every thread cache and the depot to the backing allocator. */
void dpi_iova_reclaim(struct dpi_iova_allocator *a);

/* Counters and gauges (a snapshot; racy against concurrent callers but never torn). */
void dpi_iova_alloc_stats(struct dpi_iova_allocator *a, struct dpi_iova_alloc_stats *st);

#endif
