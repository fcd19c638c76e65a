/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * drivers/nvme against a real (emulated by QEMU) NVMe controller, through iommufd or type1
 * (DP_IOMMU) with the controller bound to vfio-pci (DP_TEST_BDF). Run by the VM harness; exits 77
 * and says why without them. Writes patterns through one queue pair and reads them back through
 * another, on every namespace (512 and 4096-byte blocks), with buffers that cross 2 MiB and
 * transfers beyond MDTS, then checks the errors a user hits before anything reaches the device,
 * vectored I/O, a controller reset with reads in flight, asynchronous event arming,
 * per-command timeouts with Abort, and that a command whose PRP names an IOVA that is no longer
 * mapped is stopped by the IOMMU: nothing reaches memory or media through it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/nvme.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/nvme.h>
#include <dmaplane_internal/nvme_spec.h>

#include "ut.h"
#include "ut_nvme.h"

#define MiB (1ull << 20)

static const char *g_bdf;
static int g_backend;

static struct dp_ioas *g_ioas;
static struct dp_nvme_ctrlr *g_ctrlr;

static void test_verify_all_namespaces(void)
{
	uint32_t nsids[16], n = 16;
	struct dp_nvme_qpair *qa = NULL, *qb = NULL;
	uint8_t *area, *wbuf, *rbuf;

	CU_ASSERT_EQUAL_FATAL(dp_nvme_ctrlr_ns_list(g_ctrlr, nsids, &n), 0);
	CU_ASSERT_FATAL(n >= 1);
	CU_ASSERT_EQUAL_FATAL(dp_nvme_qpair_create(g_ctrlr, 64, &qa), 0);
	CU_ASSERT_EQUAL_FATAL(dp_nvme_qpair_create(g_ctrlr, 64, &qb), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(8 * MiB, 2 * MiB, DP_NUMA_ANY, (void **)&area), 0);
	wbuf = area + 2 * MiB - 8192; /* crosses a 2 MiB boundary */
	rbuf = area + 6 * MiB - 4096;
	for (uint32_t k = 0; k < n; k++) {
		struct dp_nvme_ns *ns = dp_nvme_ctrlr_get_ns(g_ctrlr, nsids[k]);
		struct dp_nvme_ns_info info = {.size = sizeof(info)};
		CU_ASSERT_EQUAL_FATAL(dp_nvme_ns_get_info(ns, &info), 0);
		const uint32_t sizes[] = {info.block_size, 4096, 65536, 1536 * 1024};
		const uint64_t lbas[] = {0, 7, info.num_blocks / 2, 0};
		for (size_t s = 0; s < DPI_ARRAY_SIZE(sizes); s++) {
			uint32_t nlb = sizes[s] / info.block_size;
			uint64_t lba = s == 3 ? info.num_blocks - nlb : lbas[s]; /* the last blocks */
			fill(wbuf, sizes[s], nsids[k] * 1000 + s);
			memset(rbuf, 0, sizes[s]);
			CU_ASSERT_EQUAL(rw_wait(qa, ns, wbuf, lba, nlb, true), 0);
			CU_ASSERT_EQUAL(rw_wait(qb, ns, rbuf, lba, nlb, false), 0);
			if (memcmp(wbuf, rbuf, sizes[s]) != 0) {
				CU_FAIL("data read back differs from data written");
				printf("\n  ns %u (%u-byte blocks): %u bytes at LBA %llu differ\n",
				       nsids[k], info.block_size, sizes[s], (unsigned long long)lba);
			}
		}
		printf("\n  ns %u: %llu blocks of %u bytes verified at 4 sizes up to 1.5 MiB\n",
		       nsids[k], (unsigned long long)info.num_blocks, info.block_size);
	}
	CU_ASSERT_EQUAL(dp_nvme_qpair_destroy(qa), 0);
	CU_ASSERT_EQUAL(dp_nvme_qpair_destroy(qb), 0);
	CU_ASSERT_EQUAL(dp_dma_free(area), 0);
}

