/* SPDX-License-Identifier: BSD-3-Clause */
/* Logging macros for library code. Define DP_LOG_COMPONENT before including. */
#ifndef DMAPLANE_INTERNAL_LOG_H
#define DMAPLANE_INTERNAL_LOG_H

#include <dmaplane/log.h>

#ifndef DP_LOG_COMPONENT
#error "define DP_LOG_COMPONENT (the component name) before including dmaplane_internal/log.h"
#endif

extern int dpi_log_level;

#define DPI_LOG(lvl, ...)                                                                         \
	do {                                                                                       \
		if (__builtin_expect((lvl) <= __atomic_load_n(&dpi_log_level, __ATOMIC_RELAXED), 0)) \
			dp_log((lvl), DP_LOG_COMPONENT, __VA_ARGS__);                                \
	} while (0)

#define DPI_ERR(...) DPI_LOG(DP_LOG_ERROR, __VA_ARGS__)
#define DPI_WARN(...) DPI_LOG(DP_LOG_WARN, __VA_ARGS__)
#define DPI_NOTICE(...) DPI_LOG(DP_LOG_NOTICE, __VA_ARGS__)
#define DPI_INFO(...) DPI_LOG(DP_LOG_INFO, __VA_ARGS__)
#define DPI_DEBUG(...) DPI_LOG(DP_LOG_DEBUG, __VA_ARGS__)

#endif
