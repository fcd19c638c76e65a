/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Kernel-owned DSA work queues (lib/pasid/kwq.c) against a fake sysfs tree and stand-ins for
 * the char device: a regular file (write() path, and the portal path where the CPU has
 * MOVDIR64B: a mapped file page takes the 64-byte store like a portal) and a FIFO (a shared WQ
 * that runs full). The real idxd driver is not on these machines; its interface is the one
 * documented in the kernel (Documentation/ABI/stable/sysfs-driver-dma-idxd).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/idxd_spec.h>
#include <dmaplane_internal/kwq.h>
#include <dmaplane_internal/pasid.h>
#include <dmaplane_internal/sim.h>
#include <dmaplane_internal/sysfs.h>

#include "ut.h"

static char g_root[64];
static char g_sys[128], g_dev[128];

static void put_file(const char *dir, const char *name, const char *val)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "%s\n", val);
	fclose(f);
}

/* A WQ directory under the fake sysfs with the attributes accel-config would leave. */
static void make_wq(const char *wq, const char *mode, const char *state, const char *type)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/bus/dsa/devices/%s", g_sys, wq);
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755) == 0 || errno == EEXIST, 1);
	put_file(dir, "mode", mode);
	put_file(dir, "size", "16");
	put_file(dir, "max_transfer_size", "2097152");
	put_file(dir, "max_batch_size", "32");
	put_file(dir, "state", state);
	put_file(dir, "type", type);
	put_file(dir, "name", "app1");
}

/* The char device stand-in: a regular file one page long. */
static void make_dev_file(const char *wq)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/dsa/%s", g_dev, wq);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 4096), 0);
	close(fd);
}

static int read_dev_file(const char *wq, void *buf, size_t len)
{
	char path[512];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/dsa/%s", g_dev, wq);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = pread(fd, buf, len, 0);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static int suite_init(void)
{
	char path[512];

	snprintf(g_root, sizeof(g_root), "/tmp/dp_kwq_ut.XXXXXX");
	if (mkdtemp(g_root) == NULL)
		return -1;
	snprintf(g_sys, sizeof(g_sys), "%s/sys", g_root);
	snprintf(g_dev, sizeof(g_dev), "%s/dev", g_root);
	mkdir(g_sys, 0755);
	snprintf(path, sizeof(path), "%s/bus", g_sys);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bus/dsa", g_sys);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bus/dsa/devices", g_sys);
	mkdir(path, 0755);
	mkdir(g_dev, 0755);
	snprintf(path, sizeof(path), "%s/dsa", g_dev);
	mkdir(path, 0755);
	dpi_sysfs_set_root(g_sys);
	dpi_kwq_set_dev_root(g_dev);
	return ut_env_init();
}

