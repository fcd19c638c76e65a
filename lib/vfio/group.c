/* SPDX-License-Identifier: BSD-3-Clause */
/* VFIO groups for the type1 path; see group.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "vfio"
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/uapi_vfio.h>

#include "group.h"
#include <dmaplane_internal/sysfs.h>

struct dpi_vfio_group {
	struct dpi_vfio_group *next;
	int number;
	int fd;
	unsigned int refs;
	struct dp_ioas *ioas;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dpi_vfio_group *g_groups;

/* ---- viability report ----------------------------------------------------------------------- */

struct blockers {
	int number;
	char list[512];
	size_t used;
	unsigned int count;
};

/* Drivers that do not make a group unviable: VFIO's own and those the kernel allows. */
static int driver_harmless(const char *drv)
{
	size_t n = strlen(drv);

	return strcmp(drv, "pci-stub") == 0 || strcmp(drv, "pcieport") == 0 ||
	       (n >= 8 && strcmp(drv + n - 8, "vfio-pci") == 0);
}

static int blocker_fn(const char *name, void *arg)
{
	struct blockers *b = arg;
	char path[512], drv[64];
	int n;

	if (dpi_sysfs_path(path, sizeof(path), "kernel/iommu_groups/%d/devices/%s/driver",
			   b->number, name) != 0)
		return 0;
	if (dpi_sysfs_link_base(path, drv, sizeof(drv)) != 0 || driver_harmless(drv))
		return 0;
	n = snprintf(b->list + b->used, sizeof(b->list) - b->used, "%s%s (%s)",
		     b->count ? ", " : "", name, drv);
	if (n > 0 && (size_t)n < sizeof(b->list) - b->used)
		b->used += (size_t)n;
	b->count++;
	return 0;
}

static void report_not_viable(int number)
{
	struct blockers b = {.number = number};
	char dir[256];

	if (dpi_sysfs_path(dir, sizeof(dir), "kernel/iommu_groups/%d/devices", number) == 0)
		dpi_sysfs_for_each(dir, blocker_fn, &b);
	if (b.count != 0)
		DPI_ERR("IOMMU group %d is not viable: devices of the group are still bound to "
			"kernel drivers: %s; bind them to vfio-pci as well (scripts/setup.sh bind "
			"ADDR) or unbind them",
			number, b.list);
	else
		DPI_ERR("IOMMU group %d is not viable: some device of the group is bound to a "
			"kernel driver (see /sys/kernel/iommu_groups/%d/devices)",
			number, number);
}

/* ---- open and attach ------------------------------------------------------------------------ */

static int group_number(const char *addr, int *number)
{
	char path[256], name[32], *end;
	long n;
	int rc;

	rc = dpi_sysfs_path(path, sizeof(path), "bus/pci/devices/%s/iommu_group", addr);
	if (rc == 0)
		rc = dpi_sysfs_link_base(path, name, sizeof(name));
	if (rc == -ENOENT) {
		DPI_ERR("%s has no IOMMU group: is the IOMMU enabled (intel_iommu=on, or "
			"amd_iommu=on on the kernel command line)?",
			addr);
		return -ENOTSUP;
	}
	if (rc != 0) {
		DPI_ERR("cannot read the IOMMU group of %s: %s", addr, strerror(-rc));
		return rc == -EACCES || rc == -EPERM ? -EACCES : rc;
	}
	errno = 0;
	n = strtol(name, &end, 10);
	if (errno != 0 || end == name || *end != '\0' || n < 0 || n > INT32_MAX) {
		DPI_ERR("%s: unexpected IOMMU group name '%s'", addr, name);
		return -EINVAL;
	}
	*number = (int)n;
	return 0;
}

