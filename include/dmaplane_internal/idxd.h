/* SPDX-License-Identifier: BSD-3-Clause */
/* drivers/idxd hooks for tests and tools inside the tree. Not installed. */
#ifndef DMAPLANE_INTERNAL_IDXD_H
#define DMAPLANE_INTERNAL_IDXD_H

#include <stdint.h>

#include <dmaplane/idxd.h>
#include <dmaplane/vfio.h>

/* The device behind an idxd device (NULL for "sw" or NULL), e.g. to reach the sim model. */
struct dp_device *dpi_idxd_device(struct dp_idxd_dev *dev);

/* Issue a device command (IDXD_CMD_*) with its operand and wait for it, as the driver does.
 * 0; -EIO (CMDSTS error, logged by name; *err gets the code when err is not NULL);
 * -ETIMEDOUT; -EINVAL (NULL, or "sw"). */
int dpi_idxd_cmd(struct dp_idxd_dev *dev, uint32_t cmd, uint32_t operand, uint32_t *err);

#endif
