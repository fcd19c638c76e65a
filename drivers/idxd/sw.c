/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The software engine ("sw"): every descriptor runs at submission on the calling CPU with the
 * reference implementation (lib/sim dsa_ref), addresses being host pointers, and its completion
 * record is stored where the descriptor says. A functional fallback for machines without a DSA
 * device, so applications run unchanged; it is as fast as the reference code, no faster.
 */
#include <string.h>

#include <dmaplane_internal/dsa_ref.h>
#include <dmaplane_internal/kwq.h>

#include "idxd_internal.h"

/* Never inlined: dmaplane_bench dsa takes the engine's instructions out of the driver's count
 * by this function's name (callgrind --toggle-collect), as a real device does the work. */
__attribute__((noinline)) void idxd_sw_exec(const struct dsa_hw_desc *desc)
{
	struct dsa_completion_record cr, *out;
	uint8_t status;

	dpi_dsa_ref_exec(desc, &dpi_dsa_mem_identity, NULL, &cr);
	out = (struct dsa_completion_record *)(uintptr_t)desc->completion_addr;
	if (out == NULL)
		return;
	/* The status byte last, so a poller never sees a half-written record. */
	status = cr.status;
	cr.status = 0;
	memcpy((void *)out, &cr, sizeof(cr));
	__atomic_store_n(&out->status, status, __ATOMIC_RELEASE);
}

uint64_t idxd_sw_opcap(void)
{
	return DSA_OPCAP_ALL_W0;
}

int idxd_soft_submit(struct dp_idxd_chan *ch, const struct dsa_hw_desc *desc)
{
	if (ch->kwq != NULL)
		return dpi_kwq_submit(ch->kwq, desc);
	idxd_sw_exec(desc);
	return 0;
}
