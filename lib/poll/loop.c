/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The run loop. One tick read per iteration: it starts the iteration (timers compare against
 * it) and ends the previous one, whose ticks go to busy or idle. The poller walk is a dense
 * array of (fn, arg); work and errors leave it through one rarely taken branch.
 */
#include <errno.h>

#define DP_LOG_COMPONENT "poll"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/log.h>

#include "poll_impl.h"

/* A poller returned non-zero: count it; returns the error or 0. */
static __attribute__((noinline)) int poller_worked(struct dp_poll_group *g, uint32_t i, int rc)
{
	if (rc < 0) {
		DPI_DEBUG("poll group %s: poller %u returned %d; the loop ends", g->name, i, rc);
		return rc;
	}
	g->call_pollers[i]->busy_runs++;
	return 0;
}

/* Messages, pollers and due timers once. Returns 1 busy, 0 idle, or a negative errno. */
static inline __attribute__((always_inline)) int iterate(struct dp_poll_group *g, uint64_t now,
							  const bool prof)
{
	struct dpi_msg_slot *s = &g->ring.slots[g->ring.head & g->ring.mask];
	int busy = 0, rc;

	if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == g->ring.head + 1)
		busy = dpi_poll_drain(g, g->msg_batch) != 0;

	struct poll_call *c = g->calls;
	uint32_t n = g->ncalls;
	if (!prof) {
		for (uint32_t i = 0; i < n; i++) {
			rc = c[i].fn(c[i].arg);
			if (dpi_unlikely(rc != 0)) {
				if ((rc = poller_worked(g, i, rc)) != 0)
					return rc;
				busy = 1;
			}
		}
	} else {
		uint64_t t0 = dpi_ticks();
		for (uint32_t i = 0; i < n; i++) {
			rc = c[i].fn(c[i].arg);
			uint64_t t1 = dpi_ticks();
			struct dp_poller *p = g->call_pollers[i];
			if (rc > 0) {
				p->busy_ticks += t1 - t0;
				p->busy_runs++;
				busy = 1;
			} else {
				p->idle_ticks += t1 - t0;
				if (rc < 0)
					return rc;
			}
			t0 = t1;
		}
	}
	if (dpi_unlikely(now >= g->timer_due)) {
		if ((rc = dpi_poll_run_timers(g, now)) < 0)
			return rc;
		busy |= rc;
	}
	return busy;
}

/* Book an iteration that ran from @t0 to @t1. */
static inline void account(struct dp_poll_group *g, uint64_t t0, uint64_t t1, int busy)
{
	dpi_stat_add(&g->iters, 1);
	if (busy > 0) {
		dpi_stat_add(&g->busy_iters, 1);
		dpi_stat_add(&g->busy_ticks, t1 - t0);
	} else {
		dpi_stat_add(&g->idle_ticks, t1 - t0);
	}
}

static int enter(struct dp_poll_group *g)
{
	int expected = -1, me = dpi_thread_id();

	if (g == NULL)
		return -EINVAL;
	if (me < 0)
		return me;
	if (!__atomic_compare_exchange_n(&g->owner, &expected, me, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED)) {
		DPI_ERR("poll group %s: already running (thread %d)", g->name, expected);
		return -EBUSY;
	}
	g->in_iter = true;
	return 0;
}

static void leave(struct dp_poll_group *g)
{
	g->in_iter = false;
	if (g->dirty)
		dpi_poll_group_settle(g);
	__atomic_store_n(&g->owner, -1, __ATOMIC_RELEASE);
}

static __attribute__((noinline)) int run_loop(struct dp_poll_group *g, const bool prof)
{
	uint64_t now = dpi_ticks(), t;
	int rc;

	for (;;) {
		rc = iterate(g, now, prof);
		t = dpi_ticks();
		account(g, now, t, rc);
		now = t;
		if (dpi_unlikely(g->dirty))
			dpi_poll_group_settle(g);
		if (dpi_unlikely(rc < 0))
			return rc;
		if (dpi_unlikely(__atomic_load_n(&g->stop, __ATOMIC_RELAXED)))
			return 0;
	}
}

int dp_poll_group_run(struct dp_poll_group *g)
{
	int rc = enter(g);

	if (rc != 0)
		return rc;
	if (g->flags & DP_POLL_GROUP_F_POLLER_TICKS)
		rc = run_loop(g, true);
	else
		rc = run_loop(g, false);
	/* The stop request is consumed (acquire: what the stopper wrote before is visible). */
	__atomic_exchange_n(&g->stop, 0, __ATOMIC_ACQUIRE);
	leave(g);
	return rc;
}

int dp_poll_group_run_once(struct dp_poll_group *g)
{
	int rc = enter(g);
	uint64_t t0, t1;

	if (rc != 0)
		return rc;
	t0 = dpi_ticks();
	if (g->flags & DP_POLL_GROUP_F_POLLER_TICKS)
		rc = iterate(g, t0, true);
	else
		rc = iterate(g, t0, false);
	t1 = dpi_ticks();
	account(g, t0, t1, rc);
	leave(g);
	return rc;
}
