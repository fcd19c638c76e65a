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

/*
 * Lcores of the environment (DPDK EAL; the native env has none). lib/poll runs a poll group on
 * an EAL worker lcore when one sits on the requested core, else on its own thread registered
 * with EAL, so DPDK calls that need an lcore id (mempool caches, rte_lcore_id()) work in
 * pollers either way.
 * dpi_env_lcore_launch: run fn(arg) on the EAL worker lcore pinned to @core. 0; -ENOTSUP (no
 *   env lcores, or no worker lcore on that core: the caller starts its own thread); -EBUSY (that
 *   lcore is running something else).
 * dpi_env_lcore_wait: wait for what dpi_env_lcore_launch started on @core; fn's return value.
 * dpi_env_thread_register / unregister: give the calling (non-EAL) thread an lcore id for its
 *   lifetime; 0 or -ENOTSUP (no env lcores) / -ENOSPC (EAL has no free lcore id: logged).
 * dpi_env_lcore_id: the calling thread's lcore id, -1 when it has none.
 */
int dpi_env_lcore_launch(int core, int (*fn)(void *), void *arg);
int dpi_env_lcore_wait(int core);
int dpi_env_thread_register(void);
void dpi_env_thread_unregister(void);
int dpi_env_lcore_id(void);

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
