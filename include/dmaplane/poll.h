/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file poll.h
 * The polled-mode runtime: poll groups (one per core/thread), pollers, timed pollers, lock-free
 * cross-core messages, and a launcher that runs one poll group per core.
 *
 * A poll group is driven by one thread at a time, its owner: the thread inside
 * dp_poll_group_run() or dp_poll_group_run_once(). Each iteration of the loop
 *   1. reads the tick counter once (dp_ticks()) and charges the previous iteration to the
 *      group's busy or idle ticks,
 *   2. runs up to a batch of queued messages (opts.msg_batch, default 32),
 *   3. runs every poller once, in registration order,
 *   4. runs the timed pollers that are due, earliest first.
 * Nothing sleeps: there are no timer threads and no interrupts; timed pollers are driven by the
 * tick counter read in step 1.
 *
 * Pollers return the work they did: > 0 busy, 0 idle, < 0 an error, which ends the loop: the
 * pollers after it in that iteration are skipped, and run returns the error after the
 * iteration's bookkeeping.
 *
 * Thread rules, in short (each call says it again):
 *  - dp_poll_send(), dp_poll_group_stop() and dp_poll_group_get_stats(): any thread, any time
 *    between create and destroy, including from pollers and messages of any group.
 *  - dp_poller_register*(), dp_poller_unregister(), dp_poller_get_stats(): the owner thread
 *    (from a poller or message of this group) while the group runs; any single thread while it
 *    does not run. To change another core's pollers, send it a message.
 *  - dp_poll_group_destroy(): when the group does not run and no dp_poll_send() to it can
 *    happen any more.
 *
 * With the DPDK env, dp_poll_launch() runs a poll group on the EAL worker lcore of its core when
 * EAL has one there (the cores of dp_env_opts.core_list, or of the process's CPU set, minus the
 * main lcore), else on a thread pinned with dp_thread_pin() and registered with EAL, so pollers
 * have an lcore id (rte_lcore_id()) for DPDK calls that need one. In the native env the groups
 * run on pinned pthreads. The messages use dmaplane's own MPSC ring in both envs (measured
 * against rte_ring by `dmaplane_bench poll`).
 * Nothing here needs dp_env_init(), but dp_ticks_hz() is measured there.
 *
 * Errors: every call that can fail returns 0 (or a documented non-negative value) or a negative
 * errno as documented per call.
 */
#ifndef DMAPLANE_POLL_H
#define DMAPLANE_POLL_H

#include <stddef.h>
#include <stdint.h>

#include <dmaplane/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A poll group (opaque). */
struct dp_poll_group;
/** A registered poller (opaque). */
struct dp_poller;
/** Poll groups started on cores by dp_poll_launch() (opaque). */
struct dp_poll_launch;

/** A poller: returns > 0 when it did work, 0 when idle, a negative errno on a fatal error. */
typedef int (*dp_poller_fn)(void *arg);

/** A message: runs once on the owner thread of the group it was sent to. */
typedef void (*dp_msg_fn)(void *arg);

/** Count per-poller busy and idle ticks (one tick read per poller call; off by default). */
#define DP_POLL_GROUP_F_POLLER_TICKS (1u << 0)

/**
 * Options for dp_poll_group_create(). Initialise with dp_poll_group_opts_init().
 * The struct grows only at its end; @c size tells the library which fields the caller knows.
 */
struct dp_poll_group_opts {
	size_t size;       /**< sizeof(struct dp_poll_group_opts), set by opts_init */
	const char *name;  /**< for log lines (default "poll"); copied */
	uint32_t msg_ring; /**< message ring slots: a power of two, 2..2^24 (default 4096) */
	uint32_t msg_batch; /**< most messages run per iteration, >= 1 (default 32) */
	uint32_t flags;    /**< DP_POLL_GROUP_F_* */
	uint32_t reserved0; /**< must be 0 */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_poll_group_opts) == 32, "dp_poll_group_opts layout is ABI");
#endif

/** Fill @p opts with defaults; @p size is sizeof(struct dp_poll_group_opts). */
void dp_poll_group_opts_init(struct dp_poll_group_opts *opts, size_t size);