static int suite_fini(void)
{
	char cmd[128];

	dpi_sysfs_set_root(NULL);
	dpi_kwq_set_dev_root(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", g_root);
	return ut_env_fini();
}

static void test_info(void)
{
	struct dpi_kwq_info info;

	make_wq("wq0.1", "shared", "enabled", "user");
	CU_ASSERT_EQUAL(dpi_kwq_info_read("wq0.1", &info), 0);
	CU_ASSERT_STRING_EQUAL(info.wq, "wq0.1");
	CU_ASSERT_EQUAL(info.mode, DPI_KWQ_SHARED);
	CU_ASSERT_EQUAL(info.size, 16);
	CU_ASSERT_EQUAL(info.max_transfer_size, 2097152);
	CU_ASSERT_EQUAL(info.max_batch_size, 32);
	CU_ASSERT_STRING_EQUAL(info.state, "enabled");
	CU_ASSERT_STRING_EQUAL(info.type, "user");
	CU_ASSERT_STRING_EQUAL(info.name, "app1");
	CU_ASSERT_EQUAL(dpi_kwq_info_read("/dev/dsa/wq0.1", &info), 0);
	CU_ASSERT_STRING_EQUAL(info.wq, "wq0.1");
}

static void test_bad_names(void)
{
	static const char *const bad[] = {"", "wq0", "wq01.1", "wq0.1x", "dsa0", "wq0.-1",
					  "wq 0.1", "/dev/dsa/", "wq0.1/..", "wq256.0"};
	struct dpi_kwq_info info;
	struct dpi_kwq *q = NULL;

	ut_log_capture();
	for (size_t i = 0; i < DPI_ARRAY_SIZE(bad); i++)
		if (dpi_kwq_info_read(bad[i], &info) != -EINVAL)
			CU_FAIL(bad[i]);
	CU_ASSERT_EQUAL(dpi_kwq_info_read(NULL, &info), -EINVAL);
	CU_ASSERT(ut_log_has("wqX.Y"));
	CU_ASSERT_EQUAL(dpi_kwq_open("nonsense", &q), -EINVAL);
	CU_ASSERT_EQUAL(dpi_kwq_open("wq0.1", NULL), -EINVAL);
	ut_log_release();
	CU_ASSERT_PTR_NULL(q);
}

static void test_missing(void)
{
	struct dpi_kwq *q = NULL;
	char path[512];

	ut_log_capture();
	CU_ASSERT_EQUAL(dpi_kwq_open("wq7.7", &q), -ENODEV);
	CU_ASSERT(ut_log_has("no such work queue"));
	/* No idxd driver at all. */
	snprintf(path, sizeof(path), "%s/nosys", g_root);
	mkdir(path, 0755);
	dpi_sysfs_set_root(path);
	CU_ASSERT_EQUAL(dpi_kwq_open("wq0.1", &q), -ENODEV);
	CU_ASSERT(ut_log_has("modprobe idxd"));
	dpi_sysfs_set_root(g_sys);
	/* Listed in sysfs, but no char device. */
	make_wq("wq1.0", "dedicated", "enabled", "user");
	CU_ASSERT_EQUAL(dpi_kwq_open("wq1.0", &q), -ENODEV);
	CU_ASSERT(ut_log_has("/dev/dsa"));
	/* A sim WQ needs its sim device open and configured. */
	CU_ASSERT_EQUAL(dpi_kwq_open("sim:dsa0/wq0.1", &q), -ENODEV);
	CU_ASSERT(ut_log_has("open and configure sim:dsa0"));
	ut_log_release();
	CU_ASSERT_PTR_NULL(q);
}

static void test_not_usable(void)
{
	struct dpi_kwq *q = NULL;
	char dir[512];

	ut_log_capture();
	make_wq("wq2.0", "dedicated", "disabled", "user");
	make_dev_file("wq2.0");
	CU_ASSERT_EQUAL(dpi_kwq_open("wq2.0", &q), -ENXIO);
	CU_ASSERT(ut_log_has("accel-config enable-wq"));
	make_wq("wq2.0", "dedicated", "enabled", "kernel");
	CU_ASSERT_EQUAL(dpi_kwq_open("wq2.0", &q), -ENOTSUP);
	CU_ASSERT(ut_log_has("type 'kernel'"));
	make_wq("wq2.0", "exclusive", "enabled", "user");
	CU_ASSERT_EQUAL(dpi_kwq_open("wq2.0", &q), -EIO);
	CU_ASSERT(ut_log_has("not dedicated or shared"));
	make_wq("wq2.0", "dedicated", "enabled", "user");
	snprintf(dir, sizeof(dir), "%s/bus/dsa/devices/wq2.0", g_sys);
	put_file(dir, "size", "lots");
	CU_ASSERT_EQUAL(dpi_kwq_open("wq2.0", &q), -EIO);
	CU_ASSERT(ut_log_has("not a number"));
	snprintf(dir, sizeof(dir), "%s/bus/dsa/devices/wq2.0/max_batch_size", g_sys);
	make_wq("wq2.0", "dedicated", "enabled", "user");
	CU_ASSERT_EQUAL(unlink(dir), 0);
	CU_ASSERT_EQUAL(dpi_kwq_open("wq2.0", &q), -EIO);
	CU_ASSERT(ut_log_has("'max_batch_size'"));
	ut_log_release();
	CU_ASSERT_PTR_NULL(q);
}

static void test_permission(void)
{
	struct dpi_kwq *q = NULL;
	char path[512];

	make_wq("wq3.0", "dedicated", "enabled", "user");
	make_dev_file("wq3.0");
	snprintf(path, sizeof(path), "%s/dsa/wq3.0", g_dev);
	ut_log_capture();
	if (geteuid() != 0) {
		CU_ASSERT_EQUAL(chmod(path, 0), 0);
		CU_ASSERT_EQUAL(dpi_kwq_open("wq3.0", &q), -EACCES);
	} else {
		/* root ignores the mode bits: fail the char device's open (the 8th open, after
		 * the seven attribute files) as the kernel would. */
		dpi_fault_arm_site("open", 8, EACCES);
		CU_ASSERT_EQUAL(dpi_kwq_open("wq3.0", &q), -EACCES);
		CU_ASSERT(dpi_fault_fired());
		dpi_fault_arm(0, 0);
	}
	CU_ASSERT(ut_log_has("no permission"));
	ut_log_release();
	CU_ASSERT_PTR_NULL(q);
}

static void fill_desc(uint8_t *d, uint8_t seed)
{
	for (int i = 0; i < 64; i++)
		d[i] = (uint8_t)(seed + i);
}

/* Without CAP_SYS_RAWIO the portal mmap fails with EPERM: descriptors go through write(). */
static void test_write_fallback(void)
{
	uint8_t desc[64] __attribute__((aligned(64))), got[64];
	struct dpi_kwq *q = NULL;
	int fds = ut_count_fds();

	make_wq("wq4.0", "dedicated", "enabled", "user");
	make_dev_file("wq4.0");
	ut_log_capture();
	dpi_fault_arm_site("mmap", 1, EPERM);
	CU_ASSERT_EQUAL_FATAL(dpi_kwq_open("wq4.0", &q), 0);
	dpi_fault_arm(0, 0);
	ut_log_release();
	if (dpi_cpu_has_movdir64b()) /* otherwise the CPU check already chose write() */
		CU_ASSERT(ut_log_has("CAP_SYS_RAWIO"));
	CU_ASSERT(ut_log_has("write()"));
	CU_ASSERT_PTR_NULL(dpi_kwq_portal(q));
	CU_ASSERT_EQUAL(dpi_kwq_get_info(q)->mode, DPI_KWQ_DEDICATED);
	fill_desc(desc, 3);
	CU_ASSERT_EQUAL(dpi_kwq_submit(q, desc), 0);
	CU_ASSERT_EQUAL(read_dev_file("wq4.0", got, 64), 0);
	CU_ASSERT_EQUAL(memcmp(got, desc, 64), 0);
	CU_ASSERT_EQUAL(dpi_kwq_submit(q, desc + 1), -EINVAL); /* misaligned */
	CU_ASSERT_EQUAL(dpi_kwq_submit(NULL, desc), -EINVAL);
	/* The kernel refusing a descriptor is reported with its errno. */
	ut_log_capture();
	dpi_fault_arm_site("write", 1, EINVAL);
	CU_ASSERT_EQUAL(dpi_kwq_submit(q, desc), -EINVAL);
	CU_ASSERT(ut_log_has("does not accept this descriptor"));
	/* A dedicated WQ does not retry. */
	dpi_fault_arm_site("write", 1, EAGAIN);
	CU_ASSERT_EQUAL(dpi_kwq_submit(q, desc), -EAGAIN);
	dpi_fault_arm(0, 0);
	ut_log_release();
	dpi_kwq_close(q);
	CU_ASSERT_EQUAL(ut_count_fds(), fds);
}

/* Every failure point of open (attribute reads, the char device, the portal, memory) fails
 * cleanly: an error, no handle, no file descriptor left open. */
static void test_open_fail_nth(void)
{
	struct dpi_kwq *q = NULL;
	int fds = ut_count_fds(), rc = 0;
	int64_t n;

	make_wq("wq4.1", "dedicated", "enabled", "user");
	make_dev_file("wq4.1");
	ut_log_capture();
	for (n = 1; n < 64; n++) {
		dpi_fault_arm(n, EIO);
		rc = dpi_kwq_open("wq4.1", &q);
		if (!dpi_fault_fired())
			break;
		CU_ASSERT_NOT_EQUAL(rc, 0);
		CU_ASSERT_PTR_NULL(q);
		CU_ASSERT_EQUAL(ut_count_fds(), fds);
	}
	dpi_fault_arm(0, 0);
	ut_log_release();
	CU_ASSERT(n > 8 && n < 64); /* 7 attributes, the device, at least one more */
	CU_ASSERT_EQUAL(rc, 0);
	dpi_kwq_close(q);
	CU_ASSERT_EQUAL(ut_count_fds(), fds);
}

/* A CPU with MOVDIR64B stores descriptors to the mapped portal (here a file page). */
static void test_portal_movdir64b(void)
{
	uint8_t desc[64] __attribute__((aligned(64))), got[64];
	struct dpi_kwq *q = NULL;

	if (!dpi_cpu_has_movdir64b()) {
		printf("\n    this CPU has no MOVDIR64B: portal path not run\n");
		return;
	}
	make_wq("wq5.0", "dedicated", "enabled", "user");
	make_dev_file("wq5.0");
	CU_ASSERT_EQUAL_FATAL(dpi_kwq_open("wq5.0", &q), 0);
	CU_ASSERT_PTR_NOT_NULL(dpi_kwq_portal(q));
	fill_desc(desc, 9);
	CU_ASSERT_EQUAL(dpi_kwq_submit(q, desc), 0);
	CU_ASSERT_EQUAL(read_dev_file("wq5.0", got, 64), 0);
	CU_ASSERT_EQUAL(memcmp(got, desc, 64), 0);
	dpi_kwq_close(q);
}

/* A shared WQ that runs full answers -EAGAIN after its retries, and takes work again once it
 * drains. The FIFO stands in for the char device; its buffer is the WQ. */
static void test_shared_full(void)
{
	uint8_t desc[64] __attribute__((aligned(64))), got[64];
	struct dpi_kwq *q = NULL;
	char path[512];
	int rd, n = 0, rc = 0;

	make_wq("wq6.0", "shared", "enabled", "user");
	snprintf(path, sizeof(path), "%s/dsa/wq6.0", g_dev);
	CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0600), 0);
	rd = open(path, O_RDONLY | O_NONBLOCK);
	CU_ASSERT_FATAL(rd >= 0);
	ut_log_capture();
	if (dpi_cpu_has_enqcmd()) /* a FIFO has no portal; be the unprivileged process */
		dpi_fault_arm_site("mmap", 1, EPERM);
	CU_ASSERT_EQUAL_FATAL(dpi_kwq_open("wq6.0", &q), 0);
	dpi_fault_arm(0, 0);
	ut_log_release();
	CU_ASSERT_PTR_NULL(dpi_kwq_portal(q));
	fill_desc(desc, 1);
	/* One EAGAIN is retried transparently. */
	dpi_fault_arm_site("write", 1, EAGAIN);
	CU_ASSERT_EQUAL(dpi_kwq_submit(q, desc), 0);
	CU_ASSERT(dpi_fault_fired());
	CU_ASSERT_EQUAL(read(rd, got, 64), 64);
	CU_ASSERT_EQUAL(memcmp(got, desc, 64), 0);
	/* Fill it. */
	while (n < 100000 && (rc = dpi_kwq_submit(q, desc)) == 0)
		n++;
	CU_ASSERT_EQUAL(rc, -EAGAIN);
	CU_ASSERT(n > 0 && n < 100000);
	CU_ASSERT_EQUAL(dpi_kwq_submit(q, desc), -EAGAIN);
	/* Drain a page (a pipe frees its buffer a page at a time) and it takes work again. */
	for (int i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(read(rd, got, 64), 64);
		CU_ASSERT_EQUAL(memcmp(got, desc, 64), 0);
	}
	CU_ASSERT_EQUAL(dpi_kwq_submit(q, desc), 0);
	dpi_kwq_close(q);
	close(rd);
}

