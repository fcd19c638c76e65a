/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Nested translation against a real kernel through iommufd's mock IOMMU (a kernel built with
 * CONFIG_IOMMUFD_TEST; the VM harness builds one: test/vm, tests.d/63-iova-nested-mock.sh).
 * QEMU's VT-d never offers nesting, so this is where dmaplane's own nesting calls meet the
 * kernel: dpi_iommufd_hwpt_alloc (NEST_PARENT), a nested HWPT over it, and dpi_s1_invalidate
 * (batching, resubmission of what the callee did not take, reporting the failed entry) over
 * dpi_iommufd_invalidate (IOMMU_HWPT_INVALIDATE, entry_num in/out), with the mock's entries
 * (the test-only mapping of nested_selftest.h: the entry at IOVA n * 4 KiB clears mock IOTLB
 * entry n); a call failed at dmaplane's ioctl fault point before the kernel saw it is reported
 * at the entry where that call began. Elsewhere it exits 77 and says why, except with DP_TEST_REQUIRE_IOMMUFD_MOCK=1
 * (the VM harness), where a kernel without the mock is a failure.
 *
 * Every check prints what it checked ("ok: ..." or "FAILED: ...").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmaplane/iova.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/nested_selftest.h>
#include <dmaplane_internal/stage1.h>

#include "ut.h"

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		bool ok_ = (cond);                                                                 \
		printf("    %s: ", ok_ ? "ok" : "FAILED");                                         \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		CU_ASSERT(ok_);                                                                    \
	} while (0)

#define DEF IOMMU_TEST_IOTLB_DEFAULT

struct fix {
	struct dp_ioas *ioas;
	int fd;
	uint32_t ioas_id;
	struct dpi_mock_dev md;
	uint32_t parent, nested;
};

/* An IOAS (dmaplane's iommufd backend), a mock device on it, a NEST_PARENT HWPT on the IOAS
 * for that device, a nested HWPT over it (IOTLB entries = DEF), the device moved onto it. */
static int fix_open(struct fix *f)
{
	struct dp_ioas_opts o;
	uint32_t got = 0;

	memset(f, 0, sizeof(*f));
	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_IOMMUFD;
	o.flags = DP_IOAS_F_MANUAL;
	if (dp_ioas_create(&o, &f->ioas) != 0 || dpi_ioas_iommufd(f->ioas, &f->fd, &f->ioas_id) != 0)
		return -1;
	if (dpi_iommufd_selftest_mock_dev(f->fd, f->ioas_id, &f->md) != 0)
		return -1;
	if (dpi_iommufd_hwpt_alloc(f->fd, f->md.idev_id, f->ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT,
				   NULL, &f->parent) != 0)
		return -1;
	if (dpi_iommufd_selftest_nested_alloc(f->fd, f->md.idev_id, f->parent, DEF, &f->nested) != 0)
		return -1;
	if (dpi_iommufd_selftest_replace(f->fd, f->md.stdev_id, f->nested, &got) != 0 ||
	    got != f->nested)
		return -1;
	return 0;
}

/* Undo in the order the kernel allows: device off the nested HWPT, nested, parent, device. */
static void fix_close(struct fix *f)
{
	if (f->md.stdev_id != 0) {
		CU_ASSERT_EQUAL(dpi_iommufd_selftest_replace(f->fd, f->md.stdev_id, f->ioas_id, NULL),
				0);
	}
	if (f->nested != 0)
		CU_ASSERT_EQUAL(dpi_iommufd_destroy(f->fd, f->nested), 0);
	if (f->parent != 0)
		CU_ASSERT_EQUAL(dpi_iommufd_destroy(f->fd, f->parent), 0);
	if (f->md.stdev_id != 0)
		CU_ASSERT_EQUAL(dpi_iommufd_destroy(f->fd, f->md.stdev_id), 0);
	if (f->ioas != NULL)
		CU_ASSERT_EQUAL(dp_ioas_destroy(f->ioas), 0);
}

/* A fresh nested HWPT on the fixture's parent (all IOTLB entries DEF) with the device on it. */
static void fix_renest(struct fix *f)
{
	uint32_t old = f->nested;

	CU_ASSERT_EQUAL_FATAL(
		dpi_iommufd_selftest_nested_alloc(f->fd, f->md.idev_id, f->parent, DEF, &f->nested),
		0);
	CU_ASSERT_EQUAL_FATAL(dpi_iommufd_selftest_replace(f->fd, f->md.stdev_id, f->nested, NULL),
			      0);
	CU_ASSERT_EQUAL(dpi_iommufd_destroy(f->fd, old), 0);
}

