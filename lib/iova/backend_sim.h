/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/iova private: the sim backend's IOAS state, shared with the nested backend (whose state
 * starts with it, so lib/vfio's sim attach and the reservations work on both). */
#ifndef DMAPLANE_BACKEND_SIM_H
#define DMAPLANE_BACKEND_SIM_H

#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/sim.h>

#define SIM_MAX_RESERVED 32

struct reservation {
	const void *owner;
	struct dp_iova_range r;
};

struct sim_ioas {
	struct dpi_sim_domain *domain; /* what devices attach to */
	struct reservation res[SIM_MAX_RESERVED];
	uint32_t nres;
};

/* The sim backend's get_ranges: [0, last IOVA of si->domain] minus the reservations. */
int dpi_sim_ioas_get_ranges(struct dp_ioas *ioas, struct dp_iova_range *out, uint32_t *count);

#endif
