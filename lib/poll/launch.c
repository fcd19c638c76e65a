/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Launch: one poll group per core. In the DPDK env a group runs on the EAL worker lcore of its
 * core when there is one (rte_eal_remote_launch), else on a thread of ours registered with EAL
 * (rte_thread_register), so pollers always have an lcore id for DPDK calls that need one. In the
 * native env it runs on a pthread pinned to its core. Messages use dmaplane's own MPSC ring in
 * both envs: `dmaplane_bench poll` measures it against rte_ring in the same run.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP_LOG_COMPONENT "poll"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/log.h>

#include "poll_impl.h"

struct launch_thread {
	struct dp_poll_launch *l;
	struct dp_poll_group *group;
	pthread_t tid;
	unsigned index;
	int core;
	bool started;
	bool eal;        /* runs on an EAL worker lcore (else on tid) */
	bool registered; /* our thread got an EAL lcore id */
};

struct dp_poll_launch {
	dp_poll_init_fn init;
	void *arg;
	int first_error;
	unsigned n;
	struct launch_thread t[];
};

static int parse_num(const char **s)
{
	long v = 0;

	if (!isdigit((unsigned char)**s))
		return -EINVAL;
	while (isdigit((unsigned char)**s)) {
		v = v * 10 + (**s - '0');
		if (v >= CPU_SETSIZE)
			return -EINVAL;
		(*s)++;
	}
	return (int)v;
}

int dpi_parse_core_list(const char *s, int *cores, int max)
{
	cpu_set_t seen;
	int n = 0;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	CPU_ZERO(&seen);
	for (;;) {
		int lo = parse_num(&s), hi;
		if (lo < 0)
			return -EINVAL;
		hi = lo;
		if (*s == '-') {
			s++;
			if ((hi = parse_num(&s)) < lo)
				return -EINVAL;
		}
		for (int c = lo; c <= hi; c++) {
			if (CPU_ISSET(c, &seen) || n == max)
				return -EINVAL;
			CPU_SET(c, &seen);
			cores[n++] = c;
		}
		if (*s == '\0')
			return n;
		if (*s++ != ',')
			return -EINVAL;
	}
}

static void set_error(struct dp_poll_launch *l, int err)
{
	int expected = 0;

	__atomic_compare_exchange_n(&l->first_error, &expected, err, false, __ATOMIC_ACQ_REL,
				    __ATOMIC_RELAXED);
	dp_poll_launch_stop(l);
}

/* The body of a group's thread, on an EAL lcore or a thread of ours. */
static int group_main(void *p)
{
	struct launch_thread *t = p;
	struct dp_poll_launch *l = t->l;
	int rc;

	rc = dp_thread_pin(t->core);
	if (rc == 0 && l->init != NULL) {
		rc = l->init(t->group, t->index, t->core, l->arg);
		if (rc > 0)
			rc = 0;
		if (rc < 0)
			DPI_ERR("poll launch: init on core %d failed: %d", t->core, rc);
	}
	if (rc == 0)
		rc = dp_poll_group_run(t->group);
	if (rc != 0)
		set_error(l, rc);
	return rc;
}

static void *thread_main(void *p)
{
	struct launch_thread *t = p;
	int rc = dpi_env_thread_register();

	if (rc == 0) {
		t->registered = true;
	} else if (rc != -ENOTSUP) {
		set_error(t->l, rc);
		return NULL;
	}
	group_main(t);
	if (t->registered)
		dpi_env_thread_unregister();
	return NULL;
}

/* Start the group of @t: on the EAL worker lcore of its core, else on a new thread. */
static int start(struct launch_thread *t)
{
	int rc = dpi_fault("poll-thread");

	if (rc == 0) {
		rc = dpi_env_lcore_launch(t->core, group_main, t);
		if (rc == 0) {
			t->eal = true;
			return 0;
		}
		if (rc != -ENOTSUP)
			return rc;
		rc = pthread_create(&t->tid, NULL, thread_main, t);
	}
	if (rc != 0) {
		DPI_ERR("dp_poll_launch: cannot start a thread for core %d: errno %d", t->core, rc);
		return -EAGAIN;
	}
	return 0;
}

