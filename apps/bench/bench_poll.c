/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_bench poll: cost of the poll loop and of messages.
 *   empty_iter_4: one iteration of dp_poll_group_run() with 4 pollers that return 0 (idle) and
 *     no messages, against a bare loop over 4 function pointers (the least any loop can do);
 *     also with DP_POLL_GROUP_F_POLLER_TICKS.
 *   msg_send_run: dp_poll_send() of a message and running it (sends in batches of 32, each
 *     batch drained by dp_poll_group_run_once()), against DPDK's rte_ring as an MPSC ring of
 *     the same 16-byte (fn, arg) messages (MP enqueue, SC burst dequeue of 32) when built with
 *     DPDK.
 *   mpsc_2_producers: two producer threads send to one consumer running the loop, timed only
 *     (3 threads on what may be 2 cores: a full ring makes a producer yield), against the same
 *     with rte_ring.
 * Instruction counts (--instr) come from callgrind with collection inside the measured function
 * only. Loop iterations are counted by the group's statistics (the loop is ended by a timed
 * poller, whose rare runs are included); the pollers' own instructions are counted separately
 * and reported as poller_body_instr, and instr_over_bare_loop is what the loop costs beyond the
 * bare function-pointer loop (the calls of 4 pollers alone are about 36 instructions).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmaplane/env.h>
#include <dmaplane/poll.h>

#if DP_CONFIG_DPDK
/* DPDK 22.11's ring headers test GCC_VERSION, which clang does not define. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wundef"
#include <rte_ring.h>
#include <rte_ring_elem.h>
#pragma GCC diagnostic pop
#endif

#include "bench.h"

#define NPOLLERS 4
#define STOP_PERIOD_US 1000
#define STOP_RUNS 50 /* the loop runs for about 50 ms */
#define BASE_ITERS 2000000ull
#define MSG_BATCH 32
#define MSG_OPS 3200000ull
#define INSTR_MSG_OPS 320000ull
#define INSTR_BASE_ITERS 200000ull

struct call {
	dp_poller_fn fn;
	void *arg;
};

struct msg {
	dp_msg_fn fn;
	void *arg;
};

static uint64_t g_stop_count;
static uint64_t g_msgs;

static __attribute__((noinline, used)) int empty_poller(void *arg)
{
	(void)arg;
	return 0;
}

static int stop_poller(void *arg)
{
	if (++g_stop_count >= STOP_RUNS)
		dp_poll_group_stop(arg);
	return 0;
}

static __attribute__((noinline, used)) void count_msg(void *arg)
{
	(void)arg;
	g_msgs++;
}

/* The baseline loop: 4 function pointers, a busy flag, a stop check. */
static __attribute__((noinline, used)) uint64_t base_loop(const struct call *c, uint64_t iters)
{
	uint64_t busy_iters = 0;

	for (uint64_t i = 0; i < iters; i++) {
		int busy = 0;
		for (int j = 0; j < NPOLLERS; j++)
			busy |= c[j].fn(c[j].arg);
		busy_iters += busy != 0;
	}
	return busy_iters;
}

/* Runs the loop until the timed poller stops it; returns the iterations. */
static uint64_t run_empty(uint32_t flags, double *ns)
{
	struct dp_poll_group_opts o;
	struct dp_poll_group *g;
	struct dp_poll_stats s = {.size = sizeof(s)};
	uint64_t t0, t1;

	dp_poll_group_opts_init(&o, sizeof(o));
	o.flags = flags;
	if (dp_poll_group_create(&o, &g) != 0)
		return 0;
	for (int i = 0; i < NPOLLERS; i++)
		dp_poller_register(g, empty_poller, NULL, NULL);
	dp_poller_register_timed(g, stop_poller, g, STOP_PERIOD_US, NULL);
	g_stop_count = 0;
	t0 = dp_time_ns();
	int rc = dp_poll_group_run(g);
	t1 = dp_time_ns();
	dp_poll_group_get_stats(g, &s);
	dp_poll_group_destroy(g);
	if (rc != 0 || s.runs == 0)
		return 0;
	*ns = (double)(t1 - t0) / (double)s.runs;
	return s.runs;
}

