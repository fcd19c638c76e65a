/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The iommufd backend of lib/iova: one IOAS object in /dev/iommu per dp_ioas.
 *
 * All iommufd IOASes of the process share one /dev/iommu file, opened by the first and closed
 * with the last: object ids are per file, IOMMU_IOAS_COPY needs source and destination in the
 * same file, and VFIO cdev devices bind to the file (dpi_ioas_iommufd()).
 *
 * The front end serialises control calls on an IOAS; the shared file is guarded by its own
 * mutex. Every kernel call goes through dpi_open/dpi_ioctl, so fail-nth tests reach it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/uapi_iommufd.h>

#include "iova_impl.h"

#define IOMMU_DEV_PATH "/dev/iommu"

/* Tests without a kernel point this at a file their fake ioctl() recognises. */
static const char *g_dev_path = IOMMU_DEV_PATH;

void dpi_iommufd_set_dev_path(const char *path)
{
	g_dev_path = path != NULL ? path : IOMMU_DEV_PATH;
}

/* Ranges read in one go before falling back to a heap buffer. */
#define RANGES_ON_STACK 16
/* IOVA_RANGES retries when the ranges keep changing under us (devices attaching). */
#define RANGES_TRIES 4

static struct {
	pthread_mutex_t lock;
	int fd;
	unsigned int refs;
} g_ctx = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

/* ---- the shared /dev/iommu file ------------------------------------------------------------ */

static int open_error(int err)
{
	switch (err) {
	case ENOENT:
		DPI_NOTICE(
			"no " IOMMU_DEV_PATH ": the kernel lacks CONFIG_IOMMUFD (or iommufd is not "
			"loaded: modprobe iommufd); DP_IOMMU=vfio uses the VFIO type1 container");
		return -ENOTSUP;
	case ENODEV:
	case ENXIO:
		DPI_NOTICE(IOMMU_DEV_PATH " exists but no driver answers it (%s): modprobe iommufd",
			   strerror(err));
		return -ENOTSUP;
	case EACCES:
	case EPERM:
		DPI_ERR("no permission to open " IOMMU_DEV_PATH
			": run as root, or give the user the "
			"node (chown/chmod " IOMMU_DEV_PATH
			") and a large RLIMIT_MEMLOCK (ulimit -l)");
		return -EACCES;
	default:
		DPI_ERR("cannot open " IOMMU_DEV_PATH ": %s", strerror(err));
		return -err;
	}
}

static int ctx_get(int *fd)
{
	int rc = 0;

	pthread_mutex_lock(&g_ctx.lock);
	if (g_ctx.refs == 0) {
		int f = dpi_open(g_dev_path, O_RDWR);

		if (f < 0) {
			rc = open_error(errno);
			goto out;
		}
		g_ctx.fd = f;
		DPI_DEBUG("opened " IOMMU_DEV_PATH " (uAPI definitions: %s)",
			  DPI_UAPI_IOMMUFD_SOURCE);
	}
	g_ctx.refs++;
	*fd = g_ctx.fd;
out:
	pthread_mutex_unlock(&g_ctx.lock);
	return rc;
}

static void ctx_put(void)
{
	pthread_mutex_lock(&g_ctx.lock);
	if (g_ctx.refs > 0 && --g_ctx.refs == 0) {
		close(g_ctx.fd);
		g_ctx.fd = -1;
	}
	pthread_mutex_unlock(&g_ctx.lock);
}

/* ---- ops ------------------------------------------------------------------------------------ */

static struct iommufd_ioas *priv_of(const struct dp_ioas *ioas)
{
	return dpi_ioas_priv(ioas);
}

