/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection for tests ("fail-nth"): every call into the kernel or the system allocator on a
 * slow path goes through a fault point. A test arms the counter with dpi_fault_arm(n, err); the
 * n-th fault point reached afterwards fails with -err as if the system call had failed, and the
 * counter disarms. Tests step n = 1, 2, ... through every failure point of an entry point and
 * check that each failure is reported and leaves nothing behind.
 *
 * Cost when disarmed: one relaxed load and a not-taken branch. Never on an I/O hot path.
 */
#ifndef DMAPLANE_INTERNAL_FAULT_H
#define DMAPLANE_INTERNAL_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include <dmaplane_internal/common.h>

extern int64_t dpi_fault_countdown;

/* Slow half of dpi_fault(): decrements the counter; returns the errno to fail with, or 0. */
int dpi_fault_tick(const char *site);

/*
 * A fault point named @site. Returns 0 (go on) or a positive errno to fail with. The caller
 * sets errno and fails exactly as the real call would.
 */
static inline int dpi_fault(const char *site)
{
	if (dpi_likely(__atomic_load_n(&dpi_fault_countdown, __ATOMIC_RELAXED) == 0))
		return 0;
	return dpi_fault_tick(site);
}

/* Arm: the @n-th fault point from now fails with @err (positive errno). n = 0 disarms. */
void dpi_fault_arm(int64_t n, int err);

/* Like dpi_fault_arm(), counting only the fault points named @site. */
void dpi_fault_arm_site(const char *site, int64_t n, int err);

/* Fault points passed since the last dpi_fault_arm(). */
uint64_t dpi_fault_points_passed(void);

/* True when the armed fault fired (and the counter disarmed itself). */
bool dpi_fault_fired(void);

/* Name of the site where the fault fired, or NULL. */
const char *dpi_fault_site(void);

#endif