static __attribute__((noinline, used)) void msg_loop(struct dp_poll_group *g, uint64_t n)
{
	for (uint64_t i = 0; i < n; i += MSG_BATCH) {
		for (int j = 0; j < MSG_BATCH; j++)
			dp_poll_send(g, count_msg, NULL);
		dp_poll_group_run_once(g);
	}
}

static int run_msgs(uint64_t n, double *ns)
{
	struct dp_poll_group *g;
	uint64_t t0, t1;

	if (dp_poll_group_create(NULL, &g) != 0)
		return -ENOMEM;
	g_msgs = 0;
	t0 = dp_time_ns();
	msg_loop(g, n);
	t1 = dp_time_ns();
	dp_poll_group_destroy(g);
	if (g_msgs != n) {
		fprintf(stderr, "dmaplane_bench poll: %llu of %llu messages ran\n",
			(unsigned long long)g_msgs, (unsigned long long)n);
		return -EIO;
	}
	*ns = (double)(t1 - t0) / (double)n;
	return 0;
}

#if DP_CONFIG_DPDK
static __attribute__((noinline, used)) void base_msg_loop(struct rte_ring *r, uint64_t n)
{
	struct msg m = {count_msg, NULL}, buf[MSG_BATCH];

	for (uint64_t i = 0; i < n; i += MSG_BATCH) {
		for (int j = 0; j < MSG_BATCH; j++)
			rte_ring_mp_enqueue_elem(r, &m, sizeof(m));
		unsigned k = rte_ring_sc_dequeue_burst_elem(r, buf, sizeof(m), MSG_BATCH, NULL);
		for (unsigned x = 0; x < k; x++)
			buf[x].fn(buf[x].arg);
	}
}

static int run_base_msgs(uint64_t n, double *ns)
{
	ssize_t sz = rte_ring_get_memsize_elem(sizeof(struct msg), 4096);
	struct rte_ring *r;
	uint64_t t0, t1;

	if (sz < 0 || (r = aligned_alloc(64, ((size_t)sz + 63) & ~(size_t)63)) == NULL)
		return -ENOMEM;
	if (rte_ring_init(r, "bench", 4096, RING_F_SC_DEQ) != 0) {
		free(r);
		return -EINVAL;
	}
	g_msgs = 0;
	t0 = dp_time_ns();
	base_msg_loop(r, n);
	t1 = dp_time_ns();
	free(r);
	if (g_msgs != n)
		return -EIO;
	*ns = (double)(t1 - t0) / (double)n;
	return 0;
}
#endif

/* ---- two producers, one consumer ------------------------------------------------------------ */

#define MP_PER_PRODUCER 250000ull

struct mp_ctx {
	bool rte;
	struct dp_poll_group *g;
	void *ring;
	pthread_barrier_t start;
};

static uint64_t g_mp_count, g_mp_target;

static void mp_msg_stop(void *arg)
{
	if (++g_mp_count == g_mp_target)
		dp_poll_group_stop(arg);
}

#if DP_CONFIG_DPDK
static void mp_msg(void *arg)
{
	(void)arg;
	g_mp_count++;
}
#endif

static void *mp_producer(void *arg)
{
	struct mp_ctx *c = arg;

	pthread_barrier_wait(&c->start);
	for (uint64_t i = 0; i < MP_PER_PRODUCER; i++) {
#if DP_CONFIG_DPDK
		if (c->rte) {
			struct msg m = {mp_msg, NULL};
			while (rte_ring_mp_enqueue_elem(c->ring, &m, sizeof(m)) != 0)
				sched_yield();
			continue;
		}
#endif
		while (dp_poll_send(c->g, mp_msg_stop, c->g) != 0)
			sched_yield();
	}
	return NULL;
}

