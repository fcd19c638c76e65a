/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file env.h
 * The environment: DMA-able memory, memory events, threads and time.
 *
 * Two implementations sit behind this header: DPDK EAL (default when dmaplane was configured with
 * DPDK; in-memory mode, IOVA as VA, no PCI scan by EAL, memory from EAL's hugepage heap) and the
 * native one (hugetlbfs pages placed with libnuma). Without free hugepages both fall back to
 * 4 KiB locked pages and say so once (reserve hugepages with `scripts/setup.sh hugepages`).
 *
 * Errors: every call that can fail returns 0 or a negative errno as documented per call.
 */
#ifndef DMAPLANE_ENV_H
#define DMAPLANE_ENV_H

#include <stddef.h>
#include <stdint.h>

#include <dmaplane/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Which implementation dp_env_init() uses. The variable DP_ENV=dpdk|native overrides AUTO. */
enum dp_env_impl {
	DP_ENV_AUTO = 0,   /**< DPDK when built with it, else native */
	DP_ENV_DPDK = 1,   /**< DPDK EAL */
	DP_ENV_NATIVE = 2, /**< hugetlbfs + libnuma */
};

/** Any NUMA node: the calling thread's node is preferred. */
#define DP_NUMA_ANY (-1)

/** Do not use hugepages even when some are free (4 KiB locked pages, no warning). */
#define DP_ENV_F_NO_HUGE (1u << 0)

/**
 * Options for dp_env_init(). Initialise with dp_env_opts_init(), then set what you need.
 * The struct grows only at its end; @c size tells the library which fields the caller knows.
 */
struct dp_env_opts {
	size_t size;            /**< sizeof(struct dp_env_opts), set by dp_env_opts_init() */
	const char *name;       /**< program name for logs and EAL (default "dmaplane") */
	uint32_t impl;          /**< enum dp_env_impl (default DP_ENV_AUTO) */
	int32_t numa_node;      /**< node used for DP_NUMA_ANY allocations (default DP_NUMA_ANY) */
	uint64_t mem_size;      /**< bytes reserved at init; 0: grow on demand (DPDK without
				     hugepages: 256 MiB, as EAL cannot grow that memory) */
	uint64_t hugepage_size; /**< 0 (2 MiB), 2 MiB or 1 GiB */
	uint32_t flags;         /**< DP_ENV_F_* */
	uint32_t reserved0;     /**< must be 0 */
	const char *core_list;  /**< cores for worker threads, e.g. "0-3,6" (default: the
				     calling thread's affinity) */
	const char *eal_args;   /**< extra EAL arguments separated by spaces (DPDK only) */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_env_opts) == 64, "dp_env_opts layout is ABI");
#endif

/** Fill @p opts with defaults; @p size is sizeof(struct dp_env_opts) as the caller knows it. */
void dp_env_opts_init(struct dp_env_opts *opts, size_t size);

/**
 * Initialise the environment. Call once per process before anything else in dmaplane.
 * @return 0 on success;
 *   -EINVAL  bad options (size 0 or smaller than the first fields, unknown flags, reserved field
 *            not 0, bad hugepage size, bad core list, node out of range);
 *   -EALREADY the environment is already initialised (or DPDK was initialised before in this
 *            process: EAL cannot be initialised twice);
 *   -ENOTSUP DPDK was asked for but dmaplane was built without it;
 *   -ENOMEM  the initial memory could not be reserved;
 *   another negative errno from EAL initialisation (logged with EAL's reason).
 */
int dp_env_init(const struct dp_env_opts *opts);

/**
 * Release the environment: all DMA memory is unmapped (memory-event callbacks see it removed)
 * and callbacks are dropped. Safe to call when not initialised.
 */
void dp_env_fini(void);

/** Facts about the initialised environment. */
struct dp_env_info {
	size_t size;          /**< sizeof(struct dp_env_info), set by the caller */
	uint32_t impl;        /**< enum dp_env_impl actually in use */
	uint32_t numa_nodes;  /**< NUMA nodes known (1 without libnuma) */
	uint64_t page_size;   /**< page size backing DMA memory (4096 in fallback) */
	uint32_t hugepages;   /**< 1 when DMA memory is hugepage backed */
	uint32_t reserved0;
	uint64_t mem_bytes;   /**< bytes of DMA memory mapped now */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_env_info) == 40, "dp_env_info layout is ABI");
