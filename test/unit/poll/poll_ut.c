/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/poll unit tests: poller order and removal while running, timed pollers on a fake tick
 * source, idle accounting, the message ring (full, empty, wrap, two producers), stop with
 * messages in flight, launch on real cores, bad inputs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmaplane/env.h>
#include <dmaplane/poll.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/fault.h>

#include "ut.h"

/* ---- a fake tick source: 1 tick = 1 us, advanced by the test ------------------------------ */

static uint64_t g_now;

static uint64_t fake_ticks(void)
{
	return __atomic_load_n(&g_now, __ATOMIC_RELAXED);
}

static void fake_clock(uint64_t start)
{
	__atomic_store_n(&g_now, start, __ATOMIC_RELAXED);
	dpi_ticks_set_source(fake_ticks, 1000000);
}

static void advance(uint64_t d)
{
	__atomic_fetch_add(&g_now, d, __ATOMIC_RELAXED);
}

/* ---- a call log ------------------------------------------------------------------------------ */

static int g_log[256];
static int g_nlog;

static void log_reset(void)
{
	g_nlog = 0;
}

struct tp {
	int id;
	int ret;                  /* what the poller returns */
	int calls;
	struct dp_poller *self;   /* its own handle */
	struct dp_poller **victim; /* a handle it removes on its first call */
	int remove_self_at;       /* remove itself on this call (0: never) */
	int rc_remove;            /* what the removal returned */
	struct dp_poll_group *g;  /* registers "add" on its first call */
	struct tp *add;
	uint64_t tick;            /* advance the fake clock by this much per call */
};

static int tp_fn(void *arg)
{
	struct tp *t = arg;

	t->calls++;
	if (g_nlog < (int)DPI_ARRAY_SIZE(g_log))
		g_log[g_nlog++] = t->id;
	if (t->tick)
		advance(t->tick);
	if (t->victim != NULL && t->calls == 1)
		t->rc_remove = dp_poller_unregister(t->victim);
	if (t->remove_self_at != 0 && t->calls == t->remove_self_at)
		t->rc_remove = dp_poller_unregister(&t->self);
	if (t->add != NULL && t->calls == 1)
		dp_poller_register(t->g, tp_fn, t->add, &t->add->self);
	return t->ret;
}

static struct dp_poll_group *new_group(uint32_t ring, uint32_t batch, uint32_t flags)
{
	struct dp_poll_group_opts o;
	struct dp_poll_group *g = NULL;

	dp_poll_group_opts_init(&o, sizeof(o));
	if (ring)
		o.msg_ring = ring;
	if (batch)
		o.msg_batch = batch;
	o.flags = flags;
	CU_ASSERT_FATAL(dp_poll_group_create(&o, &g) == 0);
	return g;
}

static bool log_is(const int *want, int n)
{
	if (g_nlog != n)
		return false;
	return memcmp(g_log, want, (size_t)n * sizeof(int)) == 0;
}

/* ---- pollers ---------------------------------------------------------------------------------- */

static void test_order(void)
{
	struct dp_poll_group *g = new_group(0, 0, 0);
	struct tp t[4] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}};

	for (int i = 0; i < 3; i++)
		CU_ASSERT(dp_poller_register(g, tp_fn, &t[i], &t[i].self) == 0);
	log_reset();
	CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(log_is((int[]){0, 1, 2}, 3));

	/* Removal outside the loop keeps the order of the others. */
	CU_ASSERT(dp_poller_unregister(&t[1].self) == 0);
	CU_ASSERT(t[1].self == NULL);
	CU_ASSERT(dp_poller_register(g, tp_fn, &t[3], &t[3].self) == 0);
	log_reset();
	CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(log_is((int[]){0, 2, 3}, 3));

	/* A busy poller makes the iteration busy. */
	t[2].ret = 5;
	CU_ASSERT(dp_poll_group_run_once(g) == 1);
	struct dp_poll_stats s = {.size = sizeof(s)};
	CU_ASSERT(dp_poller_get_stats(t[2].self, &s) == 0);
	CU_ASSERT(s.runs == 3 && s.busy_runs == 1);
	CU_ASSERT(dp_poller_get_stats(t[3].self, &s) == 0);
	CU_ASSERT(s.runs == 2 && s.busy_runs == 0);
	CU_ASSERT(dp_poll_group_get_stats(g, &s) == 0);
	CU_ASSERT(s.runs == 3 && s.busy_runs == 1 && s.msgs == 0);
	CU_ASSERT(dp_poll_group_destroy(g) == 0);
}