/* Returns ns per message, or < 0. */
static double run_mp(bool rte)
{
	struct mp_ctx c = {.rte = rte};
	pthread_t t[2];
	uint64_t t0, t1;
	int rc = 0;

	g_mp_count = 0;
	g_mp_target = 2 * MP_PER_PRODUCER;
	if (!rte && dp_poll_group_create(NULL, &c.g) != 0)
		return -1;
#if DP_CONFIG_DPDK
	if (rte) {
		ssize_t sz = rte_ring_get_memsize_elem(sizeof(struct msg), 4096);
		if (sz < 0 || (c.ring = aligned_alloc(64, ((size_t)sz + 63) & ~(size_t)63)) == NULL)
			return -1;
		if (rte_ring_init(c.ring, "bench_mp", 4096, RING_F_SC_DEQ) != 0) {
			free(c.ring);
			return -1;
		}
	}
#endif
	pthread_barrier_init(&c.start, NULL, 3);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, mp_producer, &c);
	pthread_barrier_wait(&c.start);
	t0 = dp_time_ns();
	if (!rte) {
		rc = dp_poll_group_run(c.g);
	}
#if DP_CONFIG_DPDK
	else {
		struct msg buf[MSG_BATCH];
		while (g_mp_count < g_mp_target) {
			unsigned k = rte_ring_sc_dequeue_burst_elem(c.ring, buf, sizeof(buf[0]),
								    MSG_BATCH, NULL);
			for (unsigned x = 0; x < k; x++)
				buf[x].fn(buf[x].arg);
		}
	}
#endif
	t1 = dp_time_ns();
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&c.start);
	if (!rte)
		dp_poll_group_destroy(c.g);
	free(c.ring);
	if (rc != 0 || g_mp_count != g_mp_target)
		return -1;
	return (double)(t1 - t0) / (double)g_mp_target;
}

static int worker(const char *what, const char *out)
{
	static const struct call calls[NPOLLERS] = {
		{empty_poller, NULL}, {empty_poller, NULL}, {empty_poller, NULL}, {empty_poller, NULL}};
	double ns;
	uint64_t n = 0;

	if (strcmp(what, "empty") == 0)
		n = run_empty(0, &ns);
	else if (strcmp(what, "empty_ticks") == 0)
		n = run_empty(DP_POLL_GROUP_F_POLLER_TICKS, &ns);
	else if (strcmp(what, "base") == 0)
		n = base_loop(calls, INSTR_BASE_ITERS) == 0 ? INSTR_BASE_ITERS : 0;
	else if (strcmp(what, "msg") == 0)
		n = run_msgs(INSTR_MSG_OPS, &ns) == 0 ? INSTR_MSG_OPS : 0;
#if DP_CONFIG_DPDK
	else if (strcmp(what, "base_msg") == 0)
		n = run_base_msgs(INSTR_MSG_OPS, &ns) == 0 ? INSTR_MSG_OPS : 0;
#endif
	else
		return 2;
	return n != 0 && bench_write_ops(out, n) == 0 ? 0 : 1;
}

static void print_empty(const char *argv0, bool do_instr, double base_ns, double base_in)
{
	struct {
		const char *case_name, *worker;
		uint32_t flags;
	} v[] = {{"empty_iter_4", "empty", 0},
		 {"empty_iter_4_poller_ticks", "empty_ticks", DP_POLL_GROUP_F_POLLER_TICKS}};
	char extra[256];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		double ns = 0, in = -1, body = -1;
		uint64_t n = run_empty(v[i].flags, &ns);
		if (n == 0) {
			fprintf(stderr, "dmaplane_bench poll: the loop did not run\n");
			continue;
		}
		if (do_instr) {
			in = bench_instr_per_op(argv0, "poll", v[i].worker, "dp_poll_group_run");
			body = bench_instr_per_op(argv0, "poll", v[i].worker, "empty_poller");
		}
		snprintf(extra, sizeof(extra),
			 "\"pollers\":%d,\"target_instr\":30,\"poller_body_instr\":%.2f,"
			 "\"instr_net_of_poller_bodies\":%.2f,\"instr_over_bare_loop\":%.2f",
			 NPOLLERS, body, in >= 0 && body >= 0 ? in - body : -1.0,
			 in >= 0 && base_in >= 0 ? in - base_in : -1.0);
		bench_print(&(struct bench_result){"poll", v[i].case_name, "dmaplane", 1, n, ns, in,
						   base_ns / ns, do_instr ? extra : NULL});
	}
}

