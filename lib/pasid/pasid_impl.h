/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/pasid private: the per-device state and the backend paths of attach/detach. */
#ifndef PASID_IMPL_H
#define PASID_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmaplane_internal/common.h>
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/pasid.h>

/* One attached PASID of a device. */
struct pasid_att {
	uint32_t pasid;
	struct dp_ioas *ioas;
	uint32_t hwpt_id; /* iommufd: the PASID-capable HWPT it is attached to */
};

/* iommufd: one PASID-capable HWPT per (device, IOAS), shared by that device's PASIDs there. */
struct pasid_hwpt {
	struct dp_ioas *ioas;
	uint32_t hwpt_id;
	uint32_t refs;
};

struct pasid_dev {
	struct dp_device *dev;
	pthread_mutex_t lock; /* attach/detach and the probe */
	bool probed;
	struct dp_pasid_caps caps; /* filled by the probe (without mode, computed on read) */
	uint32_t mode_hint;        /* 0 (none) or enum dp_pasid_mode + 1 */
	struct pasid_att *att;
	uint32_t natt, catt;
	struct pasid_hwpt *hwpt;
	uint32_t nhwpt, chwpt;
	uint32_t rid_hwpt; /* iommufd: PASID-capable HWPT the RID was moved to (0: none) */
	struct pasid_dev *next; /* every device's state, for naming where a PASID is attached */
};

/* The state of @dev, created on first use (lock-free install). NULL only on -ENOMEM. */
struct pasid_dev *pasid_dev_get(struct dp_device *dev);

/* caps.c: probe width and flags into pd->caps; called once under pd->lock. */
void pasid_caps_probe(struct pasid_dev *pd);

/* iommufd.c: attach/detach one PASID on the iommufd backend (pd->lock held). Logged. */
int pasid_iommufd_attach(struct pasid_dev *pd, uint32_t pasid, struct dp_ioas *ioas,
			 uint32_t *hwpt_id);
int pasid_iommufd_detach(struct pasid_dev *pd, uint32_t pasid, struct dp_ioas *ioas);
/* iommufd.c: at device close, after every PASID is detached: the RID back to its IOAS. */
void pasid_iommufd_release(struct pasid_dev *pd);
/* iommufd.c: the IOMMU's PASID width and PASID capability bits as the kernel reports them
 * (IOMMU_GET_HW_INFO). 0; -ENOTSUP (not an iommufd device); kernel errno. */
int pasid_iommufd_hw_info(struct dp_device *dev, uint32_t *iommu_width, uint32_t *dev_width,
			  uint32_t *cap_flags);

#endif
