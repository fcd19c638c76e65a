/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PASID attach on the iommufd backend (Linux >= 6.15).
 *
 * The kernel lets a PASID attach only to a HWPT allocated with IOMMU_HWPT_ALLOC_PASID, and
 * blocks PASID attach while the device's RID is attached to a HWPT without that flag (the
 * automatic HWPT of an IOAS attach may be one). So the first PASID attach of a device:
 *  1. allocates a PASID-capable HWPT on the device's own IOAS and moves the RID onto it
 *     (VFIO_DEVICE_ATTACH_IOMMUFD_PT replaces the attachment; the mappings are the same IOAS's);
 *  2. for each target IOAS, allocates one PASID-capable HWPT for the device (shared by all its
 *     PASIDs attached there) and attaches the PASID to it (VFIO_DEVICE_ATTACH_PASID).
 * Detach undoes 2 (the HWPT is destroyed with its last PASID); device close moves the RID back
 * to the IOAS and destroys the RID's HWPT (pasid_iommufd_release).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "pasid"
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/uapi_vfio.h>

#include "pasid_impl.h"

#define VTD_ECAP_PASID (1ull << 40)
#define VTD_ECAP_PSS(e) (((e) >> 35) & 0x1f)

struct ids {
	int dev_fd;
	uint32_t dev_id;
	int iommufd;
	uint32_t ioas_id;
};

static int ids_of(struct dp_device *dev, struct dp_ioas *ioas, struct ids *ids)
{
	int rc = dpi_device_iommufd(dev, &ids->dev_fd, &ids->dev_id);

	if (rc == 0)
		rc = dpi_ioas_iommufd(ioas, &ids->iommufd, &ids->ioas_id);
	return rc;
}

int pasid_iommufd_hw_info(struct dp_device *dev, uint32_t *iommu_width, uint32_t *dev_width,
			  uint32_t *cap_flags)
{
	struct iommu_hw_info_vtd vtd;
	struct iommu_hw_info info;
	struct ids ids;
	int rc = dpi_device_iommufd(dev, &ids.dev_fd, &ids.dev_id);

	/* Only the iommufd file is needed: also the parent's under a nested IOAS. */
	if (rc == 0)
		rc = dpi_ioas_iommufd_fd(dev->ioas, &ids.iommufd);
	if (rc != 0)
		return rc;
	memset(&vtd, 0, sizeof(vtd));
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	info.dev_id = ids.dev_id;
	info.data_len = sizeof(vtd);
	info.data_uptr = (uintptr_t)&vtd;
	if (dpi_ioctl(ids.iommufd, IOMMU_GET_HW_INFO, &info) != 0) {
		rc = -errno;
		DPI_WARN("%s: IOMMU_GET_HW_INFO: %s (PASID support of the IOMMU unknown: none)",
			 dev->info.addr, strerror(-rc));
		return rc;
	}
	*iommu_width = 0;
	if (info.out_data_type == IOMMU_HW_INFO_TYPE_INTEL_VTD && info.data_len >= sizeof(vtd) &&
	    (vtd.ecap_reg & VTD_ECAP_PASID))
		*iommu_width = (uint32_t)VTD_ECAP_PSS(vtd.ecap_reg) + 1;
	*dev_width = info.out_max_pasid_log2; /* 6.15+: device and IOMMU combined; else 0 */
	*cap_flags = 0;
	if (info.out_capabilities & IOMMU_HW_CAP_PCI_PASID_EXEC)
		*cap_flags |= 0x2; /* as in the PASID capability register */
	if (info.out_capabilities & IOMMU_HW_CAP_PCI_PASID_PRIV)
		*cap_flags |= 0x4;
	return 0;
}

static int hwpt_alloc(struct dp_device *dev, const struct ids *ids, uint32_t *hwpt_id)
{
	struct iommu_hwpt_alloc a;
	int err;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = IOMMU_HWPT_ALLOC_PASID;
	a.dev_id = ids->dev_id;
	a.pt_id = ids->ioas_id;
	a.data_type = IOMMU_HWPT_DATA_NONE;
	if (dpi_ioctl(ids->iommufd, IOMMU_HWPT_ALLOC, &a) == 0) {
		*hwpt_id = a.out_hwpt_id;
		return 0;
	}
	err = errno;
	if (err == EOPNOTSUPP || err == EINVAL) {
		DPI_ERR("%s: IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_PASID on IOAS %u: %s: the IOMMU "
			"driver cannot give this device PASID-capable page tables (PASID support "
			"off in the IOMMU, e.g. VT-d without scalable mode: intel_iommu=sm_on)",
			dev->info.addr, ids->ioas_id, strerror(err));
		return -EOPNOTSUPP;
	}
	DPI_ERR("%s: IOMMU_HWPT_ALLOC (PASID) on IOAS %u: %s", dev->info.addr, ids->ioas_id,
		strerror(err));
	return -err;
}

static void hwpt_destroy(struct dp_device *dev, int iommufd, uint32_t hwpt_id)
{
	struct iommu_destroy d = {.size = sizeof(d), .id = hwpt_id};

	if (dpi_ioctl(iommufd, IOMMU_DESTROY, &d) != 0)
		DPI_WARN("%s: IOMMU_DESTROY of HWPT %u: %s (it goes with the iommufd file)",
			 dev->info.addr, hwpt_id, strerror(errno));
}

/* Attach the RID (no flag) or one PASID to @pt_id. 0 or -errno (not logged). */
static int attach_pt(int dev_fd, uint32_t flags, uint32_t pasid, uint32_t pt_id)
{
	struct vfio_device_attach_iommufd_pt at;

	memset(&at, 0, sizeof(at));
	at.argsz = sizeof(at);
	at.flags = flags;
	at.pt_id = pt_id;
	at.pasid = pasid;
	return dpi_ioctl(dev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) == 0 ? 0 : -errno;
}

/* Step 1: the RID onto a PASID-capable HWPT of its own IOAS, once per device. */
static void rid_to_pasid_hwpt(struct pasid_dev *pd)
{
	struct dp_device *dev = pd->dev;
	struct ids ids;
	uint32_t hwpt;
	int rc;

	if (pd->rid_hwpt != 0 || ids_of(dev, dev->ioas, &ids) != 0)
		return;
	if (hwpt_alloc(dev, &ids, &hwpt) != 0)
		return; /* the PASID attach below reports the real problem */
	rc = attach_pt(ids.dev_fd, 0, 0, hwpt);
	if (rc != 0) {
		DPI_WARN("%s: moving the device (RID) to a PASID-capable HWPT: %s; PASID attach "
			 "may be refused while the RID uses the IOAS's automatic HWPT",
			 dev->info.addr, strerror(-rc));
		hwpt_destroy(dev, ids.iommufd, hwpt);
		return;
	}
	pd->rid_hwpt = hwpt;
}

static struct pasid_hwpt *hwpt_find(struct pasid_dev *pd, struct dp_ioas *ioas)
{
	for (uint32_t i = 0; i < pd->nhwpt; i++)
		if (pd->hwpt[i].ioas == ioas)
			return &pd->hwpt[i];
	return NULL;
}

/* The device's PASID HWPT on @ioas, with a reference. */
static int hwpt_get(struct pasid_dev *pd, struct dp_ioas *ioas, const struct ids *ids,
		    struct pasid_hwpt **out)
{
	struct pasid_hwpt *h = hwpt_find(pd, ioas);
	int rc;

	if (h == NULL) {
		if (pd->nhwpt == pd->chwpt) {
			uint32_t cap = pd->chwpt ? pd->chwpt * 2 : 4;
			struct pasid_hwpt *n = dpi_realloc(pd->hwpt, cap * sizeof(*n));

			if (n == NULL)
				return -ENOMEM;
			pd->hwpt = n;
			pd->chwpt = cap;
		}
		h = &pd->hwpt[pd->nhwpt];
		rc = hwpt_alloc(pd->dev, ids, &h->hwpt_id);
		if (rc != 0)
			return rc;
		h->ioas = ioas;
		h->refs = 0;
		pd->nhwpt++;
	}
	h->refs++;
	*out = h;
	return 0;
}

static void hwpt_put(struct pasid_dev *pd, struct pasid_hwpt *h, int iommufd)
{
	if (--h->refs != 0)
		return;
	hwpt_destroy(pd->dev, iommufd, h->hwpt_id);
	*h = pd->hwpt[--pd->nhwpt];
}

static int attach_error(struct dp_device *dev, uint32_t pasid, uint32_t hwpt, int rc)
{
	switch (rc) {
	case -EBUSY:
		DPI_ERR("%s: PASID %u is in use on the device already (attached elsewhere)",
			dev->info.addr, pasid);
		return -EBUSY;
	case -EADDRINUSE:
		DPI_ERR("%s: mappings of the IOAS fall in IOVA ranges this device reserves",
			dev->info.addr);
		return -ERANGE;
	case -EOPNOTSUPP:
	case -EINVAL:
		DPI_ERR("%s: VFIO_DEVICE_ATTACH_PASID of PASID %u to HWPT %u: %s: the kernel or "
			"IOMMU refuses PASID attach for this device (PASID not enabled on it, or its "
			"RID domain is not PASID-capable)",
			dev->info.addr, pasid, hwpt, strerror(-rc));
		return -EOPNOTSUPP;
	default:
		DPI_ERR("%s: VFIO_DEVICE_ATTACH_PASID of PASID %u to HWPT %u: %s", dev->info.addr,
			pasid, hwpt, strerror(-rc));
		return rc;
	}
}

int pasid_iommufd_attach(struct pasid_dev *pd, uint32_t pasid, struct dp_ioas *ioas,
			 uint32_t *hwpt_id)
{
	struct dp_device *dev = pd->dev;
	struct pasid_hwpt *h;
	struct ids ids;
	int rc = dpi_device_iommufd(dev, &ids.dev_fd, &ids.dev_id);

	/* dp_pasid_attach refused nested IOASes and other backends already; what is left is a
	 * device not opened through a VFIO cdev, or an IOAS that lost its iommufd state. */
	if (rc != 0) {
		DPI_ERR("%s: the device has no iommufd binding (not opened through a VFIO cdev on "
			"iommufd): open it with the iommufd backend to attach PASIDs",
			dev->info.addr);
		return -EINVAL;
	}
	rc = dpi_ioas_iommufd(ioas, &ids.iommufd, &ids.ioas_id);
	if (rc != 0) {
		DPI_ERR("%s: the IOAS is not a plain iommufd IOAS%s: attach the PASID to an IOAS "
			"created without DP_IOAS_F_NESTED on the iommufd backend", dev->info.addr,
			dp_ioas_nested(ioas) == 1 ? " (it is nested: not supported)" : "");
		return dp_ioas_nested(ioas) == 1 ? -EOPNOTSUPP : -EINVAL;
	}
	rid_to_pasid_hwpt(pd);
	rc = hwpt_get(pd, ioas, &ids, &h);
	if (rc != 0)
		return rc;
	rc = attach_pt(ids.dev_fd, VFIO_DEVICE_ATTACH_PASID, pasid, h->hwpt_id);
	if (rc != 0) {
		rc = attach_error(dev, pasid, h->hwpt_id, rc);
		hwpt_put(pd, h, ids.iommufd);
		return rc;
	}
	*hwpt_id = h->hwpt_id;
	DPI_DEBUG("%s: PASID %u attached to IOAS %u through HWPT %u", dev->info.addr, pasid,
		  ids.ioas_id, h->hwpt_id);
	return 0;
}

int pasid_iommufd_detach(struct pasid_dev *pd, uint32_t pasid, struct dp_ioas *ioas)
{
	struct vfio_device_detach_iommufd_pt de;
	struct dp_device *dev = pd->dev;
	struct pasid_hwpt *h = hwpt_find(pd, ioas);
	struct ids ids;
	int rc = ids_of(dev, ioas, &ids);

	if (rc != 0)
		return rc;
	memset(&de, 0, sizeof(de));
	de.argsz = sizeof(de);
	de.flags = VFIO_DEVICE_DETACH_PASID;
	de.pasid = pasid;
	if (dpi_ioctl(ids.dev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &de) != 0) {
		rc = -errno;
		DPI_WARN("%s: VFIO_DEVICE_DETACH_PASID of PASID %u: %s (closing the device "
			 "detaches it anyway)",
			 dev->info.addr, pasid, strerror(-rc));
	}
	if (h != NULL)
		hwpt_put(pd, h, ids.iommufd);
	return rc;
}

void pasid_iommufd_release(struct pasid_dev *pd)
{
	struct dp_device *dev = pd->dev;
	struct ids ids;
	int rc;

	if (pd->rid_hwpt == 0 || ids_of(dev, dev->ioas, &ids) != 0)
		return;
	rc = attach_pt(ids.dev_fd, 0, 0, ids.ioas_id);
	if (rc != 0)
		DPI_WARN("%s: moving the device (RID) back to IOAS %u: %s", dev->info.addr,
			 ids.ioas_id, strerror(-rc));
	else
		hwpt_destroy(dev, ids.iommufd, pd->rid_hwpt);
	pd->rid_hwpt = 0;
}