static void test_remove_while_running(void)
{
	struct dp_poll_group *g = new_group(0, 0, 0);
	struct tp t[6] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}, {.id = 4}, {.id = 5}};
	struct dp_poller *copy;

	ut_log_capture();

	for (int i = 0; i < 5; i++)
		CU_ASSERT(dp_poller_register(g, tp_fn, &t[i], &t[i].self) == 0);
	t[0].remove_self_at = 2;      /* removes itself on its second call */
	t[1].victim = &t[3].self;     /* removes a later poller: it is not called any more */
	t[2].victim = &t[1].self;     /* removes an earlier one that already ran */
	t[4].g = g;                   /* registers 5: it runs from the next iteration */
	t[4].add = &t[5];
	log_reset();
	CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(log_is((int[]){0, 1, 2, 4}, 4));
	CU_ASSERT(t[1].rc_remove == 0 && t[3].self == NULL);
	CU_ASSERT(t[2].rc_remove == 0 && t[1].self == NULL);
	log_reset();
	CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(log_is((int[]){0, 2, 4, 5}, 4));
	CU_ASSERT(t[0].rc_remove == 0 && t[0].self == NULL);
	log_reset();
	CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(log_is((int[]){2, 4, 5}, 3));

	/* Removing twice: the cleared handle is -EINVAL; a stale copy within the iteration that
	 * removed it is -EBUSY. */
	CU_ASSERT(dp_poller_unregister(&t[0].self) == -EINVAL);
	copy = t[5].self;
	t[2].victim = &t[5].self; /* 2 runs first and removes 5 */
	t[2].calls = 0;
	t[4].victim = &copy;      /* then 4 tries again through a stale copy */
	t[4].calls = 0;
	t[4].add = NULL;
	log_reset();
	CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(t[2].rc_remove == 0);
	CU_ASSERT(t[4].rc_remove == -EBUSY);
	CU_ASSERT(log_is((int[]){2, 4}, 2));
	CU_ASSERT(dp_poller_unregister(NULL) == -EINVAL);
	CU_ASSERT(dp_poll_group_destroy(g) == 0);
	ut_log_release();
}

/* A poller that calls the loop again and destroys the group: both refused. */
struct reenter {
	struct dp_poll_group *g;
	int rc_once, rc_run, rc_destroy;
};

static int reenter_fn(void *arg)
{
	struct reenter *r = arg;

	r->rc_once = dp_poll_group_run_once(r->g);
	r->rc_run = dp_poll_group_run(r->g);
	r->rc_destroy = dp_poll_group_destroy(r->g);
	return 0;
}

struct other_thread {
	struct dp_poll_group *g;
	struct dp_poller *victim;
	int rc_reg, rc_unreg;
};

static void *other_thread_fn(void *arg)
{
	struct other_thread *o = arg;

	o->rc_reg = dp_poller_register(o->g, reenter_fn, NULL, NULL);
	o->rc_unreg = dp_poller_unregister(&o->victim);
	return NULL;
}

static int other_thread_poller(void *arg)
{
	struct other_thread *o = arg;
	pthread_t t;

	pthread_create(&t, NULL, other_thread_fn, o);
	pthread_join(t, NULL);
	return 0;
}

static void test_thread_rules(void)
{
	struct dp_poll_group *g = new_group(0, 0, 0);
	struct reenter r = {.g = g};
	struct other_thread o = {.g = g};
	struct dp_poller *p;

	ut_log_capture();

	CU_ASSERT(dp_poller_register(g, reenter_fn, &r, &p) == 0);
	CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(r.rc_once == -EBUSY && r.rc_run == -EBUSY && r.rc_destroy == -EBUSY);
	CU_ASSERT(dp_poller_unregister(&p) == 0);
	/* Another thread may not change the pollers while the group runs. */
	CU_ASSERT(dp_poller_register(g, other_thread_poller, &o, &o.victim) == 0);
	CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(o.rc_reg == -EPERM && o.rc_unreg == -EPERM && o.victim != NULL);
	CU_ASSERT(ut_log_has("pollers can change only on the thread that runs it"));
	CU_ASSERT(dp_poll_group_destroy(g) == 0);
	ut_log_release();
}

static int fail_fn(void *arg)
{
	int *calls = arg;

	return ++*calls == 3 ? -EIO : 0;
}

static void test_poller_error(void)
{
	struct dp_poll_group *g = new_group(0, 0, 0);
	struct tp after = {.id = 9};
	int calls = 0;

	CU_ASSERT(dp_poller_register(g, fail_fn, &calls, NULL) == 0);
	CU_ASSERT(dp_poller_register(g, tp_fn, &after, NULL) == 0);
	CU_ASSERT(dp_poll_group_run(g) == -EIO);
	CU_ASSERT(calls == 3 && after.calls == 2);
	CU_ASSERT(dp_poll_group_run_once(g) == 0); /* the group can run again */
	CU_ASSERT(dp_poll_group_destroy(g) == 0);
}

/* ---- timed pollers ------------------------------------------------------------------------- */

