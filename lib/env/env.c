/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/env front end: option checking, the choice of implementation, argument checking for the
 * DMA allocator, and the memory-event callback registry shared by both implementations.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if DP_CONFIG_NUMA
#include <numa.h>
#endif

#define DP_LOG_COMPONENT "env"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/log.h>

#include "env_impl.h"

#define MAX_MEM_CALLBACKS 32
#define OPTS_MIN_SIZE (offsetof(struct dp_env_opts, impl) + sizeof(uint32_t))

static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct dpi_env_ops *g_ops;
static int g_ready;
static int g_numa_nodes = 1;
static int g_default_node = DP_NUMA_ANY;
static bool g_dpdk_used;
static uint64_t g_generation;

static struct {
	dp_mem_event_cb cb;
	void *arg;
} g_callbacks[MAX_MEM_CALLBACKS];

void dp_env_opts_init(struct dp_env_opts *opts, size_t size)
{
	struct dp_env_opts d = {
		.size = sizeof(d),
		.name = "dmaplane",
		.impl = DP_ENV_AUTO,
		.numa_node = DP_NUMA_ANY,
	};

	dpi_opts_init(opts, size, &d, sizeof(d));
}

int dpi_env_ready(void)
{
	return __atomic_load_n(&g_ready, __ATOMIC_ACQUIRE);
}

int dpi_env_numa_nodes(void)
{
	return g_numa_nodes;
}

uint64_t dpi_env_generation(void)
{
	return __atomic_load_n(&g_generation, __ATOMIC_ACQUIRE);
}

int dpi_env_lcore_launch(int core, int (*fn)(void *), void *arg)
{
	const struct dpi_env_ops *ops = g_ops;

	return ops != NULL && ops->lcore_launch != NULL ? ops->lcore_launch(core, fn, arg)
							: -ENOTSUP;
}

int dpi_env_lcore_wait(int core)
{
	const struct dpi_env_ops *ops = g_ops;

	return ops != NULL && ops->lcore_wait != NULL ? ops->lcore_wait(core) : -ENOTSUP;
}

int dpi_env_thread_register(void)
{
	const struct dpi_env_ops *ops = g_ops;

	return ops != NULL && ops->thread_register != NULL ? ops->thread_register() : -ENOTSUP;
}

void dpi_env_thread_unregister(void)
{
	const struct dpi_env_ops *ops = g_ops;

	if (ops != NULL && ops->thread_unregister != NULL)
		ops->thread_unregister();
}

int dpi_env_lcore_id(void)
{
	const struct dpi_env_ops *ops = g_ops;

	return ops != NULL && ops->lcore_id != NULL ? ops->lcore_id() : -1;
}

bool dpi_env_remove_exact(void)
{
	return g_ops == NULL || g_ops->remove_exact == NULL || g_ops->remove_exact();
}

static int detect_numa_nodes(void)
{
#if DP_CONFIG_NUMA
	if (numa_available() >= 0) {
		int n = numa_max_node() + 1;
		return n > 0 ? n : 1;
	}
#endif
	return 1;
}

/* Copy the caller's opts into a full-size struct, checking what an older/newer caller passed. */
static int copy_opts(const struct dp_env_opts *in, struct dp_env_opts *out)
{
	dp_env_opts_init(out, sizeof(*out));
	if (in == NULL)
		return 0;
	if (in->size < OPTS_MIN_SIZE) {
		DPI_ERR("dp_env_init: opts->size %zu is too small: initialise opts with "
			"dp_env_opts_init(&opts, sizeof(opts))", in->size);
		return -EINVAL;
	}
	if (in->size > sizeof(*out)) {
		/* A newer caller: the fields we do not know must be zero. */
		const unsigned char *extra = (const unsigned char *)in + sizeof(*out);
		for (size_t i = 0; i < in->size - sizeof(*out); i++) {
			if (extra[i] != 0) {
				DPI_ERR("dp_env_init: opts use fields this library (%d.%d) does not "
					"know; upgrade dmaplane", DP_VERSION_MAJOR,
					DP_VERSION_MINOR);
				return -EINVAL;
			}
		}
	}
	memcpy(out, in, DPI_MIN(in->size, sizeof(*out)));
	out->size = sizeof(*out);
	return 0;
}

