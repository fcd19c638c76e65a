/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The nested backend of lib/iova (DP_IOAS_F_NESTED, DP_IOMMU=nested): an IOAS whose device view
 * is a user-owned stage-1 table (stage1.c) nested on a stage-2 parent that pins and maps memory.
 * The parent is a sim domain (here: the devices attach to a nested sim domain that walks our
 * table, lib/sim/stage1.c) or an iommufd IOAS (nested_fd.c: the first device decides between
 * a stage-1 HWPT and turning plain); type1 cannot nest (see dpi_nested_try).
 *
 * Stage-2 layout (guest-physical addresses, GPA). Fixed mappings (registered memory mirrors,
 * dp_ioas_map) are mapped by the parent at GPA = their IOVA, one parent map each, and stage 1
 * maps them 1:1. A dp_iova_map() (its IOVA lies in the dynamic window) of memory that lies
 * inside one of those parent areas costs stage-1 stores only, pointing at the area's GPAs: no
 * system call. Other memory gets its own parent area at GPA = its IOVA (pinning, as without
 * nesting). Table pages live at GPA 2^48 and up, above every stage-1 IOVA, and stage 1 never
 * maps them: a device cannot write its own page tables. When GPA = IOVA is still taken by an
 * earlier area (a fixed mapping unmapped while dynamic mappings still point into its memory,
 * then mapped again), the new area gets a GPA from 2^50 up instead. Parent areas count the
 * stage-1 bytes that point into them and are unmapped from the parent only after the
 * invalidation that covers their last stage-1 mapping.
 *
 * Invalidation. Every stage-1 unmap queues one VT-d stage-1 entry (addr, pages, LEAF unless
 * table pages were retired, which needs the paging-structure caches flushed too). Outside a
 * batch (strict unmaps, fixed mappings) the queue is submitted before unmap returns; inside one
 * (a deferred flush of the invalidation engine: batch_begin/batch_end) the whole flush is one
 * submission (stage1_inval.c: entry_num semantics, resubmits, the failed entry reported). After
 * a submission succeeds, retired table pages become reusable (the epoch rule, stage1.c) and
 * parent areas without stage-1 users are unmapped. A failed submission keeps its remaining
 * entries queued: they are resubmitted first next time, and until then nothing they cover is
 * reused. After DPI_NESTED_MAX_FAILS failures in a row they are quarantined instead (see
 * quarantine()): never reused, so that later unmaps are not stuck behind them. All ops run
 * under the IOAS lock; a batch belongs to the thread of the flush that opened it, so unmaps
 * from other threads meanwhile still submit before they return.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sim.h>
#include <dmaplane_internal/stage1.h>
#include <dmaplane_internal/sys.h>

#include "nested_impl.h"

#define GPA_TABLES (1ull << DPI_S1_ADDR_WIDTH) /* table chunks: above every stage-1 IOVA */
#define GPA_DISPLACED (1ull << 50) /* areas whose GPA = IOVA is still taken (see nested_map) */
#define PARENT_AW 57
#define QCAP 4096 /* queued invalidation entries before an early submission */
#define S2_PROT (DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE)

static struct nested_ioas *ni_of(struct dp_ioas *ioas)
{
	return dpi_ioas_priv(ioas);
}

/* True when the caller's unmap may leave its invalidation to batch_end: it is the flush that
 * opened the batch. Every other unmap (dp_ioas_unmap, strict ones) submits before returning. */
static bool in_batch(const struct nested_ioas *ni)
{
	return ni->batching && pthread_equal(ni->batch_owner, pthread_self());
}

/* ---- parent areas -------------------------------------------------------------------------- */

/* Index of the area holding gpa, or -1. */
int64_t dpi_nested_pa_find(const struct parea_set *s, uint64_t gpa)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (gpa < s->a[mid].gpa)
			hi = mid;
		else if (gpa >= s->a[mid].gpa + s->a[mid].len)
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}

