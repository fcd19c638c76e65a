/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vaddr -> IOVA translation for registered memory: a lock-free table in the manner of SPDK's
 * vtophys map, flattened to one level, plus a 4 KiB level where a 2 MiB piece is not
 * translated as a whole.
 *
 *   map:     one entry per 2 MiB of the 47-bit user address space (2^26 entries, 512 MiB of
 *            address space reserved with MAP_NORESERVE on the first registration: untouched
 *            parts read as the kernel's zero page, so memory is spent only where something
 *            was registered, a 4 KiB page of the map per GiB of address space):
 *            (iova - va) | 1 for a 2 MiB translation, a pointer to a level-3 table (even,
 *            non-zero), or 0.
 *   level 3: 512 entries, one per 4 KiB:  (iova - va) | 1, or 0.
 * Storing iova - va (a multiple of 4 KiB) lets the hot path compute va + entry - 1, and one bit
 * test tells a 2 MiB hit from everything else (dmaplane_internal/xlate.h has the inline: one
 * shift, a compare with the map's slot count, two loads; the two-level table this replaced
 * needed a level-1 load and the index arithmetic of both levels: 17 instructions net per hit,
 * now 10 (dmaplane_bench xlate --instr)).
 *
 * Writers (registration, control path) hold a mutex and publish entries with release stores;
 * readers take no lock. Tables are never freed while the process runs, so a reader never sees
 * freed memory; an entry cleared by unregistration reads as "not registered".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/xlate.h>

#include "iova_impl.h"

typedef struct dpi_xlate_table table_t;

struct dpi_xlate_root dpi_xlate;

/* The level-3 tables as real pointers too: leak checkers do not scan the mapped map. */
static table_t **g_l3;
static size_t g_nl3, g_cap3;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static inline uintptr_t slot_of(uintptr_t va)
{
	return va >> DPI_XLATE_L2_SHIFT;
}

/* The map entry of va (va below 2^47, map present). */
static inline uint64_t *map_entry(uintptr_t va)
{
	return &dpi_xlate.map[slot_of(va)];
}

static inline bool is_table(uint64_t e)
{
	return e != 0 && !(e & DPI_XLATE_VALID);
}

