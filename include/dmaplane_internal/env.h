/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/env internals shared with other components. */
#ifndef DMAPLANE_INTERNAL_ENV_H
#define DMAPLANE_INTERNAL_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include <dmaplane/env.h>
#include <dmaplane_internal/common.h>

/* Per-thread dense id; -1 until the thread first asks. Initial-exec: read with one load on
 * the inline hit paths (no __tls_get_addr; libdmaplane is never dlopen()ed late). */
extern __thread int dpi_tls_thread_id __attribute__((tls_model("initial-exec")));
int dpi_thread_id_slow(void);

static inline int dpi_thread_id(void)
{
	int id = dpi_tls_thread_id;

	if (dpi_likely(id >= 0))
		return id;
	return dpi_thread_id_slow();
}

/*
 * Thread-exit hooks: run in the exiting thread (which still holds its dp_thread_id()) for every
 * thread that got an id, before the id is recycled. Used by per-thread caches to give back what
 * they hold. At most 16 hooks.
 * Returns 0, -ENOSPC when full, -EEXIST when registered already.
 */
typedef void (*dpi_thread_exit_fn)(int thread_id, void *arg);
int dpi_thread_exit_register(dpi_thread_exit_fn fn, void *arg);
int dpi_thread_exit_unregister(dpi_thread_exit_fn fn, void *arg);

/* Tick source override for tests: NULL restores the hardware source. */
typedef uint64_t (*dpi_tick_fn)(void);
void dpi_ticks_set_source(dpi_tick_fn fn, uint64_t hz);

/* The override itself, read by the inline dpi_ticks(); set only through dpi_ticks_set_source(). */
extern dpi_tick_fn dpi_tick_override __attribute__((visibility("hidden")));

static inline uint64_t dpi_hw_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint64_t lo, hi; /* rdtsc clears the upper halves of rax and rdx */

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (hi << 32) | lo;
#else
	return dp_time_ns();
#endif
}

/* dp_ticks() inlined, for poll loops. */
static inline uint64_t dpi_ticks(void)
{
	dpi_tick_fn fn = __atomic_load_n(&dpi_tick_override, __ATOMIC_RELAXED);

	if (dpi_unlikely(fn != NULL))
		return fn();
	return dpi_hw_ticks();
}

/* True when dp_env_init() has completed and dp_env_fini() has not been called. */
int dpi_env_ready(void);

/* Number of NUMA nodes the env knows; node ids are 0..n-1. */
int dpi_env_numa_nodes(void);

/* Changes at every dp_env_init(): memory-event registrations do not survive dp_env_fini(). */
uint64_t dpi_env_generation(void);

/* True when every REMOVE event covers whole regions earlier ADD events reported (the native
 * env, and DPDK's static --no-huge memory); false when a REMOVE may cut a region (DPDK's
 * dynamic hugepage memory), so consumers must track memory at page granularity. */
bool dpi_env_remove_exact(void);

#endif