/**
 * Create a poll group. Any thread.
 * @param opts  NULL for the defaults
 * @param[out] group
 * @return 0; -EINVAL (group NULL, opts->size too small, unknown flags, reserved not 0, msg_ring
 *   not a power of two in range, msg_batch 0); -ENOMEM.
 */
int dp_poll_group_create(const struct dp_poll_group_opts *opts, struct dp_poll_group **group);

/**
 * Destroy a group. Messages still queued are run, in order, on the calling thread before the
 * group is freed (none is lost; a message may send more to this group: those run too). Pollers
 * still registered are freed without being called: their handles become invalid.
 * Thread rules: any thread, when the group does not run and no dp_poll_send() to it is in
 * progress or will come. NULL is ignored.
 * @return 0; -EBUSY the group is running (nothing changed).
 */
int dp_poll_group_destroy(struct dp_poll_group *group);

/**
 * Register a poller, run once per iteration after the pollers registered before it.
 * Registered from inside the loop, it first runs in the next iteration.
 * Thread rules: the owner thread while the group runs; any single thread otherwise.
 * @param[out] poller handle for dp_poller_unregister() (may be NULL if never unregistered)
 * @return 0; -EINVAL (group or fn NULL); -EPERM (the group runs on another thread); -ENOMEM.
 */
int dp_poller_register(struct dp_poll_group *group, dp_poller_fn fn, void *arg,
		       struct dp_poller **poller);

/**
 * Register a timed poller, run when @p period_us microseconds of dp_ticks() have passed since
 * it was registered, then every @p period_us. Late runs are not caught up: a poller more than
 * one period late runs once and is next due one period later.
 * Thread rules: as dp_poller_register().
 * @return 0; -EINVAL (group or fn NULL, period_us 0, or a period longer than 2^63 ticks);
 *   -EPERM (the group runs on another thread); -ENOMEM.
 */
int dp_poller_register_timed(struct dp_poll_group *group, dp_poller_fn fn, void *arg,
			     uint64_t period_us, struct dp_poller **poller);

/**
 * Unregister a poller and set @p *poller to NULL. Safe while the group runs, from any poller
 * (including the poller itself) or message of the group: the poller is not called again, and
 * its memory is freed after the current iteration.
 * Thread rules: as dp_poller_register().
 * @return 0; -EINVAL (poller or *poller NULL: e.g. this handle was unregistered already);
 *   -EBUSY (another copy of the handle was unregistered already in this iteration);
 *   -EPERM (the group runs on another thread).
 */
int dp_poller_unregister(struct dp_poller **poller);

/**
 * Statistics. Set @c size first. Ticks are dp_ticks() units (dp_ticks_hz() per second).
 * For a group, an iteration is busy when a message ran or a poller returned > 0; its ticks go
 * to busy_ticks, else to idle_ticks. For a poller, a run is busy when it returned > 0.
 */
struct dp_poll_stats {
	size_t size;         /**< sizeof(struct dp_poll_stats), set by the caller */
	uint64_t runs;       /**< group: loop iterations; poller: calls (untimed: the group's
				  iterations since it joined) */
	uint64_t busy_runs;  /**< of those, busy ones */
	uint64_t busy_ticks; /**< ticks spent in busy iterations / busy calls */
	uint64_t idle_ticks; /**< ticks spent in idle iterations / idle calls */
	uint64_t msgs;       /**< group: messages run; poller: 0 */
};

#if defined(__LP64__)
DP_STATIC_ASSERT(sizeof(struct dp_poll_stats) == 48, "dp_poll_stats layout is ABI");
#endif

/**
 * Read a group's statistics. Thread rules: any thread, also while the group runs (each field is
 * read atomically; the fields are not one snapshot).
 * @return 0; -EINVAL (group or stats NULL, stats->size too small).
 */
int dp_poll_group_get_stats(struct dp_poll_group *group, struct dp_poll_stats *stats);

/**
 * Read a poller's statistics. busy_ticks and idle_ticks of an untimed poller are counted only in
 * groups created with DP_POLL_GROUP_F_POLLER_TICKS (else 0); timed pollers always count them.
 * Thread rules: as dp_poller_register().
 * @return 0; -EINVAL (poller or stats NULL, stats->size too small); -EPERM (the group runs
 *   on another thread).
 */
int dp_poller_get_stats(struct dp_poller *poller, struct dp_poll_stats *stats);