static int pa_insert(struct parea_set *s, const struct parea *a)
{
	uint32_t i = 0;

	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		struct parea *na = dpi_realloc(s->a, cap * sizeof(*na));
		if (na == NULL)
			return -ENOMEM;
		s->a = na;
		s->cap = cap;
	}
	while (i < s->n && s->a[i].gpa < a->gpa)
		i++;
	memmove(&s->a[i + 1], &s->a[i], (s->n - i) * sizeof(*a));
	s->a[i] = *a;
	s->n++;
	return 0;
}

static void pa_remove(struct parea_set *s, uint32_t i)
{
	memmove(&s->a[i], &s->a[i + 1], (s->n - i - 1) * sizeof(s->a[0]));
	s->n--;
}

/* Room in the gone list for every area that exists, so retiring never allocates. */
static int gone_reserve(struct nested_ioas *ni)
{
	uint32_t need = ni->fixed.n + ni->dyn.n + ni->ngone + 1;

	if (need > ni->cgone) {
		uint32_t cap = ni->cgone ? ni->cgone : 16;
		while (cap < need)
			cap *= 2;
		struct gone *g = dpi_realloc(ni->gone, cap * sizeof(*g));
		if (g == NULL)
			return -ENOMEM;
		ni->gone = g;
		ni->cgone = cap;
	}
	return 0;
}

/* Parent unmap after the next successful submission (room reserved by gone_reserve). */
static void pa_retire(struct nested_ioas *ni, uint64_t gpa, uint64_t len)
{
	ni->gone[ni->ngone++] = (struct gone){gpa, len};
}

/* Stage 1 stopped pointing at [gpa, gpa+size). */
static void pa_drop(void *ctx, uint64_t gpa, uint64_t size)
{
	struct nested_ioas *ni = ctx;
	struct parea_set *s = &ni->fixed;
	int64_t i = dpi_nested_pa_find(s, gpa);

	if (i < 0) {
		s = &ni->dyn;
		i = dpi_nested_pa_find(s, gpa);
	}
	if (i < 0) {
		DPI_ERR("nested: stage 1 pointed at GPA 0x%" PRIx64 ", which no parent area holds",
			gpa);
		return;
	}
	s->a[i].refs -= size;
	if (s->a[i].refs == 0) {
		pa_retire(ni, s->a[i].gpa, s->a[i].len);
		pa_remove(s, (uint32_t)i);
	}
}

static bool pa_overlaps(const struct parea_set *s, uint64_t gpa, uint64_t len)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (gpa < s->a[i].gpa + s->a[i].len && s->a[i].gpa < gpa + len)
			return true;
	return false;
}

/* The GPA for a new parent area of the mapping at iova: the IOVA itself, unless an earlier
 * area there is still alive (a fixed mapping unmapped while dynamic mappings still point into
 * its memory): then a fresh GPA from the displaced region, aligned for large leaves. */
static uint64_t pa_gpa(struct nested_ioas *ni, uint64_t iova, uint64_t len)
{
	uint64_t align = len >= (1ull << 30) ? 1ull << 30 : len >= (2ull << 20) ? 2ull << 20 : 4096;
	uint64_t gpa;

	if (!pa_overlaps(&ni->fixed, iova, len) && !pa_overlaps(&ni->dyn, iova, len))
		return iova;
	gpa = (ni->displaced + align - 1) & ~(align - 1);
	ni->displaced = gpa + len;
	return gpa;
}

/* A fixed area holding all of [vaddr, vaddr+len), or -1. The fixed areas are few (registered
 * memory comes in large pieces). An area kept only by a quarantine (PAREA_HELD, nothing of
 * stage 1 in it) is no candidate: its memory may have been freed by the caller since, and
 * what is at vaddr now is not what the parent mapping holds. */
static int64_t pa_by_vaddr(const struct parea_set *s, uintptr_t vaddr, uint64_t len)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (vaddr >= s->a[i].vaddr && vaddr + len <= s->a[i].vaddr + s->a[i].len &&
		    s->a[i].refs != PAREA_HELD)
			return i;
	return -1;
}

/* ---- invalidation --------------------------------------------------------------------------- */