static int open_group(int number, int *fd)
{
	char path[64];
	int f, err;

	snprintf(path, sizeof(path), "/dev/vfio/%d", number);
	f = dpi_open(path, O_RDWR);
	if (f >= 0) {
		*fd = f;
		return 0;
	}
	err = errno;
	switch (err) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		DPI_ERR("no %s (%s): the kernel lacks CONFIG_VFIO_GROUP, or devtmpfs/udev did not "
			"create the node; DP_IOMMU=iommufd uses the VFIO cdev instead",
			path, strerror(err));
		return -ENOTSUP;
	case EACCES:
	case EPERM:
		DPI_ERR("no permission to open %s: run as root or chown the node", path);
		return -EACCES;
	case EBUSY:
		DPI_ERR("%s is open elsewhere (another process, or a device of the group is open "
			"through its VFIO cdev)",
			path);
		return -EBUSY;
	default:
		DPI_ERR("cannot open %s: %s", path, strerror(err));
		return -err;
	}
}

static int check_viable(int number, int fd)
{
	struct vfio_group_status st = {.argsz = sizeof(st)};

	if (dpi_ioctl(fd, VFIO_GROUP_GET_STATUS, &st) != 0) {
		int err = errno;

		DPI_ERR("VFIO_GROUP_GET_STATUS of group %d: %s", number, strerror(err));
		return -err;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		report_not_viable(number);
		return -EBUSY;
	}
	if (st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET) {
		DPI_ERR("IOMMU group %d is already in a container", number);
		return -EBUSY;
	}
	return 0;
}

static struct dpi_vfio_group *find_group(int number)
{
	for (struct dpi_vfio_group *g = g_groups; g != NULL; g = g->next)
		if (g->number == number)
			return g;
	return NULL;
}

int dpi_vfio_group_get(const char *addr, struct dp_ioas *ioas, struct dpi_vfio_group **group)
{
	struct dpi_vfio_group *g;
	int number, rc;

	rc = group_number(addr, &number);
	if (rc != 0)
		return rc;

	pthread_mutex_lock(&g_lock);
	g = find_group(number);
	if (g != NULL) {
		if (g->ioas != ioas) {
			DPI_ERR("%s: its IOMMU group %d is attached to another IOAS; the devices "
				"of a "
				"group share one address space",
				addr, number);
			rc = -EBUSY;
			goto out;
		}
		g->refs++;
		*group = g;
		goto out;
	}

	g = dpi_calloc(1, sizeof(*g));
	if (g == NULL) {
		DPI_ERR("no memory for a group entry");
		rc = -ENOMEM;
		goto out;
	}
	g->number = number;
	g->ioas = ioas;
	g->refs = 1;
	rc = open_group(number, &g->fd);
	if (rc != 0)
		goto err_free;
	rc = check_viable(number, g->fd);
	if (rc != 0)
		goto err_close;
	rc = dpi_type1_group_attach(ioas, g->fd);
	if (rc != 0)
		goto err_close;
	g->next = g_groups;
	g_groups = g;
	*group = g;
	DPI_DEBUG("group %d (fd %d) attached for %s", number, g->fd, addr);
	goto out;

err_close:
	close(g->fd);
err_free:
	free(g);
out:
	pthread_mutex_unlock(&g_lock);
	return rc;
}

void dpi_vfio_group_put(struct dpi_vfio_group *group)
{
	struct dpi_vfio_group **pp;
	int rc;

	if (group == NULL)
		return;
	pthread_mutex_lock(&g_lock);
	if (--group->refs != 0)
		goto out;
	for (pp = &g_groups; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == group) {
			*pp = group->next;
			break;
		}
	}
	rc = dpi_type1_group_detach(group->ioas, group->fd);
	if (rc != 0) /* closing the group file unsets the container anyway */
		DPI_WARN("group %d: detach from the container: %s", group->number, strerror(-rc));
	close(group->fd);
	free(group);
out:
	pthread_mutex_unlock(&g_lock);
}

int dpi_vfio_group_fd(const struct dpi_vfio_group *group)
{
	return group->fd;
}

int dpi_vfio_group_number(const struct dpi_vfio_group *group)
{
	return group->number;
}
