/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The DPDK env: EAL in in-memory mode with IOVA as VA and no PCI scanning (dmaplane owns its
 * devices through lib/vfio), DMA memory from EAL's heap, memory events from EAL's callbacks.
 * Without free hugepages EAL runs with --no-huge: its memory is then one static region that
 * EAL cannot grow, so memory events are only the initial walk. With hugepages EAL runs with
 * --match-allocations, so a REMOVE event always matches an earlier ADD event.
 *
 * EAL's log lines are routed into dmaplane's logger so that programs printing JSON on stdout
 * stay clean.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eal_memconfig.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_memory.h>

#define DP_LOG_COMPONENT "env"
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/log.h>

#include "env_impl.h"

#define MAX_ARGS 64
#define NOHUGE_DEFAULT_MB 256

static struct {
	pthread_mutex_t lock; /* the allocation tree */
	void *tree;
	size_t live;
	bool huge;
	uint64_t page_size;
	bool events; /* EAL delivers memory events (not in --no-huge) */
	FILE *log_stream;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- EAL log routing ---------------------------------------------------------------------- */

static ssize_t eal_log_write(void *cookie, const char *buf, size_t len)
{
	int lvl = (int)rte_log_cur_msg_loglevel();
	int dp;

	if (lvl <= (int)RTE_LOG_ERR)
		dp = DP_LOG_ERROR;
	else if (lvl == (int)RTE_LOG_WARNING)
		dp = DP_LOG_WARN;
	else if (lvl <= (int)RTE_LOG_INFO)
		dp = DP_LOG_INFO;
	else
		dp = DP_LOG_DEBUG;
	/* dmaplane picks the page size itself and says so; EAL's per-size note is detail. */
	if (dp == DP_LOG_WARN && memmem(buf, len, "hugepages reported", 18) != NULL)
		dp = DP_LOG_INFO;
	dp_log(dp, "eal", "%.*s", (int)len, buf);
	return (ssize_t)len;
}

static int eal_log_level(void)
{
	switch (dp_log_get_level()) {
	case DP_LOG_ERROR:
		return RTE_LOG_ERR;
	case DP_LOG_WARN:
	case DP_LOG_NOTICE:
		return RTE_LOG_WARNING;
	case DP_LOG_INFO:
		return RTE_LOG_INFO;
	default:
		return RTE_LOG_DEBUG;
	}
}

/* ---- arguments ---------------------------------------------------------------------------- */

/* The calling thread's CPUs as an EAL core list ("0-3,6"). */
static int affinity_list(const cpu_set_t *set, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		int e = c;
		while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set))
			e++;
		int n = e == c ? snprintf(buf + off, size - off, "%s%d", off ? "," : "", c)
			       : snprintf(buf + off, size - off, "%s%d-%d", off ? "," : "", c, e);
		if (n < 0 || (size_t)n >= size - off)
			return -ENOSPC;
		off += (size_t)n;
		c = e;
	}
	return off ? 0 : -EINVAL;
}

struct args {
	int argc;
	char *argv[MAX_ARGS + 1];
	char store[4096];
	size_t used;
};

static int arg_add(struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int arg_add(struct args *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->argc >= MAX_ARGS)
		return -E2BIG;
	va_start(ap, fmt);
	n = vsnprintf(a->store + a->used, sizeof(a->store) - a->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a->store) - a->used)
		return -E2BIG;
	a->argv[a->argc++] = a->store + a->used;
	a->used += (size_t)n + 1;
	return 0;
}

static int build_args(const struct dp_env_opts *o, const char *cores, struct args *a)
{
	int rc = 0;

	rc |= arg_add(a, "%s", o->name);
	if (g.huge) {
		rc |= arg_add(a, "--in-memory");
		/* Free hugepages exactly as they were allocated, so every REMOVE event matches an
		 * earlier ADD and IOMMU mappings (which cannot be split) can follow EAL's regions. */
		rc |= arg_add(a, "--match-allocations");
		if (o->mem_size)
			rc |= arg_add(a, "-m%" PRIu64, (o->mem_size + (1 << 20) - 1) >> 20);
	} else {
		/* EAL refuses --in-memory with --no-huge; --no-shconf keeps it file- and IPC-free. */
		rc |= arg_add(a, "--no-huge");
		rc |= arg_add(a, "--no-shconf");
		rc |= arg_add(a, "-m%" PRIu64,
			      o->mem_size ? (o->mem_size + (1 << 20) - 1) >> 20 : NOHUGE_DEFAULT_MB);
	}
	rc |= arg_add(a, "--iova-mode=va");
	rc |= arg_add(a, "--no-pci");
	rc |= arg_add(a, "--no-telemetry");
	rc |= arg_add(a, "-l");
	rc |= arg_add(a, "%s", cores);
	rc |= arg_add(a, "--log-level=lib.eal:%d", eal_log_level());
	if (o->eal_args != NULL) {
		char *copy = strdup(o->eal_args), *save = NULL;
		if (copy == NULL)
			return -ENOMEM;
		for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
			rc |= arg_add(a, "%s", t);
		free(copy);
	}
	a->argv[a->argc] = NULL;
	if (rc != 0) {
		DPI_ERR("dp_env_init: too many or too long EAL arguments");
		return -E2BIG;
	}
	return 0;
}

