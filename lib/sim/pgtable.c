/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim IOMMU's page table: an x86-style radix tree of 4 KiB tables of 512 64-bit entries.
 * Level 1 entries map 4 KiB pages, level 2 entries 2 MiB (PS bit), level 3 entries 1 GiB (PS
 * bit); levels 4 and 5 only point to tables. An entry holds the host virtual address of the table
 * or page it points to (4 KiB aligned) plus the bits below. A table entry is present, readable
 * and writable; the leaf holds the permissions.
 *
 * Every change is all-or-nothing: map checks that the range is free before writing and rolls
 * back on -ENOMEM; unmap allocates every table a split needs before changing anything.
 * Invariant: no table below the root is empty (unmap and rollback free them).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane_internal/fault.h>

#include "sim_impl.h"

#define PTE_P    (1ull << 0)
#define PTE_R    (1ull << 1)
#define PTE_W    (1ull << 2)
#define PTE_PS   (1ull << 7)
#define PTE_ADDR ((1ull << 57) - SIM_PAGE_SIZE) /* bits 56:12, enough for LA57 user space */

#define LEAF_MAX_LEVEL 3 /* 1 GiB */
#define SPLIT_MAX      4 /* tables one unmap may need: two boundaries, 1 GiB -> 2 MiB -> 4 KiB */

static uint64_t g_pages_live;

struct table_pool {
	uint64_t *page[SPLIT_MAX];
	int n;
};

static inline uint32_t lvl_shift(uint32_t level)
{
	return SIM_PAGE_SHIFT + 9 * (level - 1);
}

static inline uint64_t lvl_size(uint32_t level)
{
	return 1ull << lvl_shift(level);
}

/* IOVAs the table reaches: 2^39, 2^48 or 2^57. */
static inline uint64_t pt_reach(const struct sim_pgtable *pt)
{
	return 1ull << lvl_shift(pt->levels + 1);
}

static inline uint64_t *pte_of(uint64_t *table, uint32_t level, uint64_t iova)
{
	return &table[(iova >> lvl_shift(level)) & (SIM_PT_ENTRIES - 1)];
}

static inline bool pte_is_leaf(uint64_t pte, uint32_t level)
{
	return level == 1 || (pte & PTE_PS) != 0;
}

static inline void *pte_addr(uint64_t pte)
{
	return (void *)(uintptr_t)(pte & PTE_ADDR);
}

static inline uint64_t pte_leaf(const uint8_t *host, uint32_t prot, uint32_t level)
{
	uint64_t pte = ((uintptr_t)host & PTE_ADDR) | PTE_P;

	if (prot & DPI_SIM_ACCESS_READ)
		pte |= PTE_R;
	if (prot & DPI_SIM_ACCESS_WRITE)
		pte |= PTE_W;
	return level > 1 ? pte | PTE_PS : pte;
}

static inline uint32_t pte_prot(uint64_t pte)
{
	return ((pte & PTE_R) ? DPI_SIM_ACCESS_READ : 0) |
	       ((pte & PTE_W) ? DPI_SIM_ACCESS_WRITE : 0);
}

static inline uint64_t pte_table(const uint64_t *table)
{
	return ((uintptr_t)table & PTE_ADDR) | PTE_P | PTE_R | PTE_W;
}

static inline void counter_add(uint64_t *c, int64_t delta)
{
	__atomic_add_fetch(c, (uint64_t)delta, __ATOMIC_RELAXED);
}

uint64_t sim_pt_pages_live(void)
{
	return __atomic_load_n(&g_pages_live, __ATOMIC_RELAXED);
}

/* ---- table pages ---------------------------------------------------------------------------- */

static uint64_t *table_alloc(struct sim_pgtable *pt)
{
	void *p = NULL;

	if (dpi_fault("sim-alloc") != 0)
		return NULL;
	if (posix_memalign(&p, SIM_PAGE_SIZE, SIM_PAGE_SIZE) != 0)
		return NULL;
	memset(p, 0, SIM_PAGE_SIZE);
	counter_add(&pt->tables, 1);
	counter_add(&g_pages_live, 1);
	return p;
}

static void table_free(struct sim_pgtable *pt, uint64_t *table)
{
	free(table);
	counter_add(&pt->tables, -1);
	counter_add(&g_pages_live, -1);
}

static bool table_empty(const uint64_t *table)
{
	for (int i = 0; i < SIM_PT_ENTRIES; i++)
		if (table[i] & PTE_P)
			return false;
	return true;
}