/* The mock IOTLB as a string of 4 characters: '0' cleared, 'D' still DEF, '?' anything else. */
static const char *iotlb(const struct fix *f, char buf[5])
{
	for (uint32_t i = 0; i < MOCK_NESTED_DOMAIN_IOTLB_NUM; i++) {
		if (dpi_iommufd_selftest_check_iotlb(f->fd, f->nested, i, 0) == 0)
			buf[i] = '0';
		else if (dpi_iommufd_selftest_check_iotlb(f->fd, f->nested, i, DEF) == 0)
			buf[i] = 'D';
		else
			buf[i] = '?';
	}
	buf[4] = '\0';
	return buf;
}

#define CHECK_IOTLB(f, want, what)                                                                 \
	do {                                                                                       \
		char b_[5];                                                                        \
		iotlb(f, b_);                                                                      \
		CHECK(strcmp(b_, want) == 0, "mock IOTLB %s (want %s): %s", b_, want, what);       \
	} while (0)

/* The entry that clears mock IOTLB entry id (ids above 3 are refused by the kernel). */
static struct iommu_hwpt_vtd_s1_invalidate ent(uint32_t id)
{
	return (struct iommu_hwpt_vtd_s1_invalidate){
		.addr = (uint64_t)id << 12, .npages = 1, .flags = IOMMU_VTD_INV_FLAGS_LEAF};
}

static struct dpi_iommufd_selftest_inval sub(const struct fix *f, uint32_t max_per_call)
{
	return (struct dpi_iommufd_selftest_inval){
		.iommufd = f->fd, .hwpt_id = f->nested, .max_per_call = max_per_call};
}

/* ---- objects ------------------------------------------------------------------------------ */

static void test_objects(void)
{
	struct fix f;
	uint32_t other = 0, got = 0, plain = 0;
	int rc;

	CU_ASSERT_EQUAL_FATAL(fix_open(&f), 0);
	printf("\n    IOAS %u, mock device %u (idev %u, first on HWPT %u), NEST_PARENT HWPT %u, "
	       "nested HWPT %u\n",
	       f.ioas_id, f.md.stdev_id, f.md.idev_id, f.md.hwpt_id, f.parent, f.nested);
	CHECK(f.md.hwpt_id != 0 && f.parent != 0 && f.nested != 0 && f.parent != f.nested &&
		      f.parent != f.md.hwpt_id && f.nested != f.md.hwpt_id,
	      "mock device, NEST_PARENT HWPT on the IOAS and nested HWPT over it are distinct objects");
	CHECK_IOTLB(&f, "DDDD", "a new nested HWPT's IOTLB holds the value given at allocation");
	rc = dpi_iommufd_selftest_check_iotlb(f.fd, f.nested, 0, DEF + 1);
	CHECK(rc == -EINVAL, "the IOTLB check can fail: a wrong value gives %d (-EINVAL)", rc);

	rc = dpi_iommufd_hwpt_alloc(f.fd, f.md.idev_id, f.ioas_id, 0, NULL, &plain);
	CHECK(rc == 0 && plain != 0, "a paging HWPT without NEST_PARENT on the IOAS: %d, HWPT %u",
	      rc, plain);
	ut_log_capture();
	rc = dpi_iommufd_selftest_nested_alloc(f.fd, f.md.idev_id, plain, DEF, &other);
	ut_log_release();
	CHECK(rc == -EINVAL, "a nested HWPT over it is refused: %d (-EINVAL)", rc);
	CHECK(ut_log_has("IOMMU_HWPT_ALLOC (nested"), "and logged: %s", g_ut_log.last);
	CU_ASSERT_EQUAL(dpi_iommufd_destroy(f.fd, plain), 0);

	rc = dpi_iommufd_destroy(f.fd, f.parent);
	CHECK(rc == -EBUSY, "destroying the parent under its nested HWPT: %d (-EBUSY)", rc);
	rc = dpi_iommufd_destroy(f.fd, f.nested);
	CHECK(rc == -EBUSY, "destroying the nested HWPT the device is attached to: %d (-EBUSY)", rc);

	/* The device moves back to the parent and onto the nested HWPT again. */
	rc = dpi_iommufd_selftest_replace(f.fd, f.md.stdev_id, f.parent, &got);
	CHECK(rc == 0 && got == f.parent, "mock device replaced onto the parent: %d, HWPT %u", rc,
	      got);
	rc = dpi_iommufd_selftest_replace(f.fd, f.md.stdev_id, f.nested, &got);
	CHECK(rc == 0 && got == f.nested, "and onto the nested HWPT again: %d, HWPT %u", rc, got);

	/* Teardown in order, checked step by step. */
	rc = dpi_iommufd_selftest_replace(f.fd, f.md.stdev_id, f.ioas_id, &got);
	CHECK(rc == 0 && got != f.nested && got != f.parent,
	      "mock device replaced onto the IOAS (a paging HWPT of its own, %u): %d", got, rc);
	rc = dpi_iommufd_destroy(f.fd, f.parent);
	CHECK(rc == -EBUSY, "the parent is still held by the nested HWPT: %d (-EBUSY)", rc);
	rc = dpi_iommufd_destroy(f.fd, f.nested);
	CHECK(rc == 0, "nested HWPT destroyed once no device uses it: %d", rc);
	rc = dpi_iommufd_selftest_check_iotlb(f.fd, f.nested, 0, DEF);
	CHECK(rc == -ENOENT, "the nested HWPT is gone: %d (-ENOENT)", rc);
	rc = dpi_iommufd_destroy(f.fd, f.parent);
	CHECK(rc == 0, "then the parent: %d", rc);
	rc = dpi_iommufd_destroy(f.fd, f.md.stdev_id);
	CHECK(rc == 0, "then the mock device: %d", rc);
	f.nested = f.parent = f.md.stdev_id = 0;
	fix_close(&f);
}

