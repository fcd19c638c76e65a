/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one inline submit path: a 64-byte descriptor to a WQ portal.
 *  - dedicated WQ, mapped portal: MOVDIR64B (posted; the channel depth keeps the WQ from
 *    overflowing);
 *  - shared WQ, mapped portal: ENQCMD, retried a bounded number of times while it reports
 *    "retry" (ZF = 1: the WQ is full);
 *  - portal not mapped (the sim model): a dedicated WQ takes the device's region write of 64
 *    bytes, which the model consumes like a MOVDIR64B; a shared WQ takes the same store into
 *    the model's ENQCMD aperture (the instruction's stand-in), retried while it answers
 *    -EAGAIN;
 *  - the software engine: run the descriptor now; a kernel-owned WQ: dpi_kwq_submit().
 * The instructions are emitted as bytes so older assemblers build it; whether the CPU has them
 * was checked once at dp_idxd_open() (lib/pasid cpu.c).
 */
#ifndef IDXD_PORTAL_H
#define IDXD_PORTAL_H

#include <errno.h>

#include <dmaplane_internal/sim.h>

#include "idxd_internal.h"

#if defined(__x86_64__)
static inline void idxd_movdir64b(volatile void *portal, const void *desc)
{
	/* movdir64b (%rdx), %rax */
	__asm__ volatile(".byte 0x66, 0x0f, 0x38, 0xf8, 0x02"
			 :
			 : "a"(portal), "d"(desc), "m"(*(const struct dsa_hw_desc *)desc)
			 : "memory");
}

/* 0: accepted; 1: retry (the WQ is full or not enabled). */
static inline int idxd_enqcmd(volatile void *portal, const void *desc)
{
	uint8_t retry;

	/* enqcmd (%rdx), %rax; ZF = 1 means retry */
	__asm__ volatile(".byte 0xf2, 0x0f, 0x38, 0xf8, 0x02\n\tsetz %0"
			 : "=r"(retry)
			 : "a"(portal), "d"(desc), "m"(*(const struct dsa_hw_desc *)desc)
			 : "cc", "memory");
	return retry;
}
#else
static inline void idxd_movdir64b(volatile void *portal, const void *desc)
{
	(void)portal;
	(void)desc;
}

static inline int idxd_enqcmd(volatile void *portal, const void *desc)
{
	(void)portal;
	(void)desc;
	return 1;
}
#endif

/* The common cases inline: MOVDIR64B to a dedicated WQ and the sim's store (ch->portal_kind,
 * set at channel creation); ENQCMD with its retries and the soft paths out of line. */
static inline __attribute__((always_inline)) int idxd_portal_submit(struct dp_idxd_chan *ch,
								    const struct dsa_hw_desc *d)
{
	uint8_t kind = ch->portal_kind;

	if (dpi_likely(kind == IDXD_SUBMIT_MOVDIR64B)) {
		dpi_wmb(); /* the record reset and a batch list before the descriptor */
		idxd_movdir64b(ch->portal.base + ch->portal_off, d);
		return 0;
	}
	if (dpi_likely(kind == IDXD_SUBMIT_SIM))
		return ch->region_write(ch->portal.dev, ch->portal.region, ch->portal_off, d,
					sizeof(*d));
	return idxd_portal_submit_slow(ch, d);
}

#endif
