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
#include <dmaplane_internal/kwq.h>
#include <dmaplane_internal/pasid.h>
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
	/* The sim model's shared WQs are not wired yet. */
	CU_ASSERT_EQUAL(dpi_kwq_open("sim:dsa0/wq0.1", &q), -ENODEV);
	CU_ASSERT(ut_log_has("sim DSA"));
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

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_info),
		UT_TEST(test_bad_names),
		UT_TEST(test_missing),
		UT_TEST(test_not_usable),
		UT_TEST(test_permission),
		UT_TEST(test_write_fallback),
		UT_TEST(test_portal_movdir64b),
		UT_TEST(test_shared_full),
	};

	return ut_main("kwq", tests, DPI_ARRAY_SIZE(tests), suite_init, suite_fini);
}