static int check_opts(struct dp_env_opts *o)
{
	const char *s;

	if (o->name == NULL)
		o->name = "dmaplane";
	if (o->impl == DP_ENV_AUTO && (s = getenv("DP_ENV")) != NULL && s[0] != '\0') {
		if (strcasecmp(s, "dpdk") == 0)
			o->impl = DP_ENV_DPDK;
		else if (strcasecmp(s, "native") == 0)
			o->impl = DP_ENV_NATIVE;
		else {
			DPI_ERR("DP_ENV='%s' is not one of: dpdk, native", s);
			return -EINVAL;
		}
	}
	if (o->impl > DP_ENV_NATIVE) {
		DPI_ERR("dp_env_init: impl %u is not a dp_env_impl value", o->impl);
		return -EINVAL;
	}
	if (o->flags & ~DP_ENV_F_NO_HUGE) {
		DPI_ERR("dp_env_init: unknown flags 0x%x", o->flags & ~DP_ENV_F_NO_HUGE);
		return -EINVAL;
	}
	if (o->reserved0 != 0) {
		DPI_ERR("dp_env_init: reserved0 must be 0");
		return -EINVAL;
	}
	if (o->hugepage_size == 0)
		o->hugepage_size = 2ull << 20;
	if (o->hugepage_size != (2ull << 20) && o->hugepage_size != (1ull << 30)) {
		DPI_ERR("dp_env_init: hugepage_size %" PRIu64 " is neither 2 MiB nor 1 GiB",
			o->hugepage_size);
		return -EINVAL;
	}
	if (o->numa_node != DP_NUMA_ANY && (o->numa_node < 0 || o->numa_node >= g_numa_nodes)) {
		DPI_ERR("dp_env_init: NUMA node %d does not exist (this machine has %d)",
			o->numa_node, g_numa_nodes);
		return -EINVAL;
	}
	return 0;
}

int dp_env_init(const struct dp_env_opts *user_opts)
{
	struct dp_env_opts opts;
	const char *lvl;
	int rc;

	lvl = getenv("DP_LOG_LEVEL");
	if (lvl != NULL && lvl[0] != '\0') {
		rc = dp_log_parse_level(lvl);
		if (rc < 0)
			DPI_WARN("DP_LOG_LEVEL='%s' is not a level (error, warn, notice, info, "
				 "debug or 1-5); keeping %d", lvl, dp_log_get_level());
		else
			dp_log_set_level(rc);
	}

	pthread_mutex_lock(&g_init_lock);
	if (g_ready) {
		pthread_mutex_unlock(&g_init_lock);
		DPI_ERR("dp_env_init: the environment is already initialised");
		return -EALREADY;
	}
	g_numa_nodes = detect_numa_nodes();
	rc = copy_opts(user_opts, &opts);
	if (rc == 0)
		rc = check_opts(&opts);
	if (rc != 0)
		goto out;

#if DP_CONFIG_DPDK
	if (opts.impl == DP_ENV_AUTO || opts.impl == DP_ENV_DPDK) {
		if (g_dpdk_used) {
			DPI_ERR("dp_env_init: DPDK EAL was initialised before in this process and "
				"cannot be initialised again; use one dp_env_init per process");
			rc = -EALREADY;
			goto out;
		}
		g_ops = &dpi_env_dpdk_ops;
		g_dpdk_used = true;
	} else {
		g_ops = &dpi_env_native_ops;
	}
#else
	if (opts.impl == DP_ENV_DPDK) {
		DPI_ERR("dp_env_init: DPDK was asked for but this dmaplane was built without it "
			"(install libdpdk-dev and run ./configure --with-dpdk)");
		rc = -ENOTSUP;
		goto out;
	}
	g_ops = &dpi_env_native_ops;
	(void)g_dpdk_used;
#endif
	g_default_node = opts.numa_node;
	memset(g_callbacks, 0, sizeof(g_callbacks));
	rc = g_ops->init(&opts);
	if (rc != 0) {
		g_ops = NULL;
		goto out;
	}
	dpi_time_init(0);
	__atomic_add_fetch(&g_generation, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&g_ready, 1, __ATOMIC_RELEASE);
	DPI_INFO("environment '%s' ready (%d NUMA node%s)", g_ops->name, g_numa_nodes,
		 g_numa_nodes == 1 ? "" : "s");
out:
	pthread_mutex_unlock(&g_init_lock);
	return rc;
}

void dp_env_fini(void)
{
	pthread_mutex_lock(&g_init_lock);
	if (g_ready) {
		__atomic_store_n(&g_ready, 0, __ATOMIC_RELEASE);
		g_ops->fini();
		g_ops = NULL;
		memset(g_callbacks, 0, sizeof(g_callbacks));
	}
	pthread_mutex_unlock(&g_init_lock);
}

const char *dp_env_impl_name(void)
{
	const struct dpi_env_ops *ops = dpi_env_ready() ? g_ops : NULL;

	return ops ? ops->name : "none";
}

int dp_env_get_info(struct dp_env_info *info)
{
	size_t size;
	struct dp_env_info full = {0};

	if (info == NULL || info->size < offsetof(struct dp_env_info, page_size))
		return -EINVAL;
	if (!dpi_env_ready())
		return -ENODEV;
	size = DPI_MIN(info->size, sizeof(full));
	full.size = size;
	full.impl = g_ops == &dpi_env_native_ops ? DP_ENV_NATIVE : DP_ENV_DPDK;
	full.numa_nodes = (uint32_t)g_numa_nodes;
	g_ops->info(&full);
	memcpy(info, &full, size);
	return 0;
}

static int resolve_node(int node)
{
	if (node != DP_NUMA_ANY)
		return node;
	if (g_default_node != DP_NUMA_ANY)
		return g_default_node;
#if DP_CONFIG_NUMA
	if (g_numa_nodes > 1) {
		int cpu = sched_getcpu();
		int n = cpu >= 0 ? numa_node_of_cpu(cpu) : -1;
		if (n >= 0)
			return n;
	}
#endif
	return 0;
}