/* Reserve the map on first use. Lock held. 0 or -ENOMEM. */
static int map_get(void)
{
	size_t len = DPI_XLATE_SLOTS * sizeof(uint64_t);
	void *m;

	if (dpi_xlate.map != NULL)
		return 0;
	m = dpi_mmap(NULL, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	__atomic_store_n(&dpi_xlate.map, (uint64_t *)m, __ATOMIC_RELEASE);
	__atomic_store_n(&dpi_xlate.slots, DPI_XLATE_SLOTS, __ATOMIC_RELEASE);
	return 0;
}

static table_t *table_new(void)
{
	table_t *t = NULL;

	if (g_nl3 == g_cap3) {
		size_t cap = g_cap3 ? 2 * g_cap3 : 64;
		table_t **n = dpi_fault("malloc") ? NULL : realloc(g_l3, cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		g_l3 = n;
		g_cap3 = cap;
	}
	if (dpi_fault("malloc") == 0)
		t = aligned_alloc(sizeof(*t), sizeof(*t));
	if (t != NULL) {
		memset(t, 0, sizeof(*t));
		g_l3[g_nl3++] = t;
	}
	return t;
}

/* The level-3 table under a level-2 entry, created if absent (splitting a 2 MiB entry into
 * 512 equal 4 KiB entries, so readers see no gap). Lock held. */
static table_t *l3_get(uint64_t *l2e)
{
	uint64_t e = __atomic_load_n(l2e, __ATOMIC_ACQUIRE);
	table_t *t;

	if (is_table(e))
		return (table_t *)(uintptr_t)e;
	t = table_new();
	if (t == NULL)
		return NULL;
	for (int i = 0; i < 512; i++)
		t->e[i] = e;
	__atomic_store_n(l2e, (uint64_t)(uintptr_t)t, __ATOMIC_RELEASE);
	return t;
}

static void set_4k(uint64_t *l2e, uintptr_t va, uintptr_t stop, uint64_t value, table_t *l3)
{
	for (; va < stop; va += DPI_PAGE_4K)
		__atomic_store_n(&l3->e[(va >> DPI_XLATE_L3_SHIFT) & 511], value, __ATOMIC_RELEASE);
	(void)l2e;
}

int dpi_xlate_set(uintptr_t va, uint64_t len, dp_iova_t iova, uint64_t page_size)
{
	uintptr_t start = va, end = va + len;
	uint64_t value = (iova - va) | DPI_XLATE_VALID;
	int rc = 0;

	(void)page_size; /* a 2 MiB entry depends only on alignment and coverage */
	if (((va | len | iova) & (DPI_PAGE_4K - 1)) || len == 0 || end < va ||
	    slot_of(end - 1) >= DPI_XLATE_SLOTS)
		return -EINVAL;
	pthread_mutex_lock(&g_lock);
	rc = map_get();
	while (rc == 0 && va < end) {
		uint64_t *l2e = map_entry(va);
		uintptr_t next = (va & ~(DPI_PAGE_2M - 1)) + DPI_PAGE_2M;
		bool whole = (va & (DPI_PAGE_2M - 1)) == 0 && end >= next &&
			     ((iova - start + va) & (DPI_PAGE_2M - 1)) == 0 &&
			     !is_table(__atomic_load_n(l2e, __ATOMIC_RELAXED));
		if (whole) {
			__atomic_store_n(l2e, value, __ATOMIC_RELEASE);
			va = next;
			continue;
		}
		table_t *l3 = l3_get(l2e);
		if (l3 == NULL) {
			rc = -ENOMEM;
			break;
		}
		uintptr_t stop = DPI_MIN(end, next);
		set_4k(l2e, va, stop, value, l3);
		va = stop;
	}
	pthread_mutex_unlock(&g_lock);
	if (rc != 0 && va > start)
		dpi_xlate_clear(start, va - start);
	return rc;
}

void dpi_xlate_clear(uintptr_t va, uint64_t len)
{
	uintptr_t end = va + len;

	pthread_mutex_lock(&g_lock);
	if (dpi_xlate.map == NULL || end < va || slot_of(end - 1) >= DPI_XLATE_SLOTS)
		end = va; /* nothing registered, or nothing that can be */
	while (va < end) {
		uintptr_t next = (va & ~(DPI_PAGE_2M - 1)) + DPI_PAGE_2M, stop = DPI_MIN(end, next);
		uint64_t *l2e = map_entry(va);
		uint64_t e = __atomic_load_n(l2e, __ATOMIC_RELAXED);
		if ((va & (DPI_PAGE_2M - 1)) == 0 && stop == next && !is_table(e)) {
			__atomic_store_n(l2e, 0, __ATOMIC_RELEASE);
		} else if (e != 0) {
			/* Part of a 2 MiB piece goes: clear its 4 KiB entries (splitting if needed). */
			table_t *l3 = l3_get(l2e);
			if (l3 != NULL)
				set_4k(l2e, va, stop, 0, l3);
			else /* cannot split: withdraw the whole 2 MiB, the safe side */
				__atomic_store_n(l2e, 0, __ATOMIC_RELEASE);
		}
		va = stop;
	}
	pthread_mutex_unlock(&g_lock);
}

/* The entry for va and the size it covers; 0 when not registered. */
static uint64_t entry_of(uintptr_t va, uint64_t *page)
{
	uint64_t e;

	*page = DPI_PAGE_2M;
	if (slot_of(va) >= __atomic_load_n(&dpi_xlate.slots, __ATOMIC_ACQUIRE))
		return 0;
	e = __atomic_load_n(map_entry(va), __ATOMIC_ACQUIRE);
	if (is_table(e)) {
		e = __atomic_load_n(&((const table_t *)(uintptr_t)e)->e[(va >> DPI_XLATE_L3_SHIFT) & 511],
				    __ATOMIC_ACQUIRE);
		*page = DPI_PAGE_4K;
	}
	return e;
}

dp_iova_t dpi_iova_of_slow(uintptr_t va)
{
	uint64_t page, e = entry_of(va, &page);

	return (e & DPI_XLATE_VALID) ? va + e - DPI_XLATE_VALID : DP_IOVA_INVALID;
}

/* Bytes from va that stay contiguous in IOVA space, up to want. */
static size_t contiguous(uintptr_t va, uint64_t e, uint64_t page, size_t want)
{
	size_t have = page - (va & (page - 1));
	uintptr_t next = va + have;

	while (have < want) {
		uint64_t np, ne = entry_of(next, &np);
		if (ne != e) /* another delta, or not registered: the IOVA run ends here */
			break;
		have += np;
		next += np;
	}
	return DPI_MIN(have, want);
}

dp_iova_t dp_iova_of(const void *vaddr, size_t *len)
{
	uintptr_t va = (uintptr_t)vaddr;
	uint64_t page, e;

	if (len == NULL)
		return dpi_iova_of(vaddr);
	e = entry_of(va, &page);
	if (!(e & DPI_XLATE_VALID)) {
		*len = 0;
		return DP_IOVA_INVALID;
	}
	if ((va & (page - 1)) + *len > page)
		*len = contiguous(va, e, page, *len);
	return va + e - DPI_XLATE_VALID;
}
