/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/pasid on the real kernel, against a PCI device bound to vfio-pci (DP_TEST_BDF) through
 * one backend (DP_IOMMU=iommufd|vfio). The VM harness runs it on QEMU's NVMe controller behind
 * QEMU's VT-d: the controller has no PASID capability, so the report must say RID only, and
 * alloc/attach must refuse with the documented errors and reasons. The expectations are derived
 * independently of lib/pasid: the device's config space from sysfs, the IOMMU's ECAP from
 * /sys/class/iommu, the kernel version from uname. Without DP_TEST_BDF it exits 77.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <dmaplane/iova.h>
#include <dmaplane/pasid.h>
#include <dmaplane/vfio.h>
#include <dmaplane_internal/common.h>

#include "ut.h"

static const char *g_bdf;
static int g_backend;

/* Max PASID Width from the device's PASID capability in sysfs config space; 0: none. */
static unsigned int sysfs_pasid_width(void)
{
	char path[256];
	uint8_t cfg[4096];
	uint32_t off = 0x100;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", g_bdf);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = pread(fd, cfg, sizeof(cfg), 0);
	close(fd);
	for (int i = 0; i < 480 && off >= 0x100 && off + 8 <= (uint32_t)(n > 0 ? n : 0); i++) {
		uint32_t hdr;
		uint16_t cap;

		memcpy(&hdr, &cfg[off], 4);
		if (hdr == 0 || hdr == UINT32_MAX)
			break;
		if ((hdr & 0xffff) == 0x1b) {
			memcpy(&cap, &cfg[off + 4], 2);
			return (cap >> 8) & 0x1f;
		}
		off = (hdr >> 20) & 0xffc;
	}
	return 0;
}

/* VT-d PASID width from the first IOMMU's ECAP (PSS + 1 when ECAP.PASID); 0: none/unknown. */
static unsigned int sysfs_vtd_pasid_width(void)
{
	unsigned long long ecap = 0;
	glob_t g;
	unsigned int w = 0;

	if (glob("/sys/class/iommu/*/intel-iommu/ecap", 0, NULL, &g) != 0)
		return 0;
	FILE *f = fopen(g.gl_pathv[0], "r");

	if (f != NULL && fscanf(f, "%llx", &ecap) == 1 && ((ecap >> 40) & 1))
		w = (unsigned int)((ecap >> 35) & 0x1f) + 1;
	if (f != NULL)
		fclose(f);
	globfree(&g);
	return w;
}

static struct dp_ioas *new_ioas(void)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = (uint32_t)g_backend;
	o.flags = DP_IOAS_F_MANUAL;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	return ioas;
}

static void test_caps(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_pasid_caps c = {.size = sizeof(c)};
	struct dp_device *dev = NULL;
	unsigned int dev_w = sysfs_pasid_width(), vtd_w = sysfs_vtd_pasid_width();
	unsigned int maj = 0, min = 0;
	struct utsname u;

	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open(g_bdf, ioas, &dev), 0);
	CU_ASSERT_EQUAL(dp_pasid_caps(dev, &c), 0);
	printf("\n    %s: device width %u (sysfs %u), IOMMU width %u (VT-d ECAP %u), usable %u, "
	       "mode %u, flags 0x%x, kernel %u.%u\n",
	       g_bdf, c.device_width, dev_w, c.iommu_width, vtd_w, c.width, c.mode, c.flags,
	       c.kernel_major, c.kernel_minor);
	CU_ASSERT_EQUAL(uname(&u), 0);
	CU_ASSERT_EQUAL(sscanf(u.release, "%u.%u", &maj, &min), 2);
	CU_ASSERT_EQUAL(c.kernel_major, maj);
	CU_ASSERT_EQUAL(c.kernel_minor, min);
	CU_ASSERT_EQUAL(!!(c.flags & DP_PASID_CAP_KERNEL_ATTACH), maj > 6 || (maj == 6 && min >= 15));
	CU_ASSERT_EQUAL(!!(c.flags & DP_PASID_CAP_DEVICE), dev_w != 0);
	CU_ASSERT_EQUAL(c.device_width, dev_w);
	if (g_backend == DP_IOMMU_VFIO) {
		CU_ASSERT_EQUAL(c.iommu_width, 0); /* type1 has no PASID support */
	} else {
		CU_ASSERT_EQUAL(c.iommu_width, vtd_w);
	}
	CU_ASSERT_EQUAL(c.width, DPI_MIN(c.device_width, c.iommu_width));
	if (c.width == 0) {
		CU_ASSERT_EQUAL(c.mode, DP_PASID_MODE_NONE);
		CU_ASSERT_FALSE(c.flags & DP_PASID_CAP_ATTACH);
		CU_ASSERT_EQUAL(c.max_pasid, 0);
	}
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* QEMU's NVMe controller has no PASID: alloc and attach refuse with the documented reason. */
static void test_refused(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_pasid_caps c = {.size = sizeof(c)};
	struct dp_device *dev = NULL;
	uint32_t pasid;

	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open(g_bdf, ioas, &dev), 0);
	CU_ASSERT_EQUAL(dp_pasid_caps(dev, &c), 0);
	if (c.width != 0) {
		printf("\n    %s has usable PASIDs (width %u): refusal not tested\n", g_bdf, c.width);
		goto out;
	}
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_alloc(dev, &pasid), -EOPNOTSUPP);
	CU_ASSERT(ut_log_has("no PASIDs on this device"));
	CU_ASSERT_EQUAL(dp_pasid_attach(dev, 1, ioas), -EOPNOTSUPP);
	if (g_backend == DP_IOMMU_VFIO) {
		CU_ASSERT(ut_log_has("type1 backend has no PASID support"));
	} else if (!(c.flags & DP_PASID_CAP_KERNEL_ATTACH)) {
		CU_ASSERT(ut_log_has("needs Linux >= 6.15"));
	} else {
		CU_ASSERT(ut_log_has("no PASIDs on this device"));
	}
	CU_ASSERT_EQUAL(dp_pasid_detach(dev, 1), -ENOENT);
	ut_log_release();
	printf("\n    refused: %s", g_ut_log.all);
out:
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

int main(void)
{
	static const struct ut_test tests[] = {UT_TEST(test_caps), UT_TEST(test_refused)};
	const char *b = getenv("DP_IOMMU");

	g_bdf = getenv("DP_TEST_BDF");
	if (g_bdf == NULL || b == NULL) {
		printf("pasid_kernel_ut: SKIP: needs DP_TEST_BDF (a PCI device bound to vfio-pci) "
		       "and DP_IOMMU=iommufd|vfio; the VM harness (make test-vm) sets both\n");
		return 77;
	}
	g_backend = strcmp(b, "iommufd") == 0 ? DP_IOMMU_IOMMUFD : DP_IOMMU_VFIO;
	return ut_main(g_backend == DP_IOMMU_IOMMUFD ? "pasid-kernel-iommufd" : "pasid-kernel-vfio",
		       tests, DPI_ARRAY_SIZE(tests), ut_env_init, ut_env_fini);
}