/* ---- invalidation: everything handled ------------------------------------------------------- */

static void test_inval_batch(void)
{
	struct iommu_hwpt_vtd_s1_invalidate e[4] = {ent(0), ent(1), ent(2), ent(3)};
	struct iommu_hwpt_vtd_s1_invalidate all = {.addr = 0, .npages = UINT64_MAX};
	struct dpi_iommufd_selftest_inval s;
	uint32_t failed = 99, num;
	uint64_t calls = 0;
	int rc;

	struct fix f;
	CU_ASSERT_EQUAL_FATAL(fix_open(&f), 0);
	printf("\n");

	/* One raw submission: entry_num in 2, out 2. */
	s = sub(&f, 0);
	num = 2;
	rc = dpi_iommufd_selftest_s1_submit(&s, &e[1], &num);
	CHECK(rc == 0 && num == 2, "IOMMU_HWPT_INVALIDATE of 2 entries: %d, entry_num out %u", rc,
	      num);
	CHECK_IOTLB(&f, "D00D", "exactly the two entries' IOTLB ids were cleared");

	fix_renest(&f);
	s = sub(&f, 0);
	rc = dpi_s1_invalidate(dpi_iommufd_selftest_s1_submit, &s, e, 4, &failed, &calls);
	CHECK(rc == 0 && calls == 1, "dpi_s1_invalidate of 4 entries: %d in %llu call(s) (1)", rc,
	      (unsigned long long)calls);
	CHECK_IOTLB(&f, "0000", "all 4 entries handled");

	fix_renest(&f);
	s = sub(&f, 0);
	calls = 0;
	rc = dpi_s1_invalidate(dpi_iommufd_selftest_s1_submit, &s, &all, 1, &failed, &calls);
	CHECK(rc == 0 && calls == 1, "an invalidate-everything entry (addr 0, npages ~0): %d", rc);
	CHECK_IOTLB(&f, "0000", "it cleared the whole mock IOTLB");
	fix_close(&f);
}

/* ---- invalidation: the callee takes fewer than offered, the rest is resubmitted -------------- */

static void test_inval_resubmit(void)
{
	struct iommu_hwpt_vtd_s1_invalidate e[4] = {ent(3), ent(0), ent(2), ent(1)};
	struct dpi_iommufd_selftest_inval s;
	uint32_t failed = 99;
	struct fix f;
	int rc;

	CU_ASSERT_EQUAL_FATAL(fix_open(&f), 0);
	printf("\n");
	for (uint32_t per = 1; per <= 4; per++) {
		uint64_t calls = 0, want = (4 + per - 1) / per;

		if (per > 1)
			fix_renest(&f);
		s = sub(&f, per);
		rc = dpi_s1_invalidate(dpi_iommufd_selftest_s1_submit, &s, e, 4, &failed, &calls);
		CHECK(rc == 0 && calls == want,
		      "4 entries, at most %u per IOMMU_HWPT_INVALIDATE: %d in %llu calls (%llu)", per,
		      rc, (unsigned long long)calls, (unsigned long long)want);
		CHECK_IOTLB(&f, "0000", "every entry reached the kernel once resubmitted");
	}
	fix_close(&f);
}