static int iommufd_init(struct dp_ioas *ioas)
{
	struct iommu_ioas_alloc alloc = {.size = sizeof(alloc)};
	struct iommu_option opt = {
		.size = sizeof(opt),
		.option_id = IOMMU_OPTION_HUGE_PAGES,
		.op = IOMMU_OPTION_OP_SET,
		.val64 = 1,
	};
	struct iommufd_ioas *p;
	int rc;

	p = dpi_calloc(1, sizeof(*p));
	if (p == NULL) {
		DPI_ERR("iommufd: no memory for the IOAS state");
		return -ENOMEM;
	}
	rc = ctx_get(&p->fd);
	if (rc != 0)
		goto err_free;

	if (dpi_ioctl(p->fd, IOMMU_IOAS_ALLOC, &alloc) != 0) {
		rc = -errno;
		if (rc == -ENOTTY || rc == -EOPNOTSUPP) {
			DPI_NOTICE(IOMMU_DEV_PATH
				   " does not support IOMMU_IOAS_ALLOC (%s): kernel "
				   "too old for iommufd; DP_IOMMU=vfio uses the type1 container",
				   strerror(-rc));
			rc = -ENOTSUP;
		} else {
			DPI_ERR("IOMMU_IOAS_ALLOC: %s", strerror(-rc));
		}
		goto err_put;
	}
	p->ioas_id = alloc.out_ioas_id;

	/* Combining contiguous pages into large IOMMU pages is the kernel's default; ask anyway,
	 * so that a changed default does not cost IOTLB reach silently. Not fatal. */
	opt.object_id = p->ioas_id;
	if (dpi_ioctl(p->fd, IOMMU_OPTION, &opt) != 0)
		DPI_INFO("iommufd: IOMMU_OPTION HUGE_PAGES=1 on IOAS %u: %s (continuing)",
			 p->ioas_id, strerror(errno));

	dpi_ioas_set_priv(ioas, p);
	DPI_INFO("iommufd: IOAS %u on fd %d", p->ioas_id, p->fd);
	return 0;

err_put:
	ctx_put();
err_free:
	free(p);
	return rc;
}

static void iommufd_fini(struct dp_ioas *ioas)
{
	struct iommufd_ioas *p = priv_of(ioas);
	struct iommu_destroy cmd = {.size = sizeof(cmd)};

	if (p == NULL)
		return;
	cmd.id = p->ioas_id;
	if (dpi_ioctl(p->fd, IOMMU_DESTROY, &cmd) != 0) /* closing the file frees it anyway */
		DPI_WARN("iommufd: IOMMU_DESTROY of IOAS %u: %s", p->ioas_id, strerror(errno));
	dpi_ioas_set_priv(ioas, NULL);
	ctx_put();
	free(p);
}

static uint32_t map_flags(uint32_t prot)
{
	uint32_t flags = IOMMU_IOAS_MAP_FIXED_IOVA;

	if (prot & DPI_PROT_READ)
		flags |= IOMMU_IOAS_MAP_READABLE;
	if (prot & DPI_PROT_WRITE)
		flags |= IOMMU_IOAS_MAP_WRITEABLE;
	return flags;
}

static const char *map_hint(int err)
{
	switch (err) {
	case ENOMEM:
		return " (pinned memory is charged to RLIMIT_MEMLOCK: raise it, ulimit -l)";
	case EEXIST:
		return " (overlaps a mapping)";
	case EINVAL:
		return " (misaligned, or in a range a device reserves)";
	case EFAULT:
		return " (not mapped memory of this process)";
	default:
		return "";
	}
}

int dpi_iommufd_p_map(struct iommufd_ioas *p, void *vaddr, dp_iova_t iova, size_t len,
		      uint32_t prot)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = map_flags(prot),
		.ioas_id = p->ioas_id,
		.user_va = (uintptr_t)vaddr,
		.length = len,
		.iova = iova,
	};

	if (dpi_ioctl(p->fd, IOMMU_IOAS_MAP, &cmd) != 0) {
		int err = errno;

		DPI_ERR("iommufd: IOMMU_IOAS_MAP of %#zx bytes at %p to IOVA %#" PRIx64 ": %s%s",
			len, vaddr, iova, strerror(err), map_hint(err));
		return -err;
	}
	return 0;
}