static void test_timed(void)
{
	struct dp_poll_group *g;
	struct tp a = {.id = 100}, b = {.id = 250}, c = {.id = 7};
	struct dp_poll_stats s = {.size = sizeof(s)};

	ut_log_capture();

	fake_clock(1000);
	g = new_group(0, 0, 0);
	CU_ASSERT(dp_poller_register_timed(g, tp_fn, &a, 100, &a.self) == 0);
	CU_ASSERT(dp_poller_register_timed(g, tp_fn, &b, 250, &b.self) == 0);
	log_reset();
	for (int i = 0; i < 1000; i++) {
		advance(10);
		CU_ASSERT(dp_poll_group_run_once(g) == 0);
	}
	/* 10000 us: 100 runs of a, 40 of b; at the common ticks (500, 1000, ...) a runs first as
	 * it was due first. */
	CU_ASSERT(a.calls == 100);
	CU_ASSERT(b.calls == 40);
	CU_ASSERT(g_nlog >= 5 && g_log[0] == 100 && g_log[1] == 100 && g_log[2] == 250);
	CU_ASSERT(dp_poller_get_stats(b.self, &s) == 0);
	CU_ASSERT(s.runs == 40 && s.busy_runs == 0);

	/* Late by many periods: one run, not a burst; the next one period later. */
	advance(5000);
	CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(a.calls == 101 && b.calls == 41);
	advance(99);
	dp_poll_group_run_once(g);
	CU_ASSERT(a.calls == 101);
	advance(1);
	dp_poll_group_run_once(g);
	CU_ASSERT(a.calls == 102);

	/* A timed poller removing itself, busy ticks of a timed poller. */
	CU_ASSERT(dp_poller_register_timed(g, tp_fn, &c, 1, &c.self) == 0);
	c.remove_self_at = 2;
	c.ret = 1;
	c.tick = 3;
	advance(1);
	CU_ASSERT(dp_poll_group_run_once(g) == 1);
	CU_ASSERT(dp_poller_get_stats(c.self, &s) == 0);
	CU_ASSERT(s.runs == 1 && s.busy_runs == 1 && s.busy_ticks == 3 && s.idle_ticks == 0);
	advance(1);
	CU_ASSERT(dp_poll_group_run_once(g) == 1);
	CU_ASSERT(c.calls == 2 && c.self == NULL && c.rc_remove == 0);
	advance(10);
	dp_poll_group_run_once(g);
	CU_ASSERT(c.calls == 2);

	CU_ASSERT(dp_poller_register_timed(g, tp_fn, &c, 0, NULL) == -EINVAL);
	CU_ASSERT(dp_poller_register_timed(g, NULL, &c, 10, NULL) == -EINVAL);
	CU_ASSERT(dp_poller_register_timed(NULL, tp_fn, &c, 10, NULL) == -EINVAL);
	CU_ASSERT(dp_poller_register_timed(g, tp_fn, &c, UINT64_MAX, NULL) == -EINVAL);
	CU_ASSERT(dp_poll_group_destroy(g) == 0);
	ut_log_release();
	dpi_ticks_set_source(NULL, 0);
}

/* dp_poll_group_run() on the fake clock (the loop's test tick path): a timed poller stops it. */
struct stopper {
	struct dp_poll_group *g;
	int calls, stop_at;
};

static int stopper_fn(void *arg)
{
	struct stopper *s = arg;

	if (++s->calls == s->stop_at)
		dp_poll_group_stop(s->g);
	return 0;
}

static void test_run_timed_stop(void)
{
	for (uint32_t flags = 0; flags <= DP_POLL_GROUP_F_POLLER_TICKS; flags++) {
		struct dp_poll_group *g;
		struct tp ticker = {.id = 1, .tick = 10};
		struct stopper st = {.stop_at = 5};
		struct dp_poll_stats s = {.size = sizeof(s)};

		fake_clock(0);
		g = new_group(0, 0, flags);
		st.g = g;
		CU_ASSERT(dp_poller_register(g, tp_fn, &ticker, &ticker.self) == 0);
		CU_ASSERT(dp_poller_register_timed(g, stopper_fn, &st, 100, NULL) == 0);
		CU_ASSERT(dp_poll_group_run(g) == 0);
		/* Iteration k starts at tick 10 (k - 1): the stopper runs at 100, ..., 500, in
		 * iterations 11, ..., 51, and the loop ends after iteration 51. */
		CU_ASSERT(st.calls == 5);
		CU_ASSERT(dp_poll_group_get_stats(g, &s) == 0);
		CU_ASSERT(s.runs == 51 && s.idle_ticks == 510 && s.busy_ticks == 0);
		CU_ASSERT(dp_poller_get_stats(ticker.self, &s) == 0);
		CU_ASSERT(s.runs == 51);
		CU_ASSERT(s.idle_ticks == (flags ? 510u : 0u));
		CU_ASSERT(dp_poll_group_destroy(g) == 0);
		dpi_ticks_set_source(NULL, 0);
	}
}

