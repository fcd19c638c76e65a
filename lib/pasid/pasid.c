/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/pasid front end: argument checks, the process-wide PASID space, the per-device record of
 * attached PASIDs, and dispatch of attach/detach to the sim IOMMU or iommufd. The VFIO type1
 * backend has no PASID support.
 *
 * Each attached PASID counts on its IOAS like an attached device (dpi_ioas_device_attached),
 * so an IOAS cannot be destroyed under it; dp_device_close detaches what is left through the
 * device's pasid_release hook.
 *
 * Free against attach: attach takes a hold on the PASID (space.c) before it reaches the
 * backend, and free succeeds only on a PASID without holds; the space decides a race between
 * the two atomically (the attach fails with -EINVAL "freed meanwhile", or the free with -EBUSY),
 * so no device ever keeps a PASID that was freed and handed out again. A refused free names a
 * device the PASID is attached to, found through the list of every device's state (g_devs).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "pasid"
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sim.h>
#include <dmaplane_internal/sys.h>

#include "pasid_impl.h"

static void pasid_release(struct dp_device *dev);

/* Every device's PASID state, for dp_pasid_free's message; not on any hot path. Lock order:
 * g_devs_lock, then a pd->lock. */
static pthread_mutex_t g_devs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pasid_dev *g_devs;

struct pasid_dev *pasid_dev_get(struct dp_device *dev)
{
	struct pasid_dev *pd = __atomic_load_n((struct pasid_dev **)&dev->pasid, __ATOMIC_ACQUIRE);
	struct pasid_dev *expected = NULL;

