/* SPDX-License-Identifier: BSD-3-Clause */
/* dmaplane_perf's DSA workloads (perf_dsa.c). */
#ifndef DMAPLANE_PERF_DSA_H
#define DMAPLANE_PERF_DSA_H

#include <stdbool.h>

/* True when the command line asks for a DSA workload (-w copy|fill|crc|compare). */
bool perf_dsa_wanted(int argc, char **argv);

/* Run it: parses the whole command line. Exit status 0, 1 (device or operation failure),
 * 2 (bad usage). */
int perf_dsa_main(int argc, char **argv);

#endif