/* Group and per-poller busy/idle ticks, on the fake clock. */
static void test_idle_accounting(void)
{
	struct dp_poll_group *g;
	struct tp busy = {.id = 1, .ret = 1, .tick = 7}, idle = {.id = 2, .tick = 2};
	struct dp_poll_stats s = {.size = sizeof(s)};

	fake_clock(0);
	g = new_group(0, 0, DP_POLL_GROUP_F_POLLER_TICKS);
	CU_ASSERT(dp_poller_register(g, tp_fn, &busy, &busy.self) == 0);
	CU_ASSERT(dp_poller_register(g, tp_fn, &idle, &idle.self) == 0);
	for (int i = 0; i < 10; i++)
		CU_ASSERT(dp_poll_group_run_once(g) == 1);
	busy.ret = 0;
	for (int i = 0; i < 5; i++)
		CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(dp_poll_group_get_stats(g, &s) == 0);
	CU_ASSERT(s.runs == 15 && s.busy_runs == 10);
	CU_ASSERT(s.busy_ticks == 90 && s.idle_ticks == 45);
	CU_ASSERT(dp_poller_get_stats(busy.self, &s) == 0);
	CU_ASSERT(s.runs == 15 && s.busy_runs == 10 && s.busy_ticks == 70 && s.idle_ticks == 35);
	CU_ASSERT(dp_poller_get_stats(idle.self, &s) == 0);
	CU_ASSERT(s.runs == 15 && s.busy_runs == 0 && s.busy_ticks == 0 && s.idle_ticks == 30);
	/* A caller that knows an older, shorter struct gets only that. */
	struct dp_poll_stats small = {.size = offsetof(struct dp_poll_stats, msgs), .msgs = 77};
	CU_ASSERT(dp_poll_group_get_stats(g, &small) == 0);
	CU_ASSERT(small.runs == 15 && small.msgs == 77);
	small.size = 8;
	CU_ASSERT(dp_poll_group_get_stats(g, &small) == -EINVAL);
	CU_ASSERT(dp_poll_group_destroy(g) == 0);
	dpi_ticks_set_source(NULL, 0);
}

/* ---- messages ------------------------------------------------------------------------------ */

static uint64_t g_msgs[64];
static int g_nmsgs;

static void msg_rec(void *arg)
{
	if (g_nmsgs < (int)DPI_ARRAY_SIZE(g_msgs))
		g_msgs[g_nmsgs] = (uint64_t)(uintptr_t)arg;
	g_nmsgs++;
}

static void test_ring_full_empty_wrap(void)
{
	struct dp_poll_group *g = new_group(4, 2, 0);
	struct dp_poll_stats s = {.size = sizeof(s)};
	uint64_t next_send = 0, next_recv = 0;

	CU_ASSERT(dp_poll_group_run_once(g) == 0); /* empty */
	for (int i = 0; i < 4; i++)
		CU_ASSERT(dp_poll_send(g, msg_rec, (void *)(uintptr_t)next_send++) == 0);
	CU_ASSERT(dp_poll_send(g, msg_rec, (void *)99) == -EAGAIN);
	g_nmsgs = 0;
	CU_ASSERT(dp_poll_group_run_once(g) == 1); /* a batch of 2 */
	CU_ASSERT(g_nmsgs == 2 && g_msgs[0] == 0 && g_msgs[1] == 1);
	CU_ASSERT(dp_poll_send(g, msg_rec, (void *)(uintptr_t)next_send++) == 0);
	CU_ASSERT(dp_poll_send(g, msg_rec, (void *)(uintptr_t)next_send++) == 0);
	CU_ASSERT(dp_poll_send(g, msg_rec, (void *)99) == -EAGAIN);
	CU_ASSERT(dp_poll_group_run_once(g) == 1);
	CU_ASSERT(dp_poll_group_run_once(g) == 1);
	CU_ASSERT(dp_poll_group_run_once(g) == 0);
	CU_ASSERT(g_nmsgs == 6);
	for (int i = 0; i < 6; i++)
		CU_ASSERT(g_msgs[i] == (uint64_t)i);
	next_recv = 6;

	/* Wrap the 64-bit-sequenced ring many times with uneven fills: FIFO throughout. */
	for (int round = 0; round < 1000; round++) {
		int k = 1 + round % 4, ok = 1;
		g_nmsgs = 0;
		for (int i = 0; i < k; i++)
			ok &= dp_poll_send(g, msg_rec, (void *)(uintptr_t)next_send++) == 0;
		CU_ASSERT(ok);
		while (dp_poll_group_run_once(g) > 0)
			;
		CU_ASSERT(g_nmsgs == k);
		for (int i = 0; i < k; i++)
			ok &= g_msgs[i] == next_recv++;
		CU_ASSERT(ok);
	}
	CU_ASSERT(dp_poll_group_get_stats(g, &s) == 0);
	CU_ASSERT(s.msgs == next_send);
	CU_ASSERT(dp_poll_send(g, NULL, NULL) == -EINVAL);
	CU_ASSERT(dp_poll_send(NULL, msg_rec, NULL) == -EINVAL);
	CU_ASSERT(dp_poll_group_destroy(g) == 0);
}

/* Two producers against one consumer; each producer's messages arrive in its order. */
#define MPSC_N 200000

struct mpsc_state {
	struct dp_poll_group *g;
	uint64_t next[2];
	uint64_t bad, received;
	uint64_t full[2];
};

static struct mpsc_state g_mp;

