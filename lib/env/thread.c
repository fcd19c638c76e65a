/* SPDX-License-Identifier: BSD-3-Clause */
/* Threads: dense per-thread ids with exit hooks, CPU pinning. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#define DP_LOG_COMPONENT "env"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/log.h>

#define MAX_EXIT_HOOKS 16

__thread int dpi_tls_thread_id = -1;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_id_used[DP_MAX_THREADS / 64];
static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static bool g_key_ok;

static struct {
	dpi_thread_exit_fn fn;
	void *arg;
} g_hooks[MAX_EXIT_HOOKS];

static void thread_exit(void *value)
{
	int id = (int)(intptr_t)value - 1;
	struct {
		dpi_thread_exit_fn fn;
		void *arg;
	} hooks[MAX_EXIT_HOOKS];

	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < MAX_EXIT_HOOKS; i++) {
		hooks[i].fn = g_hooks[i].fn;
		hooks[i].arg = g_hooks[i].arg;
	}
	pthread_mutex_unlock(&g_lock);

	for (int i = 0; i < MAX_EXIT_HOOKS; i++)
		if (hooks[i].fn != NULL)
			hooks[i].fn(id, hooks[i].arg);

	pthread_mutex_lock(&g_lock);
	g_id_used[id / 64] &= ~(1ull << (id % 64));
	pthread_mutex_unlock(&g_lock);
	dpi_tls_thread_id = -1;
}

static void make_key(void)
{
	g_key_ok = pthread_key_create(&g_key, thread_exit) == 0;
}

int dpi_thread_id_slow(void)
{
	int id = -1;

	pthread_once(&g_key_once, make_key);
	pthread_mutex_lock(&g_lock);
	for (int w = 0; w < DP_MAX_THREADS / 64 && id < 0; w++) {
		if (~g_id_used[w] == 0)
			continue;
		int bit = __builtin_ctzll(~g_id_used[w]);
		g_id_used[w] |= 1ull << bit;
		id = w * 64 + bit;
	}
	pthread_mutex_unlock(&g_lock);
	if (id < 0) {
		DPI_ERR("more than %d threads use dmaplane at once; per-thread ids are exhausted",
			DP_MAX_THREADS);
		return -EMFILE;
	}
	/* The key's value is id + 1 so that id 0 is not NULL (destructors skip NULL values). */
	if (g_key_ok)
		pthread_setspecific(g_key, (void *)(intptr_t)(id + 1));
	dpi_tls_thread_id = id;
	return id;
}

int dp_thread_id(void)
{
	return dpi_thread_id();
}

int dpi_thread_exit_register(dpi_thread_exit_fn fn, void *arg)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < MAX_EXIT_HOOKS; i++) {
		if (g_hooks[i].fn == fn && g_hooks[i].arg == arg) {
			rc = -EEXIST;
			break;
		}
	}
	for (int i = 0; i < MAX_EXIT_HOOKS && rc == -ENOSPC; i++) {
		if (g_hooks[i].fn == NULL) {
			g_hooks[i].fn = fn;
			g_hooks[i].arg = arg;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

int dpi_thread_exit_unregister(dpi_thread_exit_fn fn, void *arg)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < MAX_EXIT_HOOKS; i++) {
		if (g_hooks[i].fn == fn && g_hooks[i].arg == arg) {
			g_hooks[i].fn = NULL;
			g_hooks[i].arg = NULL;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

int dp_thread_pin(int core)
{
	cpu_set_t allowed, set;
	int rc;

	if (core < 0 || core >= CPU_SETSIZE) {
		DPI_ERR("dp_thread_pin(%d): no such core", core);
		return -EINVAL;
	}
	if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && !CPU_ISSET(core, &allowed)) {
		DPI_ERR("dp_thread_pin(%d): core is offline or outside this process's CPU set "
			"(check taskset/cgroup cpuset)", core);
		return -EINVAL;
	}
	CPU_ZERO(&set);
	CPU_SET(core, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc != 0) {
		DPI_ERR("dp_thread_pin(%d): pthread_setaffinity_np failed: errno %d", core, rc);
		return -rc;
	}
	return 0;
}

int dp_thread_core(void)
{
	int c = sched_getcpu();

	return c < 0 ? -errno : c;
}