static int sim_submit(void *ctx, const struct iommu_hwpt_vtd_s1_invalidate *e, uint32_t *num)
{
	struct nested_ioas *ni = ctx;

	return dpi_sim_domain_s1_invalidate(ni->sim.domain, e, num);
}

/* The submit function ni->s1_submit behind a fault point, so fail-nth reaches it. */
static int fault_submit(void *ctx, const struct iommu_hwpt_vtd_s1_invalidate *e, uint32_t *num)
{
	struct nested_ioas *ni = ctx;
	int err = dpi_fault("nested-inval");

	if (err) {
		*num = 0;
		return -err;
	}
	return ni->s1_submit(ni->s1_ctx, e, num);
}

static uint32_t g_max_fails = DPI_NESTED_MAX_FAILS;

void dpi_nested_set_max_fails(uint32_t n)
{
	__atomic_store_n(&g_max_fails, n ? n : DPI_NESTED_MAX_FAILS, __ATOMIC_RELAXED);
}

static bool overlaps_entry(const struct iommu_hwpt_vtd_s1_invalidate *e, uint64_t iova,
			   uint64_t len)
{
	return iova < e->addr + e->npages * DPI_S1_PAGE && e->addr < iova + len;
}

/* True when a quarantined entry covers part of [iova, iova+len). */
static bool in_quarantine(const struct nested_ioas *ni, uint64_t iova, uint64_t len)
{
	for (uint32_t i = 0; i < ni->nquar; i++)
		if (overlaps_entry(&ni->quar[i], iova, len))
			return true;
	return false;
}

/* Keep a parent area that went out of use mapped for good (in the dynamic set, so that no new
 * area takes its GPA). */
static void hold_gone(struct nested_ioas *ni, const struct gone *g)
{
	struct parea a = {.gpa = g->gpa, .len = g->len, .refs = PAREA_HELD};

	if (pa_insert(&ni->dyn, &a) != 0)
		DPI_WARN("nested: no memory to record quarantined parent GPA 0x%" PRIx64
			 "+0x%" PRIx64 "; it stays mapped", g->gpa, g->len);
}

/*
 * After DPI_NESTED_MAX_FAILS failed submissions in a row the queued entries are given up
 * rather than left to block every later unmap behind them. The IOMMU may still cache what they
 * cover, so nothing of it is reused: their IOVAs (the deferred flush asks
 * dpi_nested_quarantined before freeing one; a strict unmap fails and keeps its mapping
 * recorded, so its IOVA is not mapped again), the table pages retired so far (each is
 * covered by a queued entry: a successful submission releases every page retired before it),
 * and every parent area stage 1 pointed into until now (mapped and pinned until the IOAS is
 * destroyed: a stale translation can only reach memory that is still ours).
 * 0; -ENOMEM (nothing changed: the entries stay queued).
 */
static int quarantine(struct nested_ioas *ni, uint64_t mark, int err)
{
	uint32_t n = ni->nq, pages;

	if (ni->nquar + n > ni->cquar) {
		uint32_t cap = ni->cquar ? ni->cquar : 64;
		while (cap < ni->nquar + n)
			cap *= 2;
		struct iommu_hwpt_vtd_s1_invalidate *nqr;
		nqr = dpi_realloc(ni->quar, cap * sizeof(*nqr));
		if (nqr == NULL)
			return -ENOMEM;
		ni->quar = nqr;
		ni->cquar = cap;
	}
	memcpy(ni->quar + ni->nquar, ni->q, n * sizeof(*ni->q));
	ni->nquar += n;
	ni->nq = 0;
	ni->st.inval_quarantined += n;
	pages = dpi_s1pt_quarantine(ni->pt, mark);
	for (uint32_t i = 0; i < ni->fixed.n; i++)
		ni->fixed.a[i].refs |= PAREA_HELD;
	for (uint32_t i = 0; i < ni->dyn.n; i++)
		ni->dyn.a[i].refs |= PAREA_HELD;
	for (uint32_t i = 0; i < ni->ngone; i++)
		hold_gone(ni, &ni->gone[i]);
	ni->ngone = 0;
	DPI_ERR("nested: the stage-1 invalidation failed %u times in a row (last: %s): %u "
		"entr%s (first IOVA 0x%" PRIx64 ") are quarantined: the IOVAs they cover, %u table "
		"page(s) and the parent memory stage 1 used are never reused until the IOAS is "
		"destroyed (dp_iova_stats.quarantined counts the IOVA ranges); later unmaps work "
		"again; check the kernel log for the IOMMU's error", ni->fail_streak,
		strerror(-err), n, n == 1 ? "y" : "ies",
		n ? (uint64_t)ni->quar[ni->nquar - n].addr : 0, pages);
	return 0;
}

