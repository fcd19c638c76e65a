/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kernel-owned DSA work queues, through the idxd driver's documented user interface:
 *  - /sys/bus/dsa/devices/wqX.Y/{mode,size,max_transfer_size,max_batch_size,state,type,name}
 *    describe the WQ (accel-config writes them; a process may use a WQ whose type is "user" and
 *    whose state is "enabled");
 *  - /dev/dsa/wqX.Y is its char device. open() binds the process's address space to the device
 *    (SVA) and sets the process's PASID in IA32_PASID; mmap() of the first page gives the WQ's
 *    portal (Linux needs CAP_SYS_RAWIO for it since 6.x: EPERM otherwise); write() of whole
 *    64-byte descriptors submits them through the kernel, which stamps the process's PASID.
 * dmaplane allocates no PASID here and attaches nothing: the kernel owns the device, its PASID
 * table and the binding. Portal submission: MOVDIR64B on dedicated WQs, ENQCMD on shared WQs
 * (CPU permitting); otherwise write().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DP_LOG_COMPONENT "pasid"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/sysfs.h>

#include <dmaplane_internal/kwq.h>

#include "kwq_impl.h"
#include "pasid_impl.h"

#define DESC_SIZE 64
#define PORTAL_SIZE 4096
#define SHARED_RETRIES 16

struct dpi_kwq {
	struct dpi_kwq_info info;
	int fd;
	void *portal; /* NULL: write() */
	bool enqcmd;  /* shared WQ through the portal */
	struct kwq_sim sim; /* "sim:..." WQs: sim.ctx != NULL */
};

static const char *g_dev_root = "/dev";
static bool g_write_noted; /* "descriptors go through write()" said once per process */

void dpi_kwq_set_dev_root(const char *root)
{
	g_dev_root = root != NULL ? root : "/dev";
}

/* "wq0.1" or "/dev/dsa/wq0.1" -> "wq0.1". -EINVAL when it is neither. */
static int parse_wq(const char *in, char out[16])
{
	unsigned int a, b;
	int n = 0;

	if (in == NULL)
		return -EINVAL;
	if (strncmp(in, "/dev/dsa/", 9) == 0)
		in += 9;
	if (sscanf(in, "wq%u.%u%n", &a, &b, &n) != 2 || in[n] != '\0' || a > 255 || b > 255 ||
	    strchr(in, '+') != NULL || strchr(in, '-') != NULL || strchr(in, ' ') != NULL)
		return -EINVAL;
	snprintf(out, 16, "wq%u.%u", a, b);
	return strcmp(out, in) == 0 ? 0 : -EINVAL; /* no leading zeros or other spellings */
}

static int attr_str(const char *wq, const char *attr, char *buf, size_t len)
{
	char path[256];
	int rc = dpi_sysfs_path(path, sizeof(path), "bus/dsa/devices/%s/%s", wq, attr);

	if (rc == 0)
		rc = dpi_sysfs_read(path, buf, len);
	if (rc != 0) {
		DPI_ERR("%s: cannot read its sysfs attribute '%s' (%s): is this kernel's idxd "
			"driver too old, or the WQ not configured?",
			wq, attr, strerror(-rc));
		return -EIO;
	}
	return 0;
}

static int attr_u64(const char *wq, const char *attr, uint64_t *val)
{
	char buf[32], *end;
	int rc = attr_str(wq, attr, buf, sizeof(buf));

	if (rc != 0)
		return rc;
	errno = 0;
	*val = strtoull(buf, &end, 0);
	if (buf[0] == '\0' || *end != '\0' || errno != 0) {
		DPI_ERR("%s: sysfs attribute '%s' is '%s', not a number", wq, attr, buf);
		return -EIO;
	}
	return 0;
}

static int read_mode(const char *wq, uint32_t *mode)
{
	char buf[32];
	int rc = attr_str(wq, "mode", buf, sizeof(buf));

	if (rc != 0)
		return rc;
	if (strcmp(buf, "dedicated") == 0)
		*mode = DPI_KWQ_DEDICATED;
	else if (strcmp(buf, "shared") == 0)
		*mode = DPI_KWQ_SHARED;
	else {
		DPI_ERR("%s: sysfs attribute 'mode' is '%s', not dedicated or shared", wq, buf);
		return -EIO;
	}
	return 0;
}

