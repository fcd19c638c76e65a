/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/pasid private: the sim side of kwq.c (kwq_sim.c). */
#ifndef KWQ_IMPL_H
#define KWQ_IMPL_H

#include <stdint.h>

#include <dmaplane_internal/kwq.h>

struct dpi_sim_device;
struct dpi_sim_dsa_ctx;

struct kwq_sim {
	struct dpi_sim_device *dev;
	struct dpi_sim_dsa_ctx *ctx; /* NULL: not a sim WQ */
	uint32_t pasid;              /* the process's PASID, as the kernel would give it */
};

/* "sim:dsaN/wqN.M": fill @info (wq, mode, size, ... from WQCFG), check the WQ is shared and
 * enabled, give the process its PASID and bind. 0; -EINVAL; -ENODEV; -ENXIO; -ENOTSUP;
 * -EOPNOTSUPP (sim IOMMU without PASIDs); -ENOSPC; -ENOMEM. Logged. */
int kwq_sim_open(const char *addr, struct dpi_kwq_info *info, struct kwq_sim *ks);
void kwq_sim_close(struct kwq_sim *ks);
/* ENQCMD semantics: 0; -EAGAIN after @retries refusals. */
int kwq_sim_submit(struct kwq_sim *ks, const void *desc, int retries);

#endif