/* Submit the queue; then release retired table pages and unmap parent areas nobody uses.
 * Before any device sees stage 1 (no s1_submit) nothing is cached: the queue is dropped.
 * A failed submission keeps what was not handled queued (the error is returned); the
 * DPI_NESTED_MAX_FAILS-th in a row quarantines it (still returning the error: what it
 * covers was not invalidated). */
int dpi_nested_submit(struct nested_ioas *ni)
{
	uint64_t mark = dpi_s1pt_retire_seq(ni->pt); /* all retired so far have queued entries */
	uint32_t failed = 0;
	int rc;

	if (ni->nq != 0 && ni->s1_submit != NULL) {
		rc = dpi_s1_invalidate(fault_submit, ni, ni->q, ni->nq, &failed,
				       &ni->st.inval_calls);
		if (rc != 0) {
			memmove(ni->q, ni->q + failed, (ni->nq - failed) * sizeof(ni->q[0]));
			ni->nq -= failed;
			ni->st.inval_entries += failed;
			ni->st.inval_failures++;
			if (++ni->fail_streak >= __atomic_load_n(&g_max_fails, __ATOMIC_RELAXED) &&
			    quarantine(ni, mark, rc) == 0)
				ni->fail_streak = 0;
			return rc;
		}
		ni->st.inval_entries += ni->nq;
	}
	ni->fail_streak = 0;
	ni->nq = 0;
	ni->st.tables_released += dpi_s1pt_release(ni->pt, mark);
	for (uint32_t i = 0; i < ni->ngone; i++) {
		rc = ni->pops->unmap(ni, ni->gone[i].gpa, ni->gone[i].len);
		ni->st.s2_unmaps++;
		if (rc != 0)
			DPI_WARN("nested: parent unmap of GPA 0x%" PRIx64 ": %s", ni->gone[i].gpa,
				 strerror(-rc));
	}
	ni->ngone = 0;
	return 0;
}

static void queue(struct nested_ioas *ni, uint64_t iova, uint64_t len, bool tables)
{
	ni->q[ni->nq++] = (struct iommu_hwpt_vtd_s1_invalidate){
		.addr = iova,
		.npages = len / DPI_S1_PAGE,
		.flags = tables ? 0 : IOMMU_VTD_INV_FLAGS_LEAF,
	};
}

/* True when queued entries cover [iova, iova+len): a range cleared by an unmap whose
 * submission failed. */
static bool queued(const struct nested_ioas *ni, uint64_t iova, uint64_t len)
{
	for (uint32_t i = 0; i < ni->nq; i++)
		if (ni->q[i].addr <= iova && iova + len <= ni->q[i].addr + ni->q[i].npages * 4096)
			return true;
	return false;
}

/* True when stage 1 maps nothing in [iova, iova+len): a range the front end still holds was
 * cleared by an earlier unmap whose submission failed and whose entry has been submitted since
 * (by another call). Error path only: one lookup per 4 KiB page. */
static bool cleared(struct nested_ioas *ni, uint64_t iova, uint64_t len)
{
	uint64_t gpa;
	uint32_t prot, shift;

	for (uint64_t at = iova; at - iova < len; at += DPI_S1_PAGE)
		if (dpi_s1pt_lookup(ni->pt, at, &gpa, &prot, &shift) == 0)
			return false;
	return true;
}

/* ---- ops ------------------------------------------------------------------------------------ */

static int chunk_map(void *ctx, void *va, uint64_t gpa, size_t len)
{
	struct nested_ioas *ni = ctx;

	ni->st.s2_maps++;
	return ni->pops->map(ni, gpa, va, len);
}

