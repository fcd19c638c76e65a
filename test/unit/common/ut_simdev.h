/* SPDX-License-Identifier: BSD-3-Clause */
/* Driving the sim test device (lib/sim, "sim:testN") from tests. */
#ifndef DMAPLANE_UT_SIMDEV_H
#define DMAPLANE_UT_SIMDEV_H

#include <stdint.h>

#include <dmaplane/vfio.h>
#include <dmaplane_internal/sim.h>

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

#endif