static void mpsc_msg(void *arg)
{
	uint64_t v = (uint64_t)(uintptr_t)arg;
	int p = (int)(v >> 32);

	if ((v & 0xffffffffu) != g_mp.next[p])
		g_mp.bad++;
	g_mp.next[p] = (v & 0xffffffffu) + 1;
	g_mp.received++;
}

static void *mpsc_producer(void *arg)
{
	uint64_t p = (uint64_t)(uintptr_t)arg;

	for (uint64_t i = 0; i < MPSC_N; i++) {
		while (dp_poll_send(g_mp.g, mpsc_msg, (void *)(uintptr_t)(p << 32 | i)) == -EAGAIN) {
			g_mp.full[p]++;
			sched_yield();
		}
	}
	return NULL;
}

static void test_mpsc_two_producers(void)
{
	pthread_t t[2];

	memset(&g_mp, 0, sizeof(g_mp));
	g_mp.g = new_group(256, 32, 0);
	for (uintptr_t i = 0; i < 2; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, mpsc_producer, (void *)i) == 0);
	while (g_mp.received < 2 * MPSC_N)
		dp_poll_group_run_once(g_mp.g);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT(g_mp.bad == 0);
	CU_ASSERT(g_mp.next[0] == MPSC_N && g_mp.next[1] == MPSC_N);
	CU_ASSERT(dp_poll_group_run_once(g_mp.g) == 0);
	printf("\n  mpsc: %d messages from 2 producers, ring full %llu+%llu times ", 2 * MPSC_N,
	       (unsigned long long)g_mp.full[0], (unsigned long long)g_mp.full[1]);
	CU_ASSERT(dp_poll_group_destroy(g_mp.g) == 0);
}

/* Stop while messages are in flight: each one runs exactly once, in the loop or in destroy. */
struct inflight {
	struct dp_poll_group *g;
	uint64_t ran, sent, resent;
};

static void inflight_msg(void *arg)
{
	struct inflight *f = arg;

	f->ran++;
}

/* A message that sends another one to its own group. */
static void inflight_chain(void *arg)
{
	struct inflight *f = arg;

	f->ran++;
	if (dp_poll_send(f->g, inflight_msg, f) == 0)
		__atomic_fetch_add(&f->resent, 1, __ATOMIC_RELAXED);
}

static int g_run_done;

static void *run_thread(void *arg)
{
	int rc = dp_poll_group_run(arg);

	__atomic_store_n(&g_run_done, 1, __ATOMIC_RELEASE);
	return (void *)(intptr_t)rc;
}

static void test_stop_in_flight(void)
{
	struct inflight f = {0};
	pthread_t t;
	void *ret;

	f.g = new_group(1024, 8, 0);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, run_thread, f.g) == 0);
	g_run_done = 0;
	for (int i = 0; i < 20000; i++) {
		dp_msg_fn fn = i % 3 == 0 ? inflight_chain : inflight_msg;
		int rc;
		/* After the loop ended, a full ring stays full: -EAGAIN, nothing queued. */
		while ((rc = dp_poll_send(f.g, fn, &f)) == -EAGAIN &&
		       !__atomic_load_n(&g_run_done, __ATOMIC_ACQUIRE))
			sched_yield();
		if (rc != 0)
			break;
		f.sent++;
		if (i == 19000)
			dp_poll_group_stop(f.g); /* the loop ends with messages still queued */
	}
	pthread_join(t, &ret);
	CU_ASSERT((intptr_t)ret == 0);
	/* Make sure something is in flight: the ring is full, or it takes one more. */
	if (dp_poll_send(f.g, inflight_msg, &f) == 0)
		f.sent++;
	uint64_t left = f.sent + f.resent - f.ran;
	CU_ASSERT(f.ran < f.sent + f.resent);
	CU_ASSERT(dp_poll_group_destroy(f.g) == 0); /* runs the rest here */
	CU_ASSERT(f.ran == f.sent + __atomic_load_n(&f.resent, __ATOMIC_RELAXED));
	printf("\n  %llu sent, %llu resent by messages, %llu queued at stop, all ran ",
	       (unsigned long long)f.sent, (unsigned long long)f.resent, (unsigned long long)left);
}

/* ---- launch -------------------------------------------------------------------------------- */

struct core_state {
	uint64_t polls;
	int poll_core;   /* where the poller ran */
	int msg_core;    /* where the message ran */
	int lcore;       /* the poller thread's env lcore id (-1: none) */
	int fail_after;  /* the poller returns -EIO after this many calls (0: never) */
	int init_rc;
};

static struct core_state g_cores[2];

static int core_poller(void *arg)
{
	struct core_state *c = arg;
	uint64_t n = __atomic_add_fetch(&c->polls, 1, __ATOMIC_RELAXED);

	if (n == 1) {
		c->poll_core = dp_thread_core();
		c->lcore = dpi_env_lcore_id();
	}
	if (c->fail_after != 0 && n >= (uint64_t)c->fail_after)
		return -EIO;
	return 0;
}