static void chunk_unmap(void *ctx, void *va, uint64_t gpa, size_t len)
{
	struct nested_ioas *ni = ctx;

	(void)va;
	if (!ni->tables_unmapped)
		ni->pops->unmap(ni, gpa, len);
}

int dpi_nested_setup(struct nested_ioas *ni, uint64_t gpa_tables, uint64_t displaced,
		     bool big_pages)
{
	struct dpi_s1pt_opts o = {.gpa_base = gpa_tables, .big_pages = big_pages};

	ni->displaced = displaced;
	ni->q = dpi_calloc(QCAP, sizeof(*ni->q));
	if (ni->q == NULL)
		return -ENOMEM;
	o.mem = (struct dpi_s1pt_mem){.ctx = ni, .map = chunk_map, .unmap = chunk_unmap};
	return dpi_s1pt_create(&o, &ni->pt);
}

void dpi_nested_free(struct nested_ioas *ni)
{
	dpi_s1pt_destroy(ni->pt);
	free(ni->fixed.a);
	free(ni->dyn.a);
	free(ni->gone);
	free(ni->q);
	free(ni->quar);
	free(ni);
}

static int sim_s2_map(struct nested_ioas *ni, uint64_t gpa, void *va, uint64_t len)
{
	return dpi_sim_domain_map(ni->parent, gpa, va, len, S2_PROT);
}

static int sim_s2_unmap(struct nested_ioas *ni, uint64_t gpa, uint64_t len)
{
	return dpi_sim_domain_unmap(ni->parent, gpa, len);
}

static const struct nested_parent_ops g_sim_parent = {.map = sim_s2_map, .unmap = sim_s2_unmap};

static void nested_fini(struct dp_ioas *ioas)
{
	struct nested_ioas *ni = ni_of(ioas);

	if (ni->sim.domain != NULL && ni->pt != NULL && dpi_nested_submit(ni) != 0)
		DPI_WARN("nested: final invalidation failed at teardown");
	dpi_sim_domain_destroy(ni->sim.domain); /* detaches every requester first */
	dpi_s1pt_destroy(ni->pt);
	ni->pt = NULL;
	dpi_sim_domain_destroy(ni->parent);
	dpi_nested_free(ni);
}

static int nested_init(struct dp_ioas *ioas)
{
	struct nested_ioas *ni;
	uint64_t cap, ecap;
	const char *why;
	bool big = false;
	int rc;

	dpi_sim_iommu_vtd_regs(&cap, &ecap);
	rc = dpi_s1_vtd_nesting(cap, ecap, &why, &big);
	if (rc != 0) {
		DPI_NOTICE("nested translation is not available: the sim IOMMU (GET_HW_INFO cap "
			   "0x%" PRIx64 " ecap 0x%" PRIx64 ") lacks %s; using a plain IOAS", cap,
			   ecap, why);
		return -EOPNOTSUPP;
	}
	ni = dpi_calloc(1, sizeof(*ni));
	if (ni == NULL)
		return -ENOMEM;
	dpi_ioas_set_priv(ioas, ni);
	ni->pops = &g_sim_parent;
	ni->s1_submit = sim_submit;
	ni->s1_ctx = ni;
	rc = dpi_sim_domain_create(PARENT_AW, &ni->parent);
	if (rc == 0)
		rc = dpi_nested_setup(ni, GPA_TABLES, GPA_DISPLACED, big);
	if (rc == 0)
		rc = dpi_sim_domain_create_nested(ni->parent, dpi_s1pt_root(ni->pt), &ni->sim.domain);
	if (rc != 0) {
		DPI_ERR("nested: cannot set up the stage-1 table and its parent: %s", strerror(-rc));
		nested_fini(ioas);
		dpi_ioas_set_priv(ioas, NULL);
	}
	return rc;
}

static bool in_dyn_window(dp_iova_t iova)
{
	return iova >= DPI_DYN_START && iova <= DPI_DYN_LAST;
}