	if (pd != NULL)
		return pd;
	pd = dpi_calloc(1, sizeof(*pd));
	if (pd == NULL) {
		DPI_ERR("%s: no memory for the PASID state", dev->info.addr);
		return NULL;
	}
	pd->dev = dev;
	pthread_mutex_init(&pd->lock, NULL);
	if (!__atomic_compare_exchange_n((struct pasid_dev **)&dev->pasid, &expected, pd, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		pthread_mutex_destroy(&pd->lock);
		free(pd);
		return expected; /* another thread installed it first */
	}
	__atomic_store_n(&dev->pasid_release, pasid_release, __ATOMIC_RELEASE);
	pthread_mutex_lock(&g_devs_lock);
	pd->next = g_devs;
	g_devs = pd;
	pthread_mutex_unlock(&g_devs_lock);
	return pd;
}

/* ---- alloc / free ------------------------------------------------------------------------ */

static int usable_width(struct dp_device *dev, const char *who, uint32_t *width)
{
	int rc = dpi_pasid_width(dev, width);

	if (rc == 0 && *width == 0) {
		struct pasid_dev *pd = dev->pasid;

		DPI_ERR("%s(%s): no PASIDs on this device: device PASID width %u, IOMMU PASID "
			"width %u, kernel %u.%u%s",
			who, dev->info.addr, pd->caps.device_width, pd->caps.iommu_width,
			pd->caps.kernel_major, pd->caps.kernel_minor,
			dev->info.backend == DP_IOMMU_VFIO
				? " (the VFIO type1 backend has no PASID support: use iommufd)"
			: pd->caps.device_width == 0
				? " (the device has no PCI PASID capability)"
				: " (the IOMMU reports no PASID support: VT-d needs scalable mode, "
				  "intel_iommu=sm_on)");
		return -EOPNOTSUPP;
	}
	return rc;
}

int dp_pasid_alloc(struct dp_device *dev, uint32_t *pasid)
{
	uint32_t width;
	int rc;

	if (dev == NULL || pasid == NULL) {
		DPI_ERR("dp_pasid_alloc: NULL argument");
		return -EINVAL;
	}
	rc = usable_width(dev, "dp_pasid_alloc", &width);
	if (rc != 0)
		return rc;
	rc = dpi_pasid_space_alloc(dpi_pasid_global(), width, pasid);
	if (rc == -ENOSPC)
		DPI_ERR("dp_pasid_alloc(%s): all %u PASIDs of its %u-bit space are allocated: free "
			"some first",
			dev->info.addr, (1u << width) - 1, width);
	return rc;
}

/* Name in @out a device @pasid is attached to, and how many more there are. */
static void attached_where(uint32_t pasid, char *out, size_t len)
{
	uint32_t n = 0;

	snprintf(out, len, "a device (detached since)");
	pthread_mutex_lock(&g_devs_lock);
	for (struct pasid_dev *pd = g_devs; pd != NULL; pd = pd->next) {
		bool here = false;

		pthread_mutex_lock(&pd->lock);
		for (uint32_t i = 0; i < pd->natt && !here; i++)
			here = pd->att[i].pasid == pasid;
		if (here && n++ == 0)
			snprintf(out, len, "%s", pd->dev->info.addr);
		pthread_mutex_unlock(&pd->lock);
	}
	pthread_mutex_unlock(&g_devs_lock);
	if (n > 1) {
		size_t l = strlen(out);

		snprintf(out + l, len - l, " and %u other device(s)", n - 1);
	}
}

int dp_pasid_free(struct dp_device *dev, uint32_t pasid)
{
	const char *addr = dev != NULL ? dev->info.addr : "any device";
	uint32_t width = DPI_PASID_BITS;
	int rc;

	if (dev != NULL) {
		rc = dpi_pasid_width(dev, &width);
		if (rc != 0)
			return rc;
	}
	if (pasid == 0 || width == 0 || pasid > (1u << width) - 1) {
		DPI_ERR("dp_pasid_free(%s, %u): out of range: the PASIDs are 1..%u", addr, pasid,
			width ? (1u << width) - 1 : 0);
		return -EINVAL;
	}
	rc = dpi_pasid_space_free(dpi_pasid_global(), pasid);
	if (rc == -ENOENT) {
		DPI_ERR("dp_pasid_free(%s, %u): not allocated (freed twice?)", addr, pasid);
		return -EINVAL;
	}
	if (rc == -EBUSY) {
		char where[96];

		attached_where(pasid, where, sizeof(where));
		DPI_ERR("dp_pasid_free(%s, %u): still attached to %s: dp_pasid_detach it there first",
			addr, pasid, where);
	}
	return rc;
}

/* ---- the record of attached PASIDs (pd->lock held) ---------------------------------------- */

static struct pasid_att *att_find(struct pasid_dev *pd, uint32_t pasid)
{
	for (uint32_t i = 0; i < pd->natt; i++)
		if (pd->att[i].pasid == pasid)
			return &pd->att[i];
	return NULL;
}

static int att_reserve(struct pasid_dev *pd)
{
	struct pasid_att *n;
	uint32_t cap;

	if (pd->natt < pd->catt)
		return 0;
	cap = pd->catt ? pd->catt * 2 : 4;
	n = dpi_realloc(pd->att, cap * sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	pd->att = n;
	pd->catt = cap;
	return 0;
}

/* ---- backends ------------------------------------------------------------------------------ */

static int backend_attach(struct pasid_dev *pd, uint32_t pasid, struct dp_ioas *ioas,
			  uint32_t *hwpt_id)
{
	struct dpi_sim_device *s = dpi_device_sim(pd->dev);
	struct dpi_sim_domain *d;
	int rc;

	*hwpt_id = 0;
	if (s == NULL)
		return pasid_iommufd_attach(pd, pasid, ioas, hwpt_id);
	if (dpi_ioas_sim_domain(ioas, &d) != 0)
		return -EINVAL; /* checked by the caller */
	rc = dpi_sim_requester_attach(dpi_sim_device_requester(s), pasid, d);
	if (rc == -EBUSY)
		DPI_ERR("%s: PASID %u is attached in the sim IOMMU already", pd->dev->info.addr,
			pasid);
	return rc;
}

static int backend_detach(struct pasid_dev *pd, uint32_t pasid, struct dp_ioas *ioas)
{
	struct dpi_sim_device *s = dpi_device_sim(pd->dev);

	if (s == NULL)
		return pasid_iommufd_detach(pd, pasid, ioas);
	return dpi_sim_requester_detach(dpi_sim_device_requester(s), pasid);
}

/* ---- attach / detach ---------------------------------------------------------------------- */

/*
 * A nested IOAS on iommufd (DP_IOAS_F_NESTED, nested or still deciding at its first device)
 * takes no PASID, on either side: the kernel attaches a PASID to a HWPT allocated with
 * IOMMU_HWPT_ALLOC_PASID on an IOAS, which a user-owned stage-1 table is not, and refuses PASID
 * attach while the device's RID is on a HWPT without that flag (the stage-1 HWPT of a device
 * opened on a nested IOAS). Said before the kernel and width checks, whose messages would
 * blame something else. (The sim IOMMU walks stage 1 per PASID: no limit there.)
 */
static int nested_check(struct dp_device *dev, struct dp_ioas *ioas)
{
	if (dev->info.backend != DP_IOMMU_IOMMUFD)
		return 0;
	if (dp_ioas_nested(ioas) == 1) {
		DPI_ERR("dp_pasid_attach(%s): the IOAS is nested (DP_IOAS_F_NESTED, a user-owned "
			"stage-1 table): PASID attach to a nested iommufd IOAS is not supported; "
			"attach the PASID to an IOAS created without DP_IOAS_F_NESTED",
			dev->info.addr);
		return -EOPNOTSUPP;
	}
	if (dev->ioas != NULL && dp_ioas_nested(dev->ioas) == 1) {
		DPI_ERR("dp_pasid_attach(%s): the device was opened on a nested IOAS "
			"(DP_IOAS_F_NESTED): its requests without PASID go through a stage-1 HWPT, "
			"and the kernel attaches no PASID beside one; PASIDs are not supported "
			"there: open the device on an IOAS created without DP_IOAS_F_NESTED",
			dev->info.addr);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* The checks that need no lock: backends, nesting, kernel, width, range, allocation. */
static int attach_check(struct dp_device *dev, uint32_t pasid, struct dp_ioas *ioas)
{
	uint32_t width, major = 0, minor = 0;
	int backend = dp_ioas_backend(ioas);
	int rc;

	if (dev->info.backend == DP_IOMMU_VFIO) {
		DPI_ERR("dp_pasid_attach(%s): the VFIO type1 backend has no PASID support: open "
			"the device on an iommufd IOAS (DP_IOMMU=iommufd, Linux >= 6.15)",
			dev->info.addr);
		return -EOPNOTSUPP;
	}
	if (backend != (int)dev->info.backend) {
		DPI_ERR("dp_pasid_attach(%s): the IOAS is on the %s backend, the device on %s: "
			"attach PASIDs to IOASes of the device's backend",
			dev->info.addr, dp_iommu_backend_name(backend),
			dp_iommu_backend_name((int)dev->info.backend));
		return -EINVAL;
	}
	rc = nested_check(dev, ioas);
	if (rc != 0)
		return rc;
	if (backend == DP_IOMMU_IOMMUFD && dpi_kernel_version(&major, &minor) == 0 &&
	    (major < 6 || (major == 6 && minor < 15))) {
		DPI_ERR("dp_pasid_attach(%s): this kernel is %u.%u; attaching PASIDs through "
			"iommufd needs Linux >= 6.15 (VFIO_DEVICE_ATTACH_PASID)",
			dev->info.addr, major, minor);
		return -EOPNOTSUPP;
	}
	rc = usable_width(dev, "dp_pasid_attach", &width);
	if (rc != 0)
		return rc;
	if (pasid == 0 || pasid > (1u << width) - 1) {
		DPI_ERR("dp_pasid_attach(%s, %u): out of range: the device's PASIDs are 1..%u",
			dev->info.addr, pasid, (1u << width) - 1);
		return -EINVAL;
	}
	if (!dpi_pasid_space_allocated(dpi_pasid_global(), pasid)) {
		DPI_ERR("dp_pasid_attach(%s, %u): that PASID is not allocated: get it from "
			"dp_pasid_alloc",
			dev->info.addr, pasid);
		return -EINVAL;
	}
	return 0;
}

int dp_pasid_attach(struct dp_device *dev, uint32_t pasid, struct dp_ioas *ioas)
{
	struct pasid_dev *pd;
	struct pasid_att *a;
	uint32_t hwpt_id;
	int rc;

	if (dev == NULL || ioas == NULL) {
		DPI_ERR("dp_pasid_attach: NULL %s", dev == NULL ? "device" : "IOAS");
		return -EINVAL;
	}
	rc = attach_check(dev, pasid, ioas);
	if (rc != 0)
		return rc;
	pd = dev->pasid; /* created by the width probe */
	pthread_mutex_lock(&pd->lock);
	if (att_find(pd, pasid) != NULL) {
		DPI_ERR("dp_pasid_attach(%s, %u): attached already: dp_pasid_detach it first",
			dev->info.addr, pasid);
		rc = -EBUSY;
		goto out;
	}
	rc = att_reserve(pd);
	if (rc == 0)
		rc = dpi_pasid_space_hold(dpi_pasid_global(), pasid);
	if (rc == -ENOENT) {
		DPI_ERR("dp_pasid_attach(%s, %u): that PASID was freed meanwhile (a dp_pasid_free "
			"in another thread won): allocate one with dp_pasid_alloc",
			dev->info.addr, pasid);
		rc = -EINVAL;
	} else if (rc == -ENOSPC) {
		DPI_ERR("dp_pasid_attach(%s, %u): attached on too many devices already (32767)",
			dev->info.addr, pasid);
	}
	if (rc != 0)
		goto out;
	rc = backend_attach(pd, pasid, ioas, &hwpt_id);
	if (rc != 0)
		goto err_unhold;
	rc = dpi_ioas_device_attached(ioas, dev);
	if (rc != 0)
		goto err_detach;
	a = &pd->att[pd->natt++];
	*a = (struct pasid_att){.pasid = pasid, .ioas = ioas, .hwpt_id = hwpt_id};
	DPI_DEBUG("%s: PASID %u attached", dev->info.addr, pasid);
	goto out;

err_detach:
	backend_detach(pd, pasid, ioas);
	dpi_ioas_device_gone(ioas);
err_unhold:
	dpi_pasid_space_unhold(dpi_pasid_global(), pasid);
out:
	pthread_mutex_unlock(&pd->lock);
	return rc;
}

/* Detach one record (pd->lock held) and drop it. Returns the backend's result. */
static int detach_locked(struct pasid_dev *pd, struct pasid_att *a)
{
	struct dp_ioas *ioas = a->ioas;
	uint32_t pasid = a->pasid;
	int rc;

	dpi_ioas_device_detached(ioas, pd->dev);
	rc = backend_detach(pd, pasid, ioas);
	dpi_ioas_device_gone(ioas);
	dpi_pasid_space_unhold(dpi_pasid_global(), pasid);
	*a = pd->att[--pd->natt];
	return rc;
}

int dp_pasid_detach(struct dp_device *dev, uint32_t pasid)
{
	struct pasid_dev *pd;
	struct pasid_att *a;
	int rc;

	if (dev == NULL) {
		DPI_ERR("dp_pasid_detach: NULL device");
		return -EINVAL;
	}
	pd = __atomic_load_n((struct pasid_dev **)&dev->pasid, __ATOMIC_ACQUIRE);
	if (pd == NULL) {
		DPI_ERR("dp_pasid_detach(%s, %u): not attached", dev->info.addr, pasid);
		return -ENOENT;
	}
	pthread_mutex_lock(&pd->lock);
	a = att_find(pd, pasid);
	if (a == NULL) {
		DPI_ERR("dp_pasid_detach(%s, %u): not attached", dev->info.addr, pasid);
		rc = -ENOENT;
	} else {
		rc = detach_locked(pd, a);
	}
	pthread_mutex_unlock(&pd->lock);
	return rc;
}

/* dp_device_close: detach everything, then drop the state. */
static void pasid_release(struct dp_device *dev)
{
	struct pasid_dev *pd = dev->pasid;

	if (pd == NULL)
		return;
	pthread_mutex_lock(&g_devs_lock);
	for (struct pasid_dev **p = &g_devs; *p != NULL; p = &(*p)->next) {
		if (*p == pd) {
			*p = pd->next;
			break;
		}
	}
	pthread_mutex_unlock(&g_devs_lock);
	pthread_mutex_lock(&pd->lock);
	if (pd->natt != 0)
		DPI_NOTICE("%s: closing with %u PASID(s) attached: detaching them",
			   dev->info.addr, pd->natt);
	while (pd->natt != 0)
		detach_locked(pd, &pd->att[pd->natt - 1]);
	if (dpi_device_sim(dev) == NULL)
		pasid_iommufd_release(pd);
	pthread_mutex_unlock(&pd->lock);
	pthread_mutex_destroy(&pd->lock);
	free(pd->att);
	free(pd->hwpt);
	free(pd);
	dev->pasid = NULL;
	dev->pasid_release = NULL;
}
