/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test-only kernel calls: iommufd's mock IOMMU (CONFIG_IOMMUFD_TEST, IOMMU_TEST_CMD), so that
 * dmaplane's nested-translation code runs against a real kernel where no IOMMU offers nesting.
 * Mock devices (create / replace / destroy), a nested HWPT with the mock's data, the mock IOTLB
 * check, and a dpi_s1_submit_fn that sends dmaplane's VT-d stage-1 entries as the mock's
 * invalidation entries: with it, dpi_s1_invalidate (batching, resubmission, reporting the failed
 * entry) and dpi_iommufd_invalidate (the ioctl, entry_num in/out) are what the kernel sees.
 * Facts: include/dmaplane_internal/uapi_iommufd_test.h. Every call goes through dpi_ioctl.
 */
#include <errno.h>
#include <string.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/nested_selftest.h>
#include <dmaplane_internal/sys.h>

static int test_cmd(int iommufd, struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return dpi_ioctl(iommufd, IOMMU_TEST_CMD, cmd) == 0 ? 0 : -errno;
}

int dpi_iommufd_selftest_probe(int iommufd)
{
	struct iommu_test_cmd cmd;
	int rc;

	/* Checking the IOTLB of object 0 (never an object) is -ENOENT on a kernel with the mock,
	 * -ENOTTY without it. */
	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_MD_CHECK_IOTLB;
	rc = test_cmd(iommufd, &cmd);
	if (rc == -ENOTTY) {
		DPI_NOTICE("iommufd: no IOMMU_TEST_CMD: the kernel is built without "
			   "CONFIG_IOMMUFD_TEST (the mock IOMMU exists only in test kernels)");
		return -EOPNOTSUPP;
	}
	if (rc == -ENOENT)
		return 0;
	DPI_ERR("iommufd: IOMMU_TEST_CMD probe: expected ENOENT for object 0, got %s",
		rc != 0 ? strerror(-rc) : "success");
	return rc != 0 ? rc : -EIO;
}

int dpi_iommufd_selftest_mock_dev(int iommufd, uint32_t pt_id, struct dpi_mock_dev *md)
{
	struct iommu_test_cmd cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN;
	cmd.id = pt_id;
	rc = test_cmd(iommufd, &cmd);
	if (rc != 0) {
		DPI_ERR("iommufd: mock device on %u: %s", pt_id, strerror(-rc));
		return rc;
	}
	md->stdev_id = cmd.mock_domain.out_stdev_id;
	md->hwpt_id = cmd.mock_domain.out_hwpt_id;
	md->idev_id = cmd.mock_domain.out_idev_id;
	return 0;
}

int dpi_iommufd_selftest_replace(int iommufd, uint32_t stdev_id, uint32_t pt_id,
				 uint32_t *out_pt)
{
	struct iommu_test_cmd cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE;
	cmd.id = stdev_id;
	cmd.mock_domain_replace.pt_id = pt_id;
	rc = test_cmd(iommufd, &cmd);
	if (rc != 0) {
		DPI_ERR("iommufd: replacing mock device %u's attachment with %u: %s", stdev_id,
			pt_id, strerror(-rc));
		return rc;
	}
	if (out_pt != NULL)
		*out_pt = cmd.mock_domain_replace.pt_id;
	return 0;
}

int dpi_iommufd_selftest_nested_alloc(int iommufd, uint32_t idev_id, uint32_t parent_id,
				      uint32_t iotlb, uint32_t *hwpt_id)
{
	struct iommu_hwpt_selftest data = {.iotlb = iotlb};

	return dpi_iommufd_hwpt_alloc_data(iommufd, idev_id, parent_id, 0,
					   IOMMU_HWPT_DATA_SELFTEST, &data, sizeof(data), hwpt_id);
}

int dpi_iommufd_selftest_check_iotlb(int iommufd, uint32_t hwpt_id, uint32_t iotlb_id,
				     uint32_t expect)
{
	struct iommu_test_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_MD_CHECK_IOTLB;
	cmd.id = hwpt_id;
	cmd.check_iotlb.id = iotlb_id;
	cmd.check_iotlb.iotlb = expect;
	return test_cmd(iommufd, &cmd);
}

/* The documented test-only mapping of a VT-d entry to a mock entry (see the header). */
static void to_mock(const struct iommu_hwpt_vtd_s1_invalidate *e,
		    struct iommu_hwpt_invalidate_selftest *m)
{
	uint64_t page = e->addr >> 12;

	memset(m, 0, sizeof(*m));
	m->flags = e->flags & ~(uint32_t)IOMMU_VTD_INV_FLAGS_LEAF;
	if (e->addr == 0 && e->npages == UINT64_MAX)
		m->flags |= IOMMU_TEST_INVALIDATE_FLAG_ALL;
	else
		m->iotlb_id = page > UINT32_MAX ? UINT32_MAX : (uint32_t)page;
}

int dpi_iommufd_selftest_s1_submit(void *ctx, const struct iommu_hwpt_vtd_s1_invalidate *e,
				   uint32_t *num)
{
	const struct dpi_iommufd_selftest_inval *s = ctx;
	unsigned char buf[DPI_SELFTEST_INVAL_BUF];
	uint32_t len = s->entry_len != 0 ? s->entry_len : sizeof(struct iommu_hwpt_invalidate_selftest);
	uint32_t n = *num, cap = sizeof(buf) / len;

	if (len > DPI_SELFTEST_INVAL_MAX_LEN) {
		DPI_ERR("mock invalidation: entry_len %u is above %u", len,
			DPI_SELFTEST_INVAL_MAX_LEN);
		*num = 0;
		return -EINVAL;
	}
	if (n > cap)
		n = cap;
	if (s->max_per_call != 0 && n > s->max_per_call)
		n = s->max_per_call;
	memset(buf, s->tail_fill, (size_t)n * len);
	for (uint32_t i = 0; i < n; i++) {
		struct iommu_hwpt_invalidate_selftest m;

		to_mock(&e[i], &m);
		memcpy(buf + (size_t)i * len, &m, len < sizeof(m) ? len : sizeof(m));
	}
	*num = n;
	return dpi_iommufd_invalidate(s->iommufd, s->hwpt_id, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
				      buf, len, num);
}