int dpi_kwq_info_read(const char *wq, struct dpi_kwq_info *info)
{
	char path[256];
	struct stat st;
	uint64_t size, mts, mbs;
	int rc;

	if (info == NULL || parse_wq(wq, info->wq) != 0) {
		DPI_ERR("'%s' is not a DSA work queue name (wqX.Y, e.g. wq0.1)", wq ? wq : "(null)");
		return -EINVAL;
	}
	rc = dpi_sysfs_path(path, sizeof(path), "bus/dsa/devices/%s", info->wq);
	if (rc == 0 && stat(path, &st) != 0) {
		char bus[256];

		rc = dpi_sysfs_path(bus, sizeof(bus), "bus/dsa");
		if (rc == 0 && stat(bus, &st) != 0)
			DPI_ERR("%s: no %s: the kernel's idxd driver is not loaded (modprobe idxd)",
				info->wq, bus);
		else
			DPI_ERR("%s: no such work queue (%s): list them with accel-config list",
				info->wq, path);
		return -ENODEV;
	}
	if (rc != 0)
		return rc;
	rc = read_mode(info->wq, &info->mode);
	if (rc == 0)
		rc = attr_u64(info->wq, "size", &size);
	if (rc == 0)
		rc = attr_u64(info->wq, "max_transfer_size", &mts);
	if (rc == 0)
		rc = attr_u64(info->wq, "max_batch_size", &mbs);
	if (rc == 0)
		rc = attr_str(info->wq, "state", info->state, sizeof(info->state));
	if (rc == 0)
		rc = attr_str(info->wq, "type", info->type, sizeof(info->type));
	if (rc == 0)
		rc = attr_str(info->wq, "name", info->name, sizeof(info->name));
	if (rc != 0)
		return rc;
	info->size = (uint32_t)DPI_MIN(size, UINT32_MAX);
	info->max_transfer_size = mts;
	info->max_batch_size = (uint32_t)DPI_MIN(mbs, UINT32_MAX);
	info->pasid = 0; /* the kernel's, in IA32_PASID: not visible here */
	return 0;
}

static int check_usable(const struct dpi_kwq_info *info)
{
	if (strcmp(info->state, "enabled") != 0) {
		DPI_ERR("%s is %s, not enabled: accel-config enable-wq dsaN/%s (after "
			"enable-device)",
			info->wq, info->state, info->wq);
		return -ENXIO;
	}
	if (strcmp(info->type, "user") != 0) {
		DPI_ERR("%s has type '%s': a process can use only 'user' WQs (accel-config "
			"config-wq --type=user, or pick another WQ)",
			info->wq, info->type);
		return -ENOTSUP;
	}
	return 0;
}

static int open_char_dev(struct dpi_kwq *q)
{
	char path[256];
	int n = snprintf(path, sizeof(path), "%s/dsa/%s", g_dev_root, q->info.wq);
	int err;

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	/* Non-blocking: a full shared WQ must say EAGAIN, never sleep in a polled-mode thread. */
	q->fd = dpi_open(path, O_RDWR | O_NONBLOCK);
	if (q->fd >= 0)
		return 0;
	err = errno;
	switch (err) {
	case ENOENT:
		DPI_ERR("%s: no %s although sysfs lists the WQ enabled: is devtmpfs/udev "
			"creating /dev/dsa?",
			q->info.wq, path);
		return -ENODEV;
	case EACCES:
	case EPERM:
		DPI_ERR("%s: no permission to open %s: run as root or give the user the node "
			"(chown/chmod)",
			q->info.wq, path);
		return -EACCES;
	default:
		DPI_ERR("%s: cannot open %s: %s", q->info.wq, path, strerror(err));
		return -err;
	}
}

/* The portal, or the write() fallback with a reason in the log (once). */
static int map_portal(struct dpi_kwq *q)
{
	bool shared = q->info.mode == DPI_KWQ_SHARED;
	bool cpu_ok = shared ? dpi_cpu_has_enqcmd() : dpi_cpu_has_movdir64b();
	const char *why = NULL;
	void *p;
	int err;

	if (!cpu_ok) {
		why = shared ? "this CPU has no ENQCMD" : "this CPU has no MOVDIR64B";
	} else {
		p = dpi_mmap(NULL, PORTAL_SIZE, PROT_WRITE, MAP_SHARED | MAP_POPULATE, q->fd, 0);
		if (p != MAP_FAILED) {
			q->portal = p;
			q->enqcmd = shared;
			return 0;
		}
		err = errno;
		if (err != EPERM) {
			DPI_ERR("%s: mmap of the WQ portal: %s", q->info.wq, strerror(err));
			return -err;
		}
		why = "mapping the portal needs CAP_SYS_RAWIO";
	}
	if (!__atomic_exchange_n(&g_write_noted, true, __ATOMIC_RELAXED))
		DPI_NOTICE("%s: %s: descriptors go through write() on the WQ's char device (a "
			   "system call per submission)",
			   q->info.wq, why);
	return 0;
}