/**
 * Run the loop on the calling thread, which becomes the owner, until dp_poll_group_stop() or a
 * poller error. Messages still queued when it returns stay queued for the next run or for
 * dp_poll_group_destroy().
 * @return 0 after a stop; the negative errno a poller returned; -EINVAL (group NULL); -EBUSY
 *   (the group runs already, on this or another thread); -EMFILE (the calling thread could not
 *   get a dp_thread_id()).
 */
int dp_poll_group_run(struct dp_poll_group *group);

/**
 * Run one iteration on the calling thread (for applications with a loop of their own, and
 * tests). Does not look at the stop request.
 * @return > 0 the iteration was busy; 0 idle; the negative errno a poller returned; -EINVAL
 *   (group NULL); -EBUSY (the group runs already); -EMFILE (as dp_poll_group_run()).
 */
int dp_poll_group_run_once(struct dp_poll_group *group);

/**
 * Ask dp_poll_group_run() to return after its current iteration. A stop asked before the run
 * starts makes the next run return after one iteration. Any thread. NULL is ignored.
 */
void dp_poll_group_stop(struct dp_poll_group *group);

/**
 * Queue @p fn(@p arg) to run on @p group's owner thread, in a later iteration (in the order of
 * the sends from one thread). Lock-free; never blocks, never drops a message.
 * Thread rules: any thread, including the owner, pollers and messages.
 * @return 0; -EAGAIN the ring is full (nothing queued: try again later); -EINVAL (group or fn
 *   NULL).
 */
int dp_poll_send(struct dp_poll_group *group, dp_msg_fn fn, void *arg);

/**
 * Called on each launched thread after it is pinned, before its loop starts: register the
 * core's pollers here. A negative return stops the launch with that error.
 */
typedef int (*dp_poll_init_fn)(struct dp_poll_group *group, unsigned index, int core, void *arg);

/**
 * Start one poll group per core of @p core_list ("0-3,6": cores and ranges, no duplicates),
 * each run by its own thread pinned to its core (an EAL worker lcore or a pthread: see the top
 * of this header). Each group is named
 * "<opts->name>/<core>". The groups exist when
 * this returns (dp_poll_launch_group()), so messages can be sent to them at once. When any
 * thread fails (pinning, @p init or a poller error), every group is stopped.
 * Thread rules: any thread; the launch handle is then used by that thread (the stop call by any).
 * @param opts  options of every group, NULL for the defaults
 * @param init  may be NULL
 * @return 0; -EINVAL (launch NULL, bad core list, bad opts); -ENOMEM; -EAGAIN (a thread could
 *   not be created: the threads started are stopped and joined); -EBUSY (DPDK env: the EAL
 *   lcore of a core runs something else, e.g. another launch still running there: logged;
 *   the groups started are stopped and waited for).
 */
int dp_poll_launch(const char *core_list, const struct dp_poll_group_opts *opts,
		   dp_poll_init_fn init, void *arg, struct dp_poll_launch **launch);

/** Number of groups (cores) of a launch, or 0 for NULL. */
unsigned dp_poll_launch_count(const struct dp_poll_launch *launch);

/** The group of the @p index-th core, or NULL when out of range. Any thread. */
struct dp_poll_group *dp_poll_launch_group(const struct dp_poll_launch *launch, unsigned index);

/** The core of the @p index-th group, or -EINVAL when out of range. */
int dp_poll_launch_core(const struct dp_poll_launch *launch, unsigned index);

/** Stop every group of the launch. Any thread, also from the launched groups. NULL ignored. */
void dp_poll_launch_stop(struct dp_poll_launch *launch);

/**
 * Wait for every thread of the launch to end (after dp_poll_launch_stop() or an error), then
 * destroy the groups (running their queued messages on the calling thread, as
 * dp_poll_group_destroy() does) and free @p launch.
 * Thread rules: the thread that launched; not from a launched group. No dp_poll_send() to the
 * groups may come after the threads ended.
 * @return 0 when every thread stopped cleanly; else the first error in time of any thread (a
 *   pin error, an init error or a poller error); -EINVAL (launch NULL).
 */
int dp_poll_launch_wait(struct dp_poll_launch *launch);

#ifdef __cplusplus
}
#endif

#endif /* DMAPLANE_POLL_H */
