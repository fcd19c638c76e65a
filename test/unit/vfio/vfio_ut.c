/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/vfio unit tests: PCI address parsing, sim devices through the device interface (regions,
 * config space, bus mastering, DMA through the sim IOMMU, faults logged), IOVA range narrowing
 * on attach, and the errors a user will hit. The VFIO PCI paths themselves run against a real
 * kernel in iova_kernel_ut (test/vm).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/vfio.h>
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/mmio.h>
#include <dmaplane_internal/nvme_spec.h>
#include <dmaplane_internal/sim.h>

#include "ut.h"
#include "ut_simdev.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)

static struct dp_ioas *new_ioas(uint32_t flags)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.flags = flags;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	return ioas;
}




static void test_pci_addr_parse(void)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{"0000:03:00.0", "0000:03:00.0"}, {"03:00.0", "0000:03:00.0"},
		{"0000:AF:1f.7", "0000:af:1f.7"}, {"ffff:ff:1f.7", "ffff:ff:1f.7"},
	};
	static const char *const bad[] = {
		"", "0000:03:00", "03:00", "0000:03:20.0", "0000:03:00.8", "0000:3:00.0",
		"00000:03:00.0", "0000:03:00.0x", "zz:00.0", "0000-03:00.0", "sim:test0",
	};
	char out[13];

	for (size_t i = 0; i < DPI_ARRAY_SIZE(good); i++) {
		CU_ASSERT_EQUAL(dpi_pci_addr_parse(good[i].in, out), 0);
		CU_ASSERT_STRING_EQUAL(out, good[i].out);
	}
	for (size_t i = 0; i < DPI_ARRAY_SIZE(bad); i++)
		if (dpi_pci_addr_parse(bad[i], out) != -EINVAL)
			CU_FAIL(bad[i]);
}

/* A PCI device needs a kernel IOAS; a sim IOAS refuses it before touching sysfs. */
static void test_pci_on_sim_ioas(void)
{
	struct dp_ioas *ioas = new_ioas(DP_IOAS_F_MANUAL);
	struct dp_device *dev = NULL;

	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pci_device_open("0000:03:00.0", ioas, &dev), -ENOTSUP);
	CU_ASSERT(ut_log_has("DP_IOMMU=iommufd"));
	CU_ASSERT_EQUAL(dp_pci_device_open("03:00.0x", ioas, &dev), -EINVAL);
	CU_ASSERT(ut_log_has("not a PCI address"));
	ut_log_release();
	CU_ASSERT_PTR_NULL(dev);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}


