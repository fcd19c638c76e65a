/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PCI devices owned through VFIO, on either kernel backend of the IOAS:
 *  - iommufd: the device cdev /dev/vfio/devices/vfioN, bound to the IOAS's /dev/iommu file
 *    (VFIO_DEVICE_BIND_IOMMUFD) and attached to the IOAS (VFIO_DEVICE_ATTACH_IOMMUFD_PT);
 *  - vfio (type1): the group /dev/vfio/N in the IOAS's container (group.c), and the device
 *    file from VFIO_GROUP_GET_DEVICE_FD.
 * Then the same device file serves both: regions by pread/pwrite/mmap at the offsets
 * VFIO_DEVICE_GET_REGION_INFO gives, VFIO_DEVICE_RESET, VFIO_DEVICE_SET_IRQS.
 *
 * Every kernel call goes through the sys.h wrappers so fail-nth tests reach each of them; every
 * failure says in the log what to do.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DP_LOG_COMPONENT "vfio"
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/uapi_vfio.h>

#include "group.h"
#include <dmaplane_internal/sysfs.h>

#define PCI_ADDR_LEN 13 /* "0000:03:00.0" + NUL */

struct pci_region {
	uint64_t size;
	uint64_t offset; /* in the device file */
	uint32_t flags;  /* VFIO_REGION_INFO_FLAG_* */
};

struct vfio_pci {
	int fd; /* the device file */
	int backend;
	struct dpi_vfio_group *group; /* type1 */
	uint32_t devid;               /* iommufd: the bound device's id */
	bool attached;                /* iommufd: attached to the IOAS */
	uint32_t dev_flags;           /* VFIO_DEVICE_FLAGS_* */
	uint32_t irq_count[VFIO_PCI_NUM_IRQS];
	uint32_t irq_enabled; /* bit per IRQ index with vectors routed */
	struct pci_region regions[DPI_MAX_REGIONS];
	char addr[PCI_ADDR_LEN];
};

/* ---- addresses --------------------------------------------------------------------------------
 */

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly @digits hex digits at *s; advances *s. */
static bool take_hex(const char **s, unsigned int digits, unsigned int *val)
{
	unsigned int v = 0;

	for (unsigned int i = 0; i < digits; i++) {
		int d = hexdigit((*s)[i]);

		if (d < 0)
			return false;
		v = v * 16 + (unsigned int)d;
	}
	*s += digits;
	*val = v;
	return true;
}

static bool take_char(const char **s, char c)
{
	if (**s != c)
		return false;
	(*s)++;
	return true;
}

int dpi_pci_addr_parse(const char *in, char out[13])
{
	unsigned int domain = 0, bus, dev, fn;
	const char *s = in;
	size_t n;

	if (in == NULL || out == NULL)
		return -EINVAL;
	n = strlen(in);
	if (n == 12) {
		if (!take_hex(&s, 4, &domain) || !take_char(&s, ':'))
			return -EINVAL;
	} else if (n != 7) {
		return -EINVAL;
	}
	if (!take_hex(&s, 2, &bus) || !take_char(&s, ':') || !take_hex(&s, 2, &dev) ||
	    !take_char(&s, '.') || !take_hex(&s, 1, &fn) || *s != '\0')
		return -EINVAL;
	if (dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, PCI_ADDR_LEN, "%04x:%02x:%02x.%x", domain & 0xffff, bus & 0xff, dev & 0x1f,
		 fn & 0x7);
	return 0;
}

/* ---- checks common to both backends ---------------------------------------------------------- */

static bool is_vfio_driver(const char *drv)
{
	size_t n = strlen(drv);

	/* vfio-pci itself, or a variant driver built on vfio-pci-core (e.g. mlx5_vfio_pci). */
	return (n >= 8 && strcmp(drv + n - 8, "vfio-pci") == 0) ||
	       (n >= 8 && strcmp(drv + n - 8, "vfio_pci") == 0);
}

