/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Magazines and the lock-free depot of the IOVA allocator.
 *
 * All magazines of an allocator live in one array reserved at creation and never freed before
 * the allocator, so a magazine is named by a 32-bit index and reading one that another thread
 * just popped is always safe. The depot is a set of Treiber stacks (one of empty magazines,
 * one of full magazines per size class). A stack head is one 64-bit word: the index of the top
 * magazine in the low half and a generation in the high half that every successful push and
 * pop increments. The generation makes the stacks ABA-safe: a pop that read head A and next B
 * cannot succeed after A was popped and pushed again in between, because the head's generation
 * has moved on (it would take 2^32 operations within one pop's window to wrap).
 *
 * Full stacks are bounded (DPI_IOVA_DEPOT_MAX magazines per class, counted approximately by an
 * atomic counter) so the IOVA space held in the depot stays bounded.
 */
#include <errno.h>
#include <sys/mman.h>

#include <dmaplane_internal/sys.h>

#include "alloc_impl.h"

#define HEAD(idx, gen) (((uint64_t)(gen) << 32) | (idx))
#define HEAD_IDX(h) ((uint32_t)(h))
#define HEAD_GEN(h) ((uint32_t)((h) >> 32))

static void push(struct mag_pool *p, struct mag_stack *s, struct dpi_iova_mag *m)
{
	uint64_t h = __atomic_load_n(&s->head, __ATOMIC_RELAXED);

	do
		ST(m->next, HEAD_IDX(h));
	while (!__atomic_compare_exchange_n(&s->head, &h, HEAD(m->idx, HEAD_GEN(h) + 1), true,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	__atomic_fetch_add(&s->count, 1, __ATOMIC_RELAXED);
	(void)p;
}

static struct dpi_iova_mag *pop(struct mag_pool *p, struct mag_stack *s)
{
	uint64_t h = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE);
	struct dpi_iova_mag *m;

	do {
		if (HEAD_IDX(h) == MAG_NIL)
			return NULL;
		m = &p->mags[HEAD_IDX(h)];
		/* m->next may be stale when m was popped meanwhile: the CAS fails then. */
	} while (!__atomic_compare_exchange_n(&s->head, &h, HEAD(LD(m->next), HEAD_GEN(h) + 1),
					      true, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE));
	__atomic_fetch_sub(&s->count, 1, __ATOMIC_RELAXED);
	return m;
}

int pool_init(struct mag_pool *p, uint32_t cap)
{
	size_t len = (size_t)cap * sizeof(struct dpi_iova_mag);

	p->mags = dpi_mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->mags == MAP_FAILED) {
		p->mags = NULL;
		return -ENOMEM;
	}
	p->cap = cap;
	p->used = 0;
	p->empty.head = HEAD(MAG_NIL, 0);
	p->empty.count = 0;
	for (uint32_t c = 0; c < DPI_IOVA_NCLASSES; c++) {
		p->full[c].head = HEAD(MAG_NIL, 0);
		p->full[c].count = 0;
	}
	return 0;
}

void pool_fini(struct mag_pool *p)
{
	if (p->mags != NULL)
		munmap(p->mags, (size_t)p->cap * sizeof(struct dpi_iova_mag));
	p->mags = NULL;
}

struct dpi_iova_mag *pool_get_empty(struct mag_pool *p)
{
	struct dpi_iova_mag *m = pop(p, &p->empty);
	uint32_t i;

	if (m != NULL)
		return m;
	i = __atomic_fetch_add(&p->used, 1, __ATOMIC_RELAXED);
	if (i >= p->cap) {
		__atomic_fetch_sub(&p->used, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	m = &p->mags[i];
	m->idx = i;
	ST(m->n, 0);
	return m;
}

void pool_put_empty(struct mag_pool *p, struct dpi_iova_mag *m)
{
	push(p, &p->empty, m);
}

struct dpi_iova_mag *pool_get_full(struct mag_pool *p, uint32_t c)
{
	return pop(p, &p->full[c]);
}

bool pool_put_full(struct mag_pool *p, uint32_t c, struct dpi_iova_mag *m)
{
	if (__atomic_load_n(&p->full[c].count, __ATOMIC_RELAXED) >= DPI_IOVA_DEPOT_MAX)
		return false;
	push(p, &p->full[c], m);
	return true;
}