static void core_msg(void *arg)
{
	struct core_state *c = arg;

	__atomic_store_n(&c->msg_core, dp_thread_core(), __ATOMIC_RELEASE);
}

static int core_init(struct dp_poll_group *g, unsigned index, int core, void *arg)
{
	struct core_state *c = &((struct core_state *)arg)[index];

	if (c->init_rc != 0)
		return c->init_rc;
	return dp_poller_register(g, core_poller, c, NULL);
}

static void launch_on(const char *list, int ncores)
{
	struct dp_poll_launch *l = NULL;

	memset(g_cores, 0, sizeof(g_cores));
	for (int i = 0; i < 2; i++)
		g_cores[i].msg_core = -1;
	CU_ASSERT_FATAL(dp_poll_launch(list, NULL, core_init, g_cores, &l) == 0);
	CU_ASSERT(dp_poll_launch_count(l) == (unsigned)ncores);
	CU_ASSERT(dp_poll_launch_group(l, (unsigned)ncores) == NULL);
	CU_ASSERT(dp_poll_launch_core(l, (unsigned)ncores) == -EINVAL);
	for (int i = 0; i < ncores; i++) {
		CU_ASSERT(dp_poll_launch_core(l, (unsigned)i) == i);
		CU_ASSERT(dp_poll_send(dp_poll_launch_group(l, (unsigned)i), core_msg, &g_cores[i]) ==
			  0);
	}
	for (int i = 0; i < ncores; i++)
		while (__atomic_load_n(&g_cores[i].msg_core, __ATOMIC_ACQUIRE) < 0 ||
		       __atomic_load_n(&g_cores[i].polls, __ATOMIC_RELAXED) < 100)
			sched_yield();
	/* Statistics are readable from another thread while the groups run. */
	for (int i = 0; i < ncores; i++) {
		struct dp_poll_stats s = {.size = sizeof(s)};
		do {
			/* The iteration that ran the message may not have been booked yet. */
			CU_ASSERT(dp_poll_group_get_stats(dp_poll_launch_group(l, (unsigned)i),
							  &s) == 0);
		} while ((s.msgs != 1 || s.busy_runs == 0) && sched_yield() == 0);
		CU_ASSERT(s.runs >= 99 && s.msgs == 1 && s.busy_runs >= 1);
		CU_ASSERT(s.busy_ticks + s.idle_ticks > 0);
	}
	dp_poll_launch_stop(l);
	CU_ASSERT(dp_poll_launch_wait(l) == 0);
	for (int i = 0; i < ncores; i++) {
		CU_ASSERT(g_cores[i].msg_core == i);
		CU_ASSERT(g_cores[i].poll_core == i);
		CU_ASSERT(g_cores[i].lcore == -1); /* no env: plain pinned threads */
	}
}

static void test_launch_0(void)
{
	launch_on("0", 1);
}

static void test_launch_0_1(void)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("\n  only one core online: launch on 0-1 not run ");
		return;
	}
	launch_on("0-1", 2);
}

#if DP_CONFIG_DPDK
/* Wait until the groups of @l have polled, then stop them and wait. */
static int run_briefly(struct dp_poll_launch *l, int ncores)
{
	for (int i = 0; i < ncores; i++)
		while (__atomic_load_n(&g_cores[i].polls, __ATOMIC_RELAXED) < 10)
			sched_yield();
	dp_poll_launch_stop(l);
	return dp_poll_launch_wait(l);
}

/* In the DPDK env (EAL on cores 0-1, main lcore 0): the group on core 1 runs on EAL's worker
 * lcore 1; the group on core 0, where the main lcore is, runs on a thread of ours registered
 * with EAL (an lcore id of its own). A second launch on a busy worker lcore is refused. */
static void child_launch_eal(void)
{
	struct dp_env_opts o;
	struct dp_poll_launch *l = NULL, *busy = NULL;

	dp_env_opts_init(&o, sizeof(o));
	o.impl = DP_ENV_DPDK;
	o.flags = DP_ENV_F_NO_HUGE;
	o.core_list = "0-1";
	CHILD_CHECK(dp_env_init(&o) == 0);
	CHILD_CHECK(dpi_env_lcore_id() == 0); /* this thread is EAL's main lcore */
	memset(g_cores, 0, sizeof(g_cores));
	CHILD_CHECK(dp_poll_launch("0-1", NULL, core_init, g_cores, &l) == 0);
	CHILD_CHECK(run_briefly(l, 2) == 0);
	CHILD_CHECK(g_cores[0].poll_core == 0 && g_cores[1].poll_core == 1);
	CHILD_CHECK(g_cores[1].lcore == 1);
	CHILD_CHECK(g_cores[0].lcore > 1);
	printf("\n  lcore ids: core 0 -> %d (registered thread), core 1 -> %d (EAL worker) ",
	       g_cores[0].lcore, g_cores[1].lcore);

	memset(g_cores, 0, sizeof(g_cores));
	CHILD_CHECK(dp_poll_launch("1", NULL, core_init, g_cores, &l) == 0);
	ut_log_capture();
	CHILD_CHECK(dp_poll_launch("1", NULL, NULL, NULL, &busy) == -EBUSY);
	CHILD_CHECK(ut_log_has("running something else"));
	ut_log_release();
	CHILD_CHECK(run_briefly(l, 1) == 0);
	/* Free again once the first launch ended. */
	memset(g_cores, 0, sizeof(g_cores));
	CHILD_CHECK(dp_poll_launch("1", NULL, core_init, g_cores, &l) == 0);
	CHILD_CHECK(run_briefly(l, 1) == 0);
	CHILD_CHECK(g_cores[0].lcore == 1);
	dp_env_fini();
}