static int check_device(const char *addr)
{
	char path[256], drv[64];
	struct stat st;
	int rc;

	rc = dpi_sysfs_path(path, sizeof(path), "bus/pci/devices/%s", addr);
	if (rc != 0)
		return rc;
	if (stat(path, &st) != 0) {
		rc = -errno;
		if (rc == -ENOENT) {
			DPI_ERR("no PCI device %s: check lspci -D", addr);
			return -ENODEV;
		}
		DPI_ERR("cannot look at %s: %s", path, strerror(-rc));
		return rc == -EPERM ? -EACCES : rc;
	}

	rc = dpi_sysfs_path(path, sizeof(path), "bus/pci/devices/%s/driver", addr);
	if (rc == 0)
		rc = dpi_sysfs_link_base(path, drv, sizeof(drv));
	if (rc == -ENOENT) {
		DPI_ERR("%s is bound to no driver, not vfio-pci: run scripts/setup.sh bind %s",
			addr, addr);
		return -ENXIO;
	}
	if (rc != 0) {
		DPI_ERR("cannot read the driver of %s: %s", addr, strerror(-rc));
		return rc == -EPERM ? -EACCES : rc;
	}
	if (!is_vfio_driver(drv)) {
		DPI_ERR("%s is bound to %s, not vfio-pci: run scripts/setup.sh bind %s", addr, drv,
			addr);
		return -ENXIO;
	}
	return 0;
}

static int open_error(const char *path, int err)
{
	switch (err) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		DPI_ERR("no %s (%s): is devtmpfs mounted on /dev?", path, strerror(err));
		return -ENODEV;
	case EACCES:
	case EPERM:
		DPI_ERR("no permission to open %s: run as root or chown the node", path);
		return -EACCES;
	case EBUSY:
		DPI_ERR("%s is busy: the device is open elsewhere", path);
		return -EBUSY;
	default:
		DPI_ERR("cannot open %s: %s", path, strerror(err));
		return -err;
	}
}

/* ---- iommufd: the device cdev ------------------------------------------------------------------
 */

static int cdev_bind(struct vfio_pci *p, int iommufd)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = iommufd,
	};
	int err;

	if (dpi_ioctl(p->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) == 0) {
		p->devid = bind.out_devid;
		return 0;
	}
	err = errno;
	switch (err) {
	case EBUSY:
		DPI_ERR("%s: device is open elsewhere (its IOMMU group /dev/vfio/N is open, e.g. "
			"by a "
			"type1 user)",
			p->addr);
		return -EBUSY;
	case EINVAL: /* the cdev path refuses a second open of the device */
		DPI_ERR("%s: device is open elsewhere (already bound through another file)",
			p->addr);
		return -EBUSY;
	default:
		DPI_ERR("%s: VFIO_DEVICE_BIND_IOMMUFD: %s", p->addr, strerror(err));
		return -err;
	}
}

static int cdev_attach(struct vfio_pci *p, uint32_t ioas_id)
{
	struct vfio_device_attach_iommufd_pt at = {
		.argsz = sizeof(at),
		.pt_id = ioas_id,
	};
	int err;

	if (dpi_ioctl(p->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) == 0) {
		p->attached = true;
		DPI_DEBUG("%s: device id %u attached to object %u (HWPT %u)", p->addr, p->devid,
			  ioas_id, at.pt_id);
		return 0;
	}
	err = errno;
	switch (err) {
	case EADDRINUSE:
		DPI_ERR("%s: mappings of the IOAS fall in IOVA ranges this device reserves",
			p->addr);
		return -ERANGE;
	case EBUSY:
		DPI_ERR("%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT: device is resetting or open elsewhere",
			p->addr);
		return -EBUSY;
	default:
		DPI_ERR("%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT to IOAS %u: %s", p->addr, ioas_id,
			strerror(err));
		return -err;
	}
}

