/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What a device can do with PASIDs, probed once per device:
 *  - the device: its PCI PASID Extended Capability (ID 0x1B; capability register at +4: bit 1
 *    Execute Permission Supported, bit 2 Privileged Mode Supported, bits 12:8 Max PASID Width),
 *    found by walking the extended capability list from config offset 0x100; a sim model
 *    declares the same register (dpi_sim_model.pasid_cap);
 *  - the IOMMU: iommufd's IOMMU_GET_HW_INFO (VT-d: ECAP bit 40 PASID, bits 39:35 PSS, width
 *    PSS + 1; Linux >= 6.15 also reports the device-and-IOMMU width, out_max_pasid_log2); the
 *    sim IOMMU's setting; the VFIO type1 backend has no PASID support;
 *  - the CPU (CPUID), the kernel (uname, /sys/bus/dsa).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#define DP_LOG_COMPONENT "pasid"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/sim.h>
#include <dmaplane_internal/sysfs.h>

#include "pasid_impl.h"

#define PCI_CFG_SPACE_SIZE 256
#define PCI_EXT_CAP_START 0x100
#define PCI_EXT_CAP_ID_PASID 0x1b
#define PCI_PASID_CAP 0x04
#define PASID_CAP_EXEC 0x02
#define PASID_CAP_PRIV 0x04
#define PASID_CAP_WIDTH(c) (((c) >> 8) & 0x1f)
#define MAX_EXT_CAPS 480 /* (4096 - 256) / 8: bounds a looping list */

#define INTEL_VENDOR 0x8086
#define INTEL_DSA_SPR 0x0b25
#define INTEL_IAX_SPR 0x0cfe

int dpi_kernel_version(uint32_t *major, uint32_t *minor)
{
	struct utsname u;
	unsigned int a, b;

	if (major == NULL || minor == NULL || uname(&u) != 0)
		return -EINVAL;
	if (sscanf(u.release, "%u.%u", &a, &b) != 2)
		return -EINVAL;
	*major = a;
	*minor = b;
	return 0;
}

static bool kernel_has_pasid_attach(uint32_t major, uint32_t minor)
{
	return major > 6 || (major == 6 && minor >= 15);
}

static bool kernel_has_idxd(void)
{
	char path[256];
	struct stat st;

	return dpi_sysfs_path(path, sizeof(path), "bus/dsa") == 0 && stat(path, &st) == 0;
}

/* The PASID capability register from config space; 0 when the device has none. */
static uint16_t pci_pasid_cap(struct dp_device *dev)
{
	uint32_t off = PCI_EXT_CAP_START;

	if (dev->region_len[DP_REGION_CONFIG] <= PCI_CFG_SPACE_SIZE)
		return 0; /* conventional PCI: no extended capabilities */
	for (int i = 0; i < MAX_EXT_CAPS && off >= PCI_EXT_CAP_START; i++) {
		uint32_t hdr;
		uint16_t cap;

		if (dp_device_cfg_read(dev, off, &hdr, sizeof(hdr)) != 0 || hdr == 0 ||
		    hdr == UINT32_MAX)
			return 0;
		if ((hdr & 0xffff) == PCI_EXT_CAP_ID_PASID) {
			if (dp_device_cfg_read(dev, off + PCI_PASID_CAP, &cap, sizeof(cap)) != 0)
				return 0;
			return cap;
		}
		off = (hdr >> 20) & 0xffc;
	}
	return 0;
}

static void set_device_cap(struct dp_pasid_caps *c, uint16_t cap)
{
	c->device_width = (uint8_t)PASID_CAP_WIDTH(cap);
	if (c->device_width == 0)
		return;
	c->flags |= DP_PASID_CAP_DEVICE;
	if (cap & PASID_CAP_EXEC)
		c->flags |= DP_PASID_CAP_EXEC;
	if (cap & PASID_CAP_PRIV)
		c->flags |= DP_PASID_CAP_PRIV;
}

static void probe_sim(struct pasid_dev *pd, struct dpi_sim_device *s)
{
	struct dp_pasid_caps *c = &pd->caps;

	set_device_cap(c, dpi_sim_device_model(s)->pasid_cap);
	c->iommu_width = (uint8_t)dpi_sim_iommu_pasid_bits();
	if (c->iommu_width != 0)
		c->flags |= DP_PASID_CAP_IOMMU;
}