static void test_errors_before_submission(void)
{
	struct dp_nvme_qpair *qp = NULL;
	struct dp_nvme_ns *ns = dp_nvme_ctrlr_get_ns(g_ctrlr, 1);
	struct dp_nvme_ns_info info = {.size = sizeof(info)};
	struct done d = {0};
	void *buf;
	uint8_t *plain = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(plain != MAP_FAILED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
	CU_ASSERT_EQUAL_FATAL(dp_nvme_ns_get_info(ns, &info), 0);
	CU_ASSERT_EQUAL_FATAL(dp_nvme_qpair_create(g_ctrlr, 16, &qp), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(8192, 4096, DP_NUMA_ANY, &buf), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_nvme_read(qp, ns, buf, info.num_blocks, 1, on_done, &d), -ERANGE);
	CU_ASSERT_EQUAL(dp_nvme_read(qp, ns, buf, 0, 0, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_nvme_read(qp, ns, (char *)buf + 1, 0, 1, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_nvme_read(qp, ns, plain, 0, 1, on_done, &d), -EFAULT);
	ut_log_release();
	CU_ASSERT_EQUAL(d.finished, 0); /* nothing reached the device */
	CU_ASSERT_EQUAL(dp_nvme_qpair_destroy(qp), 0);
	CU_ASSERT_EQUAL(dp_dma_free(buf), 0);
	munmap(plain, 8192);
}

/*
 * The IOMMU stops a device that DMAs through an IOVA that is no longer mapped, and nothing
 * reaches memory or media through it. A page B holding a pattern is mapped at IOVA X; a Write
 * command from X puts the pattern on LBA 0 (the positive control: the raw path and X work).
 * Then X is unmapped, LBA 0 rewritten with other data D, and two commands aimed at X follow:
 *  - Write from X: the command fails (LBA 0 keeps D), or - a controller that ignores failed
 *    DMA, as QEMU's does, reports success - LBA 0 gets anything but B's pattern;
 *  - Read of LBA 0 into X: whatever the status, B keeps its pattern.
 * A 2 MiB mapped canary buffer never changes, and the queue pair goes on working.
 * (X is 1 GiB into dp_iova_map's window, which this program does not otherwise use.)
 */
static void test_dma_to_unmapped_iova(void)
{
	const dp_iova_t x = (1ull << 38) + (1ull << 30);
	struct dp_nvme_qpair *qp = NULL;
	struct dp_nvme_ns *ns = dp_nvme_ctrlr_get_ns(g_ctrlr, 1);
	struct dp_nvme_ns_info info = {.size = sizeof(info)};
	uint8_t *data, *canary, *check, *ref, *b, pattern[4096];
	const size_t clen = 2 * MiB;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
	CU_ASSERT_EQUAL_FATAL(dp_nvme_ns_get_info(ns, &info), 0);
	CU_ASSERT_EQUAL_FATAL(dp_nvme_qpair_create(g_ctrlr, 16, &qp), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(4096, 4096, DP_NUMA_ANY, (void **)&data), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(4096, 4096, DP_NUMA_ANY, (void **)&check), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(clen, 4096, DP_NUMA_ANY, (void **)&canary), 0);
	b = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ref = malloc(clen);
	CU_ASSERT_FATAL(b != MAP_FAILED && ref != NULL);
	fill(data, 4096, 0x5eed);
	fill(canary, clen, 0xc0ffee);
	fill(pattern, sizeof(pattern), 0xb0b);
	memcpy(b, pattern, 4096);

	/* Positive control: mapped at X, B's pattern reaches LBA 0. */
	CU_ASSERT_EQUAL_FATAL(dp_ioas_map(g_ioas, b, 4096, x, 0), 0);
	CU_ASSERT_EQUAL(raw_at(qp, NVME_IO_WRITE, x), 0);
	CU_ASSERT_EQUAL(rw_wait(qp, ns, check, 0, 1, false), 0);
	CU_ASSERT(memcmp(check, pattern, info.block_size) == 0);
	CU_ASSERT_EQUAL_FATAL(dp_ioas_unmap(g_ioas, x, 4096), 0);
	CU_ASSERT_EQUAL_FATAL(rw_wait(qp, ns, data, 0, 1, true), 0);

	rc = raw_at(qp, NVME_IO_WRITE, x);
	printf("\n  write from unmapped IOVA 0x%llx: %d ", (unsigned long long)x, rc);
	CU_ASSERT(rc != -ETIMEDOUT);
	memset(check, 0, 4096);
	CU_ASSERT_EQUAL(rw_wait(qp, ns, check, 0, 1, false), 0);
	CU_ASSERT(memcmp(check, pattern, info.block_size) != 0); /* B never reached the media */
	if (rc != 0) {
		CU_ASSERT(memcmp(check, data, info.block_size) == 0); /* failed: the media kept D */
	} else {
		printf("(the controller reported success; the IOMMU kept B's bytes off the media) ");
	}

	rc = raw_at(qp, NVME_IO_READ, x);
	printf("\n  read into unmapped IOVA 0x%llx: %d ", (unsigned long long)x, rc);
	CU_ASSERT(rc != -ETIMEDOUT);
	CU_ASSERT(memcmp(b, pattern, 4096) == 0); /* nothing reached B through X */

	fill(ref, clen, 0xc0ffee);
	CU_ASSERT(memcmp(canary, ref, clen) == 0);
	CU_ASSERT_EQUAL(rw_wait(qp, ns, data, 0, 1, true), 0); /* the queue pair still works */
	free(ref);
	munmap(b, 4096);
	CU_ASSERT_EQUAL(dp_nvme_qpair_destroy(qp), 0);
	dp_dma_free(canary);
	dp_dma_free(check);
	dp_dma_free(data);
}

/* Vectored I/O (SGLs when the controller has them, PRPs otherwise: a PRP-friendly layout so
 * both work), then dp_nvme_ctrlr_reset() with reads in flight: each callback runs once (0 when
 * the controller finished it first, -EIO when the reset took it), the same queue pairs work
 * afterwards and the data written before the reset is still there. Asynchronous events get
 * armed and the admin poll runs clean. */
struct cb_count {
	int calls, ok, eio, other;
};

static void on_count(void *arg, int rc, uint16_t status)
{
	struct cb_count *c = arg;

	(void)status;
	c->calls++;
	c->ok += rc == 0;
	c->eio += rc == -EIO;
	c->other += rc != 0 && rc != -EIO;
}

static void on_event(void *arg, const struct dp_nvme_async_event *e)
{
	(void)e;
	(*(int *)arg)++;
}

static void test_iov_reset_aer(void)
{
	struct dp_nvme_ns *ns = dp_nvme_ctrlr_get_ns(g_ctrlr, 1);
	struct dp_nvme_ns_info info = {.size = sizeof(info)};
	struct dp_nvme_qpair_opts o;
	struct dp_nvme_qpair *qp = NULL;
	struct cb_count c = {0};
	struct iovec iov[3];
	uint8_t *area, *flat;
	int events = 0;
	struct done d = {0};

	CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
	CU_ASSERT_EQUAL_FATAL(dp_nvme_ns_get_info(ns, &info), 0);
	dp_nvme_qpair_opts_init(&o, sizeof(o));
	o.depth = 32;
	o.timeout_us = 30000000; /* generous: nothing here should time out */
	CU_ASSERT_EQUAL_FATAL(dp_nvme_qpair_create_ext(g_ctrlr, &o, &qp), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(1 * MiB, 4096, DP_NUMA_ANY, (void **)&area), 0);
	flat = area + 512 * 1024;
	/* 16 KiB: a page tail of 4 KiB from a page start, two whole pages, a 4 KiB head. */
	iov[0] = (struct iovec){area, 4096};
	iov[1] = (struct iovec){area + 64 * 1024, 8192};
	iov[2] = (struct iovec){area + 128 * 1024, 4096};
	for (int i = 0; i < 3; i++)
		fill(iov[i].iov_base, iov[i].iov_len, 77 + i);
	CU_ASSERT_EQUAL(dp_nvme_ns_writev(qp, ns, iov, 3, 16, 16384 / info.block_size, on_done,
					  &d), 0);
	CU_ASSERT_EQUAL(wait_done(qp, &d), 0);
	memset(flat, 0, 16384);
	CU_ASSERT_EQUAL(rw_wait(qp, ns, flat, 16, 16384 / info.block_size, false), 0);
	CU_ASSERT_EQUAL(memcmp(flat, area, 4096), 0);
	CU_ASSERT_EQUAL(memcmp(flat + 4096, area + 64 * 1024, 8192), 0);
	CU_ASSERT_EQUAL(memcmp(flat + 12288, area + 128 * 1024, 4096), 0);

	CU_ASSERT_EQUAL(dp_nvme_ctrlr_register_aer_cb(g_ctrlr, on_event, &events), 0);
	CU_ASSERT(dp_nvme_ctrlr_process_admin_completions(g_ctrlr) >= 0);

	for (int i = 0; i < 16; i++)
		CU_ASSERT_EQUAL(dp_nvme_read(qp, ns, area + 256 * 1024 + 4096 * i, 16,
					     4096 / info.block_size, on_count, &c), 0);
	CU_ASSERT_EQUAL(dp_nvme_ctrlr_reset(g_ctrlr), 0);
	for (int i = 0; i < 1000000 && c.calls < 16; i++)
		CU_ASSERT(dp_nvme_qpair_process_completions(qp, 0) >= 0);
	CU_ASSERT_EQUAL(c.calls, 16);
	CU_ASSERT_EQUAL(c.ok + c.eio, 16);
	CU_ASSERT_EQUAL(c.other, 0);
	CU_ASSERT_EQUAL(dp_nvme_qpair_outstanding(qp), 0);
	printf("\n  reset with 16 reads in flight: %d completed first, %d failed back\n", c.ok,
	       c.eio);
	memset(flat, 0, 16384);
	CU_ASSERT_EQUAL(rw_wait(qp, ns, flat, 16, 16384 / info.block_size, false), 0);
	CU_ASSERT_EQUAL(memcmp(flat, area, 4096), 0);
	CU_ASSERT(dp_nvme_ctrlr_process_admin_completions(g_ctrlr) >= 0);
	CU_ASSERT_EQUAL(dp_nvme_ctrlr_register_aer_cb(g_ctrlr, NULL, NULL), 0);
	CU_ASSERT_EQUAL(dp_nvme_qpair_destroy(qp), 0);
	CU_ASSERT_EQUAL(dp_dma_free(area), 0);
}

/* Timeouts on a real controller: with a 1 us timeout every read is overdue before QEMU answers,
 * so each completes once with -ETIMEDOUT (or 0 when QEMU was first) and gets an Abort, sent
 * without waiting (up to the controller's ACL + 1 outstanding: the others are only logged); the
 * controller's answers arrive later (aborted or done) and give every slot back; the admin poll
 * then reaps the Aborts' completions; the queue pair then works as before. */
static void test_timeout_abort(void)
{
	struct dp_nvme_ns *ns = dp_nvme_ctrlr_get_ns(g_ctrlr, 1);
	struct dp_nvme_ns_info info = {.size = sizeof(info)};
	struct dp_nvme_qpair_opts o;
	struct dp_nvme_qpair *qp = NULL;
	struct cb_count c = {0};
	uint8_t *buf;
	long polls = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
	CU_ASSERT_EQUAL_FATAL(dp_nvme_ns_get_info(ns, &info), 0);
	dp_nvme_qpair_opts_init(&o, sizeof(o));
	o.depth = 16;
	o.timeout_us = 1;
	CU_ASSERT_EQUAL_FATAL(dp_nvme_qpair_create_ext(g_ctrlr, &o, &qp), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(64 * 1024, 4096, DP_NUMA_ANY, (void **)&buf), 0);
	ut_log_capture();
	for (int i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(dp_nvme_read(qp, ns, buf + 4096 * i, 8 * i, 4096 / info.block_size,
					     on_count, &c), 0);
	for (; polls < 100000000L && (c.calls < 8 || dp_nvme_qpair_outstanding(qp) > 0); polls++)
		CU_ASSERT_FATAL(dp_nvme_qpair_process_completions(qp, 0) >= 0);
	for (long i = 0; i < 1000000L && dpi_nvme_aborts_outstanding(g_ctrlr) > 0; i++)
		CU_ASSERT_FATAL(dp_nvme_ctrlr_process_admin_completions(g_ctrlr) >= 0);
	ut_log_release();
	CU_ASSERT_EQUAL(dpi_nvme_aborts_outstanding(g_ctrlr), 0);
	CU_ASSERT_EQUAL(c.calls, 8);
	CU_ASSERT_EQUAL(c.ok + c.other, 8);
	CU_ASSERT_EQUAL(c.eio, 0);
	CU_ASSERT_EQUAL(dp_nvme_qpair_outstanding(qp), 0);
	printf("\n  1 us timeout: %d of 8 reads timed out and were aborted, %d completed first\n",
	       c.other, c.ok);
	CU_ASSERT_EQUAL(dp_nvme_qpair_destroy(qp), 0);
	/* The same controller without a timeout. */
	CU_ASSERT_EQUAL_FATAL(dp_nvme_qpair_create(g_ctrlr, 16, &qp), 0);
	CU_ASSERT_EQUAL(rw_wait(qp, ns, buf, 0, 4096 / info.block_size, false), 0);
	CU_ASSERT_EQUAL(dp_nvme_qpair_destroy(qp), 0);
	CU_ASSERT_EQUAL(dp_dma_free(buf), 0);
}

static int suite_init(void)
{
	struct dp_ioas_opts o;

	if (ut_env_init() != 0)
		return -1;
	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = (uint32_t)g_backend;
	if (dp_ioas_create(&o, &g_ioas) != 0)
		return -1;
	return dp_nvme_ctrlr_open(g_bdf, g_ioas, NULL, &g_ctrlr) == 0 ? 0 : -1;
}

static int suite_fini(void)
{
	int rc = dp_nvme_ctrlr_close(g_ctrlr) | dp_ioas_destroy(g_ioas);

	ut_env_fini();
	return rc == 0 ? 0 : -1;
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_verify_all_namespaces),
		UT_TEST(test_errors_before_submission),
		UT_TEST(test_dma_to_unmapped_iova),
		UT_TEST(test_iov_reset_aer),
		UT_TEST(test_timeout_abort),
	};
	const char *b = getenv("DP_IOMMU");

	g_bdf = getenv("DP_TEST_BDF");
	if (g_bdf == NULL || b == NULL) {
		printf("nvme_kernel_ut: SKIP: needs DP_TEST_BDF (an NVMe controller bound to vfio-pci) "
		       "and DP_IOMMU=iommufd|vfio; the VM harness (make test-vm) sets both\n");
		return 77;
	}
	/* DP_IOMMU=sim with DP_TEST_BDF=sim:nvme0 runs the same checks on the sim (development). */
	g_backend = strcmp(b, "iommufd") == 0 ? DP_IOMMU_IOMMUFD
		    : strcmp(b, "sim") == 0   ? DP_IOMMU_SIM
					      : DP_IOMMU_VFIO;
	return ut_main("nvme-kernel", tests, DPI_ARRAY_SIZE(tests), suite_init, suite_fini);
}
