/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test-only: iommufd's mock IOMMU (kernels built with CONFIG_IOMMUFD_TEST), driven by
 * lib/iova/nested_selftest.c so that dmaplane's nested-translation calls (dpi_iommufd_hwpt_alloc,
 * dpi_s1_invalidate over dpi_iommufd_invalidate) run against a real kernel without an IOMMU that
 * nests. Nothing outside tests uses these. Facts: uapi_iommufd_test.h.
 *
 * Every call returns 0 or the kernel's negative errno (logged, except where said).
 */
#ifndef DMAPLANE_INTERNAL_NESTED_SELFTEST_H
#define DMAPLANE_INTERNAL_NESTED_SELFTEST_H

#include <stdint.h>

#include <dmaplane_internal/stage1.h>
#include <dmaplane_internal/uapi_iommufd_test.h>

/* 0 when the kernel behind iommufd has the mock (IOMMU_TEST_CMD); -EOPNOTSUPP (one notice
 * line) when it does not; another errno when it answers unexpectedly. */
int dpi_iommufd_selftest_probe(int iommufd);

/* A mock device: stdev_id (IOMMU_DESTROY removes it), idev_id (a bound iommufd device id,
 * the dev_id of IOMMU_HWPT_ALLOC), hwpt_id (what it was attached to at creation). */
struct dpi_mock_dev {
	uint32_t stdev_id, idev_id, hwpt_id;
};

/* Create a mock device attached to pt_id (an IOAS: a new paging HWPT; or a HWPT). */
int dpi_iommufd_selftest_mock_dev(int iommufd, uint32_t pt_id, struct dpi_mock_dev *md);
/* Replace the mock device's attachment with pt_id; *out_pt (optional) = the HWPT it got. */
int dpi_iommufd_selftest_replace(int iommufd, uint32_t stdev_id, uint32_t pt_id,
				 uint32_t *out_pt);
/* A nested HWPT on the NEST_PARENT HWPT parent_id, its 4 mock IOTLB entries set to iotlb. */
int dpi_iommufd_selftest_nested_alloc(int iommufd, uint32_t idev_id, uint32_t parent_id,
				      uint32_t iotlb, uint32_t *hwpt_id);
/* 0 when mock IOTLB entry iotlb_id of the nested HWPT holds expect; -EINVAL when it does not
 * (or iotlb_id > 3); another kernel errno. Not logged: a mismatch is an answer. */
int dpi_iommufd_selftest_check_iotlb(int iommufd, uint32_t hwpt_id, uint32_t iotlb_id,
				     uint32_t expect);

/*
 * A dpi_s1_submit_fn sending VT-d stage-1 entries as IOMMU_HWPT_INVALIDATE_DATA_SELFTEST entries
 * to the nested HWPT hwpt_id. Test-only mapping of one VT-d entry to one mock entry:
 *   - addr 0 with npages UINT64_MAX (VT-d "everything")  -> flags IOMMU_TEST_INVALIDATE_FLAG_ALL;
 *   - otherwise iotlb_id = addr >> 12, the 4 KiB page number (saturated at UINT32_MAX): the
 *     entry at IOVA n * 4096 invalidates mock IOTLB entry n (0..3 exist; npages is ignored);
 *   - the VT-d flags other than IOMMU_VTD_INV_FLAGS_LEAF are passed on unchanged as mock flags
 *     (so an unknown VT-d flag reaches the kernel as an unknown flag).
 * Each call converts at most max_per_call entries (0: no limit) and at most what fits in
 * DPI_SELFTEST_INVAL_BUF bytes, and says so through *num: handling fewer than offered is the
 * callee's right, and dpi_s1_invalidate must resubmit the rest.
 * entry_len (0: 8, the kernel's struct) sets the stride of the array the kernel gets; bytes of
 * an entry beyond the 8 of the struct are filled with tail_fill, an entry_len below 8 truncates
 * the struct: both to check what the kernel accepts. Above DPI_SELFTEST_INVAL_MAX_LEN: -EINVAL.
 */
#define DPI_SELFTEST_INVAL_BUF 2048
#define DPI_SELFTEST_INVAL_MAX_LEN 256
struct dpi_iommufd_selftest_inval {
	int iommufd;
	uint32_t hwpt_id;
	uint32_t max_per_call;
	uint32_t entry_len;
	uint8_t tail_fill;
};
int dpi_iommufd_selftest_s1_submit(void *ctx, const struct iommu_hwpt_vtd_s1_invalidate *e,
				   uint32_t *num);

#endif
