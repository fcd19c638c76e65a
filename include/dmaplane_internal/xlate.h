/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The inline fast path of dp_iova_of() for drivers (see lib/iova/xlate.c for the table).
 * A hit on a 2 MiB entry is two dependent loads and no call; everything else (4 KiB entries,
 * unregistered memory) goes to the out-of-line slow path.
 */
#ifndef DMAPLANE_INTERNAL_XLATE_H
#define DMAPLANE_INTERNAL_XLATE_H

#include <stdint.h>

#include <dmaplane/iova.h>
#include <dmaplane_internal/common.h>

#define DPI_XLATE_L1_SHIFT 30
#define DPI_XLATE_L2_SHIFT 21
#define DPI_XLATE_L3_SHIFT 12
#define DPI_XLATE_VA_BITS 47 /* x86-64 user space with 4-level paging */
#define DPI_XLATE_L1_SLOTS (1ul << (DPI_XLATE_VA_BITS - DPI_XLATE_L1_SHIFT))

/* Entry encoding (level 2 and 3): (iova - va) | 1 = translation; 0 = not registered;
 * at level 2 an even non-zero value is a pointer to a level-3 table. */
#define DPI_XLATE_VALID 1ull

struct dpi_xlate_table {
	uint64_t e[512];
} __attribute__((aligned(4096)));

extern struct dpi_xlate_table dpi_xlate_zero;
extern intptr_t dpi_xlate_l1[DPI_XLATE_L1_SLOTS]; /* offset of each level-2 table from zero */

dp_iova_t dpi_iova_of_slow(uintptr_t va);

static inline dp_iova_t dpi_iova_of(const void *p)
{
	uintptr_t va = (uintptr_t)p, i1 = va >> DPI_XLATE_L1_SHIFT;

	if (dpi_likely(i1 < DPI_XLATE_L1_SLOTS)) {
		/* Integer arithmetic: the table is found by offset, not by pointer arithmetic.
		 * Relaxed atomic loads: plain moves on x86, and race-free against writers. */
		uintptr_t l2 = (uintptr_t)&dpi_xlate_zero +
			       (uintptr_t)__atomic_load_n(&dpi_xlate_l1[i1], __ATOMIC_ACQUIRE);
		uint64_t e = __atomic_load_n(
			(const uint64_t *)(l2 + ((va >> (DPI_XLATE_L2_SHIFT - 3)) & (511 << 3))),
			__ATOMIC_ACQUIRE);
		if (dpi_likely(e & DPI_XLATE_VALID))
			return va + e - DPI_XLATE_VALID;
	}
	return dpi_iova_of_slow(va);
}

#endif