int dpi_kwq_open(const char *wq, struct dpi_kwq **out)
{
	struct dpi_kwq *q;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	q = dpi_calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	q->fd = -1;
	if (wq != NULL && strncmp(wq, "sim:", 4) == 0) {
		rc = kwq_sim_open(wq, &q->info, &q->sim);
		if (rc != 0) {
			dpi_kwq_close(q);
			return rc;
		}
		DPI_INFO("%s: shared WQ of the sim DSA model, %u entries, PASID %u", wq,
			 q->info.size, q->sim.pasid);
		*out = q;
		return 0;
	}
	rc = dpi_kwq_info_read(wq, &q->info);
	if (rc == 0)
		rc = check_usable(&q->info);
	if (rc == 0)
		rc = open_char_dev(q);
	if (rc == 0)
		rc = map_portal(q);
	if (rc != 0) {
		dpi_kwq_close(q);
		return rc;
	}
	DPI_INFO("%s: %s WQ, %u entries, max transfer %" PRIu64 ", max batch %u, via %s",
		 q->info.wq, q->info.mode == DPI_KWQ_SHARED ? "shared" : "dedicated", q->info.size,
		 q->info.max_transfer_size, q->info.max_batch_size,
		 q->portal == NULL ? "write()" : q->enqcmd ? "ENQCMD" : "MOVDIR64B");
	*out = q;
	return 0;
}

void dpi_kwq_close(struct dpi_kwq *q)
{
	if (q == NULL)
		return;
	kwq_sim_close(&q->sim);
	if (q->portal != NULL)
		munmap(q->portal, PORTAL_SIZE);
	if (q->fd >= 0)
		close(q->fd);
	free(q);
}

const struct dpi_kwq_info *dpi_kwq_get_info(const struct dpi_kwq *q)
{
	return q == NULL ? NULL : &q->info;
}

void *dpi_kwq_portal(const struct dpi_kwq *q)
{
	return q == NULL ? NULL : q->portal;
}

static int submit_portal(struct dpi_kwq *q, const void *desc)
{
	if (!q->enqcmd) {
		dpi_movdir64b(q->portal, desc);
		return 0;
	}
	for (int i = 0; i < SHARED_RETRIES; i++)
		if (dpi_enqcmd(q->portal, desc) == 0)
			return 0;
	return -EAGAIN;
}

int dpi_kwq_submit(struct dpi_kwq *q, const void *desc)
{
	int retries = q != NULL && q->info.mode == DPI_KWQ_SHARED ? SHARED_RETRIES : 1;
	ssize_t n = -1;
	int err = 0;

	if (q == NULL || desc == NULL || ((uintptr_t)desc & (DESC_SIZE - 1)) != 0)
		return -EINVAL;
	if (q->sim.ctx != NULL)
		return kwq_sim_submit(&q->sim, desc, SHARED_RETRIES);
	if (q->portal != NULL)
		return submit_portal(q, desc);
	for (int i = 0; i < retries; i++) {
		n = dpi_write(q->fd, desc, DESC_SIZE);
		if (n >= 0)
			break;
		err = errno;
		if (err == EINTR) {
			i--; /* not a full queue: try again without counting */
			continue;
		}
		if (err != EAGAIN)
			break;
	}
	if (n == DESC_SIZE)
		return 0;
	if (n >= 0) {
		DPI_ERR("%s: short write of a descriptor (%zd of %d bytes)", q->info.wq, n,
			DESC_SIZE);
		return -EIO;
	}
	if (err == EAGAIN)
		return -EAGAIN; /* a full WQ is normal flow control: no log line */
	DPI_ERR("%s: write() of a descriptor: %s%s", q->info.wq, strerror(err),
		err == EINVAL ? " (the kernel does not accept this descriptor from user space)"
			      : "");
	return -err;
}
