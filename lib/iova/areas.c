/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The record of an IOAS's mappings: a two-level sorted chunk list (B-tree-ish). Areas sit in
 * chunks of up to AREA_CHUNK sorted entries; a sorted array of chunk pointers sits above them.
 * A lookup bisects the chunk array, then the chunk: O(log n). An insert moves at most one
 * chunk's entries (and, on a split, once every AREA_CHUNK/2 inserts, the chunk pointers: n /
 * AREA_CHUNK * 2 words), instead of the whole record as a flat sorted array did, so dynamic
 * mapping costs stay flat as live mappings grow. Removal merges a chunk that fell below a
 * quarter with its successor, so chunks stay at least a quarter full on average.
 * Positions are (chunk, slot) cursors; area_next() walks in IOVA order. Control path: the
 * IOAS lock serialises every call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane_internal/fault.h>

#include "iova_impl.h"

static inline dp_iova_t chunk_end(const struct area_chunk *c)
{
	return c->a[c->n - 1].iova + c->a[c->n - 1].len;
}

/* First slot of c whose area ends above iova (may be c->n). */
static uint32_t slot_lower(const struct area_chunk *c, dp_iova_t iova)
{
	uint32_t lo = 0, hi = c->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (c->a[mid].iova + c->a[mid].len <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First chunk whose last area ends above iova (may be s->nc). */
static uint32_t chunk_lower(const struct area_set *s, dp_iova_t iova)
{
	uint32_t lo = 0, hi = s->nc;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (chunk_end(s->c[mid]) <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct area_pos area_lower(const struct area_set *s, dp_iova_t iova)
{
	uint32_t c = chunk_lower(s, iova);

	if (c == s->nc)
		return (struct area_pos){s->nc, 0};
	return (struct area_pos){c, slot_lower(s->c[c], iova)};
}

bool area_overlaps(const struct area_set *s, dp_iova_t iova, uint64_t len)
{
	struct area_pos p = area_lower(s, iova);

	return area_valid(s, p) && area_at(s, p)->iova < iova + len;
}

static int grow_top(struct area_set *s)
{
	uint32_t cap = s->capc ? s->capc * 2 : 8;
	struct area_chunk **nc = NULL;

	if (s->nc < s->capc)
		return 0;
	if (!dpi_fault("malloc"))
		nc = realloc(s->c, cap * sizeof(*nc));
	if (nc == NULL)
		return -ENOMEM;
	s->c = nc;
	s->capc = cap;
	return 0;
}

static struct area_chunk *new_chunk(void)
{
	return dpi_fault("malloc") ? NULL : malloc(sizeof(struct area_chunk));
}

/* Split full chunk k in two halves; the upper half becomes chunk k + 1. */
static int split(struct area_set *s, uint32_t k)
{
	struct area_chunk *lo = s->c[k], *hi;
	uint32_t half = lo->n / 2;

	if (grow_top(s) != 0 || (hi = new_chunk()) == NULL)
		return -ENOMEM;
	hi->n = lo->n - half;
	memcpy(hi->a, &lo->a[half], hi->n * sizeof(lo->a[0]));
	lo->n = half;
	memmove(&s->c[k + 2], &s->c[k + 1], (s->nc - k - 1) * sizeof(s->c[0]));
	s->c[k + 1] = hi;
	s->nc++;
	return 0;
}

int area_insert(struct area_set *s, const struct area *a)
{
	struct area_chunk *c;
	uint32_t k, i;

	if (s->nc == 0) {
		if (grow_top(s) != 0 || (c = new_chunk()) == NULL)
			return -ENOMEM;
		c->n = 0;
		s->c[s->nc++] = c;
		k = 0;
	} else {
		k = chunk_lower(s, a->iova);
		if (k == s->nc)
			k--; /* above everything: append to the last chunk */
	}
	if (s->c[k]->n == AREA_CHUNK) {
		if (split(s, k) != 0)
			return -ENOMEM;
		if (a->iova >= s->c[k + 1]->a[0].iova)
			k++;
	}
	c = s->c[k];
	i = slot_lower(c, a->iova);
	memmove(&c->a[i + 1], &c->a[i], (c->n - i) * sizeof(c->a[0]));
	c->a[i] = *a;
	c->n++;
	s->n++;
	return 0;
}

int area_exact(const struct area_set *s, dp_iova_t iova, uint64_t len, uint32_t owner,
	       struct area_pos *first, uint32_t *count)
{
	struct area_pos p = area_lower(s, iova), q;
	dp_iova_t at = iova, end = iova + len;
	uint32_t n = 0;

	if (!area_valid(s, p) || area_at(s, p)->iova != iova)
		return -ENOENT;
	for (q = p; area_valid(s, q) && at < end; q = area_next(s, q), n++) {
		const struct area *a = area_at(s, q);
		if (a->iova != at || a->owner != owner)
			return -ENOENT;
		at += a->len;
	}
	if (at != end)
		return -ENOENT;
	*first = p;
	*count = n;
	return 0;
}

static void drop_chunk(struct area_set *s, uint32_t k)
{
	free(s->c[k]);
	memmove(&s->c[k], &s->c[k + 1], (s->nc - k - 1) * sizeof(s->c[0]));
	s->nc--;
}

/* Merge chunk k + 1 into chunk k when chunk k is under a quarter full and both fit. */
static void maybe_merge(struct area_set *s, uint32_t k)
{
	struct area_chunk *a, *b;

	if (k + 1 >= s->nc)
		return;
	a = s->c[k];
	b = s->c[k + 1];
	if (a->n >= AREA_CHUNK / 4 && b->n >= AREA_CHUNK / 4)
		return;
	if (a->n + b->n > AREA_CHUNK)
		return;
	memcpy(&a->a[a->n], b->a, b->n * sizeof(b->a[0]));
	a->n += b->n;
	drop_chunk(s, k + 1);
}

void area_remove(struct area_set *s, struct area_pos p, uint32_t count)
{
	uint32_t k = p.c, i = p.i;

	s->n -= count;
	while (count > 0) {
		struct area_chunk *c = s->c[k];
		uint32_t take = DPI_MIN(count, c->n - i);
		memmove(&c->a[i], &c->a[i + take], (c->n - i - take) * sizeof(c->a[0]));
		c->n -= take;
		count -= take;
		if (c->n == 0)
			drop_chunk(s, k); /* the next chunk moved to k */
		else
			k++;
		i = 0;
	}
	/* Keep chunks from thinning out: look at the chunk before the cut and the one at it. */
	if (k > 0 && k - 1 < s->nc)
		maybe_merge(s, k - 1);
	if (k < s->nc)
		maybe_merge(s, k);
}

void area_free(struct area_set *s)
{
	for (uint32_t k = 0; k < s->nc; k++)
		free(s->c[k]);
	free(s->c);
	s->c = NULL;
	s->n = s->nc = s->capc = 0;
}