static void test_device_dma(void)
{
	struct dp_ioas *ioas = new_ioas(0);
	struct dp_device *dev = NULL;
	struct dp_device_info info = {.size = sizeof(info)};
	uint8_t *src, *dst, *other;
	uint64_t st;
	uint16_t vendor = 0;

	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open("sim:test0", ioas, &dev), 0);
	CU_ASSERT_EQUAL(dp_device_get_info(dev, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.addr, "sim:test0");
	CU_ASSERT_EQUAL(info.vendor_id, DPI_SIM_TEST_VENDOR);
	CU_ASSERT(info.flags & DP_DEVICE_F_SIM);
	CU_ASSERT_EQUAL(dp_device_cfg_read(dev, 0, &vendor, 2), 0);
	CU_ASSERT_EQUAL(vendor, DPI_SIM_TEST_VENDOR);
	CU_ASSERT_PTR_EQUAL(dp_device_ioas(dev), ioas);

	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(64 * KiB, 4096, DP_NUMA_ANY, (void **)&src), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(64 * KiB, 4096, DP_NUMA_ANY, (void **)&dst), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(64 * KiB, 4096, DP_NUMA_ANY, (void **)&other), 0);
	for (int i = 0; i < 64 * 1024; i++) {
		src[i] = (uint8_t)(i * 7 + 1);
		other[i] = 0x5a;
	}
	memset(dst, 0, 64 * KiB);

	/* Bus mastering starts off, as after a PCI reset: the DMA never happens. */
	CU_ASSERT_EQUAL(dev_cmd(dev, DPI_SIM_TEST_CMD_COPY, dp_iova_of(src, NULL),
				dp_iova_of(dst, NULL), 64 * KiB, &st), 0);
	CU_ASSERT_EQUAL(st, DPI_SIM_TEST_ST_NO_BME);
	CU_ASSERT_EQUAL(dst[0], 0);
	CU_ASSERT_EQUAL(dp_device_set_bus_master(dev, true), 0);
	CU_ASSERT_EQUAL(dev_cmd(dev, DPI_SIM_TEST_CMD_COPY, dp_iova_of(src, NULL),
				dp_iova_of(dst, NULL), 64 * KiB, &st), 0);
	CU_ASSERT_EQUAL(st, DPI_SIM_TEST_ST_OK);
	CU_ASSERT_EQUAL(memcmp(src, dst, 64 * KiB), 0);

	/* DMA to an IOVA nothing maps: blocked, logged, and no mapped memory changes. */
	dp_iova_t nowhere = 0x7000000000ull;
	CU_ASSERT_PTR_NULL(sim_target(ioas, nowhere));
	dpi_sim_fault_clear();
	CU_ASSERT_EQUAL(dev_cmd(dev, DPI_SIM_TEST_CMD_COPY, dp_iova_of(src, NULL), nowhere,
				8 * KiB, &st), 0);
	CU_ASSERT_EQUAL(st, DPI_SIM_TEST_ST_FAULT);
	struct dpi_sim_fault f;
	CU_ASSERT_EQUAL_FATAL(dpi_sim_fault_pop(&f), 0);
	CU_ASSERT_EQUAL(f.iova, nowhere);
	CU_ASSERT_EQUAL(f.reason, DPI_SIM_FAULT_NOT_PRESENT);
	CU_ASSERT_EQUAL(f.access, DPI_SIM_ACCESS_WRITE);
	CU_ASSERT_STRING_EQUAL(f.requester, "test0");
	for (int i = 0; i < 64 * 1024; i++) {
		if (other[i] != 0x5a || dst[i] != src[i]) {
			CU_FAIL("a blocked DMA changed mapped memory");
			break;
		}
	}
	/* After free + unregister the IOVA is gone too: a DMA through a stale address faults. */
	dp_iova_t old = dp_iova_of(other, NULL);
	CU_ASSERT_EQUAL(dp_dma_free(other), 0);
	(void)old;

	/* Region and device errors. */
	void *map;
	uint64_t v = 0;
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_device_region_mmap(dev, 0, &map), -ENOTSUP);
	CU_ASSERT_EQUAL(dp_device_region_read(dev, 0, 4096, &v, 8), -EINVAL);
	CU_ASSERT_EQUAL(dp_device_region_read(dev, 12, 0, &v, 8), -EINVAL);
	CU_ASSERT_EQUAL(dp_device_region_read(dev, 0, 0, NULL, 8), -EINVAL);
	int fd = 0;
	CU_ASSERT_EQUAL(dp_device_irq_enable(dev, DP_IRQ_MSIX, 0, 1, &fd), -ENOTSUP);
	CU_ASSERT_EQUAL(dp_device_irq_enable(dev, 7, 0, 1, &fd), -EINVAL);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), -EBUSY);
	CU_ASSERT(ut_log_has("still attached"));
	struct dp_device *again;
	CU_ASSERT_EQUAL(dp_pci_device_open("sim:test0", ioas, &again), -EBUSY);
	CU_ASSERT_EQUAL(dp_pci_device_open("sim:nosuch0", ioas, &again), -ENODEV);
	CU_ASSERT_EQUAL(dp_pci_device_open("00:zz.0", ioas, &again), -EINVAL);
	CU_ASSERT_EQUAL(dp_pci_device_open(NULL, ioas, &again), -EINVAL);
	ut_log_release();

	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	CU_ASSERT_EQUAL(dp_dma_free(src), 0);
	CU_ASSERT_EQUAL(dp_dma_free(dst), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

static void test_range_narrowing(void)
{
	struct dp_ioas *ioas = new_ioas(DP_IOAS_F_MANUAL);
	struct dp_device *dev = NULL;
	struct dp_iova_range r[4];
	uint32_t n = 4;
	uint8_t *buf = map_anon(2 * MiB);
	int fds = ut_count_fds();

	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4096, 0xfee00000ull, 0), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pci_device_open("sim:test1", ioas, &dev), -ERANGE);
	CU_ASSERT(ut_log_has("reserves IOVA ranges"));
	ut_log_release();
	CU_ASSERT_PTR_NULL(dev);
	CU_ASSERT_EQUAL(dp_ioas_get_ranges(ioas, r, &n), 0);
	CU_ASSERT_EQUAL(n, 1); /* the failed attach left nothing reserved */
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, 0xfee00000ull, 4096), 0);

	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open("sim:test1", ioas, &dev), 0);
	n = 4;
	CU_ASSERT_EQUAL(dp_ioas_get_ranges(ioas, r, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(r[0].start, 0);
	CU_ASSERT_EQUAL(r[0].last, 0xfedfffffull);
	CU_ASSERT_EQUAL(r[1].start, 0xfef00000ull);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4096, 0xfee01000ull, 0), -ERANGE);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_ioas_map(ioas, buf, 4096, 0xfef00000ull, 0), 0);
	CU_ASSERT_EQUAL(dp_device_close(dev), 0);
	n = 4;
	CU_ASSERT_EQUAL(dp_ioas_get_ranges(ioas, r, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	CU_ASSERT_EQUAL(ut_count_fds(), fds);
	munmap(buf, 2 * MiB);
}

/*
 * dpi_device_mmio on sim devices: a model with direct entries (nvme) hands out its 4-byte store
 * and poll, which act like region writes (a register store reads back, a store the model
 * refuses changes nothing, a doorbell of a disabled controller is ignored); a model without
 * them (test) keeps the region ops, and both kinds of store work.
 */
static void test_mmio_direct(void)
{
	struct dp_ioas *ioas = new_ioas(0);
	struct dp_device *nvme = NULL, *test = NULL;
	struct dpi_mmio m;
	uint64_t v = 0;

	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open("sim:nvme0", ioas, &nvme), 0);
	CU_ASSERT_EQUAL_FATAL(dpi_device_mmio(nvme, DP_REGION_BAR0, &m), 0);
	CU_ASSERT(m.base == NULL);
	CU_ASSERT_FATAL(m.write32 != NULL && m.poll != NULL && m.ctx != NULL);
	dpi_mmio_write32(&m, NVME_REG_AQA, 0xffffffffu);
	CU_ASSERT_EQUAL(dpi_mmio_read32(&m, NVME_REG_AQA), 0x0fff0fffu);
	CU_ASSERT_EQUAL(dp_device_region_read(nvme, DP_REGION_BAR0, NVME_REG_AQA, &v, 4), 0);
	CU_ASSERT_EQUAL(v, 0x0fff0fffu);
	dpi_mmio_write32(&m, NVME_REG_AQA + 2, 0); /* misaligned: refused, nothing changes */
	dpi_mmio_write32(&m, 0x1000, 5);          /* SQ 0 tail doorbell, controller disabled */
	dpi_mmio_write32(&m, 0x1ffc, 5);          /* a doorbell beyond the model's queues */
	m.poll(m.ctx);
	CU_ASSERT_EQUAL(dpi_mmio_read32(&m, NVME_REG_AQA), 0x0fff0fffu);
	CU_ASSERT_EQUAL(dpi_mmio_read32(&m, NVME_REG_CSTS), 0); /* not ready, not fatal */
	/* The config region is not a BAR: no direct store there. */
	CU_ASSERT_EQUAL(dpi_device_mmio(nvme, DP_REGION_CONFIG, &m), 0);
	CU_ASSERT(m.write32 == NULL);

	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open("sim:test0", ioas, &test), 0);
	CU_ASSERT_EQUAL_FATAL(dpi_device_mmio(test, DP_REGION_BAR0, &m), 0);
	CU_ASSERT(m.base == NULL && m.write32 == NULL && m.poll == NULL);
	dpi_mmio_write32(&m, DPI_SIM_TEST_PATTERN, 0x5a);
	CU_ASSERT_EQUAL(dpi_mmio_read64(&m, DPI_SIM_TEST_PATTERN), 0x5a);
	CU_ASSERT_EQUAL(dp_device_close(test), 0);
	CU_ASSERT_EQUAL(dp_device_close(nvme), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_pci_addr_parse),
		UT_TEST(test_pci_on_sim_ioas),
		UT_TEST(test_device_dma),
		UT_TEST(test_range_narrowing),
		UT_TEST(test_mmio_direct),
	};

	return ut_main("vfio", tests, DPI_ARRAY_SIZE(tests), ut_env_init, ut_env_fini);
}
