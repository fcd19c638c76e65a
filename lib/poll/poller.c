/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pollers and timed pollers: registration, removal (deferred while an iteration runs, so a
 * poller may remove itself or any other), timers, statistics.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "poll"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/poll.h>
#include <dmaplane_internal/log.h>

#include "poll_impl.h"

/* What the loop calls in place of a poller removed during the current iteration. */
static int removed_stub(void *arg)
{
	(void)arg;
	return 0;
}

int dpi_poll_owner_check(struct dp_poll_group *g)
{
	int owner = __atomic_load_n(&g->owner, __ATOMIC_ACQUIRE);

	if (owner >= 0 && owner != dpi_thread_id()) {
		DPI_ERR("poll group %s: pollers can change only on the thread that runs it "
			"(send it a message with dp_poll_send)", g->name);
		return -EPERM;
	}
	return 0;
}

static int calls_append(struct dp_poll_group *g, struct dp_poller *p)
{
	if (g->ncalls == g->cap) {
		uint32_t cap = g->cap ? g->cap * 2 : 8;
		struct poll_call *c = dpi_poll_alloc_fails() ? NULL :
			realloc(g->calls, cap * sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		g->calls = c;
		struct dp_poller **cp = dpi_poll_alloc_fails() ? NULL :
			realloc(g->call_pollers, cap * sizeof(*cp));
		if (cp == NULL)
			return -ENOMEM;
		g->call_pollers = cp;
		g->cap = cap;
	}
	p->index = g->ncalls;
	p->iter_base = g->iters;
	p->state = POLLER_ACTIVE;
	g->calls[g->ncalls] = (struct poll_call){p->fn, p->arg};
	g->call_pollers[g->ncalls] = p;
	g->ncalls++;
	g->calls_end = g->calls + g->ncalls;
	return 0;
}

static void timed_insert(struct dp_poll_group *g, struct dp_poller *p)
{
	struct dp_poller **pp = &g->timed;

	while (*pp != NULL && (*pp)->due <= p->due)
		pp = &(*pp)->next;
	p->next = *pp;
	*pp = p;
	g->timer_due = g->timed->due;
}

static int activate(struct dp_poll_group *g, struct dp_poller *p)
{
	if (p->period == 0)
		return calls_append(g, p);
	p->state = POLLER_ACTIVE;
	timed_insert(g, p);
	return 0;
}

static int do_register(struct dp_poll_group *g, dp_poller_fn fn, void *arg, uint64_t period,
		       struct dp_poller **out)
{
	struct dp_poller *p;
	int rc;

	if ((rc = dpi_poll_owner_check(g)) != 0)
		return rc;
	p = dpi_poll_alloc_fails() ? NULL : calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	p->group = g;
	p->period = period;
	if (period != 0)
		p->due = dpi_ticks() + period;
	if (g->in_iter) {
		/* Joins after the current iteration, in registration order. */
		struct dp_poller **pp = &g->pending;
		while (*pp != NULL)
			pp = &(*pp)->next;
		p->state = POLLER_PENDING;
		*pp = p;
		dpi_attn_set(g, DPI_ATTN_DIRTY);
	} else if ((rc = activate(g, p)) != 0) {
		free(p);
		return rc;
	}
	if (out != NULL)
		*out = p;
	return 0;
}

int dp_poller_register(struct dp_poll_group *g, dp_poller_fn fn, void *arg,
		       struct dp_poller **poller)
{
	if (g == NULL || fn == NULL) {
		DPI_ERR("dp_poller_register: %s is NULL", g == NULL ? "group" : "fn");
		return -EINVAL;
	}
	return do_register(g, fn, arg, 0, poller);
}

int dp_poller_register_timed(struct dp_poll_group *g, dp_poller_fn fn, void *arg,
			     uint64_t period_us, struct dp_poller **poller)
{
	unsigned __int128 t;

	if (g == NULL || fn == NULL || period_us == 0) {
		DPI_ERR("dp_poller_register_timed: %s", g == NULL ? "group is NULL" :
			fn == NULL ? "fn is NULL" : "the period is 0 us");
		return -EINVAL;
	}
	t = (unsigned __int128)period_us * dp_ticks_hz() / 1000000u;
	if (t >= (unsigned __int128)1 << 63) {
		DPI_ERR("dp_poller_register_timed: a period of %llu us is too long",
			(unsigned long long)period_us);
		return -EINVAL;
	}
	return do_register(g, fn, arg, t == 0 ? 1 : (uint64_t)t, poller);
}

/* Outside an iteration: take @p out of the group now. */
static void remove_now(struct dp_poll_group *g, struct dp_poller *p)
{
	if (p->period == 0) {
		for (uint32_t i = p->index + 1; i < g->ncalls; i++) {
			g->calls[i - 1] = g->calls[i];
			g->call_pollers[i - 1] = g->call_pollers[i];
			g->call_pollers[i - 1]->index = i - 1;
		}
		g->ncalls--;
		g->calls_end = g->calls + g->ncalls;
	} else {
		struct dp_poller **pp = &g->timed;
		while (*pp != p)
			pp = &(*pp)->next;
		*pp = p->next;
		g->timer_due = g->timed != NULL ? g->timed->due : UINT64_MAX;
	}
	free(p);
}

bool dpi_poller_is(const struct dp_poller *poller, dp_poller_fn fn, const void *arg)
{
	return poller != NULL && poller->fn == fn && poller->arg == arg;
}

int dp_poller_unregister(struct dp_poller **poller)
{
	struct dp_poller *p;
	struct dp_poll_group *g;
	int rc;

	if (poller == NULL || *poller == NULL) {
		DPI_ERR("dp_poller_unregister: %s is NULL (unregistered twice?)",
			poller == NULL ? "the handle pointer" : "the handle");
		return -EINVAL;
	}
	p = *poller;
	g = p->group;
	if ((rc = dpi_poll_owner_check(g)) != 0)
		return rc;
	if (p->state == POLLER_REMOVED) {
		DPI_ERR("dp_poller_unregister: poller %p of group %s was unregistered already",
			(void *)p, g->name);
		return -EBUSY;
	}
	*poller = NULL;
	if (!g->in_iter && p->state == POLLER_ACTIVE) {
		remove_now(g, p);
		return 0;
	}
	/* During an iteration: never called again, freed by dpi_poll_group_settle(). */
	if (p->state == POLLER_ACTIVE && p->period == 0)
		g->calls[p->index].fn = removed_stub;
	p->state = POLLER_REMOVED;
	dpi_attn_set(g, DPI_ATTN_DIRTY);
	return 0;
}

void dpi_poll_group_settle(struct dp_poll_group *g)
{
	uint32_t n = 0;
	struct dp_poller **pp, *p;

	dpi_attn_take(g, DPI_ATTN_DIRTY);
	for (uint32_t i = 0; i < g->ncalls; i++) {
		p = g->call_pollers[i];
		if (p->state == POLLER_REMOVED) {
			free(p);
			continue;
		}
		p->index = n;
		g->calls[n] = g->calls[i];
		g->call_pollers[n++] = p;
	}
	g->ncalls = n;
	if (g->calls != NULL) /* NULL + 0 is undefined; with no array calls_end stays NULL */
		g->calls_end = g->calls + n;
	for (pp = &g->timed; *pp != NULL;) {
		p = *pp;
		if (p->state == POLLER_REMOVED) {
			*pp = p->next;
			free(p);
		} else {
			pp = &p->next;
		}
	}
	g->timer_due = g->timed != NULL ? g->timed->due : UINT64_MAX;
	while ((p = g->pending) != NULL) {
		g->pending = p->next;
		p->next = NULL;
		if (p->state == POLLER_REMOVED || activate(g, p) != 0) {
			if (p->state != POLLER_REMOVED)
				DPI_ERR("poll group %s: out of memory adding a poller; it was dropped",
					g->name);
			free(p);
		}
	}
}

void dpi_poll_group_free_pollers(struct dp_poll_group *g)
{
	struct dp_poller *p;

	for (uint32_t i = 0; i < g->ncalls; i++)
		free(g->call_pollers[i]);
	while ((p = g->timed) != NULL) {
		g->timed = p->next;
		free(p);
	}
	while ((p = g->pending) != NULL) {
		g->pending = p->next;
		free(p);
	}
	free(g->calls);
	free(g->call_pollers);
	g->calls = NULL;
	g->calls_end = NULL;
	g->call_pollers = NULL;
	g->ncalls = g->cap = 0;
}

int dpi_poll_run_timers(struct dp_poll_group *g, uint64_t now)
{
	struct dp_poller *batch = g->timed, *last = NULL, *p;
	int busy = 0, err = 0;

	/* Take the due ones off the sorted list, run them in order, then put them back. */
	for (p = g->timed; p != NULL && p->due <= now; p = p->next)
		last = p;
	if (last == NULL) {
		g->timer_due = g->timed != NULL ? g->timed->due : UINT64_MAX;
		return 0;
	}
	g->timed = last->next;
	last->next = NULL;
	for (p = batch; p != NULL && err == 0; p = p->next) {
		if (p->state != POLLER_ACTIVE)
			continue;
		uint64_t t0 = dpi_ticks();
		int rc = p->fn(p->arg);
		uint64_t d = dpi_ticks() - t0;
		p->runs++;
		if (rc > 0) {
			p->busy_runs++;
			p->busy_ticks += d;
			busy = 1;
		} else {
			p->idle_ticks += d;
			if (rc < 0)
				err = rc;
		}
	}
	while ((p = batch) != NULL) {
		batch = p->next;
		p->due += p->period;
		if (p->due <= now)
			p->due = now + p->period;
		timed_insert(g, p);
	}
	g->timer_due = g->timed->due;
	return err != 0 ? err : busy;
}

int dp_poller_get_stats(struct dp_poller *p, struct dp_poll_stats *st)
{
	struct dp_poll_stats s = {0};
	int rc;

	if (p == NULL || st == NULL || st->size < offsetof(struct dp_poll_stats, msgs))
		return -EINVAL;
	if ((rc = dpi_poll_owner_check(p->group)) != 0)
		return rc;
	s.size = st->size;
	s.runs = p->runs;
	if (p->period == 0 && p->state == POLLER_ACTIVE)
		s.runs = p->group->iters - p->iter_base;
	s.busy_runs = p->busy_runs;
	s.busy_ticks = p->busy_ticks;
	s.idle_ticks = p->idle_ticks;
	memcpy(st, &s, DPI_MIN(st->size, sizeof(s)));
	return 0;
}