static int dma_alloc(size_t size, size_t align, int numa_node, void **ptr, bool zero)
{
	int rc;

	if (ptr == NULL) {
		DPI_ERR("dp_dma_alloc: ptr is NULL");
		return -EINVAL;
	}
	*ptr = NULL;
	if (size == 0) {
		DPI_ERR("dp_dma_alloc: size is 0");
		return -EINVAL;
	}
	if (align == 0)
		align = 64;
	if (!dpi_is_pow2(align)) {
		DPI_ERR("dp_dma_alloc: align %zu is not a power of two", align);
		return -EINVAL;
	}
	if (numa_node != DP_NUMA_ANY && (numa_node < 0 || numa_node >= g_numa_nodes)) {
		DPI_ERR("dp_dma_alloc: NUMA node %d does not exist (nodes 0..%d)", numa_node,
			g_numa_nodes - 1);
		return -EINVAL;
	}
	if (size > (SIZE_MAX >> 2) || align > (1ull << 30)) {
		DPI_ERR("dp_dma_alloc: size %zu / align %zu is beyond what can be reserved", size,
			align);
		return -ENOMEM;
	}
	if (!dpi_env_ready()) {
		DPI_ERR("dp_dma_alloc: call dp_env_init() first");
		return -ENODEV;
	}
	rc = g_ops->alloc(size, align, resolve_node(numa_node), ptr);
	if (rc == 0 && zero)
		memset(*ptr, 0, size);
	return rc;
}

int dp_dma_alloc(size_t size, size_t align, int numa_node, void **ptr)
{
	return dma_alloc(size, align, numa_node, ptr, false);
}

int dp_dma_zalloc(size_t size, size_t align, int numa_node, void **ptr)
{
	return dma_alloc(size, align, numa_node, ptr, true);
}

int dp_dma_free(void *ptr)
{
	if (ptr == NULL)
		return 0;
	if (!dpi_env_ready()) {
		DPI_ERR("dp_dma_free(%p): the environment is not initialised", ptr);
		return -ENODEV;
	}
	return g_ops->free(ptr);
}

/* ---- memory events ---------------------------------------------------------------------- */

struct walk_ctx {
	dp_mem_event_cb cb;
	void *arg;
};

static void walk_one(void *vaddr, size_t len, size_t page_size, void *ctx)
{
	struct walk_ctx *w = ctx;

	w->cb(DP_MEM_EVENT_ADD, vaddr, len, page_size, w->arg);
}

int dp_mem_event_register(dp_mem_event_cb cb, void *arg)
{
	int rc = -ENOMEM, slot = -1;

	if (cb == NULL)
		return -EINVAL;
	if (!dpi_env_ready())
		return -ENODEV;
	g_ops->mem_lock();
	for (int i = 0; i < MAX_MEM_CALLBACKS; i++) {
		if (g_callbacks[i].cb == cb && g_callbacks[i].arg == arg) {
			rc = -EEXIST;
			goto out;
		}
		if (g_callbacks[i].cb == NULL && slot < 0)
			slot = i;
	}
	if (slot < 0) {
		DPI_ERR("dp_mem_event_register: all %d callback slots are in use",
			MAX_MEM_CALLBACKS);
		goto out;
	}
	/* Walk first, then publish: events from here on are serialised by mem_lock. */
	g_ops->walk(walk_one, &(struct walk_ctx){.cb = cb, .arg = arg});
	g_callbacks[slot].arg = arg;
	g_callbacks[slot].cb = cb;
	rc = 0;
out:
	g_ops->mem_unlock();
	return rc;
}

int dp_mem_event_unregister(dp_mem_event_cb cb, void *arg)
{
	int rc = -ENOENT;

	if (!dpi_env_ready())
		return -ENODEV;
	g_ops->mem_lock();
	for (int i = 0; i < MAX_MEM_CALLBACKS; i++) {
		if (g_callbacks[i].cb == cb && g_callbacks[i].arg == arg) {
			g_callbacks[i].cb = NULL;
			g_callbacks[i].arg = NULL;
			rc = 0;
			break;
		}
	}
	g_ops->mem_unlock();
	return rc;
}

void dpi_mem_event_notify(enum dp_mem_event event, void *vaddr, size_t len, size_t page_size)
{
	for (int i = 0; i < MAX_MEM_CALLBACKS; i++)
		if (g_callbacks[i].cb != NULL)
			g_callbacks[i].cb(event, vaddr, len, page_size, g_callbacks[i].arg);
}

/* ---- shared helpers for the implementations -------------------------------------------- */

uint64_t dpi_free_hugepages(uint64_t page_size)
{
	char path[128];
	unsigned long long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/free_hugepages",
		 page_size >> 10);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

void dpi_warn_no_hugepages(uint64_t page_size, const char *why)
{
	DPI_WARN("no %" PRIu64 " kB hugepages (%s): using 4 KiB locked pages instead, which costs "
		 "translation speed and IOMMU mappings; reserve hugepages with "
		 "`scripts/setup.sh hugepages`", page_size >> 10, why);
}