static void test_launch_eal(void)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("\n  only one core online: the EAL worker-lcore launch is not run ");
		return;
	}
	CU_ASSERT_EQUAL(ut_run_in_child(child_launch_eal), 0);
}
#endif

static void test_launch_errors(void)
{
	struct dp_poll_launch *l = NULL;
	const char *bad[] = {NULL, "", "a", "1-0", "0,0", "0-1,1", "0-", ",0", "0,", "0 ", "-1",
			     "99999", "0-99999"};

	ut_log_capture();
	for (size_t i = 0; i < DPI_ARRAY_SIZE(bad); i++)
		CU_ASSERT(dp_poll_launch(bad[i], NULL, NULL, NULL, &l) == -EINVAL);
	CU_ASSERT(dp_poll_launch("0", NULL, NULL, NULL, NULL) == -EINVAL);
	CU_ASSERT(ut_log_has("bad core list"));

	/* A poller error on one core stops all of them and is what wait returns. */
	memset(g_cores, 0, sizeof(g_cores));
	g_cores[0].fail_after = 1000;
	CU_ASSERT_FATAL(dp_poll_launch("0", NULL, core_init, g_cores, &l) == 0);
	CU_ASSERT(dp_poll_launch_wait(l) == -EIO);

	/* An init error. */
	memset(g_cores, 0, sizeof(g_cores));
	g_cores[0].init_rc = -ENOTSUP;
	CU_ASSERT_FATAL(dp_poll_launch("0", NULL, core_init, g_cores, &l) == 0);
	CU_ASSERT(dp_poll_launch_wait(l) == -ENOTSUP);

	/* A core this process may not use: the pin fails on its thread. */
	memset(g_cores, 0, sizeof(g_cores));
	CU_ASSERT_FATAL(dp_poll_launch("1000", NULL, core_init, g_cores, &l) == 0);
	CU_ASSERT(dp_poll_launch_wait(l) == -EINVAL);
	CU_ASSERT(dp_poll_launch_wait(NULL) == -EINVAL);
	ut_log_release();
}

/* ---- bad inputs ---------------------------------------------------------------------------- */

static void test_bad_inputs(void)
{
	struct dp_poll_group_opts o;
	struct dp_poll_group *g = NULL;
	struct dp_poller *p = NULL;

	ut_log_capture();
	CU_ASSERT(dp_poll_group_create(NULL, NULL) == -EINVAL);
	dp_poll_group_opts_init(&o, sizeof(o));
	o.msg_ring = 1000;
	CU_ASSERT(dp_poll_group_create(&o, &g) == -EINVAL);
	o.msg_ring = 1;
	CU_ASSERT(dp_poll_group_create(&o, &g) == -EINVAL);
	dp_poll_group_opts_init(&o, sizeof(o));
	o.msg_batch = 0;
	CU_ASSERT(dp_poll_group_create(&o, &g) == -EINVAL);
	dp_poll_group_opts_init(&o, sizeof(o));
	o.flags = 1u << 31;
	CU_ASSERT(dp_poll_group_create(&o, &g) == -EINVAL);
	dp_poll_group_opts_init(&o, sizeof(o));
	o.reserved0 = 1;
	CU_ASSERT(dp_poll_group_create(&o, &g) == -EINVAL);
	dp_poll_group_opts_init(&o, sizeof(o));
	o.size = 4;
	CU_ASSERT(dp_poll_group_create(&o, &g) == -EINVAL);
	CU_ASSERT(g == NULL);
	/* Defaults, and an older caller's shorter opts. */
	CU_ASSERT_FATAL(dp_poll_group_create(NULL, &g) == 0);
	CU_ASSERT(dp_poll_group_destroy(g) == 0);
	dp_poll_group_opts_init(&o, offsetof(struct dp_poll_group_opts, msg_batch));
	CU_ASSERT(o.size == offsetof(struct dp_poll_group_opts, msg_batch));
	CU_ASSERT_FATAL(dp_poll_group_create(&o, &g) == 0);

	CU_ASSERT(dp_poller_register(g, NULL, NULL, &p) == -EINVAL);
	CU_ASSERT(dp_poller_register(NULL, tp_fn, NULL, &p) == -EINVAL);
	CU_ASSERT(dp_poller_register_timed(g, tp_fn, NULL, 0, &p) == -EINVAL);
	CU_ASSERT(p == NULL);
	CU_ASSERT(dp_poller_register(g, tp_fn, &(struct tp){0}, &p) == 0);
	CU_ASSERT(dp_poller_unregister(&p) == 0);
	CU_ASSERT(dp_poller_unregister(&p) == -EINVAL);
	CU_ASSERT(dp_poller_get_stats(NULL, &(struct dp_poll_stats){.size = 48}) == -EINVAL);
	CU_ASSERT(dp_poll_group_get_stats(NULL, &(struct dp_poll_stats){.size = 48}) == -EINVAL);
	CU_ASSERT(dp_poll_group_get_stats(g, NULL) == -EINVAL);
	CU_ASSERT(dp_poll_group_run(NULL) == -EINVAL);
	CU_ASSERT(dp_poll_group_run_once(NULL) == -EINVAL);
	dp_poll_group_stop(NULL);
	CU_ASSERT(dp_poll_group_destroy(NULL) == 0);
	CU_ASSERT(dp_poll_group_destroy(g) == 0);
	ut_log_release();
}

