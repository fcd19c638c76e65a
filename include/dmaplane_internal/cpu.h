/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CPU feature detection (CPUID), in one place so drivers never probe with inline assembly of
 * their own. Results are computed once and cached.
 */
#ifndef DMAPLANE_INTERNAL_CPU_H
#define DMAPLANE_INTERNAL_CPU_H

#include <stdbool.h>

/* MOVDIR64B (CPUID.(EAX=7,ECX=0):ECX[28]): 64-byte direct store, submits to dedicated WQs. */
bool dpi_cpu_has_movdir64b(void);
/* ENQCMD (CPUID.(EAX=7,ECX=0):ECX[29]): enqueue store with status, submits to shared WQs. */
bool dpi_cpu_has_enqcmd(void);

#endif
