/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/env private: the implementation ops table shared by env.c, env_native.c and env_dpdk.c. */
#ifndef DMAPLANE_ENV_IMPL_H
#define DMAPLANE_ENV_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmaplane/env.h>

/* Called by the walk: one existing region. */
typedef void (*dpi_region_fn)(void *vaddr, size_t len, size_t page_size, void *ctx);

struct dpi_env_ops {
	const char *name;
	/* opts are validated; numa_nodes known. Returns 0 or -errno. */
	int (*init)(const struct dp_env_opts *opts);
	void (*fini)(void);
	/* args validated; node is a real node (DP_NUMA_ANY resolved). */
	int (*alloc)(size_t size, size_t align, int node, void **ptr);
	int (*free)(void *ptr);
	/* Serialise memory-event registration against memory being added or removed. */
	void (*mem_lock)(void);
	void (*mem_unlock)(void);
	/* With mem_lock held: every existing region, in address order. */
	void (*walk)(dpi_region_fn fn, void *ctx);
	/* Fill page_size, hugepages, mem_bytes. */
	void (*info)(struct dp_env_info *info);
	/* See dpi_env_remove_exact(). */
	bool (*remove_exact)(void);
	/* Optional (NULL: the env has no lcores of its own); see dpi_env_lcore_launch() etc. */
	int (*lcore_launch)(int core, int (*fn)(void *), void *arg);
	int (*lcore_wait)(int core);
	int (*thread_register)(void);
	void (*thread_unregister)(void);
	int (*lcore_id)(void);
};

extern const struct dpi_env_ops dpi_env_native_ops;
#if DP_CONFIG_DPDK
extern const struct dpi_env_ops dpi_env_dpdk_ops;
#endif

/*
 * Deliver an event to every registered callback. The implementation calls this with its memory
 * lock held (the same lock mem_lock takes), ADD after mapping, REMOVE before unmapping.
 */
void dpi_mem_event_notify(enum dp_mem_event event, void *vaddr, size_t len, size_t page_size);

/* Free hugepages of @page_size (bytes) on all nodes, from sysfs; 0 when unknown. */
uint64_t dpi_free_hugepages(uint64_t page_size);

void dpi_time_init(uint64_t known_hz);

/* The one warning line for running without hugepages. */
void dpi_warn_no_hugepages(uint64_t page_size, const char *why);

#endif