static int open_cdev(struct vfio_pci *p, struct dp_ioas *ioas)
{
	char path[256], name[32];
	uint32_t ioas_id;
	int iommufd, rc;

	rc = dpi_ioas_iommufd_fd(ioas, &iommufd);
	if (rc != 0)
		return rc;
	rc = dpi_sysfs_path(path, sizeof(path), "bus/pci/devices/%s/vfio-dev", p->addr);
	if (rc == 0)
		rc = dpi_sysfs_find_entry(path, "vfio", name, sizeof(name));
	if (rc == -ENOENT) {
		DPI_ERR("%s has no VFIO cdev (no vfio-dev in sysfs): the kernel lacks "
			"CONFIG_VFIO_DEVICE_CDEV: use DP_IOMMU=vfio",
			p->addr);
		return -ENOTSUP;
	}
	if (rc != 0) {
		DPI_ERR("cannot find the VFIO cdev of %s: %s", p->addr, strerror(-rc));
		return rc == -EPERM ? -EACCES : rc;
	}
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", name);
	p->fd = dpi_open(path, O_RDWR);
	if (p->fd < 0)
		return open_error(path, errno);
	rc = cdev_bind(p, iommufd);
	/* The IOAS, or for a nested IOAS its stage-1 HWPT: the first device decides whether the
	 * IOMMU nests (and a nested IOAS that cannot turns plain here). */
	if (rc == 0)
		rc = dpi_ioas_iommufd_attach_target(ioas, p->devid, &ioas_id);
	if (rc == 0) {
		rc = cdev_attach(p, ioas_id);
		if (rc != 0) /* a nested IOAS releases HWPTs made for this device */
			dpi_ioas_iommufd_attach_failed(ioas, p->devid);
	}
	return rc; /* on failure the caller closes the file, which unbinds */
}

static void close_cdev(struct vfio_pci *p)
{
	if (p->attached) {
		struct vfio_device_detach_iommufd_pt de = {.argsz = sizeof(de)};

		if (dpi_ioctl(p->fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &de) != 0)
			DPI_WARN("%s: VFIO_DEVICE_DETACH_IOMMUFD_PT: %s (closing detaches anyway)",
				 p->addr, strerror(errno));
		p->attached = false;
	}
}

/* ---- type1: the group -------------------------------------------------------------------------
 */

static int open_group_device(struct vfio_pci *p, struct dp_ioas *ioas)
{
	int rc, fd;

	rc = dpi_vfio_group_get(p->addr, ioas, &p->group);
	if (rc != 0)
		return rc;
	fd = dpi_ioctl(dpi_vfio_group_fd(p->group), VFIO_GROUP_GET_DEVICE_FD, p->addr);
	if (fd < 0) {
		int err = errno;

		DPI_ERR("%s: VFIO_GROUP_GET_DEVICE_FD on group %d: %s%s", p->addr,
			dpi_vfio_group_number(p->group), strerror(err),
			err == EBUSY ? " (the device is open elsewhere)" : "");
		return err == EBUSY ? -EBUSY : -err;
	}
	p->fd = fd;
	return 0;
}

/* ---- what the device is -----------------------------------------------------------------------
 */

static int read_regions(struct vfio_pci *p, struct dp_device *dev, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct vfio_region_info ri = {.argsz = sizeof(ri), .index = i};
		uint32_t f = 0;

		if (dpi_ioctl(p->fd, VFIO_DEVICE_GET_REGION_INFO, &ri) != 0) {
			int err = errno;

			if (err == EINVAL) /* no such region on this device */
				continue;
			DPI_ERR("%s: VFIO_DEVICE_GET_REGION_INFO(%u): %s", p->addr, i,
				strerror(err));
			return -err;
		}
		p->regions[i].size = ri.size;
		p->regions[i].offset = ri.offset;
		p->regions[i].flags = ri.flags;
		if (ri.flags & VFIO_REGION_INFO_FLAG_READ)
			f |= DP_REGION_F_READ;
		if (ri.flags & VFIO_REGION_INFO_FLAG_WRITE)
			f |= DP_REGION_F_WRITE;
		if (ri.flags & VFIO_REGION_INFO_FLAG_MMAP)
			f |= DP_REGION_F_MMAP;
		dev->region_len[i] = ri.size;
		dev->region_flags[i] = ri.size != 0 ? f : 0;
		DPI_DEBUG("%s: region %u: %#" PRIx64 " bytes at %#" PRIx64 " flags %#x", p->addr, i,
			  (uint64_t)ri.size, (uint64_t)ri.offset, ri.flags);
	}
	return 0;
}

static int read_irqs(struct vfio_pci *p, uint32_t n)
{
	for (uint32_t i = 0; i < n && i < VFIO_PCI_NUM_IRQS; i++) {
		struct vfio_irq_info ii = {.argsz = sizeof(ii), .index = i};

		if (dpi_ioctl(p->fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) != 0) {
			int err = errno;

			if (err == EINVAL)
				continue;
			DPI_ERR("%s: VFIO_DEVICE_GET_IRQ_INFO(%u): %s", p->addr, i, strerror(err));
			return -err;
		}
		p->irq_count[i] = (ii.flags & VFIO_IRQ_INFO_EVENTFD) ? ii.count : 0;
	}
	return 0;
}

