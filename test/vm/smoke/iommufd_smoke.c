/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iommufd_smoke: check the facts of dmaplane_internal/uapi_{iommufd,vfio}.h against a real
 * kernel, with raw ioctls and nothing of the library.
 *
 *   iommufd_smoke 0000:00:03.0      (the device must be bound to vfio-pci)
 *
 * Opens /dev/iommu, allocates an IOAS, binds the device's VFIO cdev to it and attaches it,
 * reads the IOVA ranges (first with no room, to check the -EMSGSIZE protocol), maps one 2 MiB
 * buffer at a fixed IOVA, unmaps it (checking the length the kernel reports), then detaches and
 * tears down. Each step prints one line. A few extra checks (IOMMU_OPTION get, GET_HW_INFO, a
 * second unmap giving ENOENT) print "info" lines and do not change the exit status.
 *
 * Exit: 0 when every step passed; 1 when a step failed; 77 (skip) without /dev/iommu.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <dmaplane_internal/uapi_iommufd.h>
#include <dmaplane_internal/uapi_vfio.h>

#define BUF_SIZE (2ul << 20)
#define EXIT_SKIP 77

static int g_failed;

static void step(const char *what, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void step(const char *what, int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%-28s %s", what, ok ? "ok  " : "FAIL");
	if (fmt != NULL) {
		printf("  ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	printf("\n");
	fflush(stdout);
	if (!ok)
		g_failed = 1;
}

static int find_cdev(const char *bdf, char *path, size_t len)
{
	char dir[256];
	struct dirent *de;
	DIR *d;
	int rc = -ENOENT;

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(dir);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "vfio", 4) == 0) {
			snprintf(path, len, "/dev/vfio/devices/%s", de->d_name);
			rc = 0;
			break;
		}
	}
	closedir(d);
	return rc;
}

static void *alloc_buf(const char **kind)
{
	void *p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	uintptr_t a;

	if (p != MAP_FAILED) {
		*kind = "hugetlb 2 MiB page";
		return p;
	}
	/* No hugepages: 2 MiB of small pages at a 2 MiB aligned address. */
	p = mmap(NULL, 2 * BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + BUF_SIZE - 1) & ~(BUF_SIZE - 1);
	*kind = "4 KiB pages (no free hugepages)";
	return (void *)a;
}

static void hw_info(int iommufd, uint32_t devid)
{
	struct iommu_hw_info_vtd vtd;
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.dev_id = devid,
		.data_len = sizeof(vtd),
		.data_uptr = (uintptr_t)&vtd,
	};

	memset(&vtd, 0, sizeof(vtd));
	if (ioctl(iommufd, IOMMU_GET_HW_INFO, &info) != 0) {
		printf("%-28s info  %s\n", "IOMMU_GET_HW_INFO", strerror(errno));
		return;
	}
	printf("%-28s info  type %u, data %u bytes, caps %#" PRIx64 ", max_pasid_log2 %u\n",
	       "IOMMU_GET_HW_INFO", info.out_data_type, info.data_len,
	       (uint64_t)info.out_capabilities, info.out_max_pasid_log2);
	if (info.out_data_type == IOMMU_HW_INFO_TYPE_INTEL_VTD)
		printf("%-28s info  VT-d cap %#" PRIx64 " ecap %#" PRIx64 "\n", "",
		       (uint64_t)vtd.cap_reg, (uint64_t)vtd.ecap_reg);
}

static int pick_iova(const struct iommu_iova_range *r, uint32_t n, uint64_t *iova)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t s = r[i].start < BUF_SIZE ? BUF_SIZE : r[i].start;

		s = (s + BUF_SIZE - 1) & ~(uint64_t)(BUF_SIZE - 1);
		if (s >= r[i].start && s <= r[i].last && r[i].last - s >= BUF_SIZE - 1) {
			*iova = s;
			return 0;
		}
	}
	return -ENOSPC;
}

