/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A user-owned stage-1 I/O page table in the VT-d first-stage (x86-64 4-level) format; see
 * dmaplane_internal/stage1.h for the entry format.
 *
 * Memory. Table pages come from 2 MiB chunks of host memory that stage 2 maps at
 * gpa_base + n * 2 MiB (the device walks the tables through stage 2). Page number p lives in
 * chunk p / 512 at slot p % 512; its stage-2 address is gpa_base + p * 4 KiB, so entry -> page
 * is a subtraction and a shift. Host-side metadata per page (never in DMA memory): a use count,
 * a free-list link and a retire sequence number.
 *
 * Lock-free updates. A thread installs a missing table page with compare-and-swap on the parent
 * entry (0 -> new); the loser frees its page at once (nobody saw it) and follows the winner.
 * Leaves are installed with compare-and-swap too (0 -> leaf: a non-zero entry is an overlap,
 * -EEXIST). Two threads working on disjoint ranges therefore never lose each other's entries,
 * also inside one shared table page.
 *
 * Reclaiming empty tables. use[p] counts the entries of page p that are installed or being
 * installed. A mapper raises it before its compare-and-swap (and drops it when the swap fails);
 * an unmapper drops it after clearing an entry. Whoever drops it to 0 tries 0 -> DEAD with
 * compare-and-swap; the winner unlinks the page from its parent entry and retires it. A mapper
 * cannot raise a DEAD count: it re-reads the parent entry and starts over. After raising the
 * count it checks that the parent entry still points to the page (the page may have died and
 * been reused elsewhere in between); if not it drops the count again (without reclaiming) and
 * starts over. The root is never reclaimed.
 *
 * The epoch rule. A retired page may still sit in the IOMMU's paging-structure caches (and a
 * device may walk it) until an invalidation covering its range completes, so it goes to a
 * retired list stamped with a sequence number, and only dpi_s1pt_release(upto) - called by the
 * owner after the invalidation that covers everything retired before seq `upto` - makes it
 * reusable. Free and retired lists are Treiber stacks with an ABA tag in the head word.
 * Growing by a chunk takes a mutex (rare: 512 pages at a time).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane/iova.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/stage1.h>
#include <dmaplane_internal/sys.h>

#define PAGES_PER_CHUNK (DPI_S1_CHUNK / DPI_S1_PAGE)
#define DEAD 0x80000000u
#define NONE 0u /* list links hold page + 1 */
#define TABLE_BITS (DPI_S1_P | DPI_S1_RW | DPI_S1_US | DPI_S1_A)

struct page_meta {
	uint32_t use;  /* entries installed or being installed; DEAD once unlinked */
	uint32_t next; /* list link: page + 1, or NONE */
	uint64_t seq;  /* retire sequence number */
};

struct dpi_s1pt {
	struct dpi_s1pt_opts o;
	uint8_t **chunk;         /* [max_chunks]; published with release stores */
	uint32_t nchunks;        /* atomic */
	struct page_meta *meta;  /* [max_chunks * 512] */
	uint64_t free_head;      /* tag << 32 | page + 1 */
	uint64_t retired_head;
	uint64_t seq;            /* retire sequence */
	uint32_t root;
	pthread_mutex_t grow_lock;
	struct dpi_s1pt_stats st; /* atomics */
};

#define LD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define SUB(p, v) __atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)

/* ---- pages ----------------------------------------------------------------------------------- */

static inline uint64_t *page_va(struct dpi_s1pt *pt, uint32_t p)
{
	uint8_t *c = __atomic_load_n(&pt->chunk[p / PAGES_PER_CHUNK], __ATOMIC_ACQUIRE);

	return (uint64_t *)(c + (p % PAGES_PER_CHUNK) * DPI_S1_PAGE);
}

static inline uint64_t page_gpa(const struct dpi_s1pt *pt, uint32_t p)
{
	return pt->o.gpa_base + (uint64_t)p * DPI_S1_PAGE;
}

static inline uint32_t page_of_entry(const struct dpi_s1pt *pt, uint64_t e)
{
	return (uint32_t)(((e & DPI_S1_ADDR_MASK) - pt->o.gpa_base) / DPI_S1_PAGE);
}