static int cfg_read32(struct vfio_pci *p, uint32_t off, uint32_t *val)
{
	const struct pci_region *r = &p->regions[VFIO_PCI_CONFIG_REGION_INDEX];
	uint32_t le;

	if (r->size < off + sizeof(le) || !(r->flags & VFIO_REGION_INFO_FLAG_READ))
		return -ENOENT;
	if (dpi_pread(p->fd, &le, sizeof(le), (off_t)(r->offset + off)) != (ssize_t)sizeof(le))
		return -EIO;
	*val = le32toh(le);
	return 0;
}

/* Vendor, device and class: from config space, else from sysfs. */
static int read_ids(struct vfio_pci *p, struct dp_device_info *info)
{
	uint32_t id, class_rev;
	char path[256];
	long v;

	if (cfg_read32(p, 0x0, &id) == 0 && cfg_read32(p, 0x8, &class_rev) == 0) {
		info->vendor_id = (uint16_t)(id & 0xffff);
		info->device_id = (uint16_t)(id >> 16);
		info->class_code = class_rev >> 8;
		return 0;
	}
	if (dpi_sysfs_path(path, sizeof(path), "bus/pci/devices/%s/vendor", p->addr) != 0 ||
	    dpi_sysfs_read_long(path, &v) != 0)
		goto fail;
	info->vendor_id = (uint16_t)v;
	if (dpi_sysfs_path(path, sizeof(path), "bus/pci/devices/%s/device", p->addr) != 0 ||
	    dpi_sysfs_read_long(path, &v) != 0)
		goto fail;
	info->device_id = (uint16_t)v;
	if (dpi_sysfs_path(path, sizeof(path), "bus/pci/devices/%s/class", p->addr) != 0 ||
	    dpi_sysfs_read_long(path, &v) != 0)
		goto fail;
	info->class_code = (uint32_t)v & 0xffffff;
	return 0;
fail:
	DPI_ERR("%s: cannot read vendor/device/class from config space or sysfs", p->addr);
	return -EIO;
}

static int32_t read_numa_node(const char *addr)
{
	char path[256];
	long v;

	if (dpi_sysfs_path(path, sizeof(path), "bus/pci/devices/%s/numa_node", addr) != 0 ||
	    dpi_sysfs_read_long(path, &v) != 0 || v < 0 || v > INT32_MAX)
		return -1;
	return (int32_t)v;
}

static int read_device(struct vfio_pci *p, struct dp_device *dev)
{
	struct vfio_device_info di = {.argsz = sizeof(di)};
	struct dp_device_info *info = &dev->info;
	uint32_t nreg;
	int rc;

	if (dpi_ioctl(p->fd, VFIO_DEVICE_GET_INFO, &di) != 0) {
		rc = -errno;
		DPI_ERR("%s: VFIO_DEVICE_GET_INFO: %s", p->addr, strerror(-rc));
		return rc;
	}
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI)) {
		DPI_ERR("%s: VFIO does not present it as a PCI device (flags %#x)", p->addr,
			di.flags);
		return -ENOTSUP;
	}
	p->dev_flags = di.flags;
	/* Indexes beyond the fixed vfio-pci ones are device-specific extras: not exposed. */
	nreg = DPI_MIN(di.num_regions, (uint32_t)DPI_MAX_REGIONS);
	rc = read_regions(p, dev, nreg);
	if (rc == 0)
		rc = read_irqs(p, di.num_irqs);
	if (rc == 0)
		rc = read_ids(p, info);
	if (rc != 0)
		return rc;

	info->size = sizeof(*info);
	snprintf(info->addr, sizeof(info->addr), "%s", p->addr);
	info->num_regions = nreg;
	info->num_irqs = DPI_MIN(di.num_irqs, (uint32_t)VFIO_PCI_NUM_IRQS);
	info->numa_node = read_numa_node(p->addr);
	info->flags = (di.flags & VFIO_DEVICE_FLAGS_RESET) ? DP_DEVICE_F_RESET : 0;
	info->backend = (uint32_t)p->backend;
	return 0;
}

/* ---- ops --------------------------------------------------------------------------------------
 */

static struct vfio_pci *pci_of(const struct dp_device *dev)
{
	return dev->priv;
}

