/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The backing range allocator of the IOVA allocator: a binary buddy system over 4 KiB pages.
 *
 * The span [base, base + 2^order_max pages) is aligned to its own size, so a block of order k
 * (2^k pages) is naturally aligned in IOVA space, not just relative to base. Pages outside the
 * usable ranges are simply never put on a free list, so they are never handed out and never
 * merged with.
 *
 * Free lists: for every order k a hierarchical bitmap with one bit per possible block of that
 * order ("a free block starts here"), with summary levels of one bit per non-zero word below.
 * Finding a free block of order k is a descent of at most 6 words with ctz (the lowest address
 * wins, which keeps allocations packed); setting or clearing a bit touches a word per level
 * only while a word changes between zero and non-zero. A 64-bit mask says which orders have
 * any free block, so the smallest order that fits is one ctz away.
 *
 * The page map (one 32-bit word per page, see alloc_impl.h) says what starts at each page: a
 * free block of which order (how a freed block finds whether its buddy is free, in O(1)), or a
 * live allocation of how many pages (how a free is checked against double frees and frees of
 * ranges never allocated, in O(1)).
 *
 * Allocation of p pages aligned to 2^a pages: order k = max(ceil(log2 p), a); take the lowest
 * free block of the smallest order >= k, split it down to order k (upper halves go back on the
 * free lists), and give back the tail beyond p pages as the maximal aligned blocks it splits
 * into (their buddies lie inside the allocation, so no merging is needed). Freeing splits
 * [page, page + p) into maximal aligned blocks and frees each with the usual buddy merging.
 *
 * Complexity with n = number of pages: alloc O(log n) bitmap steps of O(log64 n) words each;
 * free O(log^2 n) in the worst case (a range of log n pieces each merging up), O(log n) for a
 * power-of-two size. No step ever scans the space. Memory: 4 bytes + ~2 bits per page of the
 * span, plus the cache layer's state map (a byte per page), reserved with MAP_NORESERVE so only
 * the parts in use become resident.
 *
 * Callers hold ra->lock. The page map is read without it by the cache layer (its own blocks,
 * or a check that fails), hence the relaxed atomic accesses.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane_internal/sys.h>

#include "alloc_impl.h"

#define MAX_ORDER 27 /* DPI_IOVA_MAX_SPAN in pages, times two for alignment */

/* ---- hierarchical bitmaps ----------------------------------------------------------------- */

static void bm_set(struct ra_bitmap *b, uint64_t i)
{
	for (uint32_t l = 0; l < b->levels; l++, i >>= 6) {
		uint64_t w = b->word[l][i >> 6];
		b->word[l][i >> 6] = w | (1ull << (i & 63));
		if (w != 0)
			break;
	}
}

static void bm_clear(struct ra_bitmap *b, uint64_t i)
{
	for (uint32_t l = 0; l < b->levels; l++, i >>= 6) {
		uint64_t w = b->word[l][i >> 6] & ~(1ull << (i & 63));
		b->word[l][i >> 6] = w;
		if (w != 0)
			break;
	}
}

static bool bm_empty(const struct ra_bitmap *b)
{
	return b->word[b->levels - 1][0] == 0;
}

/* Lowest set bit; the bitmap is not empty. */
static uint64_t bm_first(const struct ra_bitmap *b)
{
	uint64_t i = 0;

	for (uint32_t l = b->levels; l-- > 0;)
		i = (i << 6) | (uint64_t)__builtin_ctzll(b->word[l][i]);
	return i;
}

/* Words a bitmap of @bits bits needs, and its level count. */
static uint64_t bm_words(uint64_t bits, uint32_t *levels)
{
	uint64_t total = 0, w = bits;

	*levels = 0;
	do {
		w = (w + 63) / 64;
		total += w;
		(*levels)++;
	} while (w > 1);
	return total;
}

static void bm_place(struct ra_bitmap *b, uint64_t bits, uint64_t *at)
{
	uint64_t w = bits;

	b->levels = 0;
	do {
		w = (w + 63) / 64;
		b->word[b->levels++] = at;
		at += w;
	} while (w > 1);
}

/* ---- buddy blocks ------------------------------------------------------------------------- */

static void put_free(struct range_alloc *ra, uint64_t page, uint32_t o)
{
	bm_set(&ra->free[o], page >> o);
	ra->nonempty |= 1ull << o;
	ST(ra->pm[page], PM_FREE | o);
}

static void take_free(struct range_alloc *ra, uint64_t page, uint32_t o)
{
	bm_clear(&ra->free[o], page >> o);
	if (bm_empty(&ra->free[o]))
		ra->nonempty &= ~(1ull << o);
	ST(ra->pm[page], 0);
}

/* Free one aligned block, merging with free buddies. */
static void free_block(struct range_alloc *ra, uint64_t page, uint32_t o)
{
	while (o < ra->order_max) {
		uint64_t buddy = page ^ (1ull << o);
		if (LD(ra->pm[buddy]) != (PM_FREE | o))
			break;
		take_free(ra, buddy, o);
		page &= ~(1ull << o);
		o++;
	}
	put_free(ra, page, o);
}

/* Free [page, end) as maximal aligned blocks. */
static void free_span(struct range_alloc *ra, uint64_t page, uint64_t end)
{
	while (page < end) {
		uint32_t o = 63 - (uint32_t)__builtin_clzll(end - page);
		if (page != 0)
			o = DPI_MIN(o, (uint32_t)__builtin_ctzll(page));
		free_block(ra, page, o);
		page += 1ull << o;
	}
}

