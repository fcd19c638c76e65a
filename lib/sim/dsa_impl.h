/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim DSA model's internals, shared by dsa.c (registers, commands, hooks) and dsa_exec.c
 * (descriptor execution and DMA). One mutex per device serialises everything: register
 * accesses, portal stores and hook calls.
 */
#ifndef SIM_DSA_IMPL_H
#define SIM_DSA_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmaplane_internal/dsa_ref.h>
#include <dmaplane_internal/idxd_spec.h>
#include <dmaplane_internal/sim.h>

#define SDSA_MAX_WQS 32
#define SDSA_MAX_GROUPS 8
#define SDSA_MAX_ENGINES 16
#define SDSA_MAX_SVA 8
#define SDSA_WQCFG_WORDS 16 /* 64-byte WQCFG */

#define SDSA_BAR0_SIZE 0x1000
#define SDSA_GRPCFG_OFF 0x400
#define SDSA_WQCFG_OFF 0x600
#define SDSA_MSIX_PERM_OFF 0xe00

/* A descriptor accepted by a WQ and not yet completed. */
struct sdsa_pending {
	struct dsa_hw_desc desc;
	uint32_t wq;
	uint32_t pasid; /* DPI_SIM_NO_PASID: no PASID */
	bool priv;
};

struct sdsa_sva {
	uint32_t pasid;
	int pid; /* 0: slot free */
};

struct sdsa {
	pthread_mutex_t lock;
	struct dpi_sim_device *dev;
	struct dpi_sim_requester *req;

	/* capabilities */
	uint32_t nwq, ngrp, neng, total_wq_size, xfer_shift, batch_shift;
	uint64_t gencap, wqcap, grpcap, engcap;

	/* registers */
	uint32_t gencfg, genctrl, gensts, intcause, cmdsts;
	uint64_t swerr[4];
	uint64_t grp_wqs[SDSA_MAX_GROUPS][4];
	uint64_t grp_engines[SDSA_MAX_GROUPS];
	uint64_t grp_flags[SDSA_MAX_GROUPS];
	uint32_t wqcfg[SDSA_MAX_WQS][SDSA_WQCFG_WORDS];
	bool wq_enabled[SDSA_MAX_WQS];
	uint32_t occupancy[SDSA_MAX_WQS];

	/* accepted descriptors not yet run (held, or queued for the engine thread), in order */
	bool hold;
	bool async;   /* the engine thread runs queued descriptors */
	bool stop;    /* tells the engine thread to exit */
	pthread_t engine;
	pthread_cond_t cond;
	struct sdsa_pending *held;
	uint32_t nheld, held_cap;

	struct sdsa_sva sva[SDSA_MAX_SVA];
	struct {
		uint8_t opcode, status;
		uint32_t count;
	} inject;
	struct dpi_sim_dsa_stats stats;
};

/* dsa_exec.c: run one accepted descriptor to completion (record or SWERR). Lock held. */
void sdsa_execute(struct sdsa *s, const struct sdsa_pending *p);

/* dsa.c: record a software error (SWERR) unless one is pending (then set overflow). */
struct sdsa_swerr {
	uint8_t code;
	bool desc_valid, wq_valid, batch, fault_write, priv;
	uint32_t wq, opcode, pasid, batch_idx, invalid_flags;
	uint64_t fault_addr;
};
void sdsa_swerr(struct sdsa *s, const struct sdsa_swerr *e);

static inline bool sdsa_wq_dedicated(const struct sdsa *s, uint32_t wq)
{
	return (s->wqcfg[wq][IDXD_WQCFG_W_MODE] & IDXD_WQCFG_MODE_DEDICATED) != 0;
}

#endif
