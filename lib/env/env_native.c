/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The native env: DMA memory from hugetlb pages (MAP_HUGETLB, 2 MiB or 1 GiB) placed on a NUMA
 * node with libnuma, or 4 KiB locked pages when no hugepages are free.
 *
 * Layout: each NUMA node has a heap with one large PROT_NONE virtual-address reservation.
 * Segments (runs of pages) are mapped into it with MAP_FIXED, so memory stays virtually compact
 * and neighbouring segments coalesce into few IOMMU mappings. Inside a segment, free space is an
 * address-ordered list of ranges (first fit). Allocations are recorded out of band in a tree
 * keyed by address, so the memory itself carries no headers and every alignment is exact.
 *
 * Pages are populated with MADV_POPULATE_WRITE after the NUMA policy is set, so a shortage of
 * pages is an error return, never a SIGBUS later. Memory beyond opts.mem_size goes back to the
 * system when it is free, keeping at most one free segment per node as a cache.
 *
 * Not a hot path: one mutex serialises everything, including memory events.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if DP_CONFIG_NUMA
#include <numa.h>
#include <numaif.h>
#endif

#define DP_LOG_COMPONENT "env"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/log.h>

#include "env_impl.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

#define MAX_NODES 64
#define VA_RESERVE (64ull << 30) /* per node */
#define VA_ALIGN (1ull << 30)
/* Where the reservations are asked for (a hint): low enough that IOVA = VA fits an IOMMU with
 * 39-bit addresses (512 GiB), as QEMU's VT-d and many real ones have. */
#define VA_HINT (128ull << 30)
#define MIN_SEGMENT (2ull << 20)
#define SMALL_PAGE 4096ull
#define ALLOC_GRAIN 64

struct range {
	struct range *next;
	uintptr_t start;
	size_t len;
};

struct seg {
	struct seg *next;
	uintptr_t base;
	size_t len;
	size_t page_size;
	int node;
	bool keep;           /* part of the initial reservation: never released */
	struct range *free;  /* free space, address order */
	struct range *spare; /* node for giving the VA back on release */
	size_t used;
};

struct alloc_rec {
	uintptr_t addr;
	size_t len;
	struct seg *seg;
	struct range *spare; /* node for giving the space back on free */
};

struct heap {
	uintptr_t va_base;
	size_t va_len;
	struct range *va_free;
	struct seg *segs; /* address order */
};