/* DP_MAP_WRITE without DP_MAP_READ: first-stage entries have no write-only encoding (a present
 * entry is readable), so the mapping is read/write. Counted once mapped; said once per IOAS. */
static void write_only(struct nested_ioas *ni, dp_iova_t iova)
{
	if (ni->st.widened++ == 0)
		DPI_NOTICE("nested IOAS: IOVA 0x%" PRIx64 " was mapped DP_MAP_WRITE without "
			   "DP_MAP_READ, but stage-1 (first-stage) page tables cannot express "
			   "write-only: the device may read it too (this and later such mappings "
			   "of this IOAS are read/write; use a plain IOAS where write-only "
			   "matters)", iova);
}

int dpi_nested_map(struct dp_ioas *ioas, void *vaddr, dp_iova_t iova, size_t len,
		   uint32_t prot)
{
	struct nested_ioas *ni = ni_of(ioas);
	struct parea_set *s = &ni->fixed;
	uint64_t gpa;
	int64_t i;
	int rc;

	i = in_dyn_window(iova) ? pa_by_vaddr(s, (uintptr_t)vaddr, len) : -1;
	/* A failing stage-1 map queues one entry below: make room first (as an unmap does). */
	if (ni->nq == QCAP && (rc = dpi_nested_submit(ni)) != 0)
		return rc;
	if (i >= 0) {
		gpa = s->a[i].gpa + ((uintptr_t)vaddr - s->a[i].vaddr);
	} else {
		int err = dpi_fault("nested-s2-map");
		struct parea a = {.gpa = pa_gpa(ni, iova, len), .len = len,
				  .vaddr = (uintptr_t)vaddr};

		if (err)
			return -err;
		if (msync(vaddr, len, MS_ASYNC) != 0 && errno == ENOMEM) {
			DPI_ERR("cannot map %p+0x%zx: not mapped memory of this process", vaddr, len);
			return -EFAULT;
		}
		s = in_dyn_window(iova) ? &ni->dyn : &ni->fixed;
		rc = gone_reserve(ni);
		if (rc == 0)
			rc = pa_insert(s, &a);
		if (rc != 0)
			return rc;
		rc = ni->pops->map(ni, a.gpa, vaddr, len);
		ni->st.s2_maps++;
		i = dpi_nested_pa_find(s, a.gpa);
		if (rc != 0) {
			pa_remove(s, (uint32_t)i);
			return rc;
		}
		gpa = a.gpa;
	}
	rc = dpi_s1pt_map(ni->pt, iova, gpa, len, prot);
	if (rc != 0) {
		/* Tables linked for a moment were retired: flush their caches before reuse. */
		queue(ni, iova, len, true);
		if (s->a[i].refs == 0) {
			pa_retire(ni, s->a[i].gpa, s->a[i].len);
			pa_remove(s, (uint32_t)i);
		}
		if (!in_batch(ni) || ni->nq == QCAP)
			dpi_nested_submit(ni);
		DPI_ERR("nested: stage-1 map of IOVA 0x%" PRIx64 "+0x%zx: %s", iova, len,
			strerror(-rc));
		return rc;
	}
	s->a[i].refs += len;
	ni->st.s1_maps++;
	if (dpi_unlikely(!(prot & DPI_PROT_READ)))
		write_only(ni, iova);
	return 0;
}

int dpi_nested_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len)
{
	struct nested_ioas *ni = ni_of(ioas);
	uint32_t retired = 0;
	int rc;

	if (ni->nq == QCAP && (rc = dpi_nested_submit(ni)) != 0)
		return rc;
	rc = dpi_s1pt_unmap_fn(ni->pt, iova, len, &retired, pa_drop, ni);
	if (rc == -ENOENT && ni->nquar != 0 && in_quarantine(ni, iova, len)) {
		/* A retry of an unmap whose invalidation was given up: it never completes. */
		DPI_ERR("nested: unmap of IOVA 0x%" PRIx64 "+0x%zx: its invalidation was "
			"quarantined after repeated failures; the IOVA stays out of use", iova,
			len);
		return -EIO;
	}
	if (rc == -ENOENT && (queued(ni, iova, len) || cleared(ni, iova, len))) {
		/* Cleared by an earlier call whose submission failed (the front end still holds
		 * the range): submit what is queued, if anything, and finish the unmap. */
		rc = 0;
	} else if (rc == 0) {
		ni->st.s1_unmaps++;
		queue(ni, iova, len, retired != 0);
	} else {
		return rc;
	}
	return in_batch(ni) ? 0 : dpi_nested_submit(ni);
}

