/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers for tests on the sim backend: the sim domain behind an IOAS, and the test device. */
#ifndef DMAPLANE_UT_SIMDEV_H
#define DMAPLANE_UT_SIMDEV_H

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <CUnit/CUnit.h>
#include <dmaplane/vfio.h>
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/sim.h>

/* The sim IOMMU domain behind a sim IOAS. */
static inline struct dpi_sim_domain *domain_of(struct dp_ioas *ioas)
{
	struct dpi_sim_domain *d = NULL;

	CU_ASSERT_EQUAL_FATAL(dpi_ioas_sim_domain(ioas, &d), 0);
	return d;
}

/* The host address the sim IOMMU maps @iova to, or NULL. */
static inline void *sim_target(struct dp_ioas *ioas, dp_iova_t iova)
{
	void *va = NULL;
	size_t contig;

	if (dpi_sim_domain_translate(domain_of(ioas), iova, DPI_SIM_ACCESS_READ, &va, &contig) != 0)
		return NULL;
	return va;
}

/* Zeroed anonymous memory that is not DMA memory (tests register or map it themselves). */
static inline void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(p != MAP_FAILED);
	memset(p, 0, len);
	return p;
}

/* Run one command of the test device through its BAR0 registers; *status gets STATUS.
 * Returns 0 or the first register access error. */
static inline int dev_cmd(struct dp_device *dev, uint64_t cmd, dp_iova_t src, dp_iova_t dst,
		   uint64_t len, uint64_t *status)
{
	int rc = 0;

	rc |= dp_device_region_write(dev, 0, DPI_SIM_TEST_SRC, &src, 8);
	rc |= dp_device_region_write(dev, 0, DPI_SIM_TEST_DST, &dst, 8);
	rc |= dp_device_region_write(dev, 0, DPI_SIM_TEST_LEN, &len, 8);
	rc |= dp_device_region_write(dev, 0, DPI_SIM_TEST_CMD, &cmd, 8);
	rc |= dp_device_region_read(dev, 0, DPI_SIM_TEST_STATUS, status, 8);
	return rc;
}

/* Open a sim device on @ioas with bus mastering on (the test fails at once otherwise). */
static inline struct dp_device *open_dev(const char *name, struct dp_ioas *ioas)
{
	struct dp_device *dev = NULL;

	CU_ASSERT_EQUAL_FATAL(dp_pci_device_open(name, ioas, &dev), 0);
	CU_ASSERT_EQUAL_FATAL(dp_device_set_bus_master(dev, true), 0);
	return dev;
}

/* Byte sum of [iova, iova+len) as the test device reads it; -1 on a fault. */
static inline int64_t dev_sum(struct dp_device *dev, dp_iova_t iova, uint64_t len)
{
	uint64_t st = 99, sum = 0;

	if (dev_cmd(dev, DPI_SIM_TEST_CMD_SUM, iova, 0, len, &st) != 0 || st != DPI_SIM_TEST_ST_OK)
		return -1;
	dp_device_region_read(dev, 0, DPI_SIM_TEST_RESULT, &sum, 8);
	return (int64_t)sum;
}

#endif
