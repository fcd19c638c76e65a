/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/poll private: poll groups and pollers. */
#ifndef DMAPLANE_POLL_IMPL_H
#define DMAPLANE_POLL_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <dmaplane/poll.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/fault.h>

#include "ring.h"

enum poller_state {
	POLLER_PENDING = 1, /* registered during an iteration: joins at the next one */
	POLLER_ACTIVE = 2,
	POLLER_REMOVED = 3, /* unregistered; freed after the current iteration */
};

struct dp_poller {
	dp_poller_fn fn;
	void *arg;
	struct dp_poll_group *group;
	struct dp_poller *next;  /* timed list, pending list or removed list */
	uint64_t period;         /* ticks; 0 for an untimed poller */
	uint64_t due;            /* timed: next run at this tick */
	uint32_t state;          /* enum poller_state */
	uint32_t index;          /* untimed: position in group->calls */
	uint64_t iter_base;      /* untimed: group iterations before it joined */
	uint64_t runs, busy_runs, busy_ticks, idle_ticks;
};

/* What the loop calls for an untimed poller: kept dense for the hot loop. */
struct poll_call {
	dp_poller_fn fn;
	void *arg;
};

struct dp_poll_group {
	/* Owner's hot line(s). */
	struct poll_call *calls;       /* ncalls entries, registration order */
	struct poll_call *calls_end;   /* calls + ncalls */
	struct dp_poller **call_pollers;
	uint32_t ncalls, cap;
	uint32_t msg_batch;
	uint32_t flags;
	uint64_t timer_due;            /* earliest due of the timed pollers, UINT64_MAX if none */
	uint64_t last_tick;            /* start of the current iteration */
	bool last_busy;                /* the previous iteration was busy */
	bool in_iter;                  /* inside an iteration: removals are deferred */
	struct dp_poller *timed;       /* sorted by due */
	struct dp_poller *pending;     /* registered during an iteration, in order */
	struct dp_poller *removed;     /* unregistered during an iteration */

	/* Statistics: written by the owner only, read by any thread (relaxed atomics). */
	uint64_t iters, busy_iters, busy_ticks, idle_ticks, msgs;

	/* DPI_ATTN_*: one word the loop tests once per iteration. STOP is set by any thread. */
	uint32_t attn;
	int error;                     /* a poller's error, with DPI_ATTN_ERROR */

	/* Any thread. */
	int owner __attribute__((aligned(DPI_CACHE_LINE))); /* dp_thread_id() of the runner, -1 */

	struct dpi_mpsc ring;
	char name[32];
};

#define DPI_ATTN_STOP 1u  /* dp_poll_group_stop() */
#define DPI_ATTN_DIRTY 2u /* pollers were added or removed during the iteration */
#define DPI_ATTN_ERROR 4u /* a poller returned an error */

static inline void dpi_attn_set(struct dp_poll_group *g, uint32_t bit)
{
	__atomic_fetch_or(&g->attn, bit, __ATOMIC_RELEASE);
}

static inline uint32_t dpi_attn_take(struct dp_poll_group *g, uint32_t bits)
{
	return __atomic_fetch_and(&g->attn, ~bits, __ATOMIC_ACQUIRE) & bits;
}

/* Apply deferred registrations and removals (owner, outside the poller walk). */
void dpi_poll_group_settle(struct dp_poll_group *g);

/* Free every poller of the group (destroy). */
void dpi_poll_group_free_pollers(struct dp_poll_group *g);

/* Run the due timed pollers at tick @now; returns the busy flag or a negative errno. */
int dpi_poll_run_timers(struct dp_poll_group *g, uint64_t now);

/* Run up to @max queued messages; returns how many ran. */
uint32_t dpi_poll_drain(struct dp_poll_group *g, uint32_t max);

/* 0 when the caller may change the group's pollers now, -EPERM when another thread runs it. */
int dpi_poll_owner_check(struct dp_poll_group *g);

/* Core lists: "0-3,6". Fills cores (at most max) and returns the count, or -EINVAL. */
int dpi_parse_core_list(const char *s, int *cores, int max);

/* Allocations pass the fault point "poll-alloc" (fail-nth tests). */
static inline bool dpi_poll_alloc_fails(void)
{
	return dpi_fault("poll-alloc") != 0;
}

static inline void dpi_stat_add(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, *p + v, __ATOMIC_RELAXED);
}

#endif