/* Free every table below @table (not @table itself). */
static void free_below(struct sim_pgtable *pt, uint64_t *table, uint32_t level)
{
	for (int i = 0; i < SIM_PT_ENTRIES; i++) {
		uint64_t pte = table[i];

		if (!(pte & PTE_P) || pte_is_leaf(pte, level))
			continue;
		free_below(pt, pte_addr(pte), level - 1);
		table_free(pt, pte_addr(pte));
		table[i] = 0;
	}
}

int sim_pt_init(struct sim_pgtable *pt, uint32_t levels)
{
	memset(pt, 0, sizeof(*pt));
	pt->levels = levels;
	pt->root = table_alloc(pt);
	return pt->root == NULL ? -ENOMEM : 0;
}

void sim_pt_fini(struct sim_pgtable *pt)
{
	if (pt->root == NULL)
		return;
	free_below(pt, pt->root, pt->levels);
	table_free(pt, pt->root);
	pt->root = NULL;
	pt->mapped = 0;
}

/* ---- range queries -------------------------------------------------------------------------- */

/*
 * The entries of a table at @level covering [start, end) are visited with:
 *	for (a = start; a < end; a = next) { next = entry_end(a, end, level); ... }
 */
static inline uint64_t entry_end(uint64_t a, uint64_t end, uint32_t level)
{
	uint64_t e = DPI_ALIGN_DOWN(a, lvl_size(level)) + lvl_size(level);

	return DPI_MIN(e, end);
}

/* True when some page of [start, end) is mapped. */
static bool any_mapped(const uint64_t *table, uint32_t level, uint64_t start, uint64_t end)
{
	for (uint64_t a = start, next; a < end; a = next) {
		uint64_t pte = *pte_of((uint64_t *)table, level, a);

		next = entry_end(a, end, level);
		if (!(pte & PTE_P))
			continue;
		if (pte_is_leaf(pte, level) || any_mapped(pte_addr(pte), level - 1, a, next))
			return true;
	}
	return false;
}

/* True when every page of [start, end) is mapped. */
static bool all_mapped(const uint64_t *table, uint32_t level, uint64_t start, uint64_t end)
{
	for (uint64_t a = start, next; a < end; a = next) {
		uint64_t pte = *pte_of((uint64_t *)table, level, a);

		next = entry_end(a, end, level);
		if (!(pte & PTE_P))
			return false;
		if (!pte_is_leaf(pte, level) && !all_mapped(pte_addr(pte), level - 1, a, next))
			return false;
	}
	return true;
}

int sim_pt_lookup(const struct sim_pgtable *pt, uint64_t iova, struct sim_leaf *leaf)
{
	const uint64_t *table = pt->root;

	for (uint32_t level = pt->levels; level >= 1; level--) {
		uint64_t pte = *pte_of((uint64_t *)table, level, iova);

		if (!(pte & PTE_P))
			return -ENOENT;
		if (pte_is_leaf(pte, level)) {
			leaf->shift = lvl_shift(level);
			leaf->base = DPI_ALIGN_DOWN(iova, lvl_size(level));
			leaf->host = pte_addr(pte);
			leaf->prot = pte_prot(pte);
			return 0;
		}
		table = pte_addr(pte);
	}
	return -ENOENT; /* not reached: level 1 entries are leaves */
}

/* ---- map ------------------------------------------------------------------------------------ */