int main(int argc, char **argv)
{
	struct iommu_iova_range *ranges = NULL;
	char bdf[32], cdev[300];
	const char *kind = "";
	uint32_t ioas_id = 0, devid = 0, nr = 0;
	int iommufd, devfd = -1, attached = 0, rc;
	uint64_t iova = 0;
	void *buf;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DDDD:BB:DD.F|BB:DD.F (bound to vfio-pci)\n", argv[0]);
		return 2;
	}
	snprintf(bdf, sizeof(bdf), "%s%s", strlen(argv[1]) == 7 ? "0000:" : "", argv[1]);
	printf("uAPI definitions: %s / %s\n", DPI_UAPI_IOMMUFD_SOURCE, DPI_UAPI_VFIO_SOURCE);

	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0 && errno == ENOENT) {
		printf("%-28s skip  no /dev/iommu: the kernel lacks CONFIG_IOMMUFD\n",
		       "open /dev/iommu");
		return EXIT_SKIP;
	}
	step("open /dev/iommu", iommufd >= 0, "%s", iommufd >= 0 ? "" : strerror(errno));
	if (iommufd < 0)
		return 1;

	{
		struct iommu_ioas_alloc a = {.size = sizeof(a)};

		rc = ioctl(iommufd, IOMMU_IOAS_ALLOC, &a);
		ioas_id = a.out_ioas_id;
		step("IOMMU_IOAS_ALLOC", rc == 0, "ioas %u %s", ioas_id, rc ? strerror(errno) : "");
		if (rc != 0)
			return 1;
	}
	{
		struct iommu_option o = {
			.size = sizeof(o),
			.option_id = IOMMU_OPTION_HUGE_PAGES,
			.op = IOMMU_OPTION_OP_GET,
			.object_id = ioas_id,
		};

		rc = ioctl(iommufd, IOMMU_OPTION, &o);
		printf("%-28s info  %s %" PRIu64 "\n", "IOMMU_OPTION get HUGE_PAGES",
		       rc ? strerror(errno) : "value", rc ? 0 : (uint64_t)o.val64);
	}

	rc = find_cdev(bdf, cdev, sizeof(cdev));
	step("find VFIO cdev", rc == 0, "%s", rc == 0 ? cdev : strerror(-rc));
	if (rc != 0)
		goto out;
	devfd = open(cdev, O_RDWR | O_CLOEXEC);
	step("open cdev", devfd >= 0, "%s", devfd >= 0 ? "" : strerror(errno));
	if (devfd < 0)
		goto out;
	{
		struct vfio_device_bind_iommufd b = {.argsz = sizeof(b), .iommufd = iommufd};

		rc = ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, &b);
		devid = b.out_devid;
		step("VFIO_DEVICE_BIND_IOMMUFD", rc == 0, "devid %u %s", devid,
		     rc ? strerror(errno) : "");
		if (rc != 0)
			goto out;
	}
	{
		struct vfio_device_attach_iommufd_pt at = {.argsz = sizeof(at), .pt_id = ioas_id};

		rc = ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);
		step("VFIO_DEVICE_ATTACH_IOMMUFD_PT", rc == 0, "ioas %u -> hwpt %u %s", ioas_id,
		     at.pt_id, rc ? strerror(errno) : "");
		if (rc != 0)
			goto out;
		attached = 1;
	}
	hw_info(iommufd, devid);

	{
		struct iommu_ioas_iova_ranges q = {.size = sizeof(q), .ioas_id = ioas_id};

		rc = ioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, &q);
		step("IOVA_RANGES with no room", rc != 0 && errno == EMSGSIZE && q.num_iovas > 0,
		     "%s, num_iovas %u", rc ? strerror(errno) : "succeeded", q.num_iovas);
		nr = q.num_iovas;
		ranges = calloc(nr ? nr : 1, sizeof(*ranges));
		q.allowed_iovas = (uintptr_t)ranges;
		rc = ioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, &q);
		step("IOVA_RANGES", rc == 0 && q.num_iovas == nr, "%u ranges, alignment %#" PRIx64,
		     q.num_iovas, (uint64_t)q.out_iova_alignment);
		if (rc != 0)
			goto out;
		for (uint32_t i = 0; i < nr; i++)
			printf("%-28s       [%#018" PRIx64 ", %#018" PRIx64 "]\n", "",
			       (uint64_t)ranges[i].start, (uint64_t)ranges[i].last);
	}

	buf = alloc_buf(&kind);
	step("allocate 2 MiB", buf != NULL, "%p, %s", buf, kind);
	if (buf == NULL)
		goto out;
	memset(buf, 0x5a, BUF_SIZE);
	rc = pick_iova(ranges, nr, &iova);
	step("pick IOVA", rc == 0, "%#" PRIx64, iova);
	if (rc != 0)
		goto out;
	{
		struct iommu_ioas_map m = {
			.size = sizeof(m),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = ioas_id,
			.user_va = (uintptr_t)buf,
			.length = BUF_SIZE,
			.iova = iova,
		};

		rc = ioctl(iommufd, IOMMU_IOAS_MAP, &m);
		step("IOMMU_IOAS_MAP", rc == 0 && m.iova == iova, "%#lx bytes at %#" PRIx64 " %s",
		     BUF_SIZE, (uint64_t)m.iova, rc ? strerror(errno) : "");
		if (rc != 0)
			goto out;
	}
	{
		struct iommu_ioas_unmap u = {
			.size = sizeof(u),
			.ioas_id = ioas_id,
			.iova = iova,
			.length = BUF_SIZE,
		};

		rc = ioctl(iommufd, IOMMU_IOAS_UNMAP, &u);
		step("IOMMU_IOAS_UNMAP", rc == 0 && u.length == BUF_SIZE,
		     "unmapped %#" PRIx64 " %s", (uint64_t)u.length, rc ? strerror(errno) : "");
		u.length = BUF_SIZE;
		rc = ioctl(iommufd, IOMMU_IOAS_UNMAP, &u);
		printf("%-28s info  %s (ENOENT expected)\n", "IOMMU_IOAS_UNMAP again",
		       rc ? strerror(errno) : "succeeded");
	}

out:
	if (devfd >= 0) {
		struct vfio_device_detach_iommufd_pt de = {.argsz = sizeof(de)};

		if (attached) {
			rc = ioctl(devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &de);
			step("VFIO_DEVICE_DETACH_IOMMUFD_PT", rc == 0, "%s",
			     rc ? strerror(errno) : "");
		}
		close(devfd);
	}
	{
		struct iommu_destroy d = {.size = sizeof(d), .id = ioas_id};

		rc = ioctl(iommufd, IOMMU_DESTROY, &d);
		step("IOMMU_DESTROY", rc == 0, "ioas %u %s", ioas_id, rc ? strerror(errno) : "");
	}
	close(iommufd);
	free(ranges);
	printf("%s\n", g_failed ? "iommufd_smoke: FAILED" : "iommufd_smoke: all steps passed");
	return g_failed;
}