/* A stop asked before run: the run returns after one iteration. */
static void test_stop_before_run(void)
{
	struct dp_poll_group *g = new_group(0, 0, 0);
	struct tp t = {.id = 1};
	struct dp_poll_stats s = {.size = sizeof(s)};

	CU_ASSERT(dp_poller_register(g, tp_fn, &t, NULL) == 0);
	dp_poll_group_stop(g);
	CU_ASSERT(dp_poll_group_run(g) == 0);
	CU_ASSERT(t.calls == 1);
	CU_ASSERT(dp_poll_group_get_stats(g, &s) == 0 && s.runs == 1);
	CU_ASSERT(dp_poll_group_destroy(g) == 0);
}

static int idle_fn(void *arg)
{
	(void)arg;
	return 0;
}

/* Every allocation and thread start fails in turn: each failure is reported as documented and
 * leaves nothing behind (the ASan build checks for leaks). */
static void test_fail_nth(void)
{
	int fired = 0;

	ut_log_capture();
	for (int64_t n = 1;; n++) {
		struct dp_poll_group *g = NULL;
		struct dp_poller *p[10] = {0};
		int rc, ok = 1;

		dpi_fault_arm(n, ENOMEM);
		rc = dp_poll_group_create(NULL, &g);
		if (rc == 0) {
			/* 10 pollers: the call array grows once (8 -> 16). */
			for (int i = 0; i < 10 && rc == 0; i++)
				rc = dp_poller_register(g, idle_fn, NULL, &p[i]);
			if (rc == 0)
				rc = dp_poller_register_timed(g, idle_fn, NULL, 100, NULL);
			if (rc == 0)
				ok &= dp_poll_group_run_once(g) == 0;
			CU_ASSERT(dp_poll_group_destroy(g) == 0);
		}
		bool f = dpi_fault_fired();
		dpi_fault_arm(0, 0);
		if (!f) {
			CU_ASSERT(rc == 0);
			break;
		}
		fired++;
		CU_ASSERT(rc == -ENOMEM);
		CU_ASSERT(ok);
	}
	/* group 2; pollers 1-8: 8 + 2 (the array grows); 9: 1 + 2 (grows again); 10: 1; timed 1 */
	CU_ASSERT(fired == 2 + 10 + 3 + 1 + 1);
	/* The launch: its allocation, each group's two allocations, then each thread start. */
	fired = 0;
	for (int64_t n = 1;; n++) {
		struct dp_poll_launch *l = NULL;
		int rc;

		dpi_fault_arm(n, EAGAIN);
		rc = dp_poll_launch("0-1", NULL, NULL, NULL, &l);
		bool f = dpi_fault_fired();
		dpi_fault_arm(0, 0);
		if (rc == 0) {
			dp_poll_launch_stop(l);
			CU_ASSERT(dp_poll_launch_wait(l) == 0);
		}
		if (!f)
			break;
		fired++;
		CU_ASSERT(rc == -ENOMEM || rc == -EAGAIN);
	}
	CU_ASSERT(fired == 1 + 2 * 2 + 2);
	ut_log_release();
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_order),
		UT_TEST(test_remove_while_running),
		UT_TEST(test_thread_rules),
		UT_TEST(test_poller_error),
		UT_TEST(test_timed),
		UT_TEST(test_run_timed_stop),
		UT_TEST(test_idle_accounting),
		UT_TEST(test_ring_full_empty_wrap),
		UT_TEST(test_mpsc_two_producers),
		UT_TEST(test_stop_in_flight),
		UT_TEST(test_stop_before_run),
		UT_TEST(test_launch_0),
		UT_TEST(test_launch_0_1),
#if DP_CONFIG_DPDK
		UT_TEST(test_launch_eal),
#endif
		UT_TEST(test_launch_errors),
		UT_TEST(test_bad_inputs),
		UT_TEST(test_fail_nth),
	};

	return ut_main("poll", tests, DPI_ARRAY_SIZE(tests), NULL, NULL);
}