static int iommufd_map(struct dp_ioas *ioas, void *vaddr, dp_iova_t iova, size_t len, uint32_t prot)
{
	return dpi_iommufd_p_map(priv_of(ioas), vaddr, iova, len, prot);
}

int dpi_iommufd_p_unmap(struct iommufd_ioas *p, dp_iova_t iova, size_t len)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = p->ioas_id,
		.iova = iova,
		.length = len,
	};

	if (dpi_ioctl(p->fd, IOMMU_IOAS_UNMAP, &cmd) != 0) {
		int err = errno;

		DPI_ERR("iommufd: IOMMU_IOAS_UNMAP of %#zx bytes at IOVA %#" PRIx64 ": %s", len,
			iova, strerror(err));
		return -err;
	}
	if (cmd.length != len) {
		/* The kernel unmaps only whole mappings inside the range: a difference means the
		 * front end's record and the IOAS disagree. */
		DPI_ERR("iommufd: IOMMU_IOAS_UNMAP at IOVA %#" PRIx64 " unmapped %#" PRIx64
			" bytes of %#zx: the IOAS differs from dmaplane's record",
			iova, (uint64_t)cmd.length, len);
		return -EIO;
	}
	return 0;
}

static int iommufd_unmap(struct dp_ioas *ioas, dp_iova_t iova, size_t len)
{
	return dpi_iommufd_p_unmap(priv_of(ioas), iova, len);
}

static int iommufd_copy(struct dp_ioas *dst, dp_iova_t dst_iova, struct dp_ioas *src,
			dp_iova_t src_iova, size_t len, uint32_t prot)
{
	struct iommufd_ioas *d = priv_of(dst);
	struct iommufd_ioas *s;
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = map_flags(prot),
		.length = len,
		.dst_iova = dst_iova,
		.src_iova = src_iova,
	};

	if (dpi_ioas_ops(src) != &dpi_iommu_iommufd_ops) {
		DPI_ERR("iommufd: IOAS_COPY from a %s IOAS: both must be iommufd",
			dpi_ioas_ops(src)->name);
		return -EINVAL;
	}
	s = priv_of(src);
	cmd.dst_ioas_id = d->ioas_id;
	cmd.src_ioas_id = s->ioas_id;
	if (dpi_ioctl(d->fd, IOMMU_IOAS_COPY, &cmd) != 0) {
		int err = errno;

		DPI_ERR("iommufd: IOMMU_IOAS_COPY of %#zx bytes IOAS %u IOVA %#" PRIx64
			" -> IOAS %u IOVA %#" PRIx64 ": %s%s",
			len, s->ioas_id, src_iova, d->ioas_id, dst_iova, strerror(err),
			err == ENOENT ? " (the source is not exactly one mapping)" : map_hint(err));
		return -err;
	}
	return 0;
}

/*
 * IOMMU_IOAS_IOVA_RANGES: the kernel fills what fits, reports the total in num_iovas and fails
 * with -EMSGSIZE when the buffer was short; retry with a buffer of that size (the count may
 * change between calls when devices attach, hence a few tries).
 */
static int read_ranges(struct iommufd_ioas *p, struct iommu_iova_range **out, uint32_t *num,
		       struct iommu_iova_range *stack, uint64_t *align)
{
	struct iommu_iova_range *buf = stack;
	uint32_t cap = RANGES_ON_STACK;