/* Map [iova, end) -> va in the subtree of @table; the range is known to be free. */
static int map_level(struct sim_pgtable *pt, uint64_t *table, uint32_t level, uint64_t iova,
		     uint8_t *va, uint64_t end, uint32_t prot)
{
	uint64_t size = lvl_size(level);

	for (uint64_t a = iova, next; a < end; va += next - a, a = next) {
		uint64_t *pte = pte_of(table, level, a);
		int rc;

		next = entry_end(a, end, level);
		if (level <= LEAF_MAX_LEVEL && next - a == size &&
		    ((uintptr_t)va & (size - 1)) == 0) {
			assert(*pte == 0);
			*pte = pte_leaf(va, prot, level);
			counter_add(&pt->mapped, (int64_t)size);
			continue;
		}
		if (!(*pte & PTE_P)) {
			uint64_t *child = table_alloc(pt);

			if (child == NULL)
				return -ENOMEM;
			*pte = pte_table(child);
		}
		rc = map_level(pt, pte_addr(*pte), level - 1, a, va, next, prot);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Clear the leaves inside [start, end) (each lies wholly inside) and free tables left empty. */
static void clear_level(struct sim_pgtable *pt, uint64_t *table, uint32_t level, uint64_t start,
			uint64_t end)
{
	for (uint64_t a = start, next; a < end; a = next) {
		uint64_t *pte = pte_of(table, level, a);
		uint64_t *child;

		next = entry_end(a, end, level);
		if (!(*pte & PTE_P))
			continue;
		if (pte_is_leaf(*pte, level)) {
			assert(next - a == lvl_size(level));
			*pte = 0;
			counter_add(&pt->mapped, -(int64_t)lvl_size(level));
			continue;
		}
		child = pte_addr(*pte);
		clear_level(pt, child, level - 1, a, next);
		if (table_empty(child)) {
			*pte = 0;
			table_free(pt, child);
		}
	}
}

int sim_pt_map(struct sim_pgtable *pt, uint64_t iova, uint8_t *va, uint64_t len, uint32_t prot)
{
	int rc;

	if (any_mapped(pt->root, pt->levels, iova, iova + len))
		return -EEXIST;
	rc = map_level(pt, pt->root, pt->levels, iova, va, iova + len, prot);
	if (rc != 0) /* roll back: the range was free, so everything in it is ours */
		clear_level(pt, pt->root, pt->levels, iova, iova + len);
	return rc;
}

/* ---- unmap ---------------------------------------------------------------------------------- */

/* Tables needed to split the leaf holding @b so that a leaf starts at @b. */
static int splits_needed(const struct sim_pgtable *pt, uint64_t b)
{
	struct sim_leaf leaf;
	int n = 0;

	if (b >= pt_reach(pt) || sim_pt_lookup(pt, b, &leaf) != 0)
		return 0;
	for (uint32_t shift = leaf.shift; shift > SIM_PAGE_SHIFT && (b & ((1ull << shift) - 1));
	     shift -= 9)
		n++;
	return n;
}

/* Replace the large leaf *pte at @level by a table of 512 leaves one level down. */
static void split_leaf(uint64_t *pte, uint32_t level, uint64_t *child)
{
	uint8_t *host = pte_addr(*pte);
	uint32_t prot = pte_prot(*pte);
	uint64_t sub = lvl_size(level - 1);

	for (int i = 0; i < SIM_PT_ENTRIES; i++)
		child[i] = pte_leaf(host + (uint64_t)i * sub, prot, level - 1);
	*pte = pte_table(child);
}

/* Split large leaves until a leaf starts at @b (when @b is mapped), using pool pages. */
static void split_at(struct sim_pgtable *pt, uint64_t b, struct table_pool *pool)
{
	uint64_t *table = pt->root;

	if (b >= pt_reach(pt))
		return;
	for (uint32_t level = pt->levels; level > 1; level--) {
		uint64_t *pte = pte_of(table, level, b);

		if (!(*pte & PTE_P))
			return;
		if (pte_is_leaf(*pte, level)) {
			if ((b & (lvl_size(level) - 1)) == 0)
				return;
			assert(pool->n > 0);
			split_leaf(pte, level, pool->page[--pool->n]);
		}
		table = pte_addr(*pte);
	}
}

static void pool_release(struct sim_pgtable *pt, struct table_pool *pool)
{
	while (pool->n > 0)
		table_free(pt, pool->page[--pool->n]);
}

static int pool_fill(struct sim_pgtable *pt, struct table_pool *pool, int want)
{
	for (pool->n = 0; pool->n < want; pool->n++) {
		pool->page[pool->n] = table_alloc(pt);
		if (pool->page[pool->n] == NULL) {
			pool_release(pt, pool);
			return -ENOMEM;
		}
	}
	return 0;
}

int sim_pt_unmap(struct sim_pgtable *pt, uint64_t iova, uint64_t len)
{
	uint64_t end = iova + len;
	struct table_pool pool;
	int rc;

	if (!all_mapped(pt->root, pt->levels, iova, end))
		return -ENOENT;
	/* An upper bound (both boundaries may lie in one leaf): unused pages go back. */
	rc = pool_fill(pt, &pool, splits_needed(pt, iova) + splits_needed(pt, end));
	if (rc != 0)
		return rc;
	split_at(pt, iova, &pool);
	split_at(pt, end, &pool);
	pool_release(pt, &pool);
	clear_level(pt, pt->root, pt->levels, iova, end);
	return 0;
}