#endif

/**
 * Fill @p info (set info->size first).
 * @return 0; -EINVAL when @p info is NULL or info->size is too small; -ENODEV when the
 *   environment is not initialised.
 */
int dp_env_get_info(struct dp_env_info *info);

/** Name of the implementation in use: "dpdk", "native", or "none" before dp_env_init(). */
const char *dp_env_impl_name(void);

/**
 * Allocate DMA-able memory: pinned, physically backed by the env's pages, and reported to
 * memory-event callbacks before this returns. Not for the I/O hot path.
 * @param size      bytes, > 0
 * @param align     power of two, or 0 for 64
 * @param numa_node a node, or DP_NUMA_ANY
 * @param[out] ptr  the memory
 * @return 0; -EINVAL (size 0, align not a power of two, node out of range, ptr NULL);
 *   -ENODEV (environment not initialised); -ENOMEM (no memory; the log line says which pool).
 * Thread rules: any thread.
 */
int dp_dma_alloc(size_t size, size_t align, int numa_node, void **ptr);

/** Like dp_dma_alloc(), and the memory is zeroed. Same return values. */
int dp_dma_zalloc(size_t size, size_t align, int numa_node, void **ptr);

/**
 * Free memory from dp_dma_alloc()/dp_dma_zalloc(). NULL is ignored.
 * @return 0; -EINVAL when @p ptr was not returned by dp_dma_alloc() or was freed already (logged,
 *   nothing changed); -ENODEV when the environment is not initialised.
 */
int dp_dma_free(void *ptr);

/** Memory events: DMA-able memory was added to or is about to be removed from the process. */
enum dp_mem_event {
	DP_MEM_EVENT_ADD = 1,
	DP_MEM_EVENT_REMOVE = 2,
};

/**
 * A memory-event callback. @p vaddr and @p len are page aligned to @p page_size. For REMOVE the
 * memory is still mapped while the callback runs. A REMOVE covers only memory that was added,
 * but not necessarily in the same pieces: it may be part of one ADD region or span several
 * (EAL frees pages in other chunks than it added them). Callbacks must not allocate or free DMA
 * memory. They run with the env's memory lock held, on the thread that caused the change.
 */
typedef void (*dp_mem_event_cb)(enum dp_mem_event event, void *vaddr, size_t len, size_t page_size,
				void *arg);

/**
 * Register a callback. Before this returns, @p cb is called with DP_MEM_EVENT_ADD for every
 * region that already exists, so a late registration still sees all memory; no event is lost or
 * doubled between that walk and later events.
 * @return 0; -EINVAL (cb NULL); -EEXIST (the same cb and arg are registered); -ENODEV (not
 *   initialised); -ENOMEM.
 */
int dp_mem_event_register(dp_mem_event_cb cb, void *arg);

/**
 * Unregister a callback. No REMOVE events are generated.
 * @return 0; -ENOENT (not registered); -ENODEV (not initialised).
 */
int dp_mem_event_unregister(dp_mem_event_cb cb, void *arg);

/** Upper bound of dp_thread_id() values. */
#define DP_MAX_THREADS 256

/**
 * A small dense id of the calling thread, 0..DP_MAX_THREADS-1, for per-thread caches. Ids are
 * recycled after a thread exits. Cheap after the first call in a thread.
 * @return the id, or -EMFILE when DP_MAX_THREADS threads already hold one.
 */
int dp_thread_id(void);

/**
 * Pin the calling thread to one CPU core.
 * @return 0; -EINVAL (core negative or not online / not in the process's allowed set); another
 *   negative errno from the kernel.
 */
int dp_thread_pin(int core);

/** The core the calling thread runs on now (>= 0), or a negative errno. */
int dp_thread_core(void);

/** A monotonic tick counter (the TSC on x86), cheap enough for poll loops. */
uint64_t dp_ticks(void);

/** Ticks per second of dp_ticks(), measured at dp_env_init() (or by EAL). */
uint64_t dp_ticks_hz(void);

/** Monotonic time in nanoseconds (CLOCK_MONOTONIC). */
uint64_t dp_time_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* DMAPLANE_ENV_H */