static int pci_region_info(struct dp_device *dev, uint32_t index, struct dp_region_info *info)
{
	info->length = dev->region_len[index];
	info->flags = dev->region_flags[index];
	info->reserved0 = 0;
	return 0;
}

/*
 * Map a region whole. A region with the sparse-mmap capability (only some areas mappable, e.g.
 * a BAR holding the MSI-X table on kernels without MSIX_MAPPABLE) is not handled yet: mapping
 * it whole fails and the error is returned; drivers fall back to region read/write.
 */
static int pci_region_mmap(struct dp_device *dev, uint32_t index, void **addr, size_t *len)
{
	struct vfio_pci *p = pci_of(dev);
	const struct pci_region *r = &p->regions[index];
	int prot = 0;
	void *va;

	if (r->flags & VFIO_REGION_INFO_FLAG_READ)
		prot |= PROT_READ;
	if (r->flags & VFIO_REGION_INFO_FLAG_WRITE)
		prot |= PROT_WRITE;
	va = dpi_mmap(NULL, (size_t)r->size, prot, MAP_SHARED, p->fd, (off_t)r->offset);
	if (va == MAP_FAILED) {
		int err = errno;

		DPI_ERR("%s: mmap of region %u (%#" PRIx64 " bytes): %s", p->addr, index, r->size,
			strerror(err));
		return -err;
	}
	*addr = va;
	*len = (size_t)r->size;
	return 0;
}

static int pci_region_read(struct dp_device *dev, uint32_t index, uint64_t off, void *buf,
			   size_t len)
{
	struct vfio_pci *p = pci_of(dev);
	ssize_t n = dpi_pread(p->fd, buf, len, (off_t)(p->regions[index].offset + off));

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int pci_region_write(struct dp_device *dev, uint32_t index, uint64_t off, const void *buf,
			    size_t len)
{
	struct vfio_pci *p = pci_of(dev);
	ssize_t n = dpi_pwrite(p->fd, buf, len, (off_t)(p->regions[index].offset + off));

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static int pci_reset(struct dp_device *dev)
{
	struct vfio_pci *p = pci_of(dev);

	if (!(p->dev_flags & VFIO_DEVICE_FLAGS_RESET))
		return -ENOTSUP;
	if (dpi_ioctl(p->fd, VFIO_DEVICE_RESET, NULL) != 0) {
		int err = errno;

		DPI_ERR("%s: VFIO_DEVICE_RESET: %s", p->addr, strerror(err));
		return -err;
	}
	return 0;
}

static int irq_disable(struct vfio_pci *p, uint32_t type)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = type,
	};

	if (dpi_ioctl(p->fd, VFIO_DEVICE_SET_IRQS, &set) != 0) {
		int err = errno;

		DPI_ERR("%s: VFIO_DEVICE_SET_IRQS disabling index %u: %s", p->addr, type,
			strerror(err));
		return -err;
	}
	p->irq_enabled &= ~(1u << type);
	return 0;
}

static int pci_irq_set(struct dp_device *dev, uint32_t type, uint32_t start, uint32_t count,
		       const int *eventfds)
{
	struct vfio_pci *p = pci_of(dev);
	struct vfio_irq_set *set;
	size_t size;
	int rc = 0;

	if (type > VFIO_PCI_MSIX_IRQ_INDEX)
		return -EINVAL;
	if (p->irq_count[type] == 0)
		return -ENOTSUP;
	if (count == 0)
		return irq_disable(p, type);
	if (eventfds == NULL || start >= p->irq_count[type] || count > p->irq_count[type] - start)
		return -EINVAL;

	size = sizeof(*set) + (size_t)count * sizeof(int32_t);
	set = dpi_calloc(1, size);
	if (set == NULL)
		return -ENOMEM;
	set->argsz = (uint32_t)size;
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = type;
	set->start = start;
	set->count = count;
	for (uint32_t i = 0; i < count; i++) {
		int32_t fd = eventfds[i];

		memcpy(set->data + i * sizeof(fd), &fd, sizeof(fd));
	}
	if (dpi_ioctl(p->fd, VFIO_DEVICE_SET_IRQS, set) != 0) {
		rc = -errno;
		DPI_ERR("%s: VFIO_DEVICE_SET_IRQS index %u vectors %u-%u: %s", p->addr, type, start,
			start + count - 1, strerror(-rc));
	} else {
		p->irq_enabled |= 1u << type;
	}
	free(set);
	return rc;
}