static void probe_pci(struct pasid_dev *pd)
{
	struct dp_pasid_caps *c = &pd->caps;
	uint32_t iommu_w = 0, both_w = 0, hw_flags = 0;
	int rc;

	set_device_cap(c, pci_pasid_cap(pd->dev));
	rc = pasid_iommufd_hw_info(pd->dev, &iommu_w, &both_w, &hw_flags);
	if (rc != 0)
		return; /* type1 or no answer: the IOMMU's PASID support is unknown, so none */
	/* vfio-pci may hide the PASID capability from config space; the kernel's combined width
	 * (6.15+) still shows the device has one. */
	if (c->device_width == 0 && both_w != 0)
		set_device_cap(c, (uint16_t)((both_w << 8) | hw_flags));
	if (iommu_w == 0)
		iommu_w = both_w;
	c->iommu_width = (uint8_t)iommu_w;
	if (iommu_w != 0)
		c->flags |= DP_PASID_CAP_IOMMU;
}

void pasid_caps_probe(struct pasid_dev *pd)
{
	struct dp_pasid_caps *c = &pd->caps;
	struct dpi_sim_device *s = dpi_device_sim(pd->dev);

	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	if (dpi_cpu_has_enqcmd())
		c->flags |= DP_PASID_CAP_CPU_ENQCMD;
	if (dpi_cpu_has_movdir64b())
		c->flags |= DP_PASID_CAP_CPU_MOVDIR64B;
	if (kernel_has_idxd())
		c->flags |= DP_PASID_CAP_KERNEL_SVA;
	if (dpi_kernel_version(&c->kernel_major, &c->kernel_minor) == 0 &&
	    kernel_has_pasid_attach(c->kernel_major, c->kernel_minor))
		c->flags |= DP_PASID_CAP_KERNEL_ATTACH;

	if (s != NULL)
		probe_sim(pd, s);
	else
		probe_pci(pd);
	c->width = DPI_MIN(c->device_width, c->iommu_width);
	c->max_pasid = c->width ? (1u << c->width) - 1 : 0;
	if (c->width != 0 &&
	    (s != NULL || (dpi_device_iommufd(pd->dev, &(int){0}, &(uint32_t){0}) == 0 &&
			   (c->flags & DP_PASID_CAP_KERNEL_ATTACH) &&
			   dp_ioas_nested(pd->dev->ioas) != 1))) /* see dp_pasid_attach */
		c->flags |= DP_PASID_CAP_ATTACH;
	DPI_DEBUG("%s: PASID device width %u, IOMMU width %u, usable %u, flags 0x%x",
		  pd->dev->info.addr, c->device_width, c->iommu_width, c->width, c->flags);
}

static uint32_t derived_mode(const struct dp_device *dev, uint32_t width)
{
	if (width == 0)
		return DP_PASID_MODE_NONE;
	/* DSA and IAX take the PASID from each descriptor on shared WQs. */
	if (dev->info.vendor_id == INTEL_VENDOR &&
	    (dev->info.device_id == INTEL_DSA_SPR || dev->info.device_id == INTEL_IAX_SPR))
		return DP_PASID_MODE_PER_DESC;
	return DP_PASID_MODE_FIXED;
}

int dp_pasid_caps(struct dp_device *dev, struct dp_pasid_caps *caps)
{
	struct dp_pasid_caps c;
	struct pasid_dev *pd;
	size_t size;

	if (dev == NULL || caps == NULL ||
	    caps->size < offsetof(struct dp_pasid_caps, flags) + sizeof(caps->flags)) {
		DPI_ERR("dp_pasid_caps: NULL argument or caps->size too small: set caps.size = "
			"sizeof(caps)");
		return -EINVAL;
	}
	pd = pasid_dev_get(dev);
	if (pd == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&pd->lock);
	if (!pd->probed) {
		pasid_caps_probe(pd);
		__atomic_store_n(&pd->probed, true, __ATOMIC_RELEASE);
	}
	c = pd->caps;
	c.mode = pd->mode_hint != 0 ? pd->mode_hint - 1 : derived_mode(dev, c.width);
	pthread_mutex_unlock(&pd->lock);
	size = DPI_MIN(caps->size, sizeof(c));
	memcpy(caps, &c, size);
	caps->size = size;
	return 0;
}

int dpi_pasid_width(struct dp_device *dev, uint32_t *width)
{
	struct pasid_dev *pd;

	if (dev == NULL || width == NULL)
		return -EINVAL;
	pd = pasid_dev_get(dev);
	if (pd == NULL)
		return -ENOMEM;
	/* Probed once; after that the width is read without the lock (it never changes). */
	if (!__atomic_load_n(&pd->probed, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&pd->lock);
		if (!pd->probed) {
			pasid_caps_probe(pd);
			__atomic_store_n(&pd->probed, true, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&pd->lock);
	}
	*width = pd->caps.width;
	return 0;
}

int dpi_pasid_set_mode(struct dp_device *dev, uint32_t mode)
{
	struct pasid_dev *pd;

	if (dev == NULL || mode > DP_PASID_MODE_PER_DESC)
		return -EINVAL;
	pd = pasid_dev_get(dev);
	if (pd == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&pd->lock);
	pd->mode_hint = mode + 1;
	pthread_mutex_unlock(&pd->lock);
	return 0;
}