static void push(struct dpi_s1pt *pt, uint64_t *head, uint32_t p)
{
	uint64_t old = __atomic_load_n(head, __ATOMIC_RELAXED), nw;

	do {
		__atomic_store_n(&pt->meta[p].next, (uint32_t)old, __ATOMIC_RELAXED);
		nw = ((old >> 32) + 1) << 32 | (p + 1);
	} while (!__atomic_compare_exchange_n(head, &old, nw, true, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
}

/* Pop one page; UINT32_MAX when the stack is empty. */
static uint32_t pop(struct dpi_s1pt *pt, uint64_t *head)
{
	uint64_t old = __atomic_load_n(head, __ATOMIC_ACQUIRE), nw;

	do {
		uint32_t top = (uint32_t)old;
		if (top == NONE)
			return UINT32_MAX;
		uint32_t next = __atomic_load_n(&pt->meta[top - 1].next, __ATOMIC_RELAXED);
		nw = ((old >> 32) + 1) << 32 | next;
	} while (!__atomic_compare_exchange_n(head, &old, nw, true, __ATOMIC_ACQUIRE,
					      __ATOMIC_ACQUIRE));
	return (uint32_t)old - 1;
}

/* Add a chunk of 512 pages to the free list. 0; -ENOMEM; the stage-2 map errno. */
static int grow(struct dpi_s1pt *pt)
{
	uint32_t n;
	void *va;
	int rc;

	pthread_mutex_lock(&pt->grow_lock);
	if (LD(&pt->free_head) & 0xffffffffu) { /* somebody grew meanwhile */
		pthread_mutex_unlock(&pt->grow_lock);
		return 0;
	}
	n = pt->nchunks;
	if (n == pt->o.max_chunks) {
		pthread_mutex_unlock(&pt->grow_lock);
		DPI_ERR("stage-1 table: all %u chunks of table pages in use", n);
		return -ENOMEM;
	}
	va = dpi_mmap(NULL, DPI_S1_CHUNK, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (va == MAP_FAILED) /* no hugepages: 4 KiB pages, 4 KiB aligned, are enough */
		va = dpi_mmap(NULL, DPI_S1_CHUNK, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (va == MAP_FAILED) {
		pthread_mutex_unlock(&pt->grow_lock);
		return -ENOMEM;
	}
	rc = pt->o.mem.map(pt->o.mem.ctx, va, pt->o.gpa_base + n * DPI_S1_CHUNK, DPI_S1_CHUNK);
	if (rc != 0) {
		munmap(va, DPI_S1_CHUNK);
		pthread_mutex_unlock(&pt->grow_lock);
		return rc;
	}
	__atomic_store_n(&pt->chunk[n], (uint8_t *)va, __ATOMIC_RELEASE);
	__atomic_store_n(&pt->nchunks, n + 1, __ATOMIC_RELEASE);
	ADD(&pt->st.chunks, 1);
	for (uint32_t i = PAGES_PER_CHUNK; i-- > 0;) {
		push(pt, &pt->free_head, n * PAGES_PER_CHUNK + i);
		ADD(&pt->st.free, 1);
	}
	pthread_mutex_unlock(&pt->grow_lock);
	return 0;
}

/* A zeroed page with use 0, not linked anywhere yet. 0; -ENOMEM. */
static int page_alloc(struct dpi_s1pt *pt, uint32_t *out)
{
	uint32_t p;

	while ((p = pop(pt, &pt->free_head)) == UINT32_MAX) {
		int rc = dpi_fault("malloc") ? -ENOMEM : grow(pt);
		if (rc != 0)
			return rc;
	}
	SUB(&pt->st.free, 1);
	memset(page_va(pt, p), 0, DPI_S1_PAGE);
	__atomic_store_n(&pt->meta[p].use, 0, __ATOMIC_RELAXED);
	return (*out = p), 0;
}

/* A page nobody ever saw (lost an install race): straight back to the free list. */
static void page_free_now(struct dpi_s1pt *pt, uint32_t p)
{
	push(pt, &pt->free_head, p);
	ADD(&pt->st.free, 1);
}

static void page_retire(struct dpi_s1pt *pt, uint32_t p)
{
	__atomic_store_n(&pt->meta[p].seq, __atomic_fetch_add(&pt->seq, 1, __ATOMIC_SEQ_CST),
			 __ATOMIC_RELAXED);
	push(pt, &pt->retired_head, p);
	SUB(&pt->st.tables, 1);
	ADD(&pt->st.retired, 1);
}

/* ---- use counts ------------------------------------------------------------------------------ */

/* Raise page p's count unless it is dead. */
static bool use_get(struct dpi_s1pt *pt, uint32_t p)
{
	uint32_t u = __atomic_load_n(&pt->meta[p].use, __ATOMIC_RELAXED);

	do {
		if (u & DEAD)
			return false;
	} while (!__atomic_compare_exchange_n(&pt->meta[p].use, &u, u + 1, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	return true;
}

/* Drop the count; true when it reached 0 and this caller won the page's death. */
static bool use_put_kill(struct dpi_s1pt *pt, uint32_t p)
{
	uint32_t zero = 0;

	if (__atomic_sub_fetch(&pt->meta[p].use, 1, __ATOMIC_ACQ_REL) != 0)
		return false;
	return __atomic_compare_exchange_n(&pt->meta[p].use, &zero, DEAD, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

/* ---- walking --------------------------------------------------------------------------------- */

static inline uint32_t index_at(uint64_t iova, uint32_t level)
{
	return (uint32_t)(iova >> (12 + 9 * level)) & (DPI_S1_ENTRIES - 1);
}

static uint64_t leaf_bits(uint32_t prot, uint32_t level)
{
	uint64_t b = DPI_S1_P | DPI_S1_US | DPI_S1_A | DPI_S1_XD;

	if (prot & DP_MAP_WRITE)
		b |= DPI_S1_RW | DPI_S1_D;
	if (level > 0)
		b |= DPI_S1_PS;
	return b;
}

/* The tables from the root down to one entry: page[l] is the table of level l, link[l] the
 * entry in page[l + 1] that points to it (NULL for the root). */
struct path {
	uint32_t page[DPI_S1_LEVELS];
	uint64_t *link[DPI_S1_LEVELS];
};

/* Drop one count on path->page[level]; while a page dies, unlink it, retire it and drop the
 * count its entry held on the parent. Returns the pages retired. */
static uint32_t release_up(struct dpi_s1pt *pt, const struct path *path, uint32_t level)
{
	uint32_t n = 0;

	for (; level < DPI_S1_LEVELS - 1; level++) {
		if (!use_put_kill(pt, path->page[level]))
			break;
		__atomic_store_n(path->link[level], 0, __ATOMIC_RELEASE);
		page_retire(pt, path->page[level]);
		n++;
	}
	return n;
}

/* Install one leaf of level `target` (0: 4 KiB, 1: 2 MiB, 2: 1 GiB). 0; -EEXIST; -ENOMEM. */
static int map_one(struct dpi_s1pt *pt, uint64_t iova, uint64_t gpa, uint32_t target,
		   uint32_t prot)
{
	struct path path;

restart:
	path.page[DPI_S1_LEVELS - 1] = pt->root;
	path.link[DPI_S1_LEVELS - 1] = NULL;
	for (uint32_t level = DPI_S1_LEVELS - 1;; level--) {
		uint32_t table = path.page[level];
		uint64_t *e = &page_va(pt, table)[index_at(iova, level)];

		if (table != pt->root) {
			/* Hold the table for the entry we may add, then check it is still linked
			 * where we found it (it may have died and been reused since). */
			uint64_t linked = page_gpa(pt, table) | TABLE_BITS;
			if (!use_get(pt, table)) {
				/* Its killer is about to clear the entry (unless the page was
				 * released and linked here again meanwhile: then it is alive). */
				while (__atomic_load_n(path.link[level], __ATOMIC_ACQUIRE) == linked &&
				       (__atomic_load_n(&pt->meta[table].use, __ATOMIC_ACQUIRE) & DEAD))
					;
				goto restart;
			}
			if (__atomic_load_n(path.link[level], __ATOMIC_ACQUIRE) != linked) {
				__atomic_sub_fetch(&pt->meta[table].use, 1, __ATOMIC_ACQ_REL);
				goto restart;
			}
		}
		if (level == target) {
			uint64_t zero = 0, leaf = (gpa & DPI_S1_ADDR_MASK) | leaf_bits(prot, level);
			if (__atomic_compare_exchange_n(e, &zero, leaf, false, __ATOMIC_RELEASE,
							__ATOMIC_RELAXED)) {
				ADD(&pt->st.leaves[target], 1);
				return 0;
			}
			if (table != pt->root)
				release_up(pt, &path, level);
			return -EEXIST;
		}
		uint64_t v = __atomic_load_n(e, __ATOMIC_ACQUIRE);
		if (v == 0) {
			uint32_t np;
			int rc = page_alloc(pt, &np);
			if (rc != 0) {
				if (table != pt->root)
					release_up(pt, &path, level);
				return rc;
			}
			uint64_t ne = page_gpa(pt, np) | TABLE_BITS;
			if (__atomic_compare_exchange_n(e, &v, ne, false, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				ADD(&pt->st.tables, 1);
				path.page[level - 1] = np;
				path.link[level - 1] = e;
				continue; /* our count on `table` stands for the new entry */
			}
			page_free_now(pt, np); /* lost the race: v is the winner's entry */
		}
		/* Following an existing entry, which holds its own count on `table`. */
		if (table != pt->root)
			release_up(pt, &path, level);
		if (v & DPI_S1_PS)
			return -EEXIST;
		path.page[level - 1] = page_of_entry(pt, v);
		path.link[level - 1] = e;
	}
}

/* The leaf holding iova: 0 with its level, entry and path; -ENOENT. No counts are taken: the
 * caller owns the range, whose leaves keep the path alive. */
static int find_leaf(struct dpi_s1pt *pt, uint64_t iova, struct path *path, uint32_t *lvl,
		     uint64_t **entry, uint64_t *val)
{
	uint32_t table = pt->root;

	path->page[DPI_S1_LEVELS - 1] = table;
	path->link[DPI_S1_LEVELS - 1] = NULL;
	for (uint32_t level = DPI_S1_LEVELS - 1;; level--) {
		uint64_t *e = &page_va(pt, table)[index_at(iova, level)];
		uint64_t v = __atomic_load_n(e, __ATOMIC_ACQUIRE);

		if (!(v & DPI_S1_P))
			return -ENOENT;
		if (level == 0 || (v & DPI_S1_PS)) {
			*lvl = level;
			*entry = e;
			*val = v;
			return 0;
		}
		table = page_of_entry(pt, v);
		path->page[level - 1] = table;
		path->link[level - 1] = e;
	}
}

static inline uint64_t level_size(uint32_t level)
{
	return DPI_S1_PAGE << (9 * level);
}

static bool fits(uint64_t iova, uint64_t gpa, uint64_t left, uint64_t size)
{
	return ((iova | gpa) & (size - 1)) == 0 && left >= size;
}

static bool range_ok(uint64_t iova, uint64_t len)
{
	return len != 0 && ((iova | len) & (DPI_S1_PAGE - 1)) == 0 &&
	       iova < (1ull << DPI_S1_ADDR_WIDTH) && len <= (1ull << DPI_S1_ADDR_WIDTH) - iova;
}

static uint32_t clear_range(struct dpi_s1pt *pt, uint64_t iova, uint64_t len,
			    void (*fn)(void *ctx, uint64_t gpa, uint64_t size), void *ctx)
{
	uint32_t retired = 0;

	for (uint64_t at = iova; at < iova + len;) {
		struct path path;
		uint32_t level;
		uint64_t *e, v;

		if (find_leaf(pt, at, &path, &level, &e, &v) != 0) {
			at += DPI_S1_PAGE; /* rollback of a partly mapped range */
			continue;
		}
		__atomic_store_n(e, 0, __ATOMIC_RELEASE);
		SUB(&pt->st.leaves[level], 1);
		if (fn != NULL)
			fn(ctx, v & DPI_S1_ADDR_MASK & ~(level_size(level) - 1), level_size(level));
		if (level < DPI_S1_LEVELS - 1)
			retired += release_up(pt, &path, level);
		at += level_size(level);
	}
	return retired;
}

int dpi_s1pt_map(struct dpi_s1pt *pt, uint64_t iova, uint64_t gpa, uint64_t len, uint32_t prot)
{
	uint64_t done = 0;

	if (pt == NULL || !range_ok(iova, len) || (gpa & (DPI_S1_PAGE - 1)) ||
	    gpa + len - 1 > DPI_S1_ADDR_MASK || (prot & (DP_MAP_READ | DP_MAP_WRITE)) == 0)
		return -EINVAL;
	while (done < len) {
		uint64_t i = iova + done, g = gpa + done, left = len - done;
		uint32_t target = pt->o.big_pages && fits(i, g, left, level_size(2)) ? 2
				  : fits(i, g, left, level_size(1))		     ? 1
										     : 0;
		int rc = map_one(pt, i, g, target, prot);
		if (rc != 0) {
			clear_range(pt, iova, done, NULL, NULL);
			return rc;
		}
		done += level_size(target);
	}
	return 0;
}

int dpi_s1pt_unmap(struct dpi_s1pt *pt, uint64_t iova, uint64_t len, uint32_t *retired)
{
	return dpi_s1pt_unmap_fn(pt, iova, len, retired, NULL, NULL);
}

int dpi_s1pt_unmap_fn(struct dpi_s1pt *pt, uint64_t iova, uint64_t len, uint32_t *retired,
		      void (*fn)(void *ctx, uint64_t gpa, uint64_t size), void *ctx)
{
	uint32_t n;

	if (pt == NULL || !range_ok(iova, len))
		return -EINVAL;
	for (uint64_t at = iova; at < iova + len;) {
		struct path path;
		uint32_t level;
		uint64_t *e, v, size;

		if (find_leaf(pt, at, &path, &level, &e, &v) != 0)
			return -ENOENT;
		size = level_size(level);
		if ((at & (size - 1)) != 0 || size > iova + len - at)
			return -EINVAL; /* a large leaf reaches beyond the range: never split */
		at += size;
	}
	n = clear_range(pt, iova, len, fn, ctx);
	if (retired != NULL)
		*retired = n;
	return 0;
}

int dpi_s1pt_lookup(struct dpi_s1pt *pt, uint64_t iova, uint64_t *gpa, uint32_t *prot,
		    uint32_t *shift)
{
	struct path path;
	uint32_t level;
	uint64_t *e, v;

	if (pt == NULL || iova >= (1ull << DPI_S1_ADDR_WIDTH) ||
	    find_leaf(pt, iova, &path, &level, &e, &v) != 0)
		return -ENOENT;
	*shift = 12 + 9 * level;
	*gpa = (v & DPI_S1_ADDR_MASK & ~(level_size(level) - 1)) + (iova & (level_size(level) - 1));
	*prot = DP_MAP_READ | ((v & DPI_S1_RW) ? DP_MAP_WRITE : 0);
	return 0;
}

/* ---- the epoch rule -------------------------------------------------------------------------- */

uint64_t dpi_s1pt_retire_seq(struct dpi_s1pt *pt)
{
	return __atomic_load_n(&pt->seq, __ATOMIC_SEQ_CST);
}

/* Retired pages with a sequence number below upto: reusable (reuse), or never again. */
static uint32_t retired_take(struct dpi_s1pt *pt, uint64_t upto, bool reuse)
{
	uint64_t old = __atomic_load_n(&pt->retired_head, __ATOMIC_ACQUIRE);
	uint32_t p, n = 0;

	/* Take the whole list; retirements after this go to the emptied head. */
	while (!__atomic_compare_exchange_n(&pt->retired_head, &old, ((old >> 32) + 1) << 32, true,
					    __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
		;
	for (p = (uint32_t)old; p != NONE;) {
		uint32_t page = p - 1;
		p = __atomic_load_n(&pt->meta[page].next, __ATOMIC_RELAXED);
		if (__atomic_load_n(&pt->meta[page].seq, __ATOMIC_RELAXED) < upto) {
			SUB(&pt->st.retired, 1);
			if (reuse)
				page_free_now(pt, page);
			else
				ADD(&pt->st.quarantined, 1); /* in no list: goes with its chunk */
			n++;
		} else {
			push(pt, &pt->retired_head, page);
		}
	}
	return n;
}

uint32_t dpi_s1pt_release(struct dpi_s1pt *pt, uint64_t upto)
{
	return retired_take(pt, upto, true);
}

uint32_t dpi_s1pt_quarantine(struct dpi_s1pt *pt, uint64_t upto)
{
	return retired_take(pt, upto, false);
}

/* ---- create / destroy ------------------------------------------------------------------------ */

int dpi_s1pt_create(const struct dpi_s1pt_opts *opts, struct dpi_s1pt **out)
{
	struct dpi_s1pt *pt;
	int rc;

	if (opts == NULL || out == NULL || opts->mem.map == NULL ||
	    (opts->gpa_base & (DPI_S1_CHUNK - 1)) != 0)
		return -EINVAL;
	pt = dpi_calloc(1, sizeof(*pt));
	if (pt == NULL)
		return -ENOMEM;
	pt->o = *opts;
	if (pt->o.max_chunks == 0)
		pt->o.max_chunks = 64;
	if (pt->o.gpa_base + (uint64_t)pt->o.max_chunks * DPI_S1_CHUNK - 1 > DPI_S1_ADDR_MASK) {
		free(pt);
		return -EINVAL;
	}
	pt->chunk = dpi_calloc(pt->o.max_chunks, sizeof(*pt->chunk));
	pt->meta = dpi_calloc((size_t)pt->o.max_chunks * PAGES_PER_CHUNK, sizeof(*pt->meta));
	pthread_mutex_init(&pt->grow_lock, NULL);
	rc = pt->chunk && pt->meta ? page_alloc(pt, &pt->root) : -ENOMEM;
	if (rc != 0) {
		dpi_s1pt_destroy(pt);
		return rc;
	}
	pt->st.tables = 1;
	*out = pt;
	return 0;
}

void dpi_s1pt_destroy(struct dpi_s1pt *pt)
{
	if (pt == NULL)
		return;
	for (uint32_t i = 0; pt->chunk != NULL && i < pt->nchunks; i++) {
		if (pt->o.mem.unmap != NULL)
			pt->o.mem.unmap(pt->o.mem.ctx, pt->chunk[i],
					pt->o.gpa_base + i * DPI_S1_CHUNK, DPI_S1_CHUNK);
		munmap(pt->chunk[i], DPI_S1_CHUNK);
	}
	pthread_mutex_destroy(&pt->grow_lock);
	free(pt->chunk);
	free(pt->meta);
	free(pt);
}

uint64_t dpi_s1pt_root(const struct dpi_s1pt *pt)
{
	return page_gpa(pt, pt->root);
}

uint64_t *dpi_s1pt_table_va(struct dpi_s1pt *pt, uint64_t gpa)
{
	uint64_t p = (gpa - pt->o.gpa_base) / DPI_S1_PAGE;

	if (gpa < pt->o.gpa_base || p / PAGES_PER_CHUNK >= LD(&pt->nchunks))
		return NULL;
	return page_va(pt, (uint32_t)p);
}

void dpi_s1pt_stats(struct dpi_s1pt *pt, struct dpi_s1pt_stats *st)
{
	st->chunks = LD(&pt->st.chunks);
	st->tables = LD(&pt->st.tables);
	st->retired = LD(&pt->st.retired);
	st->free = LD(&pt->st.free);
	st->quarantined = LD(&pt->st.quarantined);
	for (int i = 0; i < 3; i++)
		st->leaves[i] = LD(&pt->st.leaves[i]);
}

/* ---- nesting capability ---------------------------------------------------------------------- */

int dpi_s1_vtd_nesting(uint64_t cap, uint64_t ecap, const char **why, bool *big_pages)
{
	static const struct {
		uint64_t bit;
		const char *what;
	} need[] = {
		{DPI_VTD_ECAP_NEST, "ECAP.NEST (nested translation)"},
		{DPI_VTD_ECAP_SMTS, "ECAP.SMTS (scalable mode)"},
		{DPI_VTD_ECAP_FLTS, "ECAP.FLTS (first-stage translation)"},
		{DPI_VTD_ECAP_SLTS, "ECAP.SLTS (second-stage translation)"},
	};

	for (size_t i = 0; i < DPI_ARRAY_SIZE(need); i++) {
		if (!(ecap & need[i].bit)) {
			*why = need[i].what;
			return -EOPNOTSUPP;
		}
	}
	*why = NULL;
	*big_pages = (cap & DPI_VTD_CAP_FL1GP) != 0;
	return 0;
}
