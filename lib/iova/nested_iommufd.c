/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel calls behind nested translation on iommufd (Linux >= 6.7 for nested HWPTs with VT-d
 * stage-1 data, >= 6.8 for IOMMU_HWPT_INVALIDATE): IOMMU_GET_HW_INFO and the nesting decision,
 * IOMMU_HWPT_ALLOC of a nesting parent and of a stage-1 HWPT, and IOMMU_HWPT_INVALIDATE as a
 * submit function for dpi_s1_invalidate (entry_num in/out). Every call goes through dpi_ioctl.
 *
 * Facts (Linux uAPI, include/uapi/linux/iommufd.h): GET_HW_INFO fills up to data_len bytes of
 * the driver's struct (iommu_hw_info_vtd: flags, cap_reg, ecap_reg) and returns its type in
 * out_data_type; HWPT_INVALIDATE takes entry_len/entry_num and writes back in entry_num how many
 * entries it handled, also when it fails (the failing entry is the next one).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define DP_LOG_COMPONENT "iova"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/stage1.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/uapi_iommufd.h>

static int probe(int iommufd, uint32_t dev_id, struct dpi_nesting_info *info, bool say)
{
	struct iommu_hw_info_vtd vtd;
	struct iommu_hw_info cmd;
	int rc;

	memset(info, 0, sizeof(*info));
	memset(&vtd, 0, sizeof(vtd));
	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.dev_id = dev_id;
	cmd.data_len = sizeof(vtd);
	cmd.data_uptr = (uintptr_t)&vtd;
	if (dpi_ioctl(iommufd, IOMMU_GET_HW_INFO, &cmd) != 0) {
		rc = -errno;
		DPI_ERR("IOMMU_GET_HW_INFO for device %u: %s%s", dev_id, strerror(-rc),
			rc == -ENOTTY ? " (the kernel is older than 6.6)" : "");
		return rc;
	}
	info->type = cmd.out_data_type;
	info->max_pasid_log2 = cmd.out_max_pasid_log2;
	info->capabilities = cmd.out_capabilities;
	if (info->type != IOMMU_HW_INFO_TYPE_INTEL_VTD) {
		info->why = "an IOMMU other than Intel VT-d (this version writes VT-d stage-1 tables)";
		rc = -EOPNOTSUPP;
	} else {
		info->cap = vtd.cap_reg;
		info->ecap = vtd.ecap_reg;
		rc = dpi_s1_vtd_nesting(info->cap, info->ecap, &info->why, &info->big_pages);
	}
	if (rc != 0 && say) {
		char buf[200];
		DPI_NOTICE("device %u: no nested translation: %s", dev_id,
			   dpi_nesting_why(info, buf, sizeof(buf)));
	}
	return rc;
}

int dpi_iommufd_nesting_probe(int iommufd, uint32_t dev_id, struct dpi_nesting_info *info)
{
	return probe(iommufd, dev_id, info, true);
}

int dpi_iommufd_nesting_query(int iommufd, uint32_t dev_id, struct dpi_nesting_info *info)
{
	return probe(iommufd, dev_id, info, false);
}

const char *dpi_nesting_why(const struct dpi_nesting_info *info, char *buf, size_t len)
{
	snprintf(buf, len, "IOMMU_GET_HW_INFO (type %u, cap 0x%" PRIx64 ", ecap 0x%" PRIx64
		 ") shows %s%s", info->type, info->cap, info->ecap,
		 info->type == IOMMU_HW_INFO_TYPE_INTEL_VTD ? "no " : "",
		 info->why != NULL ? info->why : "nesting");
	return buf;
}

int dpi_iommufd_hwpt_alloc_data(int iommufd, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
				uint32_t data_type, const void *data, uint32_t data_len,
				uint32_t *hwpt_id)
{
	struct iommu_hwpt_alloc cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.flags = flags;
	cmd.dev_id = dev_id;
	cmd.pt_id = pt_id;
	cmd.data_type = data_type;
	cmd.data_len = data_len;
	cmd.data_uptr = (uintptr_t)data;
	if (dpi_ioctl(iommufd, IOMMU_HWPT_ALLOC, &cmd) != 0) {
		rc = -errno;
		DPI_ERR("IOMMU_HWPT_ALLOC (%s, data type 0x%x, device %u on %u, flags 0x%x): %s",
			data_type == IOMMU_HWPT_DATA_NONE	? "paging"
			: data_type == IOMMU_HWPT_DATA_VTD_S1 ? "VT-d stage 1"
							      : "nested",
			data_type, dev_id, pt_id, flags, strerror(-rc));
		return rc;
	}
	*hwpt_id = cmd.out_hwpt_id;
	return 0;
}

int dpi_iommufd_hwpt_alloc(int iommufd, uint32_t dev_id, uint32_t pt_id, uint32_t flags,
			   const struct iommu_hwpt_vtd_s1 *s1, uint32_t *hwpt_id)
{
	if (s1 == NULL)
		return dpi_iommufd_hwpt_alloc_data(iommufd, dev_id, pt_id, flags,
						   IOMMU_HWPT_DATA_NONE, NULL, 0, hwpt_id);
	return dpi_iommufd_hwpt_alloc_data(iommufd, dev_id, pt_id, flags, IOMMU_HWPT_DATA_VTD_S1,
					   s1, sizeof(*s1), hwpt_id);
}

int dpi_iommufd_destroy(int iommufd, uint32_t id)
{
	struct iommu_destroy cmd = {.size = sizeof(cmd), .id = id};

	return dpi_ioctl(iommufd, IOMMU_DESTROY, &cmd) == 0 ? 0 : -errno;
}

int dpi_iommufd_invalidate(int iommufd, uint32_t hwpt_id, uint32_t data_type,
			   const void *entries, uint32_t entry_len, uint32_t *num)
{
	struct iommu_hwpt_invalidate cmd;
	int rc = 0;

	memset(&cmd, 0, sizeof(cmd));
	cmd.size = sizeof(cmd);
	cmd.hwpt_id = hwpt_id;
	cmd.data_uptr = (uintptr_t)entries;
	cmd.data_type = data_type;
	cmd.entry_len = entry_len;
	cmd.entry_num = *num;
	if (dpi_ioctl(iommufd, IOMMU_HWPT_INVALIDATE, &cmd) != 0)
		rc = -errno;
	/* A fault point that failed before the kernel saw the call leaves entry_num as given:
	 * nothing was handled then. */
	*num = rc != 0 && cmd.entry_num == *num ? 0 : cmd.entry_num;
	return rc;
}

int dpi_iommufd_s1_submit(void *ctx, const struct iommu_hwpt_vtd_s1_invalidate *e,
			  uint32_t *num)
{
	const struct dpi_iommufd_hwpt *h = ctx;

	return dpi_iommufd_invalidate(h->iommufd, h->hwpt_id, IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, e,
				      sizeof(*e), num);
}
