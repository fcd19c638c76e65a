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

static inline __attribute__((always_inline)) int idxd_portal_submit(struct dp_idxd_chan *ch, const struct dsa_hw_desc *d)
{
	if (dpi_unlikely(ch->soft_submit))
		return idxd_soft_submit(ch, d);
	if (dpi_likely(ch->portal.base != NULL)) {
		volatile uint8_t *p = ch->portal.base + ch->portal_off;

		dpi_wmb(); /* the record reset and a batch list before the descriptor */
		if (!ch->shared) {
			idxd_movdir64b(p, d);
			return 0;
		}
		for (uint32_t i = 0; i < IDXD_ENQCMD_RETRIES; i++)
			if (idxd_enqcmd(p, d) == 0)
				return 0;
		return -EAGAIN;
	}
	if (ch->shared) {
		/* The sim's ENQCMD: a store into its ENQCMD aperture, -EAGAIN meaning retry. */
		for (uint32_t i = 0; i < IDXD_ENQCMD_RETRIES; i++) {
			int rc = ch->portal.dev->ops->region_write(
				ch->portal.dev, ch->portal.region,
				DPI_SIM_DSA_ENQCMD_APERTURE + ch->portal_off, d, sizeof(*d));

			if (rc != -EAGAIN)
				return rc;
		}
		return -EAGAIN;
	}
	return ch->portal.dev->ops->region_write(ch->portal.dev, ch->portal.region, ch->portal_off,
						 d, sizeof(*d));
}

#endif
