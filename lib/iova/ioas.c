/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/iova front end: the IOAS object. Checks every request (alignment, usable ranges, overlap)
 * before a backend sees it, keeps the record of mappings so unmap and copy can be checked
 * exactly, and keeps registered memory mirrored (memmap.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/log.h>

#include "iova_impl.h"

#define MAP_FLAGS (DP_MAP_READ | DP_MAP_WRITE)

void dpi_ioas_set_priv(struct dp_ioas *ioas, void *priv)
{
	ioas->priv = priv;
}

void *dpi_ioas_priv(const struct dp_ioas *ioas)
{
	return ioas->priv;
}

const struct dpi_iommu_ops *dpi_ioas_ops(const struct dp_ioas *ioas)
{
	return ioas->ops;
}

const char *dp_iommu_backend_name(int backend)
{
	switch (backend) {
	case DP_IOMMU_IOMMUFD:
		return "iommufd";
	case DP_IOMMU_VFIO:
		return "vfio";
	case DP_IOMMU_SIM:
		return "sim";
	default:
		return "invalid";
	}
}

int dp_ioas_backend(const struct dp_ioas *ioas)
{
	return ioas ? ioas->ops->backend : -EINVAL;
}

void dp_ioas_opts_init(struct dp_ioas_opts *opts, size_t size)
{
	struct dp_ioas_opts d = {.size = sizeof(d), .backend = DP_IOMMU_AUTO};

	if (opts == NULL || size == 0)
		return;
	memset(opts, 0, size);
	d.size = DPI_MIN(size, sizeof(d));
	memcpy(opts, &d, DPI_MIN(size, sizeof(d)));
}

/* ---- ranges ------------------------------------------------------------------------------- */

static int refresh_ranges(struct dp_ioas *ioas)
{
	struct dp_iova_range r[DPI_MAX_RANGES];
	uint32_t n = DPI_MAX_RANGES;
	int rc = ioas->ops->get_ranges(ioas, r, &n);

	if (rc != 0) {
		DPI_ERR("cannot read the usable IOVA ranges (%s backend): %s", ioas->ops->name,
			strerror(-rc));
		return rc;
	}
	memcpy(ioas->ranges, r, n * sizeof(r[0]));
	ioas->nranges = n;
	return 0;
}

bool dpi_ioas_in_dyn_window(const struct dp_ioas *ioas, dp_iova_t iova, uint64_t len)
{
	return __atomic_load_n(&ioas->dyn, __ATOMIC_ACQUIRE) != NULL && iova <= DPI_DYN_LAST &&
	       iova + len - 1 >= DPI_DYN_START;
}

bool dpi_ioas_in_ranges(const struct dp_ioas *ioas, dp_iova_t iova, uint64_t len)
{
	dp_iova_t last = iova + len - 1;

	if (len == 0 || last < iova)
		return false;
	for (uint32_t i = 0; i < ioas->nranges; i++)
		if (iova >= ioas->ranges[i].start && last <= ioas->ranges[i].last)
			return true;
	return false;
}

int dp_ioas_get_ranges(struct dp_ioas *ioas, struct dp_iova_range *ranges, uint32_t *count)
{
	int rc = 0;

	if (ioas == NULL || count == NULL || (ranges == NULL && *count != 0))
		return -EINVAL;
	pthread_mutex_lock(&ioas->lock);
	if (*count < ioas->nranges)
		rc = -ENOSPC;
	else
		memcpy(ranges, ioas->ranges, ioas->nranges * sizeof(*ranges));
	*count = ioas->nranges;
	pthread_mutex_unlock(&ioas->lock);
	return rc;
}

/* ---- create / destroy --------------------------------------------------------------------- */

static const struct dpi_iommu_ops *ops_of(int backend)
{
	switch (backend) {
	case DP_IOMMU_IOMMUFD:
		return &dpi_iommu_iommufd_ops;
	case DP_IOMMU_VFIO:
		return &dpi_iommu_type1_ops;
	case DP_IOMMU_SIM:
		return &dpi_iommu_sim_ops;
	default:
		return NULL;
	}
}

static int backend_from_env(uint32_t *backend)
{
	const char *s = getenv("DP_IOMMU");

	if (s == NULL || s[0] == '\0')
		return 0;
	if (strcasecmp(s, "iommufd") == 0)
		*backend = DP_IOMMU_IOMMUFD;
	else if (strcasecmp(s, "vfio") == 0 || strcasecmp(s, "type1") == 0)
		*backend = DP_IOMMU_VFIO;
	else if (strcasecmp(s, "sim") == 0)
		*backend = DP_IOMMU_SIM;
	else {
		DPI_ERR("DP_IOMMU='%s' is not one of: iommufd, vfio, sim", s);
		return -EINVAL;
	}
	return 0;
}

/* AUTO: iommufd, else type1, else sim; each step says why it moved on. */
static int init_backend(struct dp_ioas *ioas, uint32_t backend)
{
	static const int order[] = {DP_IOMMU_IOMMUFD, DP_IOMMU_VFIO, DP_IOMMU_SIM};
	int rc = -ENOTSUP;

	if (backend != DP_IOMMU_AUTO) {
		ioas->ops = ops_of((int)backend);
		rc = ioas->ops->init(ioas);
		if (rc != 0)
			DPI_ERR("the %s IOMMU backend is not available here (%s)", ioas->ops->name,
				strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < DPI_ARRAY_SIZE(order); i++) {
		ioas->ops = ops_of(order[i]);
		rc = ioas->ops->init(ioas);
		if (rc == 0) {
			DPI_INFO("IOAS on the %s backend", ioas->ops->name);
			return 0;
		}
		if (rc != -ENOTSUP)
			return rc;
		if (i + 1 < DPI_ARRAY_SIZE(order))
			DPI_INFO("%s backend not available; trying %s", ioas->ops->name,
				 ops_of(order[i + 1])->name);
	}
	return rc;
}

/* Unmap every area and clear the record. Lock held. */
static void unmap_all(struct dp_ioas *ioas)
{
	for (struct area_pos p = area_first(&ioas->areas); area_valid(&ioas->areas, p);
	     p = area_next(&ioas->areas, p)) {
		struct area *a = area_at(&ioas->areas, p);
		int rc = ioas->ops->unmap(ioas, a->iova, a->len);
		if (rc != 0)
			DPI_WARN("unmapping IOVA 0x%" PRIx64 "+0x%" PRIx64 " at teardown: %s", a->iova,
				 a->len, strerror(-rc));
	}
	area_free(&ioas->areas);
}

static int check_opts(const struct dp_ioas_opts *in, struct dp_ioas_opts *o)
{
	dp_ioas_opts_init(o, sizeof(*o));
	if (in == NULL)
		return 0;
	if (in->size < offsetof(struct dp_ioas_opts, flags) + sizeof(uint32_t)) {
		DPI_ERR("dp_ioas_create: opts->size %zu is too small: use dp_ioas_opts_init()",
			in->size);
		return -EINVAL;
	}
	memcpy(o, in, DPI_MIN(in->size, sizeof(*o)));
	o->size = sizeof(*o);
	if (o->backend > DP_IOMMU_SIM || (o->flags & ~DP_IOAS_F_MANUAL) || o->reserved ||
	    o->inval_mode > DP_INVAL_STRICT || o->inval_batch > 65536) {
		DPI_ERR("dp_ioas_create: bad options (backend %u, flags 0x%x, inval_mode %u, "
			"inval_batch %u, reserved not 0?)", o->backend, o->flags, o->inval_mode,
			o->inval_batch);
		return -EINVAL;
	}
	return 0;
}

int dp_ioas_create(const struct dp_ioas_opts *opts, struct dp_ioas **out)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	rc = check_opts(opts, &o);
	if (rc != 0)
		return rc;
	if (o.backend == DP_IOMMU_AUTO && (rc = backend_from_env(&o.backend)) != 0)
		return rc;
	if (!dpi_env_ready()) {
		DPI_ERR("dp_ioas_create: call dp_env_init() first");
		return -ENODEV;
	}
	ioas = dpi_fault("malloc") ? NULL : calloc(1, sizeof(*ioas));
	if (ioas == NULL)
		return -ENOMEM;
	pthread_mutex_init(&ioas->lock, NULL);
	ioas->flags = o.flags;
	inval_init(ioas, o.inval_mode, o.inval_batch, o.inval_age_us);
	rc = init_backend(ioas, o.backend);
	if (rc != 0)
		goto err_free;
	rc = refresh_ranges(ioas);
	if (rc != 0)
		goto err_fini;
	if (!(ioas->flags & DP_IOAS_F_MANUAL)) {
		rc = dpi_memmap_ioas_add(ioas);
		if (rc != 0)
			goto err_fini;
	}
	*out = ioas;
	return 0;

err_fini:
	pthread_mutex_lock(&ioas->lock);
	unmap_all(ioas);
	pthread_mutex_unlock(&ioas->lock);
	ioas->ops->fini(ioas);
err_free:
	inval_fini(ioas);
	pthread_mutex_destroy(&ioas->lock);
	free(ioas);
	return rc;
}

int dp_ioas_destroy(struct dp_ioas *ioas)
{
	if (ioas == NULL)
		return -EINVAL;
	pthread_mutex_lock(&ioas->lock);
	if (ioas->ndevices != 0) {
		pthread_mutex_unlock(&ioas->lock);
		DPI_ERR("dp_ioas_destroy: %u device(s) or device PASIDs still attached: "
			"dp_device_close() / dp_pasid_detach() them first",
			ioas->ndevices);
		return -EBUSY;
	}
	if (ioas->npollers != 0) {
		pthread_mutex_unlock(&ioas->lock);
		DPI_ERR("dp_ioas_destroy: %u poller(s) of dp_iova_poller_register() still use it: "
			"dp_iova_poller_unregister() them first", ioas->npollers);
		return -EBUSY;
	}
	pthread_mutex_unlock(&ioas->lock);
	inval_fini(ioas); /* deferred unmaps: flushed, or unmapped below with everything */
	if (ioas->on_list)
		dpi_memmap_ioas_remove(ioas);
	pthread_mutex_lock(&ioas->lock);
	unmap_all(ioas);
	pthread_mutex_unlock(&ioas->lock);
	dpi_dynmap_fini(ioas);
	ioas->ops->fini(ioas);
	pthread_mutex_destroy(&ioas->lock);
	free(ioas);
	return 0;
}

/* ---- map / unmap / copy ------------------------------------------------------------------- */

static int check_map_args(const void *ioas, uint64_t vaddr, uint64_t len, dp_iova_t iova,
			  uint32_t flags, const char *who)
{
	if (ioas == NULL || len == 0) {
		DPI_ERR("%s: %s", who, ioas == NULL ? "ioas is NULL" : "length is 0");
		return -EINVAL;
	}
	if ((vaddr | len | iova) & (DPI_PAGE_4K - 1)) {
		DPI_ERR("%s: vaddr 0x%" PRIx64 ", iova 0x%" PRIx64 " and length 0x%" PRIx64
			" must all be 4 KiB aligned", who, vaddr, iova, len);
		return -EINVAL;
	}
	if (flags & ~MAP_FLAGS) {
		DPI_ERR("%s: unknown flags 0x%x", who, flags & ~MAP_FLAGS);
		return -EINVAL;
	}
	if (iova + len < iova || vaddr + len < vaddr) {
		DPI_ERR("%s: range wraps around", who);
		return -ERANGE;
	}
	return 0;
}

int dpi_ioas_map_locked(struct dp_ioas *ioas, uintptr_t vaddr, uint64_t len, dp_iova_t iova,
			uint32_t prot, uint32_t owner)
{
	struct area a = {.iova = iova, .len = len, .vaddr = vaddr, .prot = prot, .owner = owner};
	struct area_pos first;
	uint32_t count;
	int rc;

	if (!dpi_ioas_in_ranges(ioas, iova, len)) {
		DPI_ERR("IOVA 0x%" PRIx64 "+0x%" PRIx64 " is outside the IOAS's usable ranges "
			"(see dp_ioas_get_ranges)", iova, len);
		return -ERANGE;
	}
	if (area_overlaps(&ioas->areas, iova, len)) {
		DPI_ERR("IOVA 0x%" PRIx64 "+0x%" PRIx64 " overlaps an existing mapping", iova, len);
		return -EEXIST;
	}
	if (owner != AREA_DYN && dpi_ioas_in_dyn_window(ioas, iova, len)) {
		DPI_ERR("IOVA 0x%" PRIx64 "+0x%" PRIx64 " lies in the window dp_iova_map allocates "
			"from (0x%llx-0x%llx)", iova, len, DPI_DYN_START, DPI_DYN_LAST);
		return -EEXIST;
	}
	rc = area_insert(&ioas->areas, &a);
	if (rc != 0)
		return rc;
	rc = ioas->ops->map(ioas, (void *)vaddr, iova, len, prot);
	if (rc != 0) {
		area_exact(&ioas->areas, iova, len, owner, &first, &count);
		area_remove(&ioas->areas, first, count);
	}
	return rc;
}

int dpi_ioas_unmap_locked(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len, uint32_t owner)
{
	uint32_t count;

	return dpi_ioas_unmap_run_locked(ioas, iova, len, owner, &count);
}

int dpi_ioas_unmap_run_locked(struct dp_ioas *ioas, dp_iova_t iova, uint64_t len,
			      uint32_t owner, uint32_t *n)
{
	struct area_pos first;
	uint32_t count;
	int rc = area_exact(&ioas->areas, iova, len, owner, &first, &count);

	if (rc != 0)
		return rc;
	rc = ioas->ops->unmap(ioas, iova, len);
	if (rc != 0) {
		DPI_ERR("unmapping IOVA 0x%" PRIx64 "+0x%" PRIx64 " failed (%s backend): %s", iova,
			len, ioas->ops->name, strerror(-rc));
		return rc;
	}
	area_remove(&ioas->areas, first, count);
	*n = count;
	return 0;
}

int dp_ioas_map(struct dp_ioas *ioas, void *vaddr, size_t len, dp_iova_t iova, uint32_t flags)
{
	int rc = check_map_args(ioas, (uintptr_t)vaddr, len, iova, flags, "dp_ioas_map");

	if (rc != 0)
		return rc;
	if (vaddr == NULL) {
		DPI_ERR("dp_ioas_map: vaddr is NULL");
		return -EINVAL;
	}
	pthread_mutex_lock(&ioas->lock);
	rc = dpi_ioas_map_locked(ioas, (uintptr_t)vaddr, len, iova, flags ? flags : MAP_FLAGS,
				 AREA_USER);
	pthread_mutex_unlock(&ioas->lock);
	return rc;
}

int dp_ioas_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len)
{
	int rc = check_map_args(ioas, 0, len, iova, 0, "dp_ioas_unmap");

	if (rc != 0)
		return rc;
	pthread_mutex_lock(&ioas->lock);
	rc = dpi_ioas_unmap_locked(ioas, iova, len, AREA_USER);
	pthread_mutex_unlock(&ioas->lock);
	if (rc == -ENOENT)
		DPI_ERR("dp_ioas_unmap: IOVA 0x%" PRIx64 "+0x%zx is not exactly covered by "
			"mappings made with dp_ioas_map or dp_ioas_copy", iova, len);
	return rc;
}