/* ---- shared WQs of the sim DSA model ("sim:dsaN/wqN.M") ---------------------------------- */

struct sdev {
	struct dpi_sim_device *dev;
	const struct dpi_sim_model *m;
	void *st;
	struct dpi_sim_domain *dom;
};

static void reg_wr(struct sdev *d, uint64_t off, const void *v, size_t len)
{
	CU_ASSERT_EQUAL(d->m->mmio_write(d->st, IDXD_BAR_MMIO, off, v, len), 0);
}

static uint64_t reg_rd64(struct sdev *d, uint64_t off)
{
	uint64_t v = 0;

	CU_ASSERT_EQUAL(d->m->mmio_read(d->st, IDXD_BAR_MMIO, off, &v, 8), 0);
	return v;
}

static void reg_wr32(struct sdev *d, uint64_t off, uint32_t v)
{
	reg_wr(d, off, &v, 4);
}

static uint32_t wqcfg_off(struct sdev *d, uint32_t wq, uint32_t word)
{
	uint64_t wqcap = reg_rd64(d, IDXD_REG_WQCAP), o = reg_rd64(d, IDXD_REG_OFFSETS);

	return idxd_wqcfg_offset(IDXD_OFFSETS_WQCFG(o) * IDXD_TABLE_MULT,
				 1u << (IDXD_WQCAP_WQCFG_SIZE(wqcap) + IDXD_WQCFG_MIN_SHIFT), wq, word);
}