	for (int tries = 0; tries < RANGES_TRIES; tries++) {
		struct iommu_ioas_iova_ranges cmd = {
			.size = sizeof(cmd),
			.ioas_id = p->ioas_id,
			.num_iovas = cap,
			.allowed_iovas = (uintptr_t)buf,
		};
		struct iommu_iova_range *nbuf;
		int err;

		if (dpi_ioctl(p->fd, IOMMU_IOAS_IOVA_RANGES, &cmd) == 0) {
			*out = buf;
			*num = cmd.num_iovas;
			*align = cmd.out_iova_alignment;
			return 0;
		}
		err = errno;
		/* E2BIG accepted as well: the usual spelling of "buffer too small" elsewhere. */
		if ((err != EMSGSIZE && err != E2BIG) || cmd.num_iovas <= cap) {
			DPI_ERR("iommufd: IOMMU_IOAS_IOVA_RANGES of IOAS %u: %s", p->ioas_id,
				strerror(err));
			if (buf != stack)
				free(buf);
			return -err;
		}
		cap = cmd.num_iovas;
		nbuf = dpi_calloc(cap, sizeof(*nbuf));
		if (buf != stack)
			free(buf);
		if (nbuf == NULL) {
			DPI_ERR("iommufd: no memory for %u IOVA ranges", cap);
			return -ENOMEM;
		}
		buf = nbuf;
	}
	if (buf != stack)
		free(buf);
	DPI_ERR("iommufd: the IOVA ranges of IOAS %u kept changing while being read", p->ioas_id);
	return -EAGAIN;
}

int dpi_iommufd_p_ranges(struct iommufd_ioas *p, struct dp_iova_range *ranges, uint32_t *count)
{
	struct iommu_iova_range stack[RANGES_ON_STACK];
	struct iommu_iova_range *buf = NULL;
	uint64_t align = 0;
	uint32_t num = 0;
	int rc;

	rc = read_ranges(p, &buf, &num, stack, &align);
	if (rc != 0)
		return rc;
	if (align > 4096)
		DPI_WARN("iommufd: IOAS %u needs IOVA alignment %#" PRIx64 " (> 4 KiB)", p->ioas_id,
			 align);
	for (uint32_t i = 0; i < num && i < *count; i++) {
		ranges[i].start = buf[i].start;
		ranges[i].last = buf[i].last;
	}
	rc = num > *count ? -ENOSPC : 0;
	*count = num;
	if (buf != stack)
		free(buf);
	return rc;
}

static int iommufd_get_ranges(struct dp_ioas *ioas, struct dp_iova_range *ranges, uint32_t *count)
{
	return dpi_iommufd_p_ranges(priv_of(ioas), ranges, count);
}

const struct dpi_iommu_ops dpi_iommu_iommufd_ops = {
	.name = "iommufd",
	.backend = DP_IOMMU_IOMMUFD,
	.init = iommufd_init,
	.fini = iommufd_fini,
	.map = iommufd_map,
	.unmap = iommufd_unmap,
	.copy = iommufd_copy,
	.get_ranges = iommufd_get_ranges,
};

/* The iommufd IOAS state of @ioas: its own (plain), or with @nested the parent under a nested
 * IOAS on iommufd. Under the IOAS lock: a nested IOAS may turn plain meanwhile. */
static int ioas_ids(const struct dp_ioas *ioas, bool nested, int *iommufd, uint32_t *ioas_id)
{
	pthread_mutex_t *lock;
	const struct iommufd_ioas *p = NULL;

	if (ioas == NULL)
		return -ENOTSUP;
	lock = (pthread_mutex_t *)&ioas->lock;
	pthread_mutex_lock(lock);
	if (dpi_ioas_ops(ioas) == &dpi_iommu_iommufd_ops)
		p = priv_of(ioas);
	else if (nested)
		p = dpi_nested_fd_base(ioas);
	if (p != NULL) {
		if (iommufd != NULL)
			*iommufd = p->fd;
		if (ioas_id != NULL)
			*ioas_id = p->ioas_id;
	}
	pthread_mutex_unlock(lock);
	return p != NULL ? 0 : -ENOTSUP;
}

int dpi_ioas_iommufd(const struct dp_ioas *ioas, int *iommufd, uint32_t *ioas_id)
{
	return ioas_ids(ioas, false, iommufd, ioas_id);
}

int dpi_ioas_iommufd_fd(const struct dp_ioas *ioas, int *iommufd)
{
	return ioas_ids(ioas, true, iommufd, NULL);
}
