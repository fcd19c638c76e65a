/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The registration map: which memory is registered for DMA, at which IOVA, mirrored into
 * every IOAS that is not MANUAL, and published for dp_iova_of().
 *
 * Sources: lib/env's memory events (all DMA-able memory, from the first IOAS on) and
 * dp_mem_register(). Each registration gets one IOVA range for all IOASes: its virtual address
 * (IOVA = VA) when that lies in the safe aperture below and every IOAS's usable ranges allow it,
 * else the lowest fitting place of a compact window in the intersection of the ranges and the
 * safe aperture, keeping the 2 MiB alignment so translation stays on 2 MiB entries.
 *
 * The safe aperture: usable ranges narrow when devices attach (an IOMMU with 39 address bits,
 * the x86 MSI window), after memory was registered. A mapping outside a device's ranges makes
 * the attach fail, so registrations stay below 2^39 and outside 0xfee00000-0xfeefffff from the
 * start. The top half of that, [2^38, 2^39), is dp_iova_map's window (DPI_DYN_START), so
 * registrations stay below 2^38. Nothing is lost by this: dp_iova_of() translates through a
 * table either way.
 *
 * Granularity: where lib/env may cut a region on removal (DPDK's dynamic hugepage memory), each
 * page is its own registration, so a removal never unmaps memory that is still in use.
 * Elsewhere one region is one mapping.
 *
 * Locking: env memory lock -> memmap lock -> IOAS lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane/env.h>
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/log.h>

#include "iova_impl.h"

#define PROT_RW (DP_MAP_READ | DP_MAP_WRITE)
#define SAFE_LAST (DPI_DYN_START - 1)
#define MSI_START 0xfee00000ull
#define MSI_LAST 0xfeefffffull
#define WINDOW_START (4ull << 30) /* above the 32-bit MMIO hole and the MSI window */

struct reg {
	uintptr_t va;
	uint64_t len;
	dp_iova_t iova;
	uint64_t page_size;
	bool user; /* dp_mem_register; else from lib/env */
};

static struct {
	pthread_mutex_t lock;
	struct reg *r; /* sorted by va */
	uint32_t n, cap;
	struct dp_ioas *list;
	uint64_t env_generation; /* generation of the env we hooked into; 0: none */
	dp_iova_t window_next;   /* just past the last window IOVA handed out: tried first */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

void dpi_memmap_lock(void)
{
	pthread_mutex_lock(&g.lock);
}

void dpi_memmap_unlock(void)
{
	pthread_mutex_unlock(&g.lock);
}

/* ---- the sorted registration array ------------------------------------------------------ */

static uint32_t reg_lower(uintptr_t va)
{
	uint32_t lo = 0, hi = g.n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (g.r[mid].va + g.r[mid].len <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool reg_overlaps(uintptr_t va, uint64_t len)
{
	uint32_t i = reg_lower(va);

	return i < g.n && g.r[i].va < va + len;
}

static int reg_reserve(void)
{
	if (g.n < g.cap)
		return 0;
	uint32_t cap = g.cap ? g.cap * 2 : 64;
	struct reg *nr = dpi_fault("malloc") ? NULL : realloc(g.r, cap * sizeof(*nr));
	if (nr == NULL)
		return -ENOMEM;
	g.r = nr;
	g.cap = cap;
	return 0;
}

/* 0 when [iova, iova+len) is free everywhere; else the end of something in the way. */
static dp_iova_t iova_used(dp_iova_t iova, uint64_t len)
{
	for (uint32_t i = 0; i < g.n; i++)
		if (g.r[i].iova < iova + len && iova < g.r[i].iova + g.r[i].len)
			return g.r[i].iova + g.r[i].len;
	for (struct dp_ioas *io = g.list; io != NULL; io = io->next) {
		struct area_pos k = area_lower(&io->areas, iova);
		if (area_valid(&io->areas, k) && area_at(&io->areas, k)->iova < iova + len)
			return area_at(&io->areas, k)->iova + area_at(&io->areas, k)->len;
	}
	return 0;
}

static bool in_safe_aperture(dp_iova_t iova, uint64_t len)
{
	dp_iova_t last = iova + len - 1;

	return last >= iova && last <= SAFE_LAST && (last < MSI_START || iova > MSI_LAST);
}

static bool in_all_ranges(dp_iova_t iova, uint64_t len)
{
	if (!in_safe_aperture(iova, len))
		return false;
	for (struct dp_ioas *io = g.list; io != NULL; io = io->next)
		if (!dpi_ioas_in_ranges(io, iova, len))
			return false;
	return true;
}

static bool fits_everywhere(dp_iova_t iova, uint64_t len)
{
	return in_all_ranges(iova, len) && iova_used(iova, len) == 0;
}

/* Lowest IOVA in the intersection of all IOASes' ranges that is free
 * and congruent with va modulo the alignment. Control path: a plain scan. */
static int window_iova(uintptr_t va, uint64_t len, uint64_t align, dp_iova_t *out)
{
	static const struct dp_iova_range safe = {WINDOW_START, SAFE_LAST};
	const struct dp_iova_range *ranges = g.list ? g.list->ranges : &safe;
	uint32_t nranges = g.list ? g.list->nranges : 1;

	for (uint32_t k = 0; k < nranges; k++) {
		dp_iova_t start = DPI_MAX(ranges[k].start, WINDOW_START);
		dp_iova_t last = DPI_MIN(ranges[k].last, SAFE_LAST);
		if (start > last)
			continue;
		dp_iova_t c = DPI_ALIGN_UP(start, align) + (va & (align - 1));
		if (c < start)
			c += align;
		while (c + len - 1 >= c && c + len - 1 <= last) {
			dp_iova_t busy = in_all_ranges(c, len) ? iova_used(c, len) : c + DPI_PAGE_2M;
			if (busy == 0) {
				*out = c;
				return 0;
			}
			/* Jump past what is in the way, keeping the congruence with va. */
			dp_iova_t next = DPI_ALIGN_UP(busy, align) + (va & (align - 1));
			if (next <= c)
				next = c + align;
			c = next;
		}
	}
	return -ERANGE;
}

static int choose_iova(uintptr_t va, uint64_t len, uint64_t page_size, dp_iova_t *iova)
{
	uint64_t align = page_size >= DPI_PAGE_2M && (va & (DPI_PAGE_2M - 1)) == 0 ? DPI_PAGE_2M
										    : DPI_PAGE_4K;

	if (fits_everywhere(va, len)) {
		*iova = va;
		return 0;
	}
	/* Try right after the last window allocation first: registrations come in runs. */
	dp_iova_t c = DPI_ALIGN_UP(g.window_next, align) + (va & (align - 1));
	if (g.window_next != 0 && fits_everywhere(c, len)) {
		*iova = c;
		g.window_next = c + len;
		return 0;
	}
	if (window_iova(va, len, align, iova) == 0) {
		g.window_next = *iova + len;
		DPI_INFO("memory at %p+0x%" PRIx64 " is outside the usable IOVA ranges: mapped at "
			 "IOVA 0x%" PRIx64 " instead", (void *)va, len, *iova);
		return 0;
	}
	DPI_ERR("no IOVA range fits %p+0x%" PRIx64 " in every IOAS (see dp_ioas_get_ranges)",
		(void *)va, len);
	return -ERANGE;
}

/* ---- mirroring ---------------------------------------------------------------------------- */

static void unmirror(const struct reg *r, struct dp_ioas *stop)
{
	for (struct dp_ioas *io = g.list; io != stop; io = io->next) {
		pthread_mutex_lock(&io->lock);
		dpi_ioas_unmap_locked(io, r->iova, r->len, AREA_REG);
		pthread_mutex_unlock(&io->lock);
	}
}

static int mirror(const struct reg *r)
{
	for (struct dp_ioas *io = g.list; io != NULL; io = io->next) {
		pthread_mutex_lock(&io->lock);
		int rc = dpi_ioas_map_locked(io, r->va, r->len, r->iova, PROT_RW, AREA_REG);
		pthread_mutex_unlock(&io->lock);
		if (rc != 0) {
			unmirror(r, io);
			return rc;
		}
	}
	return 0;
}

/* Add one registration. memmap lock held. */
static int reg_add(uintptr_t va, uint64_t len, uint64_t page_size, bool user)
{
	struct reg r = {.va = va, .len = len, .page_size = page_size, .user = user};
	int rc;

	if (reg_overlaps(va, len))
		return -EEXIST;
	rc = reg_reserve();
	if (rc == 0)
		rc = choose_iova(va, len, page_size, &r.iova);
	if (rc == 0)
		rc = mirror(&r);
	if (rc != 0)
		return rc;
	rc = dpi_xlate_set(va, len, r.iova, page_size);
	if (rc != 0) {
		unmirror(&r, NULL);
		return rc;
	}
	uint32_t i = reg_lower(va);
	memmove(&g.r[i + 1], &g.r[i], (g.n - i) * sizeof(r));
	g.r[i] = r;
	g.n++;
	return 0;
}

/* Remove registration i: translation first, so new lookups fail before the unmap. */
static void reg_del(uint32_t i)
{
	struct reg r = g.r[i];

	dpi_xlate_clear(r.va, r.len);
	unmirror(&r, NULL);
	memmove(&g.r[i], &g.r[i + 1], (g.n - i - 1) * sizeof(r));
	g.n--;
}

/* Registrations [first, first+count) covering [va, va+len) exactly with the given origin. */
static int reg_exact(uintptr_t va, uint64_t len, bool user, uint32_t *first, uint32_t *count)
{
	uint32_t i = reg_lower(va), j;
	uintptr_t at = va;

	if (i >= g.n || g.r[i].va != va)
		return -ENOENT;
	for (j = i; j < g.n && at < va + len; j++) {
		if (g.r[j].va != at || g.r[j].user != user)
			return -ENOENT;
		at += g.r[j].len;
	}
	if (at != va + len)
		return -ENOENT;
	*first = i;
	*count = j - i;
	return 0;
}

/* ---- lib/env memory ----------------------------------------------------------------------- */

static void env_add(void *vaddr, size_t len, size_t page_size)
{
	uintptr_t va = (uintptr_t)vaddr;
	uint64_t step = dpi_env_remove_exact() ? len : page_size;
	int rc = 0;

	for (uint64_t off = 0; off < len && rc == 0; off += step)
		rc = reg_add(va + off, DPI_MIN(step, len - off), page_size, false);
	if (rc != 0)
		DPI_ERR("cannot register DMA memory %p+0x%zx for DMA: %s; DMA to it will fail",
			vaddr, len, strerror(-rc));
}

static void env_remove(void *vaddr, size_t len)
{
	uintptr_t va = (uintptr_t)vaddr, end = va + len;

	/* Every registration inside goes; one that is cut (should not happen: see the
	 * granularity rule above) goes whole, and is reported. */
	for (uint32_t i = reg_lower(va); i < g.n && g.r[i].va < end;) {
		if (g.r[i].user) {
			i++;
			continue;
		}
		if (g.r[i].va < va || g.r[i].va + g.r[i].len > end)
			DPI_ERR("lib/env removed part of registered region %p+0x%" PRIx64
				"; unregistering all of it", (void *)g.r[i].va, g.r[i].len);
		reg_del(i);
	}
}

static void on_env_event(enum dp_mem_event ev, void *vaddr, size_t len, size_t page_size,
			 void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g.lock);
	if (ev == DP_MEM_EVENT_ADD)
		env_add(vaddr, len, page_size);
	else
		env_remove(vaddr, len);
	pthread_mutex_unlock(&g.lock);
}

/* Follow lib/env's memory from now on (once per env generation). Not with g.lock held. */
static int hook_env(void)
{
	uint64_t gen = dpi_env_generation();
	int rc;

	if (__atomic_load_n(&g.env_generation, __ATOMIC_ACQUIRE) == gen)
		return 0;
	rc = dp_mem_event_register(on_env_event, NULL);
	if (rc == 0 || rc == -EEXIST) {
		__atomic_store_n(&g.env_generation, gen, __ATOMIC_RELEASE);
		rc = 0;
	}
	return rc;
}

/* ---- IOAS list ---------------------------------------------------------------------------- */

int dpi_memmap_ioas_add(struct dp_ioas *ioas)
{
	int rc = hook_env();
	uint32_t i;

	if (rc != 0)
		return rc;
	pthread_mutex_lock(&g.lock);
	pthread_mutex_lock(&ioas->lock);
	for (i = 0; i < g.n; i++) {
		rc = dpi_ioas_map_locked(ioas, g.r[i].va, g.r[i].len, g.r[i].iova, PROT_RW,
					 AREA_REG);
		if (rc != 0)
			break;
	}
	if (rc != 0) {
		while (i-- > 0)
			dpi_ioas_unmap_locked(ioas, g.r[i].iova, g.r[i].len, AREA_REG);
	} else {
		ioas->next = g.list;
		g.list = ioas;
		ioas->on_list = true;
	}
	pthread_mutex_unlock(&ioas->lock);
	pthread_mutex_unlock(&g.lock);
	return rc;
}

void dpi_memmap_ioas_remove(struct dp_ioas *ioas)
{
	pthread_mutex_lock(&g.lock);
	for (struct dp_ioas **pp = &g.list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ioas) {
			*pp = ioas->next;
			break;
		}
	}
	ioas->on_list = false;
	pthread_mutex_unlock(&g.lock);
}

/* ---- public registration ------------------------------------------------------------------ */

static int check_reg_args(const void *vaddr, size_t len, const char *who)
{
	uintptr_t va = (uintptr_t)vaddr;

	if (vaddr == NULL || len == 0 || ((va | len) & (DPI_PAGE_4K - 1)) || va + len < va) {
		DPI_ERR("%s(%p, 0x%zx): the address and length must be non-zero and 4 KiB aligned",
			who, vaddr, len);
		return -EINVAL;
	}
	return 0;
}

int dp_mem_register(void *vaddr, size_t len)
{
	int rc = check_reg_args(vaddr, len, "dp_mem_register");

	if (rc != 0)
		return rc;
	if (!dpi_env_ready()) {
		DPI_ERR("dp_mem_register: call dp_env_init() first");
		return -ENODEV;
	}
	/* The kernel backends would fail with EFAULT; check here for every backend. */
	if (msync(vaddr, len, MS_ASYNC) != 0 && errno == ENOMEM) {
		DPI_ERR("dp_mem_register(%p, 0x%zx): not mapped memory of this process", vaddr,
			len);
		return -EFAULT;
	}
	rc = hook_env();
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&g.lock);
	/* 2 MiB translation entries depend only on alignment, not on the backing pages. */
	rc = reg_add((uintptr_t)vaddr, len, DPI_PAGE_2M, true);
	pthread_mutex_unlock(&g.lock);
	if (rc == -EEXIST)
		DPI_ERR("dp_mem_register(%p, 0x%zx): overlaps registered memory", vaddr, len);
	return rc;
}

int dp_mem_unregister(void *vaddr, size_t len)
{
	uint32_t first, count;
	int rc = check_reg_args(vaddr, len, "dp_mem_unregister");

	if (rc != 0)
		return rc;
	pthread_mutex_lock(&g.lock);
	rc = reg_exact((uintptr_t)vaddr, len, true, &first, &count);
	if (rc == 0)
		while (count-- > 0)
			reg_del(first);
	pthread_mutex_unlock(&g.lock);
	if (rc != 0)
		DPI_ERR("dp_mem_unregister(%p, 0x%zx): not registered exactly so with "
			"dp_mem_register", vaddr, len);
	return rc;
}
