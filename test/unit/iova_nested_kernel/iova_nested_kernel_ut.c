/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Nested translation against the real kernel (iommufd), with a PCI device bound to vfio-pci
 * (DP_TEST_BDF). Run by the VM harness (test/vm, tests.d/62-iova-nested-kernel.sh); elsewhere
 * it exits 77 and says why.
 *
 * Covers: what IOMMU_GET_HW_INFO reports for the device (type, VT-d cap/ecap, PASID width) and
 * that the nesting decision follows the capability bits; IOMMU_HWPT_ALLOC with NEST_PARENT,
 * refused where nesting is absent; where it is present, a VT-d stage-1 HWPT over our own table
 * and IOMMU_HWPT_INVALIDATE with entry_num semantics (a bad entry reported by index); and the
 * documented fallback of dp_ioas_create(DP_IOAS_F_NESTED) on iommufd: a plain, working IOAS
 * and one log line with the reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/vfio.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/stage1.h>

#include "ut.h"

static const char *g_bdf;

struct fixture {
	struct dp_ioas *ioas;
	struct dp_device *dev;
	int fd;
	uint32_t ioas_id, dev_id;
};

static void open_fixture(struct fixture *f, uint32_t flags)
{
	struct dp_ioas_opts o;
	int dev_fd;

	memset(f, 0, sizeof(*f));
	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_IOMMUFD;
	o.flags = DP_IOAS_F_MANUAL | flags;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &f->ioas), 0);
	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open(g_bdf, f->ioas, &f->dev), 0);
	CU_ASSERT_EQUAL_FATAL(dpi_ioas_iommufd(f->ioas, &f->fd, &f->ioas_id), 0);
	CU_ASSERT_EQUAL_FATAL(dpi_device_iommufd(f->dev, &dev_fd, &f->dev_id), 0);
}