/* ---- memory events ------------------------------------------------------------------------ */

static void eal_mem_event(enum rte_mem_event type, const void *addr, size_t len, void *arg)
{
	const struct rte_memseg_list *msl = rte_mem_virt2memseg_list(addr);
	size_t pg = msl ? msl->page_sz : 4096;

	dpi_mem_event_notify(type == RTE_MEM_EVENT_ALLOC ? DP_MEM_EVENT_ADD : DP_MEM_EVENT_REMOVE,
			     (void *)addr, len, pg);
}

struct walk_ctx {
	dpi_region_fn fn;
	void *ctx;
	uint64_t bytes;
};

static int contig_walk(const struct rte_memseg_list *msl, const struct rte_memseg *ms, size_t len,
		       void *arg)
{
	struct walk_ctx *w = arg;

	if (msl->external)
		return 0;
	w->bytes += len;
	if (w->fn != NULL)
		w->fn(ms->addr, len, msl->page_sz, w->ctx);
	return 0;
}

static void dpdk_lock(void)
{
	rte_mcfg_mem_read_lock();
}

static void dpdk_unlock(void)
{
	rte_mcfg_mem_read_unlock();
}

static void dpdk_walk(dpi_region_fn fn, void *ctx)
{
	struct walk_ctx w = {.fn = fn, .ctx = ctx};

	rte_memseg_contig_walk_thread_unsafe(contig_walk, &w);
}

static void notify_remove(void *vaddr, size_t len, size_t page_size, void *ctx)
{
	dpi_mem_event_notify(DP_MEM_EVENT_REMOVE, vaddr, len, page_size);
}

/* ---- ops ---------------------------------------------------------------------------------- */

static int dpdk_init(const struct dp_env_opts *opts)
{
	static cookie_io_functions_t log_fns = {.write = eal_log_write};
	cpu_set_t saved;
	char cores[512];
	struct args a = {0};
	int rc;

	g.tree = NULL;
	g.live = 0;
	g.page_size = opts->hugepage_size;
	g.huge = !(opts->flags & DP_ENV_F_NO_HUGE);
	if (g.huge && dpi_free_hugepages(g.page_size) == 0) {
		dpi_warn_no_hugepages(g.page_size, "none free");
		g.huge = false;
	}
	if (sched_getaffinity(0, sizeof(saved), &saved) != 0)
		return -errno;
	if (opts->core_list != NULL) {
		snprintf(cores, sizeof(cores), "%s", opts->core_list);
	} else if ((rc = affinity_list(&saved, cores, sizeof(cores))) != 0) {
		DPI_ERR("dp_env_init: cannot describe this thread's CPU set as a core list");
		return rc;
	}
	rc = build_args(opts, cores, &a);
	if (rc != 0)
		return rc;

	if (g.log_stream == NULL)
		g.log_stream = fopencookie(NULL, "w", log_fns);
	if (g.log_stream != NULL) {
		setvbuf(g.log_stream, NULL, _IOLBF, 0);
		rte_openlog_stream(g.log_stream);
	}
	rc = rte_eal_init(a.argc, a.argv);
	if (rc < 0) {
		int err = rte_errno ? rte_errno : EINVAL;
		DPI_ERR("DPDK EAL initialisation failed: %s (EAL arguments were: %s ...); see the "
			"eal lines above", rte_strerror(err), a.argv[1]);
		return -err;
	}
	/* EAL pins the main thread to its first lcore; give back the caller's CPU set unless the
	 * caller chose the cores. */
	if (opts->core_list == NULL)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);

	g.events = rte_mem_event_callback_register("dmaplane", eal_mem_event, NULL) == 0;
	if (!g.events && rte_errno != ENOTSUP) {
		DPI_ERR("cannot register for EAL memory events: %s", rte_strerror(rte_errno));
		rte_eal_cleanup();
		return -rte_errno;
	}
	DPI_INFO("DPDK env: %s pages, memory events %s", g.huge ? "huge" : "4 KiB (--no-huge)",
		 g.events ? "on" : "static memory");
	return 0;
}

static void dpdk_fini(void)
{
	pthread_mutex_lock(&g.lock);
	if (g.live != 0)
		DPI_NOTICE("dp_env_fini: %zu DMA allocations were never freed; releasing them",
			   g.live);
	tdestroy(g.tree, free);
	g.tree = NULL;
	g.live = 0;
	pthread_mutex_unlock(&g.lock);

	rte_mcfg_mem_read_lock();
	dpdk_walk(notify_remove, NULL);
	rte_mcfg_mem_read_unlock();
	if (g.events)
		rte_mem_event_callback_unregister("dmaplane", NULL);
	rte_eal_cleanup();
}