/* ---- invalidation: a bad entry at index k ---------------------------------------------------- */

/* Entries 0..4 clear ids 0, 1, <bad>, 2, 3: the bad one at k = 2. */
static void bad_batch(struct iommu_hwpt_vtd_s1_invalidate e[5], bool bad_flag)
{
	e[0] = ent(0);
	e[1] = ent(1);
	e[2] = ent(4); /* iotlb_id 4 > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX: -EINVAL */
	if (bad_flag) {
		e[2] = ent(2);
		e[2].flags |= 1u << 1; /* not a mock flag: -EOPNOTSUPP */
	}
	e[3] = ent(2);
	e[4] = ent(3);
}

static void test_inval_bad_entry(void)
{
	struct iommu_hwpt_vtd_s1_invalidate e[5];
	struct dpi_iommufd_selftest_inval s;
	uint32_t failed, num;
	uint64_t calls;
	struct fix f;
	int rc;

	CU_ASSERT_EQUAL_FATAL(fix_open(&f), 0);
	printf("\n");

	/* The kernel's answer, one raw call: its errno and entry_num = k. */
	bad_batch(e, false);
	s = sub(&f, 0);
	num = 5;
	rc = dpi_iommufd_selftest_s1_submit(&s, e, &num);
	CHECK(rc == -EINVAL && num == 2,
	      "raw call, out-of-range IOTLB id at entry 2 of 5: %d (-EINVAL), entry_num out %u (2)",
	      rc, num);
	CHECK_IOTLB(&f, "00DD", "entries before 2 applied, entries after it not");

	/* Through dpi_s1_invalidate, in one call and split into calls of 1, 2 and 3 entries: the
	 * failed index is k in the whole batch, not in the call that failed. */
	for (uint32_t per = 0; per <= 3; per++) {
		for (int flag = 0; flag <= 1; flag++) {
			char what[64];

			fix_renest(&f);
			bad_batch(e, flag);
			s = sub(&f, per);
			failed = 99;
			calls = 0;
			ut_log_capture();
			rc = dpi_s1_invalidate(dpi_iommufd_selftest_s1_submit, &s, e, 5, &failed,
					       &calls);
			ut_log_release();
			snprintf(what, sizeof(what), "%s at 2 of 5, %u per call",
				 flag ? "unknown flag" : "bad IOTLB id", per);
			CHECK(rc == (flag ? -EOPNOTSUPP : -EINVAL) && failed == 2,
			      "%s: %d (%d), failed entry %u (2), %llu calls", what, rc,
			      flag ? -EOPNOTSUPP : -EINVAL, failed, (unsigned long long)calls);
			CHECK(ut_log_has(flag ? "entry 2 of 5 (addr 0x2000, 1 pages, flags 0x3)"
					      : "entry 2 of 5 (addr 0x4000, 1 pages, flags 0x1)"),
			      "reported: %s", g_ut_log.last);
			CHECK_IOTLB(&f, "00DD", "entries 0 and 1 applied, 3 and 4 not yet");

			/* Not lost: the report lets the caller resume right after the bad entry. */
			calls = 0;
			rc = dpi_s1_invalidate(dpi_iommufd_selftest_s1_submit, &s, &e[failed + 1],
					       5 - failed - 1, NULL, &calls);
			CHECK(rc == 0, "resuming at entry 3 of 5: %d", rc);
			CHECK_IOTLB(&f, "0000", "entries 3 and 4 applied after the resume");
		}
	}
	fix_close(&f);
}

/* ---- invalidation: a call that fails before the kernel sees it (fault point) ----------------- */

/* Fail-nth through the ioctl fault point, 2 entries per call: call n fails with EIO before
 * reaching the kernel, so the kernel's IOTLB shows exactly the entries of the calls before it,
 * the failed index is where call n began, and resuming there finishes the batch. */
