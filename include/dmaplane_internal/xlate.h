/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The inline fast path of dp_iova_of() for drivers (see lib/iova/xlate.c for the table).
 * A hit on a 2 MiB entry is a bound check against a variable, two loads and no call;
 * everything else (4 KiB entries, unregistered memory) goes to the out-of-line slow path.
 */
#ifndef DMAPLANE_INTERNAL_XLATE_H
#define DMAPLANE_INTERNAL_XLATE_H

#include <stdbool.h>
#include <stdint.h>

#include <dmaplane/iova.h>
#include <dmaplane_internal/common.h>

#define DPI_XLATE_L2_SHIFT 21
#define DPI_XLATE_L3_SHIFT 12
#define DPI_XLATE_VA_BITS 47 /* x86-64 user space with 4-level paging */
#define DPI_XLATE_SLOTS (1ul << (DPI_XLATE_VA_BITS - DPI_XLATE_L2_SHIFT))

/* Entry encoding (map and level 3): (iova - va) | 1 = translation; 0 = not registered;
 * in the map an even non-zero value is a pointer to a level-3 table. */
#define DPI_XLATE_VALID 1ull

struct dpi_xlate_table {
	uint64_t e[512];
} __attribute__((aligned(4096)));

/* The map: one entry per 2 MiB of the user address space, reserved on first registration;
 * slots is 0 until then (every lookup misses), DPI_XLATE_SLOTS after. */
struct dpi_xlate_root {
	uint64_t *map;
	uint64_t slots;
};
extern struct dpi_xlate_root dpi_xlate;

dp_iova_t dpi_iova_of_slow(uintptr_t va);

/* The hit path alone, with no call: true and *@iova for an address under a 2 MiB entry (the
 * whole 2 MiB piece around it translates with the same delta); false for everything else (4 KiB
 * entries, unregistered memory: dpi_iova_of() decides). For fast paths that keep their slow
 * path out of line, so they stay leaves. Relaxed/acquire atomic loads: plain moves on x86, and
 * race-free against the writer (which publishes map before slots). */
static inline __attribute__((always_inline)) bool dpi_iova_of_hit(const void *p, dp_iova_t *iova)
{
	uintptr_t va = (uintptr_t)p, i = va >> DPI_XLATE_L2_SHIFT;

	if (dpi_likely(i < __atomic_load_n(&dpi_xlate.slots, __ATOMIC_ACQUIRE))) {
		uint64_t e = __atomic_load_n(&__atomic_load_n(&dpi_xlate.map, __ATOMIC_RELAXED)[i],
					     __ATOMIC_ACQUIRE);
		if (dpi_likely(e & DPI_XLATE_VALID)) {
			*iova = va + e - DPI_XLATE_VALID;
			return true;
		}
	}
	return false;
}

static inline dp_iova_t dpi_iova_of(const void *p)
{
	dp_iova_t iova;

	if (dpi_likely(dpi_iova_of_hit(p, &iova)))
		return iova;
	return dpi_iova_of_slow((uintptr_t)p);
}

#endif
