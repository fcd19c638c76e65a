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
static __attribute__((noinline)) int poller_worked(struct dp_poll_group *g, struct poll_call *c,
						   int rc)
{
	uint32_t i = (uint32_t)(c - g->calls);

	if (rc < 0) {
		DPI_DEBUG("poll group %s: poller %u returned %d; the loop ends", g->name, i, rc);
		g->error = rc;
		dpi_attn_set(g, DPI_ATTN_ERROR);
		return rc;
	}
	g->call_pollers[i]->busy_runs++;
	return 0;
}

/* The tick source of a run is chosen when it starts: the hardware counter read inline (@hw), or
 * dp_ticks() with its test override. */
static inline __attribute__((always_inline)) uint64_t loop_ticks(const bool hw)
{
	return hw ? dpi_hw_ticks() : dpi_ticks();
}

/* Messages, pollers and due timers once. Returns 1 busy, 0 idle, or a negative errno (also
 * flagged in g->attn). */
static inline __attribute__((always_inline)) int iterate(struct dp_poll_group *g, uint64_t now,
							  const bool prof, const bool hw)
{
	struct poll_call *c, *end;
	int busy = 0, rc;

	if (dpi_unlikely(dpi_mpsc_ready(&g->ring)))
		busy = dpi_poll_drain(g, g->msg_batch) != 0;
	c = g->calls;
	end = g->calls_end;
	if (!prof) {
		for (; c != end; c++) {
			rc = c->fn(c->arg);
			if (dpi_unlikely(rc != 0)) {
				if ((rc = poller_worked(g, c, rc)) != 0)
					return rc;
				busy = 1;
			}
		}
	} else {
		uint64_t t0 = loop_ticks(hw);
		for (; c != end; c++) {
			rc = c->fn(c->arg);
			uint64_t t1 = loop_ticks(hw);
			struct dp_poller *p = g->call_pollers[c - g->calls];
			if (rc > 0) {
				p->busy_ticks += t1 - t0;
				p->busy_runs++;
				busy = 1;
			} else {
				p->idle_ticks += t1 - t0;
				if (rc < 0)
					return poller_worked(g, c, rc);
			}
			t0 = t1;
		}
	}
	if (dpi_unlikely(now >= g->timer_due)) {
		if ((rc = dpi_poll_run_timers(g, now)) < 0) {
			g->error = rc;
			dpi_attn_set(g, DPI_ATTN_ERROR);
			return rc;
		}
		busy |= rc;
	}
	return busy;
}

/* Book an iteration that ran from @t0 to @t1. */
static inline void account(struct dp_poll_group *g, uint64_t t0, uint64_t t1, int busy)
{
	uint64_t d = t1 - t0;

	if (dpi_likely(busy <= 0)) {
		dpi_stat_add(&g->idle_ticks, d);
	} else {
		dpi_stat_add(&g->busy_iters, 1);
		dpi_stat_add(&g->busy_ticks, d);
	}
	dpi_stat_add(&g->iters, 1);
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

/* Settle deferred changes; returns the poller error of the iteration, if any. */
static int leave_iteration(struct dp_poll_group *g)
{
	uint32_t a = __atomic_load_n(&g->attn, __ATOMIC_RELAXED);

	if (dpi_likely((a & (DPI_ATTN_ERROR | DPI_ATTN_DIRTY)) == 0))
		return 0;
	if (a & DPI_ATTN_DIRTY)
		dpi_poll_group_settle(g);
	return dpi_attn_take(g, DPI_ATTN_ERROR) ? g->error : 0;
}

static void leave(struct dp_poll_group *g)
{
	g->in_iter = false;
	__atomic_store_n(&g->owner, -1, __ATOMIC_RELEASE);
}

/* Something needs attention after an iteration: changes to settle, an error, a stop.
 * Returns 1 to go on, 0 after a stop, or the poller error. */
static __attribute__((noinline)) int attention(struct dp_poll_group *g)
{
	int rc = leave_iteration(g);

	if (rc != 0)
		return rc;
	return dpi_attn_take(g, DPI_ATTN_STOP) ? 0 : 1;
}

static inline __attribute__((always_inline)) int run_loop(struct dp_poll_group *g,
							   const bool prof, const bool hw)
{
	uint64_t now = loop_ticks(hw), t;
	int rc;

	for (;;) {
		rc = iterate(g, now, prof, hw);
		t = loop_ticks(hw);
		account(g, now, t, rc);
		now = t;
		if (dpi_unlikely(__atomic_load_n(&g->attn, __ATOMIC_RELAXED) != 0) &&
		    (rc = attention(g)) <= 0)
			return rc;
	}
}

static __attribute__((noinline)) int run_fast(struct dp_poll_group *g)
{
	return run_loop(g, false, true);
}

static __attribute__((noinline)) int run_prof(struct dp_poll_group *g)
{
	return run_loop(g, true, true);
}

/* With the test tick source. */
static __attribute__((noinline)) int run_any(struct dp_poll_group *g, const bool prof)
{
	return prof ? run_loop(g, true, false) : run_loop(g, false, false);
}

int dp_poll_group_run(struct dp_poll_group *g)
{
	int rc = enter(g);

	if (rc != 0)
		return rc;
	bool prof = g->flags & DP_POLL_GROUP_F_POLLER_TICKS;
	if (dpi_unlikely(__atomic_load_n(&dpi_tick_override, __ATOMIC_RELAXED) != NULL))
		rc = run_any(g, prof);
	else
		rc = prof ? run_prof(g) : run_fast(g);
	leave(g);
	return rc;
}

int dp_poll_group_run_once(struct dp_poll_group *g)
{
	int rc = enter(g), err;
	uint64_t t0, t1;

	if (rc != 0)
		return rc;
	t0 = dpi_ticks();
	if (g->flags & DP_POLL_GROUP_F_POLLER_TICKS)
		rc = iterate(g, t0, true, false);
	else
		rc = iterate(g, t0, false, false);
	t1 = dpi_ticks();
	account(g, t0, t1, rc);
	err = leave_iteration(g);
	leave(g);
	return err != 0 ? err : rc;
}
