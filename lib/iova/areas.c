/* SPDX-License-Identifier: BSD-3-Clause */
/* The record of an IOAS's mappings: a sorted array searched by bisection (control path). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane_internal/fault.h>

#include "iova_impl.h"

uint32_t area_lower(const struct area_set *s, dp_iova_t iova)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct area *a = &s->a[mid];
		if (a->iova + a->len <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool area_overlaps(const struct area_set *s, dp_iova_t iova, uint64_t len)
{
	uint32_t i = area_lower(s, iova);

	return i < s->n && s->a[i].iova < iova + len;
}

int area_insert(struct area_set *s, const struct area *a)
{
	uint32_t i;

	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		struct area *na = NULL;
		if (!dpi_fault("malloc"))
			na = realloc(s->a, cap * sizeof(*na));
		if (na == NULL)
			return -ENOMEM;
		s->a = na;
		s->cap = cap;
	}
	i = area_lower(s, a->iova);
	memmove(&s->a[i + 1], &s->a[i], (s->n - i) * sizeof(*a));
	s->a[i] = *a;
	s->n++;
	return 0;
}

int area_exact(const struct area_set *s, dp_iova_t iova, uint64_t len, uint32_t owner,
	       uint32_t *first, uint32_t *count)
{
	uint32_t i = area_lower(s, iova), j;
	dp_iova_t at = iova, end = iova + len;

	if (i >= s->n || s->a[i].iova != iova)
		return -ENOENT;
	for (j = i; j < s->n && at < end; j++) {
		if (s->a[j].iova != at || s->a[j].owner != owner)
			return -ENOENT;
		at += s->a[j].len;
	}
	if (at != end)
		return -ENOENT;
	*first = i;
	*count = j - i;
	return 0;
}

void area_remove(struct area_set *s, uint32_t first, uint32_t count)
{
	memmove(&s->a[first], &s->a[first + count], (s->n - first - count) * sizeof(s->a[0]));
	s->n -= count;
}

void area_free(struct area_set *s)
{
	free(s->a);
	s->a = NULL;
	s->n = s->cap = 0;
}