static uintptr_t *xmalloc_key(uintptr_t v)
{
	int err = dpi_fault("malloc");
	uintptr_t *k;

	if (err)
		return NULL;
	k = malloc(sizeof(*k));
	if (k != NULL)
		*k = v;
	return k;
}

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

static int dpdk_alloc(size_t size, size_t align, int node, void **ptr)
{
	uintptr_t *key = NULL;
	void *p = NULL;
	int err = dpi_fault("rte_malloc");

	if (!err)
		p = rte_malloc_socket(NULL, size, (unsigned)align, node);
	if (p == NULL) {
		DPI_ERR("dp_dma_alloc(%zu, align %zu) on NUMA node %d: EAL's heap is out of memory "
			"(reserve more hugepages with `scripts/setup.sh hugepages`%s)", size, align,
			node, g.huge ? "" : ", or set opts.mem_size: EAL cannot grow --no-huge memory");
		return -ENOMEM;
	}
	key = xmalloc_key((uintptr_t)p);
	pthread_mutex_lock(&g.lock);
	if (key == NULL || tsearch(key, &g.tree, ptr_cmp) == NULL) {
		pthread_mutex_unlock(&g.lock);
		free(key);
		rte_free(p);
		return -ENOMEM;
	}
	g.live++;
	pthread_mutex_unlock(&g.lock);
	*ptr = p;
	return 0;
}

static int dpdk_free(void *ptr)
{
	uintptr_t key = (uintptr_t)ptr, *rec;
	void **found;

	pthread_mutex_lock(&g.lock);
	found = tfind(&key, &g.tree, ptr_cmp);
	if (found == NULL) {
		pthread_mutex_unlock(&g.lock);
		DPI_ERR("dp_dma_free(%p): not memory from dp_dma_alloc, or freed already", ptr);
		return -EINVAL;
	}
	rec = *found;
	tdelete(&key, &g.tree, ptr_cmp);
	g.live--;
	pthread_mutex_unlock(&g.lock);
	free(rec);
	rte_free(ptr);
	return 0;
}

static void dpdk_info(struct dp_env_info *info)
{
	struct walk_ctx w = {0};

	rte_memseg_contig_walk(contig_walk, &w);
	info->page_size = g.huge ? g.page_size : 4096;
	info->hugepages = g.huge;
	info->mem_bytes = w.bytes;
}

/* --match-allocations makes EAL free exactly what it allocated; --no-huge memory is static. */
static bool dpdk_remove_exact(void)
{
	return true;
}

/* ---- lcores ------------------------------------------------------------------------------- */

/* The EAL worker lcore pinned to exactly @core (never the main lcore: that is the caller's). */
static int worker_on(int core, unsigned *lcore)
{
	unsigned id;

	RTE_LCORE_FOREACH_WORKER(id) {
		rte_cpuset_t set = rte_lcore_cpuset(id);
		if (CPU_COUNT(&set) == 1 && CPU_ISSET(core, &set)) {
			*lcore = id;
			return 0;
		}
	}
	return -ENOTSUP;
}

static int dpdk_lcore_launch(int core, int (*fn)(void *), void *arg)
{
	unsigned lcore;
	int rc;

	if (core < 0 || worker_on(core, &lcore) != 0)
		return -ENOTSUP;
	rc = rte_eal_remote_launch(fn, arg, lcore);
	if (rc == -EBUSY)
		DPI_ERR("EAL lcore %u (core %d) is running something else: wait for it before "
			"launching there again", lcore, core);
	return rc;
}

static int dpdk_lcore_wait(int core)
{
	unsigned lcore;

	if (core < 0 || worker_on(core, &lcore) != 0)
		return -ENOTSUP;
	return rte_eal_wait_lcore(lcore);
}

static int dpdk_thread_register(void)
{
	if (rte_thread_register() != 0) {
		int err = rte_errno ? rte_errno : ENOSPC;
		DPI_ERR("cannot give this thread a DPDK lcore id (%s): EAL has %u in all; start "
			"fewer threads or raise RTE_MAX_LCORE", rte_strerror(err), RTE_MAX_LCORE);
		return -err;
	}
	return 0;
}

static void dpdk_thread_unregister(void)
{
	rte_thread_unregister();
}

static int dpdk_lcore_id(void)
{
	unsigned id = rte_lcore_id();

	return id == LCORE_ID_ANY ? -1 : (int)id;
}

const struct dpi_env_ops dpi_env_dpdk_ops = {
	.name = "dpdk",
	.init = dpdk_init,
	.fini = dpdk_fini,
	.alloc = dpdk_alloc,
	.free = dpdk_free,
	.mem_lock = dpdk_lock,
	.mem_unlock = dpdk_unlock,
	.walk = dpdk_walk,
	.info = dpdk_info,
	.remove_exact = dpdk_remove_exact,
	.lcore_launch = dpdk_lcore_launch,
	.lcore_wait = dpdk_lcore_wait,
	.thread_register = dpdk_thread_register,
	.thread_unregister = dpdk_thread_unregister,
	.lcore_id = dpdk_lcore_id,
};