int ra_alloc(struct range_alloc *ra, uint64_t pages, uint32_t align_order, uint64_t *out)
{
	uint32_t k = DPI_MAX(ra_order_ceil(pages), align_order), j;
	uint64_t avail, page;

	if (k > ra->order_max)
		return -ENOSPC;
	avail = ra->nonempty & ~((1ull << k) - 1);
	if (avail == 0)
		return -ENOSPC;
	j = (uint32_t)__builtin_ctzll(avail);
	page = bm_first(&ra->free[j]) << j;
	take_free(ra, page, j);
	while (j > k) {
		j--;
		put_free(ra, page + (1ull << j), j);
	}
	/* The tail: blocks of growing order whose buddies lie inside the allocation. */
	for (uint64_t pos = page + pages, end = page + (1ull << k); pos < end;) {
		uint32_t o = (uint32_t)__builtin_ctzll(pos);
		put_free(ra, pos, o);
		pos += 1ull << o;
	}
	ST(ra->pm[page], (uint32_t)pages);
	ra->free_pages -= pages;
	*out = page;
	return 0;
}

int ra_free(struct range_alloc *ra, uint64_t page, uint64_t pages)
{
	if (pages == 0 || page >= (1ull << ra->order_max) || LD(ra->pm[page]) != pages)
		return -EINVAL;
	ST(ra->pm[page], 0);
	free_span(ra, page, page + pages);
	ra->free_pages += pages;
	return 0;
}

/* ---- setup -------------------------------------------------------------------------------- */

/* The page-aligned part [*s, *e) of a range, IOVA 0's page left out; false when empty. */
static bool usable(const struct dp_iova_range *r, uint64_t *s, uint64_t *e)
{
	uint64_t start = DPI_MAX(r->start, 4096ull);

	if (r->last < start || start > UINT64_MAX - 4095)
		return false;
	*s = DPI_ALIGN_UP(start, 4096ull);
	*e = r->last == UINT64_MAX ? UINT64_MAX & ~4095ull : DPI_ALIGN_DOWN(r->last + 1, 4096ull);
	return *s < *e;
}

static int span_of(struct range_alloc *ra, const struct dp_iova_range *ranges, uint32_t n)
{
	uint64_t lo = UINT64_MAX, hi = 0, s, e, s2, e2;

	for (uint32_t i = 0; i < n; i++) {
		if (ranges[i].start > ranges[i].last)
			return -EINVAL;
		if (!usable(&ranges[i], &s, &e))
			continue;
		for (uint32_t j = 0; j < i; j++)
			if (usable(&ranges[j], &s2, &e2) && s < e2 && s2 < e)
				return -EINVAL; /* overlapping ranges */
		lo = DPI_MIN(lo, s);
		hi = DPI_MAX(hi, e);
	}
	if (lo >= hi)
		return -ENOSPC;
	if (hi - lo > DPI_IOVA_MAX_SPAN)
		return -E2BIG;
	uint32_t order = ra_order_ceil((hi - lo) >> RA_PAGE_SHIFT);
	for (;; order++) {
		uint64_t size = 1ull << (order + RA_PAGE_SHIFT);
		if (order > MAX_ORDER)
			return -E2BIG;
		if (DPI_ALIGN_DOWN(lo, size) + size >= hi || DPI_ALIGN_DOWN(lo, size) + size == 0)
			break;
	}
	ra->order_max = order;
	ra->base = DPI_ALIGN_DOWN(lo, 1ull << (order + RA_PAGE_SHIFT));
	return 0;
}

int ra_init(struct range_alloc *ra, const struct dp_iova_range *ranges, uint32_t n)
{
	uint64_t npages, words = 0, s, e;
	uint32_t levels;
	int rc;

	memset(ra, 0, sizeof(*ra));
	rc = span_of(ra, ranges, n);
	if (rc != 0)
		return rc;
	npages = 1ull << ra->order_max;
	for (uint32_t o = 0; o <= ra->order_max; o++)
		words += bm_words(npages >> o, &levels);
	ra->mem_len = DPI_ALIGN_UP(npages * 5 + words * 8, 4096ull);
	ra->mem = dpi_mmap(NULL, ra->mem_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ra->mem == MAP_FAILED) {
		ra->mem = NULL;
		return -ENOMEM;
	}
	/* Huge pages where the kernel has them: the page map is read at random IOVAs. */
	(void)madvise(ra->mem, ra->mem_len, MADV_HUGEPAGE);
	uint64_t *at = (uint64_t *)ra->mem;
	for (uint32_t o = 0; o <= ra->order_max; o++) {
		bm_place(&ra->free[o], npages >> o, at);
		at += bm_words(npages >> o, &levels);
	}
	ra->pm = (uint32_t *)at;
	ra->sm = (uint8_t *)(ra->pm + npages);
	pthread_mutex_init(&ra->lock, NULL);
	for (uint32_t i = 0; i < n; i++) {
		if (!usable(&ranges[i], &s, &e))
			continue;
		e = DPI_MIN(e - ra->base, npages << RA_PAGE_SHIFT);
		free_span(ra, (s - ra->base) >> RA_PAGE_SHIFT, e >> RA_PAGE_SHIFT);
		ra->free_pages += (e - (s - ra->base)) >> RA_PAGE_SHIFT;
	}
	ra->total_pages = ra->free_pages;
	return 0;
}

void ra_fini(struct range_alloc *ra)
{
	if (ra->mem != NULL) {
		munmap(ra->mem, ra->mem_len);
		pthread_mutex_destroy(&ra->lock);
	}
	ra->mem = NULL;
}