static void wq_cfg(struct sdev *d, uint32_t wq, bool dedicated)
{
	uint32_t mode = (dedicated ? IDXD_WQCFG_MODE_DEDICATED : IDXD_WQCFG_PASID_EN) |
			1u << IDXD_WQCFG_PRIORITY_SHIFT;

	reg_wr32(d, wqcfg_off(d, wq, IDXD_WQCFG_W_SIZE), 16);
	reg_wr32(d, wqcfg_off(d, wq, IDXD_WQCFG_W_THRESH), dedicated ? 0 : 8);
	reg_wr32(d, wqcfg_off(d, wq, IDXD_WQCFG_W_MODE), mode);
	reg_wr32(d, wqcfg_off(d, wq, IDXD_WQCFG_W_XFER), IDXD_WQCFG_MAKE_XFER(21, 10));
}

/* What the kernel's idxd driver does before a process opens a WQ: WQ0 dedicated, WQ2 shared,
 * both enabled in group 0 with engine 0; WQ3 shared but not enabled. */
static void sim_dsa_setup(struct sdev *d)
{
	uint64_t o, wqs = 0xd, engs = 1;
	uint16_t cmd = 0x6;

	memset(d, 0, sizeof(*d));
	CU_ASSERT_EQUAL_FATAL(dpi_sim_device_create("dsa0", &d->dev), 0);
	d->m = dpi_sim_device_model(d->dev);
	d->st = dpi_sim_device_state(d->dev);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_domain_create(48, &d->dom), 0);
	CU_ASSERT_EQUAL(dpi_sim_requester_attach(dpi_sim_device_requester(d->dev),
						 DPI_SIM_NO_PASID, d->dom), 0);
	CU_ASSERT_EQUAL(dpi_sim_cfg_write(d->dev, 4, &cmd, 2), 0); /* memory + bus master */
	wq_cfg(d, 0, true);
	wq_cfg(d, 2, false);
	wq_cfg(d, 3, false);
	o = reg_rd64(d, IDXD_REG_OFFSETS);
	reg_wr(d, idxd_grpcfg_offset(IDXD_OFFSETS_GRPCFG(o) * IDXD_TABLE_MULT, 0) + IDXD_GRPCFG_WQS,
	       &wqs, 8);
	reg_wr(d, idxd_grpcfg_offset(IDXD_OFFSETS_GRPCFG(o) * IDXD_TABLE_MULT, 0) +
		       IDXD_GRPCFG_ENGINES, &engs, 8);
	reg_wr32(d, IDXD_REG_CMD, IDXD_CMD_MAKE(IDXD_CMD_ENABLE_DEVICE, 0));
	reg_wr32(d, IDXD_REG_CMD, IDXD_CMD_MAKE(IDXD_CMD_ENABLE_WQ, 0));
	reg_wr32(d, IDXD_REG_CMD, IDXD_CMD_MAKE(IDXD_CMD_ENABLE_WQ, 2));
}

