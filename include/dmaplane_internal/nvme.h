/* SPDX-License-Identifier: BSD-3-Clause */
/* drivers/nvme hooks for tests and tools inside the tree. Not installed. */
#ifndef DMAPLANE_INTERNAL_NVME_H
#define DMAPLANE_INTERNAL_NVME_H

#include <dmaplane/nvme.h>
#include <dmaplane/vfio.h>

/* The device a controller drives (NULL for NULL), e.g. to reach a sim model in tests. */
struct dp_device *dpi_nvme_ctrlr_device(struct dp_nvme_ctrlr *ctrlr);

#endif