static void close_fixture(struct fixture *f)
{
	CU_ASSERT_EQUAL(dp_device_close(f->dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(f->ioas), 0);
}

static bool want_nesting(uint64_t ecap)
{
	uint64_t need = DPI_VTD_ECAP_NEST | DPI_VTD_ECAP_SMTS | DPI_VTD_ECAP_FLTS |
			DPI_VTD_ECAP_SLTS;

	return (ecap & need) == need;
}

/* GET_HW_INFO and the decision it drives. */
static void test_hw_info(void)
{
	struct fixture f;
	struct dpi_nesting_info info;
	int rc;

	open_fixture(&f, 0);
	ut_log_capture();
	rc = dpi_iommufd_nesting_probe(f.fd, f.dev_id, &info);
	ut_log_release();
	printf("\n  GET_HW_INFO on %s (device %u): type %u, cap 0x%llx, ecap 0x%llx, "
	       "max_pasid_log2 %u, capabilities 0x%llx: nesting %s%s\n", g_bdf, f.dev_id, info.type,
	       (unsigned long long)info.cap, (unsigned long long)info.ecap, info.max_pasid_log2,
	       (unsigned long long)info.capabilities, rc == 0 ? "available" : "absent: ",
	       rc == 0 ? "" : info.why ? info.why : strerror(-rc));
	CU_ASSERT_EQUAL(info.type, IOMMU_HW_INFO_TYPE_INTEL_VTD); /* the VM has VT-d */
	CU_ASSERT((info.ecap & DPI_VTD_ECAP_SMTS) != 0);          /* and scalable mode */
	CU_ASSERT_EQUAL(rc == 0, want_nesting(info.ecap));
	if (rc != 0) {
		CU_ASSERT_EQUAL(rc, -EOPNOTSUPP);
		CU_ASSERT_PTR_NOT_NULL(info.why);
		CU_ASSERT(ut_log_has("no nested translation"));
	}
	/* a bad device id is the kernel's error, not a decision */
	CU_ASSERT(dpi_iommufd_nesting_probe(f.fd, f.dev_id + 1000, &info) < 0);
	close_fixture(&f);
}

/* The stage-2 side of our table: chunks mapped into the IOAS (the nesting parent). */
static int chunk_map(void *ctx, void *va, uint64_t gpa, size_t len)
{
	return dp_ioas_map(ctx, va, len, gpa, DP_MAP_READ | DP_MAP_WRITE);
}

static void chunk_unmap(void *ctx, void *va, uint64_t gpa, size_t len)
{
	(void)va;
	dp_ioas_unmap(ctx, gpa, len);
}

/* With nesting: a parent HWPT, a stage-1 HWPT over our table, batched invalidation. */
static void nested_hwpts(struct fixture *f, uint32_t parent)
{
	struct dpi_s1pt_opts o = {.gpa_base = 1ull << 36,
				  .mem = {.ctx = f->ioas, .map = chunk_map, .unmap = chunk_unmap}};
	struct dpi_s1pt *pt = NULL;
	struct iommu_hwpt_vtd_s1 s1 = {.addr_width = DPI_S1_ADDR_WIDTH};
	struct dpi_iommufd_hwpt h = {.iommufd = f->fd};
	struct iommu_hwpt_vtd_s1_invalidate e[3];
	uint32_t failed = 99;
	uint64_t calls = 0;

	CU_ASSERT_EQUAL_FATAL(dpi_s1pt_create(&o, &pt), 0);
	s1.pgtbl_addr = dpi_s1pt_root(pt);
	CU_ASSERT_EQUAL(dpi_iommufd_hwpt_alloc(f->fd, f->dev_id, parent, 0, &s1, &h.hwpt_id), 0);
	for (int i = 0; i < 3; i++)
		e[i] = (struct iommu_hwpt_vtd_s1_invalidate){
			.addr = (uint64_t)i << 21, .npages = 1, .flags = IOMMU_VTD_INV_FLAGS_LEAF};
	CU_ASSERT_EQUAL(dpi_s1_invalidate(dpi_iommufd_s1_submit, &h, e, 3, &failed, &calls), 0);
	CU_ASSERT(calls >= 1);
	e[1].flags = 0x80; /* unknown flag: the kernel stops there */
	ut_log_capture();
	CU_ASSERT(dpi_s1_invalidate(dpi_iommufd_s1_submit, &h, e, 3, &failed, NULL) < 0);
	ut_log_release();
	CU_ASSERT_EQUAL(failed, 1);
	CU_ASSERT_EQUAL(dpi_iommufd_destroy(f->fd, h.hwpt_id), 0);
	dpi_s1pt_destroy(pt);
}

/* NEST_PARENT is refused where GET_HW_INFO shows no nesting; else the whole nested path. */
static void test_nest_parent(void)
{
	struct fixture f;
	struct dpi_nesting_info info;
	uint32_t parent = 0;
	int nest, rc;

	open_fixture(&f, 0);
	ut_log_capture();
	nest = dpi_iommufd_nesting_probe(f.fd, f.dev_id, &info);
	rc = dpi_iommufd_hwpt_alloc(f.fd, f.dev_id, f.ioas_id, IOMMU_HWPT_ALLOC_NEST_PARENT, NULL,
				    &parent);
	ut_log_release();
	printf("\n  IOMMU_HWPT_ALLOC(NEST_PARENT): %s\n", rc == 0 ? "allocated" : strerror(-rc));
	if (nest != 0) {
		CU_ASSERT(rc < 0);
		CU_ASSERT(ut_log_has("IOMMU_HWPT_ALLOC"));
		printf("  nesting absent: stage-1 HWPT and HWPT_INVALIDATE not exercised here\n");
	} else {
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		nested_hwpts(&f, parent);
		CU_ASSERT_EQUAL(dpi_iommufd_destroy(f.fd, parent), 0);
	}
	close_fixture(&f);
}

/* dp_ioas_create(DP_IOAS_F_NESTED) on iommufd: the plain IOAS, the reason logged, working. */
static void test_ioas_fallback(void)
{
	struct fixture f;
	void *buf;
	dp_iova_t iova;

	ut_log_capture();
	open_fixture(&f, DP_IOAS_F_NESTED);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_ioas_nested(f.ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_backend(f.ioas), DP_IOMMU_IOMMUFD);
	CU_ASSERT(ut_log_has("nested translation is not available on iommufd"));
	/* the device that attached said what its IOMMU offers (GET_HW_INFO) */
	CU_ASSERT(ut_log_has("no nested translation") || ut_log_has("supports nested translation"));
	buf = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(buf != MAP_FAILED);
	CU_ASSERT_EQUAL(dp_iova_map(f.ioas, buf, 1 << 20, 0, &iova), 0);
	CU_ASSERT_EQUAL(dp_iova_unmap(f.ioas, iova, 1 << 20), 0);
	CU_ASSERT_EQUAL(dp_iova_flush(f.ioas), 0);
	close_fixture(&f);
	munmap(buf, 1 << 20);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_hw_info),
		UT_TEST(test_nest_parent),
		UT_TEST(test_ioas_fallback),
	};
	const char *b = getenv("DP_IOMMU");

	g_bdf = getenv("DP_TEST_BDF");
	if (g_bdf == NULL || b == NULL || strcmp(b, "iommufd") != 0) {
		printf("iova_nested_kernel_ut: SKIP: needs DP_TEST_BDF (a PCI device bound to "
		       "vfio-pci) and DP_IOMMU=iommufd; the VM harness (make test-vm) sets both\n");
		return 77;
	}
	unsetenv("DP_IOMMU"); /* the tests choose their backend and flags themselves */
	return ut_main("iova-nested-kernel", tests, DPI_ARRAY_SIZE(tests), ut_env_init,
		       ut_env_fini);
}