static void test_inval_fault(void)
{
	static const char *const before[] = {"DDDD", "00DD", "0000"};
	struct iommu_hwpt_vtd_s1_invalidate e[4] = {ent(0), ent(1), ent(2), ent(3)};
	struct dpi_iommufd_selftest_inval s;
	struct fix f;
	int rc;

	CU_ASSERT_EQUAL_FATAL(fix_open(&f), 0);
	printf("\n");
	for (uint32_t n = 1; n <= 3; n++) {
		uint32_t failed = 99;

		if (n > 1)
			fix_renest(&f);
		s = sub(&f, 2);
		ut_log_capture();
		dpi_fault_arm_site("ioctl", n, EIO);
		rc = dpi_s1_invalidate(dpi_iommufd_selftest_s1_submit, &s, e, 4, &failed, NULL);
		dpi_fault_arm(0, 0);
		ut_log_release();
		if (n == 3) {
			CHECK(rc == 0, "no third call to fail: %d", rc);
			CHECK_IOTLB(&f, "0000", "all 4 entries handled");
			continue;
		}
		CHECK(rc == -EIO && failed == 2 * (n - 1),
		      "call %u of 2 failed before the kernel: %d (-EIO), failed entry %u (%u)", n, rc,
		      failed, 2 * (n - 1));
		CHECK_IOTLB(&f, before[n - 1], "only the entries of the calls before it applied");
		rc = dpi_s1_invalidate(dpi_iommufd_selftest_s1_submit, &s, &e[failed], 4 - failed,
				       NULL, NULL);
		CHECK(rc == 0, "resuming at the failed entry: %d", rc);
		CHECK_IOTLB(&f, "0000", "the batch is complete after the resume");
	}
	fix_close(&f);
}

/* ---- entry_len ------------------------------------------------------------------------------- */

static void test_entry_len(void)
{
	static const struct {
		uint32_t len;
		uint8_t fill;
		int rc;
		const char *what;
	} cases[] = {
		{8, 0, 0, "entry_len 8, the kernel's struct"},
		{16, 0, -EINVAL, "entry_len 16 with a zeroed tail"},
		{16, 0xff, -EINVAL, "entry_len 16 with a non-zero tail"},
		{24, 0, -EINVAL, "entry_len 24 (VT-d entry size) with a zeroed tail"},
		{4, 0, -EINVAL, "entry_len 4, shorter than the struct"},
	};
	struct iommu_hwpt_vtd_s1_invalidate e[2] = {ent(1), ent(2)};
	struct fix f;

	CU_ASSERT_EQUAL_FATAL(fix_open(&f), 0);
	printf("\n");
	for (size_t i = 0; i < DPI_ARRAY_SIZE(cases); i++) {
		struct dpi_iommufd_selftest_inval s;
		uint32_t num = 2, failed = 99;
		int rc;

		fix_renest(&f);
		s = sub(&f, 0);
		s.entry_len = cases[i].len;
		s.tail_fill = cases[i].fill;
		rc = dpi_iommufd_selftest_s1_submit(&s, e, &num);
		CHECK(rc == cases[i].rc && num == (rc == 0 ? 2u : 0u),
		      "%s: %d (%d), entry_num out %u", cases[i].what, rc, cases[i].rc, num);
		CHECK_IOTLB(&f, rc == 0 ? "D00D" : "DDDD",
			    rc == 0 ? "both entries applied" : "nothing applied");
		if (cases[i].rc == 0)
			continue;
		ut_log_capture();
		rc = dpi_s1_invalidate(dpi_iommufd_selftest_s1_submit, &s, e, 2, &failed, NULL);
		ut_log_release();
		CHECK(rc == cases[i].rc && failed == 0,
		      "through dpi_s1_invalidate: %d, failed entry %u (0)", rc, failed);
	}
	fix_close(&f);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_objects),
		UT_TEST(test_inval_batch),
		UT_TEST(test_inval_resubmit),
		UT_TEST(test_inval_bad_entry),
		UT_TEST(test_inval_fault),
		UT_TEST(test_entry_len),
	};
	const char *req = getenv("DP_TEST_REQUIRE_IOMMUFD_MOCK");
	bool required = req != NULL && strcmp(req, "1") == 0;
	int fd, rc;

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("iova_nested_mock_kernel_ut: %s: no /dev/iommu (%s): needs a kernel with "
		       "iommufd and CONFIG_IOMMUFD_TEST; the VM harness (make test-vm) has one\n",
		       required ? "FAIL" : "SKIP", strerror(errno));
		return required ? 1 : 77;
	}
	rc = dpi_iommufd_selftest_probe(fd);
	close(fd);
	if (rc != 0) {
		printf("iova_nested_mock_kernel_ut: %s: the kernel has no iommufd mock IOMMU "
		       "(IOMMU_TEST_CMD: %s): needs CONFIG_IOMMUFD_TEST, as the VM harness's "
		       "kernel (make test-vm) has\n",
		       required ? "FAIL" : "SKIP", strerror(-rc));
		return required ? 1 : 77;
	}
	return ut_main("iova-nested-mock-kernel", tests, DPI_ARRAY_SIZE(tests), ut_env_init,
		       ut_env_fini);
}