int bench_poll(int argc, char **argv, const char *argv0)
{
	static const struct call calls[NPOLLERS] = {
		{empty_poller, NULL}, {empty_poller, NULL}, {empty_poller, NULL}, {empty_poller, NULL}};
	bool do_instr = false;
	double base_ns, base_in = -1, ns, in = -1;
	uint64_t t0, t1;

	if (argv0 == NULL) /* worker: what, output file */
		return argc >= 2 ? worker(argv[0], argv[1]) : 2;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--instr") == 0) {
			do_instr = true;
		} else if (strcmp(argv[i], "--json") != 0) {
			fprintf(stderr, "dmaplane_bench poll: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	dp_ticks_hz(); /* measure the tick rate before anything is timed */

	/* Empty iterations: the bare function-pointer loop first. */
	t0 = dp_time_ns();
	base_loop(calls, BASE_ITERS);
	t1 = dp_time_ns();
	base_ns = (double)(t1 - t0) / (double)BASE_ITERS;
	if (do_instr)
		base_in = bench_instr_per_op(argv0, "poll", "base", "base_loop");
	bench_print(&(struct bench_result){"poll", "empty_iter_4", "fnptr-loop-baseline", 1,
					   BASE_ITERS, base_ns, base_in, -1, NULL});
	print_empty(argv0, do_instr, base_ns, base_in);

	/* Messages. */
	double bmsg_ns = -1;
#if DP_CONFIG_DPDK
	double bmsg_in = -1;
	if (run_base_msgs(MSG_OPS, &bmsg_ns) == 0) {
		if (do_instr)
			bmsg_in = bench_instr_per_op(argv0, "poll", "base_msg", "base_msg_loop");
		bench_print(&(struct bench_result){"poll", "msg_send_run", "rte_ring-mpsc-baseline",
						   1, MSG_OPS, bmsg_ns, bmsg_in, -1, NULL});
	} else {
		fprintf(stderr, "dmaplane_bench poll: the rte_ring baseline could not run\n");
		bmsg_ns = -1;
	}
#endif
	if (run_msgs(MSG_OPS, &ns) != 0)
		return 1;
	if (do_instr)
		in = bench_instr_per_op(argv0, "poll", "msg", "msg_loop");
	bench_print(&(struct bench_result){"poll", "msg_send_run", "dmaplane", 1, MSG_OPS, ns, in,
					   bmsg_ns > 0 ? bmsg_ns / ns : -1,
					   "\"batch\":32,\"target_instr\":60"});

	/* Two producers, one consumer. */
	double bmp = -1, mp;
	char mp_extra[64];
	/* With fewer than 3 cores the three threads share them and the scheduler sets the pace. */
	snprintf(mp_extra, sizeof(mp_extra), "\"cores_online\":%ld", sysconf(_SC_NPROCESSORS_ONLN));
#if DP_CONFIG_DPDK
	bmp = run_mp(true);
	if (bmp > 0)
		bench_print(&(struct bench_result){"poll", "mpsc_2_producers",
						   "rte_ring-mpsc-baseline", 3,
						   2 * MP_PER_PRODUCER, bmp, -1, -1, mp_extra});
#endif
	mp = run_mp(false);
	if (mp < 0) {
		fprintf(stderr, "dmaplane_bench poll: the two-producer case failed\n");
		return 1;
	}
	bench_print(&(struct bench_result){"poll", "mpsc_2_producers", "dmaplane", 3,
					   2 * MP_PER_PRODUCER, mp, -1, bmp > 0 ? bmp / mp : -1,
					   mp_extra});
	return 0;
}
