/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Nested translation on iommufd (DP_IOAS_F_NESTED with the iommufd backend).
 *
 * IOMMU_GET_HW_INFO and IOMMU_HWPT_ALLOC need a device bound to the iommufd file, and an IOAS
 * has none when it is created. So the IOAS starts nested in userspace: the iommufd IOAS made by
 * the base backend is the stage-2 parent (fixed mappings and registered memory mapped at
 * GPA = IOVA, the stage-1 table's chunks at FD_GPA_TABLES), and the stage-1 table is written as
 * on the sim (backend_nested.c) while no device can see it: no invalidation is submitted then,
 * because nothing can have cached a translation.
 *
 * The first device decides (dpi_ioas_iommufd_attach_target, called by lib/vfio between
 * VFIO_DEVICE_BIND_IOMMUFD and VFIO_DEVICE_ATTACH_IOMMUFD_PT):
 *  - GET_HW_INFO shows nesting: IOMMU_HWPT_ALLOC(NEST_PARENT) on the IOAS, then a VT-d stage-1
 *    HWPT over our table with that parent; the device attaches to the stage-1 HWPT, and from
 *    now on invalidations go to IOMMU_HWPT_INVALIDATE. Later devices attach to the same HWPT;
 *    one whose IOMMU cannot nest is refused. When the device then fails to attach
 *    (dpi_ioas_iommufd_attach_failed) and no other device was given the HWPTs, they are
 *    destroyed and the IOAS is back to deciding (see attach_failed).
 *  - It does not (or HWPT_ALLOC refuses nesting): the IOAS turns into the plain iommufd IOAS.
 *    The front end's record says what must be mapped: parent areas that are exactly a recorded
 *    mapping (GPA = IOVA, same memory, read/write) stay as they are; every other parent area
 *    is unmapped and every other recorded mapping (dp_iova_map of registered memory, which
 *    only stage 1 mapped; displaced or read-only areas) is mapped at its IOVA. Any failure
 *    undoes what was done and leaves the nested state as it was. Then the table (and its
 *    chunks in the IOAS) is freed and the ops switch to the plain iommufd backend: later
 *    dp_iova_map/unmap go the plain (deferred) way.
 *
 * Address layout: a VT-d second stage covers at least 48 bits, so everything stays below 2^48:
 * usable IOVAs (= GPAs of their parent areas) below 2^46, displaced areas from 2^46, table
 * chunks from 2^47.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/stage1.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/uapi_iommufd.h>

#include "nested_impl.h"

#define FD_IOVA_LIMIT (1ull << 46)
#define FD_GPA_DISPLACED (1ull << 46)
#define FD_GPA_TABLES (1ull << 47)
#define RW (DPI_PROT_READ | DPI_PROT_WRITE)

static int fd_s2_map(struct nested_ioas *ni, uint64_t gpa, void *va, uint64_t len)
{
	return dpi_iommufd_p_map(ni->fd, va, gpa, len, RW);
}

static int fd_s2_unmap(struct nested_ioas *ni, uint64_t gpa, uint64_t len)
{
	return dpi_iommufd_p_unmap(ni->fd, gpa, len);
}

static const struct nested_parent_ops g_fd_parent = {.map = fd_s2_map, .unmap = fd_s2_unmap};

static struct nested_ioas *ni_of(const struct dp_ioas *ioas)
{
	return dpi_ioas_priv(ioas);
}

struct iommufd_ioas *dpi_nested_fd_base(const struct dp_ioas *ioas)
{
	return ioas->ops == &dpi_iommu_nested_fd_ops ? ni_of(ioas)->fd : NULL;
}

/* The parent's ranges cut below FD_IOVA_LIMIT (the displaced areas and tables live above). */
static int fd_get_ranges(struct dp_ioas *ioas, struct dp_iova_range *ranges, uint32_t *count)
{
	uint32_t n = *count, k = 0;
	int rc = dpi_iommufd_p_ranges(ni_of(ioas)->fd, ranges, &n);

	if (rc != 0 && rc != -ENOSPC)
		return rc;
	for (uint32_t i = 0; i < n && i < *count; i++) {
		if (ranges[i].start >= FD_IOVA_LIMIT)
			continue;
		ranges[k].start = ranges[i].start;
		ranges[k].last = DPI_MIN(ranges[i].last, FD_IOVA_LIMIT - 1);
		k++;
	}
	*count = rc == -ENOSPC ? n : k;
	return rc;
}

/* Destroy the HWPTs (devices are gone), free the table, and give the IOAS back to the plain
 * backend's state. */
static void fd_release(struct dp_ioas *ioas)
{
	struct nested_ioas *ni = ni_of(ioas);
	struct iommufd_ioas *base = ni->fd;
	int rc;

	if (ni->hwpt.hwpt_id != 0 && (rc = dpi_iommufd_destroy(base->fd, ni->hwpt.hwpt_id)) != 0)
		DPI_WARN("nested: IOMMU_DESTROY of stage-1 HWPT %u: %s", ni->hwpt.hwpt_id,
			 strerror(-rc));
	if (ni->parent_hwpt != 0 && (rc = dpi_iommufd_destroy(base->fd, ni->parent_hwpt)) != 0)
		DPI_WARN("nested: IOMMU_DESTROY of parent HWPT %u: %s", ni->parent_hwpt,
			 strerror(-rc));
	dpi_nested_free(ni); /* the table's chunks are unmapped from the IOAS */
	dpi_ioas_set_priv(ioas, base);
	ioas->ops = &dpi_iommu_iommufd_ops;
}

static void fd_fini(struct dp_ioas *ioas)
{
	struct nested_ioas *ni = ni_of(ioas);

	if (dpi_nested_submit(ni) != 0)
		DPI_WARN("nested: final invalidation failed at teardown");
	fd_release(ioas);
	dpi_iommu_iommufd_ops.fini(ioas);
}

const struct dpi_iommu_ops dpi_iommu_nested_fd_ops = {
	.name = "nested (iommufd)",
	.backend = DP_IOMMU_IOMMUFD,
	.init = NULL, /* made from an iommufd IOAS by dpi_nested_fd_start only */
	.fini = fd_fini,
	.map = dpi_nested_map,
	.unmap = dpi_nested_unmap,
	.copy = NULL,
	.get_ranges = fd_get_ranges,
	.batch_begin = dpi_nested_batch_begin,
	.batch_end = dpi_nested_batch_end,
	.quarantined = dpi_nested_quarantined,
};

int dpi_nested_fd_start(struct dp_ioas *ioas)
{
	struct iommufd_ioas *base = dpi_ioas_priv(ioas);
	struct nested_ioas *ni = dpi_calloc(1, sizeof(*ni));
	int rc;

	if (ni == NULL) {
		DPI_ERR("nested: no memory for the nested IOAS state");
		return -ENOMEM;
	}
	ni->fd = base;
	ni->pops = &g_fd_parent;
	ni->hwpt.iommufd = base->fd;
	dpi_ioas_set_priv(ioas, ni);
	ioas->ops = &dpi_iommu_nested_fd_ops;
	rc = dpi_nested_setup(ni, FD_GPA_TABLES, FD_GPA_DISPLACED, false);
	if (rc != 0) {
		DPI_ERR("nested: cannot set up the stage-1 table in iommufd IOAS %u: %s",
			base->ioas_id, strerror(-rc));
		fd_release(ioas);
		return rc;
	}
	DPI_INFO("IOAS with nested translation on iommufd: stage-1 table at GPA 0x%" PRIx64
		 " in IOAS %u, the parent; whether the IOMMU nests is decided when the first "
		 "device attaches (IOMMU_GET_HW_INFO needs a bound device)",
		 dpi_s1pt_root(ni->pt), base->ioas_id);
	return 0;
}

/* ---- nesting available: the HWPTs --------------------------------------------------------- */

/* 0 (ni->hwpt is the stage-1 HWPT now); -EOPNOTSUPP (the kernel refuses nesting: *why set);
 * another errno (nothing changed). */
static int go_nested(struct nested_ioas *ni, uint32_t dev_id, const char **why)
{
	struct iommu_hwpt_vtd_s1 s1 = {.addr_width = DPI_S1_ADDR_WIDTH};
	uint32_t parent = 0, id = 0;
	int rc;

	rc = dpi_iommufd_hwpt_alloc(ni->fd->fd, dev_id, ni->fd->ioas_id,
				    IOMMU_HWPT_ALLOC_NEST_PARENT, NULL, &parent);
	if (rc == 0) {
		s1.pgtbl_addr = dpi_s1pt_root(ni->pt);
		rc = dpi_iommufd_hwpt_alloc(ni->fd->fd, dev_id, parent, 0, &s1, &id);
		if (rc != 0)
			dpi_iommufd_destroy(ni->fd->fd, parent);
	}
	if (rc == -EOPNOTSUPP || rc == -EINVAL) {
		*why = parent == 0 ? "IOMMU_HWPT_ALLOC refused a nesting parent"
				   : "IOMMU_HWPT_ALLOC refused a VT-d stage-1 HWPT";
		return -EOPNOTSUPP;
	}
	if (rc != 0)
		return rc;
	/* Nothing could see stage 1 so far: drop what is queued, then submit for real. */
	dpi_nested_submit(ni);
	ni->parent_hwpt = parent;
	ni->hwpt.hwpt_id = id;
	ni->s1_submit = dpi_iommufd_s1_submit;
	ni->s1_ctx = &ni->hwpt;
	return 0;
}

/* ---- nesting not available: to the plain IOAS ------------------------------------------- */

/* True when the parent already maps a recorded mapping exactly as the plain IOAS would. */
static bool pa_is_area(const struct parea *p, const struct area *a)
{
	return p->gpa == a->iova && p->len == a->len && p->vaddr == a->vaddr && a->prot == RW;
}

static const struct parea *parea_at(const struct nested_ioas *ni, uint64_t gpa)
{
	int64_t i = dpi_nested_pa_find(&ni->fixed, gpa);

	if (i >= 0)
		return &ni->fixed.a[i];
	i = dpi_nested_pa_find(&ni->dyn, gpa);
	return i >= 0 ? &ni->dyn.a[i] : NULL;
}

static bool area_kept(const struct nested_ioas *ni, const struct area *a)
{
	const struct parea *p = parea_at(ni, a->iova);

	return p != NULL && pa_is_area(p, a);
}

static bool parea_kept(const struct dp_ioas *ioas, const struct parea *p)
{
	struct area_pos i = area_lower(&ioas->areas, p->gpa);

	return area_valid(&ioas->areas, i) && pa_is_area(p, area_at(&ioas->areas, i));
}

/* Re-map the parent areas phase A unmapped (undo). */
static void undo_unmaps(struct nested_ioas *ni, const struct parea *undo, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (fd_s2_map(ni, undo[i].gpa, (void *)undo[i].vaddr, undo[i].len) != 0)
			DPI_ERR("nested: cannot restore parent GPA 0x%" PRIx64 "+0x%" PRIx64
				" while undoing the conversion to a plain IOAS", undo[i].gpa,
				undo[i].len);
}

/* Unmap the recorded mappings phase B mapped so far (the first n not kept). */
static void undo_maps(struct dp_ioas *ioas, struct nested_ioas *ni, uint32_t n)
{
	for (struct area_pos i = area_first(&ioas->areas); n > 0 && area_valid(&ioas->areas, i);
	     i = area_next(&ioas->areas, i)) {
		const struct area *a = area_at(&ioas->areas, i);
		if (area_kept(ni, a))
			continue;
		dpi_iommufd_p_unmap(ni->fd, a->iova, a->len);
		n--;
	}
}

static int convert(struct dp_ioas *ioas, uint32_t dev_id, const char *why)
{
	struct nested_ioas *ni = ni_of(ioas);
	struct iommufd_ioas *base = ni->fd;
	const struct parea_set *sets[2] = {&ni->fixed, &ni->dyn};
	struct dpi_s1pt_stats ps;
	struct parea *undo;
	uint32_t nundo = 0, nmapped = 0, nkept = 0;
	int rc;

	rc = dpi_nested_submit(ni); /* no device yet: unmaps retired parent areas, cannot fail */
	if (rc != 0)
		return rc;
	dpi_s1pt_stats(ni->pt, &ps);
	undo = dpi_calloc(ni->fixed.n + ni->dyn.n + ps.chunks + 1, sizeof(*undo));
	if (undo == NULL) {
		DPI_ERR("nested: no memory to turn IOAS %u into a plain IOAS", base->ioas_id);
		return -ENOMEM;
	}
	/* A: parent areas the plain IOAS does not have (stage-1-only GPAs, displaced areas). */
	for (int s = 0; s < 2; s++) {
		for (uint32_t i = 0; i < sets[s]->n; i++) {
			const struct parea *p = &sets[s]->a[i];
			if (parea_kept(ioas, p))
				continue;
			rc = fd_s2_unmap(ni, p->gpa, p->len);
			if (rc != 0)
				goto undo_a;
			undo[nundo++] = *p;
		}
	}
	/* ... and the table's chunks (so that freeing the table later needs no kernel call). */
	for (uint64_t c = 0; c < ps.chunks; c++) {
		struct parea p = {.gpa = FD_GPA_TABLES + c * DPI_S1_CHUNK, .len = DPI_S1_CHUNK};
		p.vaddr = (uintptr_t)dpi_s1pt_table_va(ni->pt, p.gpa);
		rc = fd_s2_unmap(ni, p.gpa, p.len);
		if (rc != 0)
			goto undo_a;
		undo[nundo++] = p;
	}
	/* B: recorded mappings only stage 1 had, at their IOVA with their protection. */
	for (struct area_pos i = area_first(&ioas->areas); area_valid(&ioas->areas, i);
	     i = area_next(&ioas->areas, i)) {
		const struct area *a = area_at(&ioas->areas, i);
		if (area_kept(ni, a)) {
			nkept++;
			continue;
		}
		rc = dpi_iommufd_p_map(base, (void *)a->vaddr, a->iova, a->len, a->prot);
		if (rc != 0)
			goto undo_b;
		nmapped++;
	}
	free(undo);
	ni->tables_unmapped = true;
	fd_release(ioas); /* frees the table */
	uint32_t n = DPI_MAX_RANGES;
	if (ioas->ops->get_ranges(ioas, ioas->ranges, &n) == 0)
		ioas->nranges = n; /* no longer cut for the stage-1 layout */
	DPI_NOTICE("nested translation is not available for device %u (%s): IOAS %u is a plain "
		   "iommufd IOAS from now on (%u mapping(s) kept, %u mapped at their IOVA)",
		   dev_id, why, base->ioas_id, nkept, nmapped);
	return 0;

undo_b:
	undo_maps(ioas, ni, nmapped);
undo_a:
	undo_unmaps(ni, undo, nundo);
	free(undo);
	DPI_ERR("nested: turning IOAS %u into a plain IOAS failed (%s); it stays nested and the "
		"device is not attached", base->ioas_id, strerror(-rc));
	return rc;
}

/* ---- the decision -------------------------------------------------------------------------- */

static int decide(struct dp_ioas *ioas, uint32_t dev_id, uint32_t *pt_id)
{
	struct nested_ioas *ni = ni_of(ioas);
	struct dpi_nesting_info info;
	const char *why;
	char buf[200];
	int rc;

	rc = dpi_iommufd_nesting_query(ni->fd->fd, dev_id, &info);
	if (ni->hwpt.hwpt_id != 0) { /* nested already: this device must nest too */
		if (rc == -EOPNOTSUPP)
			DPI_ERR("device %u: its IOMMU cannot nest (%s), but the devices of this IOAS "
				"see it through a stage-1 table: open the device on another IOAS",
				dev_id, dpi_nesting_why(&info, buf, sizeof(buf)));
		if (rc == 0) {
			*pt_id = ni->hwpt.hwpt_id;
			ni->hwpt_users++;
		}
		return rc;
	}
	if (rc == 0) {
		rc = go_nested(ni, dev_id, &why);
		if (rc == 0) {
			DPI_NOTICE("nested translation on iommufd: device %u attaches to stage-1 HWPT "
				 "%u (table at GPA 0x%" PRIx64 ") on parent HWPT %u of IOAS %u",
				 dev_id, ni->hwpt.hwpt_id, dpi_s1pt_root(ni->pt), ni->parent_hwpt,
				 ni->fd->ioas_id);
			*pt_id = ni->hwpt.hwpt_id;
			ni->hwpt_users = 1;
			return 0;
		}
	} else if (rc == -EOPNOTSUPP) {
		why = dpi_nesting_why(&info, buf, sizeof(buf));
	} else if (rc == -ENOTTY) {
		why = "no IOMMU_GET_HW_INFO: a kernel older than 6.6";
		rc = -EOPNOTSUPP;
	}
	if (rc != -EOPNOTSUPP)
		return rc;
	*pt_id = ni->fd->ioas_id;
	return convert(ioas, dev_id, why);
}

/*
 * The device given the stage-1 HWPT did not attach. The IOAS owns its HWPTs, but HWPTs made
 * for a device that never used them are released: they were allocated for that device's IOMMU
 * (a later device may sit behind another one and would be refused), and the state goes back
 * to "no device sees stage 1" (queued invalidations dropped, nothing submitted), so the next
 * device decides afresh. Once a device attached, they stay until the IOAS is destroyed.
 */
static void attach_failed(struct dp_ioas *ioas, uint32_t dev_id)
{
	struct nested_ioas *ni = ni_of(ioas);
	uint32_t s1 = ni->hwpt.hwpt_id, parent = ni->parent_hwpt;
	int rc;

	if (s1 == 0 || ni->hwpt_users == 0 || --ni->hwpt_users != 0)
		return;
	ni->s1_submit = NULL; /* no device can see stage 1: nothing to invalidate */
	ni->s1_ctx = NULL;
	dpi_nested_submit(ni); /* drops the queue, releases retired pages and parent areas */
	ni->hwpt.hwpt_id = 0;
	ni->parent_hwpt = 0;
	if ((rc = dpi_iommufd_destroy(ni->fd->fd, s1)) != 0)
		DPI_WARN("nested: IOMMU_DESTROY of stage-1 HWPT %u: %s", s1, strerror(-rc));
	if ((rc = dpi_iommufd_destroy(ni->fd->fd, parent)) != 0)
		DPI_WARN("nested: IOMMU_DESTROY of parent HWPT %u: %s", parent, strerror(-rc));
	DPI_NOTICE("nested: device %u did not attach to stage-1 HWPT %u; it and parent HWPT %u "
		   "are released, and the next device decides nesting for IOAS %u again", dev_id,
		   s1, parent, ni->fd->ioas_id);
}

void dpi_ioas_iommufd_attach_failed(struct dp_ioas *ioas, uint32_t dev_id)
{
	if (ioas == NULL)
		return;
	pthread_mutex_lock(&ioas->inval.flush_lock);
	pthread_mutex_lock(&ioas->lock);
	if (ioas->ops == &dpi_iommu_nested_fd_ops)
		attach_failed(ioas, dev_id);
	pthread_mutex_unlock(&ioas->lock);
	pthread_mutex_unlock(&ioas->inval.flush_lock);
}

int dpi_ioas_iommufd_attach_target(struct dp_ioas *ioas, uint32_t dev_id, uint32_t *pt_id)
{
	int rc = -ENOTSUP;

	if (ioas == NULL || pt_id == NULL)
		return -EINVAL;
	/* The flush lock first: a deferred flush must not see the ops change under it. */
	pthread_mutex_lock(&ioas->inval.flush_lock);
	pthread_mutex_lock(&ioas->lock);
	if (ioas->ops == &dpi_iommu_iommufd_ops) {
		*pt_id = ((struct iommufd_ioas *)dpi_ioas_priv(ioas))->ioas_id;
		rc = 0;
	} else if (ioas->ops == &dpi_iommu_nested_fd_ops) {
		rc = decide(ioas, dev_id, pt_id);
	}
	pthread_mutex_unlock(&ioas->lock);
	pthread_mutex_unlock(&ioas->inval.flush_lock);
	return rc;
}