static struct {
	pthread_mutex_t lock;
	struct heap heaps[MAX_NODES];
	int nodes;
	void *tree;
	size_t live;
	size_t page_size; /* hugepage size asked for */
	bool use_huge;    /* false: 4 KiB pages */
	bool warned_lock;
	uint64_t mem_bytes;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- allocation with fault points --------------------------------------------------------- */

static void *xmalloc(size_t n)
{
	int err = dpi_fault("malloc");

	if (err) {
		errno = err;
		return NULL;
	}
	return malloc(n);
}

/* ---- free-range lists -------------------------------------------------------------------- */

/* Take @len bytes aligned to @align, first fit. -ENOSPC: nothing fits; -ENOMEM: no list node. */
static int range_take(struct range **list, size_t len, size_t align, uintptr_t *out)
{
	for (struct range **pp = list; *pp != NULL; pp = &(*pp)->next) {
		struct range *r = *pp;
		uintptr_t s = DPI_ALIGN_UP(r->start, (uintptr_t)align);
		uintptr_t end = r->start + r->len;

		if (s < r->start || s + len > end || s + len < s)
			continue;
		size_t left = s - r->start, right = end - (s + len);
		if (left != 0 && right != 0) {
			struct range *n = xmalloc(sizeof(*n));
			if (n == NULL)
				return -ENOMEM;
			n->start = s + len;
			n->len = right;
			n->next = r->next;
			r->next = n;
			r->len = left;
		} else if (left != 0) {
			r->len = left;
		} else if (right != 0) {
			r->start = s + len;
			r->len = right;
		} else {
			*pp = r->next;
			free(r);
		}
		*out = s;
		return 0;
	}
	return -ENOSPC;
}

/* Give [start, start+len) back, merging with neighbours. @spare is used or freed: never fails. */
static void range_give(struct range **list, uintptr_t start, size_t len, struct range *spare)
{
	struct range **pp = list, *prev = NULL;

	while (*pp != NULL && (*pp)->start < start) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	struct range *next = *pp;
	bool join_prev = prev != NULL && prev->start + prev->len == start;
	bool join_next = next != NULL && start + len == next->start;

	if (join_prev && join_next) {
		prev->len += len + next->len;
		prev->next = next->next;
		free(next);
	} else if (join_prev) {
		prev->len += len;
	} else if (join_next) {
		next->start = start;
		next->len += len;
	} else {
		spare->start = start;
		spare->len = len;
		spare->next = next;
		*pp = spare;
		return;
	}
	free(spare);
}

static void range_free_all(struct range **list)
{
	while (*list != NULL) {
		struct range *r = *list;
		*list = r->next;
		free(r);
	}
}

/* ---- pages -------------------------------------------------------------------------------- */

static int reserve_va(struct heap *h)
{
	size_t len = VA_RESERVE + VA_ALIGN;
	int err = dpi_fault("mmap-reserve");
	void *p;

	if (err) {
		errno = err;
		p = MAP_FAILED;
	} else {
		void *hint = (void *)(uintptr_t)(VA_HINT + (uint64_t)(h - g.heaps) * len);
		p = mmap(hint, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	if (p == MAP_FAILED) {
		err = errno;
		DPI_ERR("cannot reserve %llu GiB of address space for DMA memory: %s",
			VA_RESERVE >> 30, strerror(err));
		return -err;
	}
	struct range *r = xmalloc(sizeof(*r));
	if (r == NULL) {
		munmap(p, len);
		return -ENOMEM;
	}
	uintptr_t base = DPI_ALIGN_UP((uintptr_t)p, (uintptr_t)VA_ALIGN);
	if (base > (uintptr_t)p)
		munmap(p, base - (uintptr_t)p);
	munmap((void *)(base + VA_RESERVE), (uintptr_t)p + len - (base + VA_RESERVE));
	h->va_base = base;
	h->va_len = VA_RESERVE;
	r->start = base;
	r->len = VA_RESERVE;
	r->next = NULL;
	h->va_free = r;
	return 0;
}

/* Put the PROT_NONE reservation back over [va, va+len). */
static void unmap_pages(uintptr_t va, size_t len)
{
	void *p = mmap((void *)va, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		DPI_WARN("cannot restore the address reservation at 0x%" PRIxPTR ": %s", va,
			 strerror(errno));
		munmap((void *)va, len);
	}
}

static int bind_node(uintptr_t va, size_t len, int node)
{
#if DP_CONFIG_NUMA
	if (g.nodes > 1 && numa_available() >= 0) {
		unsigned long mask[MAX_NODES / (8 * sizeof(unsigned long))] = {0};
		mask[node / (8 * sizeof(unsigned long))] |= 1ul << (node % (8 * sizeof(unsigned long)));
		if (mbind((void *)va, len, MPOL_PREFERRED, mask, MAX_NODES + 1, 0) != 0)
			DPI_WARN("mbind to NUMA node %d failed (%s): memory may land elsewhere", node,
				 strerror(errno));
	}
#endif
	(void)va;
	(void)len;
	(void)node;
	return 0;
}

/* Map pages of @page_size over [va, va+len) on @node and populate them. */
static int map_pages(uintptr_t va, size_t len, size_t page_size, int node)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
	int err;

	if (page_size != SMALL_PAGE)
		flags |= MAP_HUGETLB | ((__builtin_ctzll(page_size)) << MAP_HUGE_SHIFT);
	err = dpi_fault(page_size != SMALL_PAGE ? "mmap-huge" : "mmap");
	if (!err && mmap((void *)va, len, PROT_READ | PROT_WRITE, flags, -1, 0) == MAP_FAILED)
		err = errno;
	if (err) {
		unmap_pages(va, len);
		return -err;
	}
	bind_node(va, len, node);
	err = dpi_fault("populate");
	if (!err && madvise((void *)va, len, MADV_POPULATE_WRITE) != 0) {
		err = errno;
		if (err == EINVAL) { /* kernel < 5.14: touch each page instead */
			for (uintptr_t p = va; p < va + len; p += page_size)
				*(volatile char *)p = 0;
			err = 0;
		}
	}
	if (err) {
		unmap_pages(va, len);
		return -err;
	}
	if (page_size == SMALL_PAGE && mlock((void *)va, len) != 0 && !g.warned_lock) {
		g.warned_lock = true;
		DPI_WARN("cannot lock 4 KiB DMA pages (%s): raise RLIMIT_MEMLOCK (ulimit -l) or run "
			 "as root", strerror(errno));
	}
	return 0;
}

/* ---- segments ----------------------------------------------------------------------------- */

static void seg_link(struct heap *h, struct seg *s)
{
	struct seg **pp = &h->segs;

	while (*pp != NULL && (*pp)->base < s->base)
		pp = &(*pp)->next;
	s->next = *pp;
	*pp = s;
}

static int grow(struct heap *h, int node, size_t size, size_t align, bool keep, struct seg **out)
{
	size_t pg = g.use_huge ? g.page_size : SMALL_PAGE;
	size_t len = DPI_ALIGN_UP(size, DPI_MAX(pg, MIN_SEGMENT));
	size_t va_align = DPI_MAX(pg, align);
	struct seg *s;
	uintptr_t va;
	int rc;

	if (h->va_base == 0 && (rc = reserve_va(h)) != 0)
		return rc;
	s = xmalloc(sizeof(*s));
	struct range *fr = xmalloc(sizeof(*fr));
	struct range *spare = xmalloc(sizeof(*spare));
	if (s == NULL || fr == NULL || spare == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	/* 1 GiB pages may be needed for 1 GiB alignment: keep VA alignment at the page size. */
	rc = range_take(&h->va_free, len, va_align, &va);
	if (rc != 0) {
		if (rc == -ENOSPC)
			DPI_ERR("the %llu GiB address reservation of NUMA node %d is full",
				VA_RESERVE >> 30, node);
		rc = -ENOMEM;
		goto err_free;
	}
	rc = map_pages(va, len, pg, node);
	if (rc != 0 && pg != SMALL_PAGE) {
		/* Out of hugepages (or none of this size): fall back for good, say so once. */
		dpi_warn_no_hugepages(pg, strerror(-rc));
		g.use_huge = false;
		pg = SMALL_PAGE;
		rc = map_pages(va, len, pg, node);
	}
	if (rc != 0) {
		DPI_ERR("cannot map %zu bytes of DMA memory on NUMA node %d: %s", len, node,
			strerror(-rc));
		range_give(&h->va_free, va, len, spare);
		spare = NULL;
		if (rc != -ENOMEM)
			rc = -ENOMEM;
		goto err_free;
	}
	*s = (struct seg){.base = va, .len = len, .page_size = pg, .node = node, .keep = keep,
			  .free = fr, .spare = spare};
	fr->start = va;
	fr->len = len;
	fr->next = NULL;
	seg_link(h, s);
	g.mem_bytes += len;
	DPI_DEBUG("added %zu bytes of DMA memory at %p on node %d (%zu-byte pages)", len,
		  (void *)va, node, pg);
	dpi_mem_event_notify(DP_MEM_EVENT_ADD, (void *)va, len, pg);
	*out = s;
	return 0;

err_free:
	free(s);
	free(fr);
	free(spare);
	return rc;
}

static void seg_release(struct heap *h, struct seg *s)
{
	struct seg **pp = &h->segs;

	while (*pp != s)
		pp = &(*pp)->next;
	*pp = s->next;
	dpi_mem_event_notify(DP_MEM_EVENT_REMOVE, (void *)s->base, s->len, s->page_size);
	unmap_pages(s->base, s->len);
	g.mem_bytes -= s->len;
	range_give(&h->va_free, s->base, s->len, s->spare);
	range_free_all(&s->free);
	free(s);
}

/* Release empty, releasable segments beyond one cached per heap. */
static void trim(struct heap *h)
{
	struct seg *cached = NULL;

	for (struct seg *s = h->segs, *next; s != NULL; s = next) {
		next = s->next;
		if (s->used != 0 || s->keep)
			continue;
		if (cached == NULL)
			cached = s;
		else
			seg_release(h, s);
	}
}

/* ---- ops ---------------------------------------------------------------------------------- */

static int rec_cmp(const void *a, const void *b)
{
	uintptr_t x = ((const struct alloc_rec *)a)->addr, y = ((const struct alloc_rec *)b)->addr;

	return x < y ? -1 : x > y;
}

static void teardown(void);

static int native_init(const struct dp_env_opts *opts)
{
	struct seg *s;
	int rc;

	pthread_mutex_lock(&g.lock);
	memset(g.heaps, 0, sizeof(g.heaps));
	g.nodes = DPI_MIN(dpi_env_numa_nodes(), MAX_NODES);
	g.tree = NULL;
	g.live = 0;
	g.mem_bytes = 0;
	g.warned_lock = false;
	g.page_size = opts->hugepage_size;
	g.use_huge = !(opts->flags & DP_ENV_F_NO_HUGE);
	if (g.use_huge && dpi_free_hugepages(g.page_size) == 0) {
		dpi_warn_no_hugepages(g.page_size, "none free");
		g.use_huge = false;
	}
	rc = 0;
	if (opts->mem_size != 0) {
		int node = opts->numa_node == DP_NUMA_ANY ? 0 : opts->numa_node;
		rc = grow(&g.heaps[node], node, opts->mem_size, 0, true, &s);
		if (rc != 0)
			teardown(); /* a failed init leaves nothing behind */
	}
	pthread_mutex_unlock(&g.lock);
	if (rc == 0)
		DPI_INFO("native env: %s pages", g.use_huge ? "huge" : "4 KiB");
	return rc;
}

static void free_rec(void *p)
{
	struct alloc_rec *r = p;

	free(r->spare);
	free(r);
}

/* Release every segment and reservation. Called with g.lock held. */
static void teardown(void)
{
	tdestroy(g.tree, free_rec);
	g.tree = NULL;
	g.live = 0;
	for (int n = 0; n < MAX_NODES; n++) {
		struct heap *h = &g.heaps[n];
		while (h->segs != NULL)
			seg_release(h, h->segs);
		if (h->va_base != 0)
			munmap((void *)h->va_base, h->va_len);
		range_free_all(&h->va_free);
		memset(h, 0, sizeof(*h));
	}
}

static void native_fini(void)
{
	pthread_mutex_lock(&g.lock);
	if (g.live != 0)
		DPI_NOTICE("dp_env_fini: %zu DMA allocations were never freed; releasing them",
			   g.live);
	teardown();
	pthread_mutex_unlock(&g.lock);
}

static int native_alloc(size_t size, size_t align, int node, void **ptr)
{
	struct heap *h;
	struct alloc_rec *rec;
	struct range *spare;
	struct seg *s, *grown = NULL;
	uintptr_t addr = 0;
	int rc = -ENOSPC;

	if (node >= MAX_NODES)
		return -EINVAL;
	size = DPI_ALIGN_UP(size, (size_t)ALLOC_GRAIN);
	h = &g.heaps[node];
	pthread_mutex_lock(&g.lock);
	rec = xmalloc(sizeof(*rec));
	spare = xmalloc(sizeof(*spare));
	if (rec == NULL || spare == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (s = h->segs; s != NULL; s = s->next) {
		rc = range_take(&s->free, size, align, &addr);
		if (rc != -ENOSPC)
			break;
	}
	if (rc == -ENOSPC) {
		rc = grow(h, node, size, align, false, &s);
		if (rc == 0) {
			grown = s;
			rc = range_take(&s->free, size, align, &addr);
		}
	}
	if (rc != 0)
		goto fail;
	*rec = (struct alloc_rec){.addr = addr, .len = size, .seg = s, .spare = spare};
	if (tsearch(rec, &g.tree, rec_cmp) == NULL || dpi_fault("tsearch")) {
		tdelete(rec, &g.tree, rec_cmp);
		range_give(&s->free, addr, size, spare);
		spare = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	s->used += size;
	g.live++;
	pthread_mutex_unlock(&g.lock);
	*ptr = (void *)addr;
	return 0;

fail:
	/* A segment grown for this allocation goes back: a failed call leaves nothing behind. */
	if (grown != NULL && grown->used == 0)
		seg_release(h, grown);
	pthread_mutex_unlock(&g.lock);
	free(rec);
	free(spare);
	if (rc == -ENOMEM || rc == -ENOSPC)
		DPI_ERR("dp_dma_alloc(%zu, align %zu) on NUMA node %d: out of DMA memory "
			"(reserve more hugepages with `scripts/setup.sh hugepages`)", size, align,
			node);
	return rc == -ENOSPC ? -ENOMEM : rc;
}

static int native_free(void *ptr)
{
	struct alloc_rec key = {.addr = (uintptr_t)ptr}, *rec;
	void **found;

	pthread_mutex_lock(&g.lock);
	found = tfind(&key, &g.tree, rec_cmp);
	if (found == NULL) {
		pthread_mutex_unlock(&g.lock);
		DPI_ERR("dp_dma_free(%p): not memory from dp_dma_alloc, or freed already", ptr);
		return -EINVAL;
	}
	rec = *found;
	tdelete(rec, &g.tree, rec_cmp);
	g.live--;
	rec->seg->used -= rec->len;
	range_give(&rec->seg->free, rec->addr, rec->len, rec->spare);
	if (rec->seg->used == 0 && !rec->seg->keep)
		trim(&g.heaps[rec->seg->node]);
	free(rec);
	pthread_mutex_unlock(&g.lock);
	return 0;
}

static void native_lock(void)
{
	pthread_mutex_lock(&g.lock);
}

static void native_unlock(void)
{
	pthread_mutex_unlock(&g.lock);
}

static void native_walk(dpi_region_fn fn, void *ctx)
{
	for (int n = 0; n < MAX_NODES; n++)
		for (struct seg *s = g.heaps[n].segs; s != NULL; s = s->next)
			fn((void *)s->base, s->len, s->page_size, ctx);
}

static void native_info(struct dp_env_info *info)
{
	pthread_mutex_lock(&g.lock);
	info->page_size = g.use_huge ? g.page_size : SMALL_PAGE;
	info->hugepages = g.use_huge;
	info->mem_bytes = g.mem_bytes;
	pthread_mutex_unlock(&g.lock);
}

const struct dpi_env_ops dpi_env_native_ops = {
	.name = "native",
	.init = native_init,
	.fini = native_fini,
	.alloc = native_alloc,
	.free = native_free,
	.mem_lock = native_lock,
	.mem_unlock = native_unlock,
	.walk = native_walk,
	.info = native_info,
};