static void join_all(struct dp_poll_launch *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		if (l->t[i].started && l->t[i].eal)
			dpi_env_lcore_wait(l->t[i].core);
		else if (l->t[i].started)
			pthread_join(l->t[i].tid, NULL);
		l->t[i].started = false;
	}
}

static void free_launch(struct dp_poll_launch *l)
{
	for (unsigned i = 0; i < l->n; i++)
		dp_poll_group_destroy(l->t[i].group);
	free(l);
}

int dp_poll_launch(const char *core_list, const struct dp_poll_group_opts *opts,
		   dp_poll_init_fn init, void *arg, struct dp_poll_launch **launch)
{
	static int cores[CPU_SETSIZE];
	static pthread_mutex_t cores_lock = PTHREAD_MUTEX_INITIALIZER;
	struct dp_poll_launch *l;
	int n, rc;

	if (launch == NULL)
		return -EINVAL;
	pthread_mutex_lock(&cores_lock);
	n = dpi_parse_core_list(core_list, cores, CPU_SETSIZE);
	if (n < 0) {
		pthread_mutex_unlock(&cores_lock);
		DPI_ERR("dp_poll_launch: bad core list '%s' (cores and ranges such as \"0-3,6\", "
			"each core once)", core_list != NULL ? core_list : "(null)");
		return -EINVAL;
	}
	l = dpi_poll_alloc_fails() ? NULL : calloc(1, sizeof(*l) + (size_t)n * sizeof(l->t[0]));
	if (l == NULL) {
		pthread_mutex_unlock(&cores_lock);
		return -ENOMEM;
	}
	l->init = init;
	l->arg = arg;
	l->n = (unsigned)n;
	for (int i = 0; i < n; i++) {
		l->t[i] = (struct launch_thread){.l = l, .index = (unsigned)i, .core = cores[i]};
	}
	pthread_mutex_unlock(&cores_lock);
	for (unsigned i = 0; i < l->n; i++) {
		struct dp_poll_group_opts o;
		char name[32];

		dp_poll_group_opts_init(&o, sizeof(o));
		if (opts != NULL) {
			if (opts->size < offsetof(struct dp_poll_group_opts, msg_ring)) {
				free_launch(l);
				return -EINVAL;
			}
			memcpy(&o, opts, DPI_MIN(opts->size, sizeof(o)));
			o.size = sizeof(o);
		}
		snprintf(name, sizeof(name), "%s/%d", o.name != NULL ? o.name : "poll",
			 l->t[i].core);
		o.name = name;
		if ((rc = dp_poll_group_create(&o, &l->t[i].group)) != 0) {
			free_launch(l);
			return rc;
		}
	}
	for (unsigned i = 0; i < l->n; i++) {
		if ((rc = start(&l->t[i])) != 0) {
			dp_poll_launch_stop(l);
			join_all(l);
			free_launch(l);
			return rc;
		}
		l->t[i].started = true;
	}
	*launch = l;
	return 0;
}

unsigned dp_poll_launch_count(const struct dp_poll_launch *l)
{
	return l != NULL ? l->n : 0;
}

struct dp_poll_group *dp_poll_launch_group(const struct dp_poll_launch *l, unsigned index)
{
	return l != NULL && index < l->n ? l->t[index].group : NULL;
}

int dp_poll_launch_core(const struct dp_poll_launch *l, unsigned index)
{
	return l != NULL && index < l->n ? l->t[index].core : -EINVAL;
}

void dp_poll_launch_stop(struct dp_poll_launch *l)
{
	if (l == NULL)
		return;
	for (unsigned i = 0; i < l->n; i++)
		dp_poll_group_stop(l->t[i].group);
}

int dp_poll_launch_wait(struct dp_poll_launch *l)
{
	int rc;

	if (l == NULL)
		return -EINVAL;
	join_all(l);
	rc = __atomic_load_n(&l->first_error, __ATOMIC_ACQUIRE);
	free_launch(l);
	return rc;
}