/* The source pieces of [iova, iova+len) in src: areas in order, cut to the range. */
struct piece {
	uintptr_t vaddr;
	dp_iova_t iova;
	uint64_t len;
};

static int source_pieces(struct dp_ioas *src, dp_iova_t iova, uint64_t len, struct piece **out,
			 uint32_t *n)
{
	struct area_pos i = area_lower(&src->areas, iova);
	uint32_t k = 0;
	dp_iova_t at = iova, end = iova + len;
	struct piece *p;

	p = dpi_fault("malloc") ? NULL : calloc(src->areas.n + 1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	for (; area_valid(&src->areas, i) && at < end; i = area_next(&src->areas, i)) {
		const struct area *a = area_at(&src->areas, i);
		if (a->iova > at)
			break;
		uint64_t off = at - a->iova, take = DPI_MIN(a->len - off, end - at);
		p[k++] = (struct piece){a->vaddr + off, at, take};
		at += take;
	}
	if (at != end) {
		free(p);
		return -ENOENT;
	}
	*out = p;
	*n = k;
	return 0;
}

static void lock_pair(struct dp_ioas *a, struct dp_ioas *b)
{
	if (a == b) {
		pthread_mutex_lock(&a->lock);
	} else if (a < b) {
		pthread_mutex_lock(&a->lock);
		pthread_mutex_lock(&b->lock);
	} else {
		pthread_mutex_lock(&b->lock);
		pthread_mutex_lock(&a->lock);
	}
}

static void unlock_pair(struct dp_ioas *a, struct dp_ioas *b)
{
	pthread_mutex_unlock(&a->lock);
	if (a != b)
		pthread_mutex_unlock(&b->lock);
}

/* Record the pieces in dst and share the pages through the backend's copy when it can, else
 * map each piece from its virtual address. Locks held. */
static int copy_locked(struct dp_ioas *dst, dp_iova_t dst_iova, struct dp_ioas *src,
		       dp_iova_t src_iova, uint64_t len, uint32_t prot)
{
	struct piece *p;
	uint32_t n, done = 0;
	int rc;

	if (!dpi_ioas_in_ranges(dst, dst_iova, len)) {
		DPI_ERR("dp_ioas_copy: destination IOVA 0x%" PRIx64 "+0x%" PRIx64
			" is outside the usable ranges", dst_iova, len);
		return -ERANGE;
	}
	if (area_overlaps(&dst->areas, dst_iova, len) || dpi_ioas_in_dyn_window(dst, dst_iova, len)) {
		DPI_ERR("dp_ioas_copy: destination IOVA 0x%" PRIx64 " overlaps a mapping or the "
			"dp_iova_map window", dst_iova);
		return -EEXIST;
	}
	rc = source_pieces(src, src_iova, len, &p, &n);
	if (rc != 0) {
		DPI_ERR("dp_ioas_copy: source IOVA 0x%" PRIx64 "+0x%" PRIx64 " is not mapped",
			src_iova, len);
		return rc;
	}
	bool shared = dst->ops == src->ops && dst->ops->copy != NULL;
	if (shared) {
		rc = dst->ops->copy(dst, dst_iova, src, src_iova, len, prot);
		if (rc == -EXDEV) /* not shareable between these two: map from vaddr instead */
			shared = false;
		else if (rc != 0)
			goto out;
	}
	for (; done < n; done++) {
		struct area a = {.iova = dst_iova + (p[done].iova - src_iova), .len = p[done].len,
				 .vaddr = p[done].vaddr, .prot = prot, .owner = AREA_USER};
		if (shared)
			rc = area_insert(&dst->areas, &a);
		else
			rc = dpi_ioas_map_locked(dst, a.vaddr, a.len, a.iova, prot, AREA_USER);
		if (rc != 0)
			break;
	}
	if (rc != 0) {
		/* Undo: the pieces recorded so far, and the shared copy as a whole. */
		if (done > 0 && !shared)
			dpi_ioas_unmap_locked(dst, dst_iova, p[done - 1].iova + p[done - 1].len -
							    src_iova, AREA_USER);
		if (shared) {
			struct area_pos first;
			uint32_t count;
			dst->ops->unmap(dst, dst_iova, len);
			if (done > 0 && area_exact(&dst->areas, dst_iova,
						   p[done - 1].iova + p[done - 1].len - src_iova,
						   AREA_USER, &first, &count) == 0)
				area_remove(&dst->areas, first, count);
		}
	}
out:
	free(p);
	return rc;
}

int dp_ioas_copy(struct dp_ioas *dst, dp_iova_t dst_iova, struct dp_ioas *src, dp_iova_t src_iova,
		 size_t len, uint32_t flags)
{
	int rc = check_map_args(dst, 0, len, dst_iova, flags, "dp_ioas_copy");

	if (rc == 0)
		rc = check_map_args(src, 0, len, src_iova, 0, "dp_ioas_copy");
	if (rc != 0)
		return rc;
	lock_pair(dst, src);
	rc = copy_locked(dst, dst_iova, src, src_iova, len, flags ? flags : MAP_FLAGS);
	unlock_pair(dst, src);
	return rc;
}

/* ---- devices ------------------------------------------------------------------------------ */

int dpi_ioas_device_attached(struct dp_ioas *ioas, struct dp_device *dev)
{
	int rc;

	(void)dev;
	pthread_mutex_lock(&ioas->lock);
	rc = refresh_ranges(ioas);
	for (struct area_pos p = area_first(&ioas->areas); rc == 0 && area_valid(&ioas->areas, p);
	     p = area_next(&ioas->areas, p)) {
		const struct area *a = area_at(&ioas->areas, p);
		if (!dpi_ioas_in_ranges(ioas, a->iova, a->len)) {
			DPI_ERR("the device reserves IOVA ranges that mapping 0x%" PRIx64 "+0x%" PRIx64
				" already uses; map elsewhere or attach the device first", a->iova,
				a->len);
			rc = -ERANGE;
		}
	}
	if (rc == 0)
		ioas->ndevices++;
	pthread_mutex_unlock(&ioas->lock);
	return rc;
}

void dpi_ioas_device_detached(struct dp_ioas *ioas, struct dp_device *dev)
{
	(void)dev;
	pthread_mutex_lock(&ioas->lock);
	if (ioas->ndevices > 0)
		ioas->ndevices--;
	pthread_mutex_unlock(&ioas->lock);
}

/* After the backend-specific detach: the ranges may widen again. */
void dpi_ioas_device_gone(struct dp_ioas *ioas)
{
	pthread_mutex_lock(&ioas->lock);
	refresh_ranges(ioas);
	pthread_mutex_unlock(&ioas->lock);
}

uint32_t dpi_ioas_area_count(struct dp_ioas *ioas)
{
	uint32_t n;

	pthread_mutex_lock(&ioas->lock);
	n = ioas->areas.n;
	pthread_mutex_unlock(&ioas->lock);
	return n;
}
