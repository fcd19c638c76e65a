/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The VFIO type1 backend of lib/iova: a container (/dev/vfio/vfio) with the type1v2 IOMMU.
 *
 * A container has no IOMMU until a group joins it and VFIO_SET_IOMMU picks the type1v2 driver,
 * and it loses the IOMMU with every mapping when the last group leaves. An IOAS, though, exists
 * and holds mappings before any device attaches (lib/env memory is mapped at creation). So this
 * backend keeps its own record of mappings (sorted by IOVA) and
 *  - maps in the kernel at once while the container has its IOMMU;
 *  - otherwise only records, and replays the record into the kernel when the first group
 *    attaches (a replay that the device's ranges do not allow fails the attach with -ERANGE);
 *  - keeps the record when the last group leaves, for the next attach.
 *
 * Usable ranges before the first group attaches: the container has no IOMMU to ask, so
 * nothing constrains IOVAs yet and the answer is the whole 64-bit space [0, UINT64_MAX], the
 * same as a fresh iommufd IOAS reports. They narrow when a group attaches; the front end
 * re-reads them then (dpi_ioas_device_attached).
 *
 * The type1 driver counts mappings against dma_entry_limit (65535 by default): every map call
 * is one entry, so the front end should coalesce. dpi_type1_dma_avail() reports what is left.
 * IOAS_COPY has no type1 equivalent: copy is NULL and the front end maps from the vaddr.
 *
 * Locking: a mutex per IOAS, since group attach (from lib/vfio) and map calls may come from
 * different threads.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/uapi_vfio.h>

#define CONTAINER_PATH "/dev/vfio/vfio"

/* First GET_INFO buffer; grown to what the kernel asks for. */
#define INFO_BUF_SIZE 512
#define INFO_TRIES    4

struct t1_map {
	uint64_t iova;
	uint64_t len;
	uintptr_t vaddr;
	uint32_t prot;
};

struct type1 {
	pthread_mutex_t lock;
	int container;
	bool iommu_set; /* VFIO_SET_IOMMU done: mappings live in the kernel */
	int *groups;    /* group fds attached, in attach order */
	uint32_t ngroups;
	uint32_t groups_cap;
	struct t1_map *maps; /* the record, sorted by iova, never overlapping */
	size_t nmaps;
	size_t maps_cap;
};

static struct type1 *priv_of(const struct dp_ioas *ioas)
{
	return dpi_ioas_priv(ioas);
}

/* ---- kernel calls -------------------------------------------------------------------------- */

static int kmap(struct type1 *t, const struct t1_map *m)
{
	struct vfio_iommu_type1_dma_map cmd = {
		.argsz = sizeof(cmd),
		.vaddr = m->vaddr,
		.iova = m->iova,
		.size = m->len,
	};

	if (m->prot & DPI_PROT_READ)
		cmd.flags |= VFIO_DMA_MAP_FLAG_READ;
	if (m->prot & DPI_PROT_WRITE)
		cmd.flags |= VFIO_DMA_MAP_FLAG_WRITE;
	if (dpi_ioctl(t->container, VFIO_IOMMU_MAP_DMA, &cmd) != 0)
		return -errno;
	return 0;
}

static int kunmap(struct type1 *t, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_unmap cmd = {
		.argsz = sizeof(cmd),
		.iova = iova,
		.size = len,
	};

	if (dpi_ioctl(t->container, VFIO_IOMMU_UNMAP_DMA, &cmd) != 0) {
		int err = errno;

		DPI_ERR("type1: VFIO_IOMMU_UNMAP_DMA of %#" PRIx64 " bytes at IOVA %#" PRIx64
			": %s",
			len, iova, strerror(err));
		return -err;
	}
	if (cmd.size != len) {
		DPI_ERR("type1: VFIO_IOMMU_UNMAP_DMA at IOVA %#" PRIx64 " unmapped %#" PRIx64
			" bytes of %#" PRIx64 ": the container differs from dmaplane's record",
			iova, (uint64_t)cmd.size, len);
		return -EIO;
	}
	return 0;
}

static void log_map_error(const struct t1_map *m, int err)
{
	const char *hint = "";

	if (err == ENOSPC)
		hint = " (the container's mapping limit is reached: coalesce mappings, or "
		       "raise it: modprobe vfio_iommu_type1 dma_entry_limit=N)";
	else if (err == ENOMEM)
		hint = " (pinned memory is charged to RLIMIT_MEMLOCK: raise it, ulimit -l)";
	else if (err == EINVAL)
		hint = " (outside the usable IOVA ranges, or misaligned)";
	else if (err == EEXIST)
		hint = " (overlaps a mapping)";
	DPI_ERR("type1: VFIO_IOMMU_MAP_DMA of %#" PRIx64 " bytes at %#" PRIxPTR " to IOVA %#" PRIx64
		": %s%s",
		m->len, m->vaddr, m->iova, strerror(err), hint);
}

/*
 * VFIO_IOMMU_GET_INFO with its capability chain. The kernel raises argsz when the chain does
 * not fit (without failing); call again with that size. *out is malloc'ed.
 */
static int get_info(struct type1 *t, struct vfio_iommu_type1_info **out)
{
	size_t size = INFO_BUF_SIZE;

	for (int tries = 0; tries < INFO_TRIES; tries++) {
		struct vfio_iommu_type1_info *info = dpi_calloc(1, size);

		if (info == NULL) {
			DPI_ERR("type1: no memory for %zu bytes of IOMMU info", size);
			return -ENOMEM;
		}
		info->argsz = (uint32_t)size;
		if (dpi_ioctl(t->container, VFIO_IOMMU_GET_INFO, info) != 0) {
			int err = errno;

			DPI_ERR("type1: VFIO_IOMMU_GET_INFO: %s", strerror(err));
			free(info);
			return -err;
		}
		if (info->argsz <= size) {
			*out = info;
			return 0;
		}
		size = info->argsz;
		free(info);
	}
	DPI_ERR("type1: VFIO_IOMMU_GET_INFO kept asking for a larger buffer");
	return -EAGAIN;
}

/* The capability @id in the chain of @info (@size bytes), or NULL. Bounds-checked. */
static const struct vfio_info_cap_header *find_cap(const struct vfio_iommu_type1_info *info,
						   size_t size, uint16_t id, size_t min_len)
{
	uint32_t off;

	if (!(info->flags & VFIO_IOMMU_INFO_CAPS) || size > info->argsz)
		return NULL;
	off = info->cap_offset;
	while (off != 0) {
		const struct vfio_info_cap_header *h;

		if (off < sizeof(*info) || off > size || size - off < min_len ||
		    size - off < sizeof(*h) || off % 4 != 0)
			return NULL;
		h = (const void *)((const char *)info + off);
		if (h->id == id)
			return h;
		if (h->next != 0 && h->next <= off) /* the chain only moves forward */
			return NULL;
		off = h->next;
	}
	return NULL;
}

/* ---- the record ---------------------------------------------------------------------------- */

/* Index of the first record with iova >= @iova. */
static size_t rec_lower_bound(const struct type1 *t, uint64_t iova)
{
	size_t lo = 0, hi = t->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->maps[mid].iova < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int rec_reserve(struct type1 *t)
{
	struct t1_map *n;
	size_t cap;

	if (t->nmaps < t->maps_cap)
		return 0;
	cap = t->maps_cap ? t->maps_cap * 2 : 64;
	n = dpi_realloc(t->maps, cap * sizeof(*n));
	if (n == NULL) {
		DPI_ERR("type1: no memory for %zu mapping records", cap);
		return -ENOMEM;
	}
	t->maps = n;
	t->maps_cap = cap;
	return 0;
}

/* Does [iova, iova+len) overlap a record? */
static bool rec_overlaps(const struct type1 *t, uint64_t iova, uint64_t len, size_t pos)
{
	if (pos < t->nmaps && t->maps[pos].iova < iova + len)
		return true;
	return pos > 0 && t->maps[pos - 1].iova + t->maps[pos - 1].len > iova;
}

/* ---- ops ------------------------------------------------------------------------------------ */

static int open_container(void)
{
	int fd = dpi_open(CONTAINER_PATH, O_RDWR);
	int err;

	if (fd >= 0)
		return fd;
	err = errno;
	switch (err) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		DPI_NOTICE("no " CONTAINER_PATH " (%s): the kernel lacks CONFIG_VFIO_CONTAINER, or "
			   "vfio is not loaded (modprobe vfio-pci)",
			   strerror(err));
		return -ENOTSUP;
	case EACCES:
	case EPERM:
		DPI_ERR("no permission to open " CONTAINER_PATH ": run as root, or give the user "
			"the node and a large RLIMIT_MEMLOCK (ulimit -l)");
		return -EACCES;
	default:
		DPI_ERR("cannot open " CONTAINER_PATH ": %s", strerror(err));
		return -err;
	}
}

static int check_container(int fd)
{
	int v = dpi_ioctl(fd, VFIO_GET_API_VERSION, NULL);

	if (v < 0) {
		DPI_ERR("type1: VFIO_GET_API_VERSION: %s", strerror(errno));
		return -errno;
	}
	if (v != VFIO_API_VERSION) {
		DPI_NOTICE("type1: VFIO API version %d, dmaplane knows %d", v, VFIO_API_VERSION);
		return -ENOTSUP;
	}
	v = dpi_ioctl(fd, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	if (v < 0) {
		DPI_ERR("type1: VFIO_CHECK_EXTENSION(TYPE1v2): %s", strerror(errno));
		return -errno;
	}
	if (v == 0) {
		DPI_NOTICE("type1: the container has no type1v2 IOMMU driver: the kernel lacks "
			   "CONFIG_VFIO_IOMMU_TYPE1 (or modprobe vfio_iommu_type1)");
		return -ENOTSUP;
	}
	return 0;
}

static int type1_init(struct dp_ioas *ioas)
{
	struct type1 *t;
	int rc;

	t = dpi_calloc(1, sizeof(*t));
	if (t == NULL) {
		DPI_ERR("type1: no memory for the IOAS state");
		return -ENOMEM;
	}
	rc = open_container();
	if (rc < 0)
		goto err_free;
	t->container = rc;
	rc = check_container(t->container);
	if (rc != 0)
		goto err_close;
	pthread_mutex_init(&t->lock, NULL);
	dpi_ioas_set_priv(ioas, t);
	DPI_INFO("type1: container fd %d (uAPI definitions: %s)", t->container,
		 DPI_UAPI_VFIO_SOURCE);
	return 0;

err_close:
	close(t->container);
err_free:
	free(t);
	return rc;
}

static void type1_fini(struct dp_ioas *ioas)
{
	struct type1 *t = priv_of(ioas);

	if (t == NULL)
		return;
	if (t->ngroups != 0)
		DPI_WARN("type1: IOAS torn down with %u groups attached", t->ngroups);
	if (t->nmaps != 0)
		DPI_WARN("type1: IOAS torn down with %zu mappings", t->nmaps);
	close(t->container); /* attached groups keep the container alive until they close */
	pthread_mutex_destroy(&t->lock);
	free(t->groups);
	free(t->maps);
	dpi_ioas_set_priv(ioas, NULL);
	free(t);
}

static int type1_map(struct dp_ioas *ioas, void *vaddr, dp_iova_t iova, size_t len, uint32_t prot)
{
	struct type1 *t = priv_of(ioas);
	struct t1_map m = {.iova = iova, .len = len, .vaddr = (uintptr_t)vaddr, .prot = prot};
	size_t pos;
	int rc;

	pthread_mutex_lock(&t->lock);
	rc = rec_reserve(t);
	if (rc != 0)
		goto out;
	pos = rec_lower_bound(t, iova);
	if (rec_overlaps(t, iova, len, pos)) {
		DPI_ERR("type1: IOVA %#" PRIx64 "+%#zx overlaps a mapping", iova, len);
		rc = -EEXIST;
		goto out;
	}
	if (t->iommu_set) {
		rc = kmap(t, &m);
		if (rc != 0) {
			log_map_error(&m, -rc);
			goto out;
		}
	}
	memmove(&t->maps[pos + 1], &t->maps[pos], (t->nmaps - pos) * sizeof(m));
	t->maps[pos] = m;
	t->nmaps++;
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static int type1_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len)
{
	struct type1 *t = priv_of(ioas);
	size_t first, end;
	uint64_t next = iova;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	/* The range must be exactly a run of adjacent records. */
	first = rec_lower_bound(t, iova);
	for (end = first; end < t->nmaps && t->maps[end].iova == next && next < iova + len; end++)
		next += t->maps[end].len;
	if (end == first || next != iova + len) {
		DPI_ERR("type1: IOVA %#" PRIx64 "+%#zx is not exactly a run of mappings", iova,
			len);
		rc = -ENOENT;
		goto out;
	}
	if (t->iommu_set) {
		rc = kunmap(t, iova, len);
		if (rc != 0)
			goto out;
	}
	memmove(&t->maps[first], &t->maps[end], (t->nmaps - end) * sizeof(t->maps[0]));
	t->nmaps -= end - first;
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static int type1_get_ranges(struct dp_ioas *ioas, struct dp_iova_range *ranges, uint32_t *count)
{
	struct type1 *t = priv_of(ioas);
	const struct vfio_iommu_type1_info_cap_iova_range *cap;
	struct vfio_iommu_type1_info *info = NULL;
	uint32_t num;
	int rc;

	pthread_mutex_lock(&t->lock);
	if (!t->iommu_set) {
		/* No IOMMU yet: nothing constrains IOVAs (see the top of this file). */
		if (*count >= 1) {
			ranges[0].start = 0;
			ranges[0].last = UINT64_MAX;
		}
		rc = *count >= 1 ? 0 : -ENOSPC;
		*count = 1;
		goto out;
	}
	rc = get_info(t, &info);
	if (rc != 0)
		goto out;
	cap = (const void *)find_cap(info, info->argsz, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
				     sizeof(*cap));
	if (cap == NULL) {
		/* Kernels before 5.4 (and mdev-only containers) do not report ranges. */
		DPI_INFO("type1: the container reports no IOVA ranges: assuming all of them");
		if (*count >= 1) {
			ranges[0].start = 0;
			ranges[0].last = UINT64_MAX;
		}
		rc = *count >= 1 ? 0 : -ENOSPC;
		*count = 1;
		goto out;
	}
	num = cap->nr_iovas;
	if ((size_t)num > (info->argsz - ((const char *)cap - (const char *)info) - sizeof(*cap)) /
				  sizeof(cap->iova_ranges[0])) {
		DPI_ERR("type1: malformed IOVA range capability (%u ranges)", num);
		rc = -EIO;
		goto out;
	}
	for (uint32_t i = 0; i < num && i < *count; i++) {
		ranges[i].start = cap->iova_ranges[i].start;
		ranges[i].last = cap->iova_ranges[i].end; /* inclusive, as ours */
	}
	rc = num > *count ? -ENOSPC : 0;
	*count = num;
out:
	pthread_mutex_unlock(&t->lock);
	free(info);
	return rc;
}

const struct dpi_iommu_ops dpi_iommu_type1_ops = {
	.name = "vfio",
	.backend = DP_IOMMU_VFIO,
	.init = type1_init,
	.fini = type1_fini,
	.map = type1_map,
	.unmap = type1_unmap,
	.copy = NULL,
	.get_ranges = type1_get_ranges,
};

/* ---- accessors for lib/vfio ---------------------------------------------------------------- */

static struct type1 *type1_of(const struct dp_ioas *ioas)
{
	if (ioas == NULL || dpi_ioas_ops(ioas) != &dpi_iommu_type1_ops)
		return NULL;
	return priv_of(ioas);
}

int dpi_type1_dma_avail(const struct dp_ioas *ioas, uint32_t *avail)
{
	struct type1 *t = type1_of(ioas);
	struct vfio_iommu_type1_info *info = NULL;
	const struct vfio_iommu_type1_info_dma_avail *cap;
	int rc;

	if (t == NULL)
		return -ENOTSUP;
	if (avail == NULL)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	if (!t->iommu_set) {
		rc = -ENODATA;
		goto out;
	}
	rc = get_info(t, &info);
	if (rc != 0)
		goto out;
	cap = (const void *)find_cap(info, info->argsz, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
				     sizeof(*cap));
	if (cap == NULL) {
		rc = -ENODATA; /* kernels before 5.10 */
		goto out;
	}
	*avail = cap->avail;
out:
	pthread_mutex_unlock(&t->lock);
	free(info);
	return rc;
}

/* Map every recorded mapping into the freshly set IOMMU. On failure the caller unsets the
 * container, which drops whatever was mapped. */
static int replay(struct type1 *t)
{
	for (size_t i = 0; i < t->nmaps; i++) {
		int rc = kmap(t, &t->maps[i]);

		if (rc == 0)
			continue;
		log_map_error(&t->maps[i], -rc);
		if (rc == -EINVAL) {
			DPI_ERR("type1: existing mappings do not fit the usable IOVA ranges of the "
				"device's IOMMU group");
			return -ERANGE;
		}
		return rc;
	}
	return 0;
}

static int group_index(const struct type1 *t, int group_fd)
{
	for (uint32_t i = 0; i < t->ngroups; i++)
		if (t->groups[i] == group_fd)
			return (int)i;
	return -1;
}

int dpi_type1_group_attach(struct dp_ioas *ioas, int group_fd)
{
	struct type1 *t = type1_of(ioas);
	int32_t container;
	int rc = 0;

	if (t == NULL)
		return -ENOTSUP;
	pthread_mutex_lock(&t->lock);
	if (group_index(t, group_fd) >= 0) {
		rc = -EALREADY;
		goto out;
	}
	if (t->ngroups == t->groups_cap) {
		uint32_t cap = t->groups_cap ? t->groups_cap * 2 : 4;
		int *n = dpi_realloc(t->groups, cap * sizeof(*n));

		if (n == NULL) {
			DPI_ERR("type1: no memory for the group list");
			rc = -ENOMEM;
			goto out;
		}
		t->groups = n;
		t->groups_cap = cap;
	}

	container = t->container;
	if (dpi_ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container) != 0) {
		int err = errno;

		if (err == EINVAL && t->iommu_set) {
			/* The type1 driver refuses a group whose reserved ranges or aperture
			 * conflict with existing mappings. */
			DPI_ERR("type1: VFIO_GROUP_SET_CONTAINER: %s: most likely mappings of the "
				"IOAS fall in IOVA ranges this group reserves",
				strerror(err));
			rc = -ERANGE;
		} else {
			DPI_ERR("type1: VFIO_GROUP_SET_CONTAINER: %s%s", strerror(err),
				err == EBUSY ? " (the group is in another container)" : "");
			rc = -err;
		}
		goto out;
	}
	if (!t->iommu_set) {
		if (dpi_ioctl(t->container, VFIO_SET_IOMMU,
			      (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU) != 0) {
			rc = -errno;
			DPI_ERR("type1: VFIO_SET_IOMMU(TYPE1v2): %s", strerror(-rc));
			goto err_unset;
		}
		t->iommu_set = true;
		rc = replay(t);
		if (rc != 0) {
			t->iommu_set = false; /* unsetting the only group releases the IOMMU */
			goto err_unset;
		}
		DPI_DEBUG("type1: IOMMU set, %zu mappings replayed", t->nmaps);
	}
	t->groups[t->ngroups++] = group_fd;
	goto out;

err_unset:
	if (dpi_ioctl(group_fd, VFIO_GROUP_UNSET_CONTAINER, NULL) != 0)
		DPI_ERR("type1: VFIO_GROUP_UNSET_CONTAINER while undoing: %s", strerror(errno));
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int dpi_type1_group_detach(struct dp_ioas *ioas, int group_fd)
{
	struct type1 *t = type1_of(ioas);
	int idx, rc = 0;

	if (t == NULL)
		return -ENOTSUP;
	pthread_mutex_lock(&t->lock);
	idx = group_index(t, group_fd);
	if (idx < 0) {
		rc = -ENOENT;
		goto out;
	}
	/* Forget the group even when the kernel refuses: the caller closes the group file next,
	 * and closing it takes the group out of the container in any case. */
	if (dpi_ioctl(group_fd, VFIO_GROUP_UNSET_CONTAINER, NULL) != 0) {
		rc = -errno;
		DPI_ERR("type1: VFIO_GROUP_UNSET_CONTAINER: %s%s", strerror(-rc),
			rc == -EBUSY ? " (device files of the group are still open)" : "");
	}
	t->groups[idx] = t->groups[--t->ngroups];
	if (t->ngroups == 0) {
		/* The kernel released the container's IOMMU and every mapping with it; the
		 * record stays for the next attach. */
		t->iommu_set = false;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}