static void sim_dsa_teardown(struct sdev *d)
{
	dpi_sim_device_destroy(d->dev);
	dpi_sim_domain_destroy(d->dom);
}

/* A process binds a shared sim WQ by name: it gets one PASID bound to its address space, and
 * a MEMMOVE with virtual addresses runs (whatever PASID the descriptor names). */
static void test_sim_shared_wq(void)
{
	static uint8_t src[8192], dst[8192];
	struct dsa_completion_record cr __attribute__((aligned(32)));
	struct dsa_hw_desc d __attribute__((aligned(64)));
	struct dpi_kwq *q = NULL, *q2 = NULL;
	const struct dpi_kwq_info *info;
	struct sdev s;
	uint32_t pasid;

	sim_dsa_setup(&s);
	CU_ASSERT_EQUAL_FATAL(dpi_kwq_open("sim:dsa0/wq0.2", &q), 0);
	info = dpi_kwq_get_info(q);
	CU_ASSERT_STRING_EQUAL(info->wq, "wq0.2");
	CU_ASSERT_EQUAL(info->mode, DPI_KWQ_SHARED);
	CU_ASSERT_EQUAL(info->size, 16);
	CU_ASSERT_EQUAL(info->max_transfer_size, 2u << 20);
	CU_ASSERT_EQUAL(info->max_batch_size, 1024);
	CU_ASSERT_STRING_EQUAL(info->state, "enabled");
	pasid = info->pasid;
	CU_ASSERT(pasid >= 1 && pasid <= DP_PASID_MAX);
	CU_ASSERT(dpi_pasid_space_allocated(dpi_pasid_global(), pasid));
	CU_ASSERT_PTR_NULL(dpi_kwq_portal(q));

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	memset(dst, 0, sizeof(dst));
	memset(&cr, 0, sizeof(cr));
	memset(&d, 0, sizeof(d));
	d.opcode = DSA_OPCODE_MEMMOVE;
	d.flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
	d.pasid = 77; /* a process cannot choose: the WQ binding stamps its own */
	d.src_addr = (uint64_t)(uintptr_t)src;
	d.dst_addr = (uint64_t)(uintptr_t)dst;
	d.xfer_size = sizeof(src);
	d.completion_addr = (uint64_t)(uintptr_t)&cr;
	CU_ASSERT_EQUAL(dpi_kwq_submit(q, &d), 0);
	CU_ASSERT_EQUAL(cr.status, DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(memcmp(src, dst, sizeof(src)), 0);

	/* A second WQ handle of the process shares its PASID (one IA32_PASID per process). */
	CU_ASSERT_EQUAL(dpi_kwq_open("sim:dsa0/wq0.2", &q2), 0);
	CU_ASSERT_EQUAL(dpi_kwq_get_info(q2)->pasid, pasid);
	dpi_kwq_close(q2);
	CU_ASSERT(dpi_pasid_space_allocated(dpi_pasid_global(), pasid));

	ut_log_capture();
	CU_ASSERT_EQUAL(dpi_kwq_open("sim:dsa0/wq0.0", &q2), -ENOTSUP);
	CU_ASSERT(ut_log_has("dedicated"));
	CU_ASSERT_EQUAL(dpi_kwq_open("sim:dsa0/wq0.3", &q2), -ENXIO);
	CU_ASSERT(ut_log_has("not enabled"));
	CU_ASSERT_EQUAL(dpi_kwq_open("sim:dsa0/wq0.99", &q2), -ENODEV);
	CU_ASSERT_EQUAL(dpi_kwq_open("sim:dsa0/wq1.2", &q2), -EINVAL);
	CU_ASSERT_EQUAL(dpi_kwq_open("sim:dsa1/wq1.2", &q2), -ENODEV);
	CU_ASSERT_EQUAL(dpi_kwq_open("sim:test0/wq0.0", &q2), -EINVAL);
	ut_log_release();
	CU_ASSERT_PTR_NULL(q2);

	/* The last close gives the PASID back. */
	dpi_kwq_close(q);
	CU_ASSERT_FALSE(dpi_pasid_space_allocated(dpi_pasid_global(), pasid));
	sim_dsa_teardown(&s);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_info),
		UT_TEST(test_bad_names),
		UT_TEST(test_missing),
		UT_TEST(test_not_usable),
		UT_TEST(test_permission),
		UT_TEST(test_write_fallback),
		UT_TEST(test_open_fail_nth),
		UT_TEST(test_portal_movdir64b),
		UT_TEST(test_shared_full),
		UT_TEST(test_sim_shared_wq),
	};

	return ut_main("kwq", tests, DPI_ARRAY_SIZE(tests), suite_init, suite_fini);
}
