/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file common.h
 * Definitions shared by every dmaplane header.
 *
 * Error convention of the whole library: a call returns 0 (or a documented non-negative value)
 * on success and a negative errno on failure; each header lists the codes per call.
 */
#ifndef DMAPLANE_COMMON_H
#define DMAPLANE_COMMON_H

#ifdef __cplusplus
#define DP_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define DP_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define DP_VERSION_MAJOR 0
#define DP_VERSION_MINOR 1
#define DP_VERSION_PATCH 0

#endif /* DMAPLANE_COMMON_H */