/* Undo an open up to what it reached: detach, close the device file, drop the group. */
static void release(struct vfio_pci *p)
{
	if (p->backend == DP_IOMMU_IOMMUFD && p->fd >= 0)
		close_cdev(p);
	if (p->fd >= 0)
		close(p->fd); /* a cdev unbinds from iommufd on close */
	p->fd = -1;
	dpi_vfio_group_put(p->group); /* after the device file: the group detaches last */
	p->group = NULL;
}

static void pci_close(struct dp_device *dev)
{
	struct vfio_pci *p = pci_of(dev);

	if (p == NULL)
		return;
	dpi_ioas_device_detached(dev->ioas, dev);
	for (uint32_t t = 0; t <= VFIO_PCI_MSIX_IRQ_INDEX; t++)
		if (p->irq_enabled & (1u << t))
			irq_disable(p, t);
	release(p);
	dpi_ioas_device_gone(dev->ioas); /* the ranges may widen again */
	DPI_INFO("%s: closed", p->addr);
	free(p);
	dev->priv = NULL;
}

static const struct dpi_device_ops g_pci_ops;

int dpi_device_iommufd(struct dp_device *dev, int *dev_fd, uint32_t *dev_id)
{
	struct vfio_pci *p;

	if (dev == NULL || dev_fd == NULL || dev_id == NULL)
		return -EINVAL;
	if (dev->ops != &g_pci_ops || (p = pci_of(dev)) == NULL || p->backend != DP_IOMMU_IOMMUFD)
		return -ENOTSUP;
	*dev_fd = p->fd;
	*dev_id = p->devid;
	return 0;
}

static const struct dpi_device_ops g_pci_ops = {
	.name = "vfio-pci",
	.region_info = pci_region_info,
	.region_mmap = pci_region_mmap,
	.region_read = pci_region_read,
	.region_write = pci_region_write,
	.reset = pci_reset,
	.irq_set = pci_irq_set,
	.close = pci_close,
};

/* ---- open -------------------------------------------------------------------------------------
 */

int dpi_vfio_pci_open(const char *bdf, struct dp_ioas *ioas, struct dp_device *dev)
{
	struct vfio_pci *p;
	char addr[PCI_ADDR_LEN];
	int backend, rc;

	if (bdf == NULL || ioas == NULL || dev == NULL)
		return -EINVAL;
	if (dpi_pci_addr_parse(bdf, addr) != 0) {
		DPI_ERR("malformed PCI address '%s': want DDDD:BB:DD.F or BB:DD.F (hex)", bdf);
		return -EINVAL;
	}
	backend = dp_ioas_backend(ioas);
	if (backend != DP_IOMMU_IOMMUFD && backend != DP_IOMMU_VFIO) {
		DPI_ERR("%s: a PCI device cannot attach to a %s IOAS: create it with "
			"DP_IOMMU=iommufd "
			"or vfio",
			addr, dp_iommu_backend_name(backend));
		return -ENOTSUP;
	}
	rc = check_device(addr);
	if (rc != 0)
		return rc;

	p = dpi_calloc(1, sizeof(*p));
	if (p == NULL) {
		DPI_ERR("%s: no memory for the device state", addr);
		return -ENOMEM;
	}
	p->fd = -1;
	p->backend = backend;
	memcpy(p->addr, addr, sizeof(addr));

	rc = backend == DP_IOMMU_IOMMUFD ? open_cdev(p, ioas) : open_group_device(p, ioas);
	if (rc != 0)
		goto err;
	rc = read_device(p, dev);
	if (rc != 0)
		goto err;

	dev->ops = &g_pci_ops;
	dev->priv = p;
	dev->ioas = ioas;
	rc = dpi_ioas_device_attached(ioas, dev);
	if (rc != 0) {
		dev->ops = NULL;
		dev->priv = NULL;
		goto err;
	}
	DPI_INFO("%s: %04x:%04x class %06x, %u regions, %u irq types, node %d, via %s", addr,
		 dev->info.vendor_id, dev->info.device_id, dev->info.class_code,
		 dev->info.num_regions, dev->info.num_irqs, dev->info.numa_node,
		 dp_iommu_backend_name(backend));
	return 0;

err:
	release(p);
	free(p);
	return rc;
}
