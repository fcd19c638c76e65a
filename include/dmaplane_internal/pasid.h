/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/pasid internals shared with drivers (drivers/idxd) and tests: the PASID space allocator,
 * the driver's PASID mode hint and CPU feature probes (kernel-owned DSA WQs: kwq.h).
 */
#ifndef DMAPLANE_INTERNAL_PASID_H
#define DMAPLANE_INTERNAL_PASID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmaplane/pasid.h>

/* ---- PASID space (space.c) ------------------------------------------------------------------
 *
 * A bitmap of the 2^20 PASIDs, lock-free: allocation claims a bit with an atomic fetch-or, free
 * clears it with an atomic fetch-and (which also detects a double free). A word hint spreads
 * threads and keeps allocation O(1) while the space is not nearly full. PASID 0 is reserved
 * (never handed out). Each PASID also has an attach count (chunks allocated by the first
 * allocation in their range), so free can refuse a PASID that is still attached; a free racing
 * a hold has one outcome: the free fails with -EBUSY, or the hold fails with -ENOENT.
 */
struct dpi_pasid_space;

#define DPI_PASID_BITS 20u

/* The process-wide space behind dp_pasid_alloc (static storage, never fails). */
struct dpi_pasid_space *dpi_pasid_global(void);

/* A private space (tests, fuzzers). 0; -ENOMEM. */
int dpi_pasid_space_create(struct dpi_pasid_space **sp);
void dpi_pasid_space_destroy(struct dpi_pasid_space *sp);

/* Claim a free PASID in 1 .. 2^width - 1. 0; -EINVAL (width 0 or > 20); -ENOSPC (full);
 * -ENOMEM (the attach counters of its range could not be allocated). */
int dpi_pasid_space_alloc(struct dpi_pasid_space *sp, uint32_t width, uint32_t *pasid);
/* Release. 0; -ERANGE (0 or > DP_PASID_MAX); -ENOENT (not allocated); -EBUSY (attached). */
int dpi_pasid_space_free(struct dpi_pasid_space *sp, uint32_t pasid);
/* Is it allocated now? */
bool dpi_pasid_space_allocated(struct dpi_pasid_space *sp, uint32_t pasid);
/* PASIDs allocated now (a snapshot). */
uint32_t dpi_pasid_space_count(struct dpi_pasid_space *sp);
/* Attach counts: hold fails with -ENOENT when the PASID is not allocated (or a free of it won
 * the race), -ENOSPC (32767 holds), -ENOMEM. */
int dpi_pasid_space_hold(struct dpi_pasid_space *sp, uint32_t pasid);
void dpi_pasid_space_unhold(struct dpi_pasid_space *sp, uint32_t pasid);
uint32_t dpi_pasid_space_holds(struct dpi_pasid_space *sp, uint32_t pasid);

/* ---- per device (pasid.c, caps.c) ------------------------------------------------------------ */

/*
 * The driver's hint of how its device takes PASIDs (enum dp_pasid_mode), reported by
 * dp_pasid_caps: e.g. drivers/idxd says PER_DESC for shared WQs. 0; -EINVAL.
 */
int dpi_pasid_set_mode(struct dp_device *dev, uint32_t mode);

/* The usable PASID width of the device (0: none). Probes once. 0; -EINVAL; -ENOMEM. */
int dpi_pasid_width(struct dp_device *dev, uint32_t *width);

/* Running kernel version from uname(2). 0; -EINVAL when it does not parse. */
int dpi_kernel_version(uint32_t *major, uint32_t *minor);

/* ---- CPU (cpu.c) ----------------------------------------------------------------------------
 * CPUID.(EAX=7,ECX=0):ECX bit 29 (ENQCMD) and bit 28 (MOVDIR64B); false on other architectures.
 */
bool dpi_cpu_has_enqcmd(void);
bool dpi_cpu_has_movdir64b(void);

/*
 * Store one 64-byte descriptor to a WQ portal: MOVDIR64B (dedicated WQ; posted, cannot fail) or
 * ENQCMD (shared WQ; returns -EAGAIN when the WQ did not accept it: retry). Only call after the
 * probe above says the CPU has the instruction; @portal must be 64-byte aligned.
 */
void dpi_movdir64b(volatile void *portal, const void *desc);
int dpi_enqcmd(volatile void *portal, const void *desc);

#endif