void dpi_nested_batch_begin(struct dp_ioas *ioas)
{
	ni_of(ioas)->batching = true;
	ni_of(ioas)->batch_owner = pthread_self();
}

int dpi_nested_batch_end(struct dp_ioas *ioas)
{
	struct nested_ioas *ni = ni_of(ioas);

	ni->batching = false;
	return dpi_nested_submit(ni);
}

bool dpi_nested_quarantined(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len)
{
	struct nested_ioas *ni = ni_of(ioas);

	return ni->nquar != 0 && in_quarantine(ni, iova, len);
}

const struct dpi_iommu_ops dpi_iommu_nested_ops = {
	.name = "nested (sim)",
	.backend = DP_IOMMU_SIM,
	.init = nested_init,
	.fini = nested_fini,
	.map = dpi_nested_map,
	.unmap = dpi_nested_unmap,
	.copy = NULL,
	.get_ranges = dpi_sim_ioas_get_ranges,
	.batch_begin = dpi_nested_batch_begin,
	.batch_end = dpi_nested_batch_end,
	.quarantined = dpi_nested_quarantined,
};

/* ---- choosing nesting ------------------------------------------------------------------------ */

int dpi_nested_try(struct dp_ioas *ioas)
{
	const struct dpi_iommu_ops *base = ioas->ops;
	int rc;

	switch (base->backend) {
	case DP_IOMMU_IOMMUFD:
		return dpi_nested_fd_start(ioas); /* decides at the first device (nested_fd.c) */
	case DP_IOMMU_VFIO:
		DPI_NOTICE("nested translation is not available: the VFIO type1 container has "
			   "none; using a plain type1 IOAS");
		return -EOPNOTSUPP;
	default:
		break;
	}
	base->fini(ioas);
	ioas->ops = &dpi_iommu_nested_ops;
	rc = ioas->ops->init(ioas);
	if (rc == 0) {
		DPI_INFO("IOAS with nested translation: stage-1 table at 0x%" PRIx64 " on a sim "
			 "stage-2 parent", dpi_s1pt_root(ni_of(ioas)->pt));
		return 0;
	}
	ioas->ops = base;
	int brc = base->init(ioas);
	return brc != 0 ? brc : rc;
}

static bool is_nested(const struct dp_ioas *ioas)
{
	return ioas->ops == &dpi_iommu_nested_ops || ioas->ops == &dpi_iommu_nested_fd_ops;
}

bool dpi_ioas_nested_requested(const struct dp_ioas *ioas)
{
	return (ioas->flags & DP_IOAS_F_NESTED) != 0;
}

int dp_ioas_nested(const struct dp_ioas *ioas)
{
	if (ioas == NULL)
		return -EINVAL;
	return is_nested(ioas);
}

int dpi_ioas_nested_stats(struct dp_ioas *ioas, struct dpi_nested_stats *st)
{
	int rc = 0;

	if (ioas == NULL || st == NULL)
		return -ENOTSUP;
	pthread_mutex_lock(&ioas->lock); /* a nested IOAS on iommufd may turn plain meanwhile */
	if (is_nested(ioas))
		*st = ni_of(ioas)->st;
	else
		rc = -ENOTSUP;
	pthread_mutex_unlock(&ioas->lock);
	return rc;
}

int dpi_ioas_nested_parts(struct dp_ioas *ioas, struct dpi_s1pt **pt,
			  struct dpi_sim_domain **parent)
{
	if (ioas == NULL || !is_nested(ioas))
		return -ENOTSUP;
	if (pt != NULL)
		*pt = ni_of(ioas)->pt;
	if (parent != NULL)
		*parent = ni_of(ioas)->parent;
	return 0;
}
