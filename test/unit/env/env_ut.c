/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/env unit tests. The native env runs in this process (it can be initialised again and
 * again); DPDK EAL can be initialised once per process, so each DPDK case runs in a child.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if DP_CONFIG_NUMA
#include <numaif.h>
#endif

#include <dmaplane/env.h>
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/fault.h>

#include "ut.h"

#include "../../../lib/env/env_impl.h"

#define MiB (1ull << 20)

/* ---- memory-event recorder ----------------------------------------------------------------- */

struct region {
	uintptr_t start, len;
	size_t page_size;
};

struct recorder {
	int adds, removes;
	uint64_t added, removed;
	struct region live[256];
	int nlive;
	int bad; /* REMOVE of something never added, or misaligned region */
	int exact_removes; /* REMOVEs that matched one ADD region exactly */
};

/* Remove [a, a+len) from the live set; false when some of it was not live. */
static bool subtract(struct recorder *r, uintptr_t a, uintptr_t len)
{
	uintptr_t end = a + len, found = 0;

	for (int i = 0; i < r->nlive; i++) {
		struct region *g = &r->live[i];
		uintptr_t gs = g->start, ge = g->start + g->len;
		if (ge <= a || gs >= end)
			continue;
		uintptr_t cs = gs > a ? gs : a, ce = ge < end ? ge : end;
		found += ce - cs;
		if (cs > gs && ce < ge) { /* split */
			if (r->nlive < 256)
				r->live[r->nlive++] = (struct region){ce, ge - ce, g->page_size};
			g->len = cs - gs;
		} else if (cs > gs) {
			g->len = cs - gs;
		} else if (ce < ge) {
			g->start = ce;
			g->len = ge - ce;
		} else {
			*g = r->live[--r->nlive];
			i--;
		}
	}
	return found == len;
}

/* A REMOVE may cover part of an ADD region or several of them (EAL frees pages in other
 * chunks than it added them), so the recorder keeps a set of live byte ranges. */
static void record(enum dp_mem_event ev, void *vaddr, size_t len, size_t page_size, void *arg)
{
	struct recorder *r = arg;
	uintptr_t va = (uintptr_t)vaddr;

	if (va % page_size != 0 || len % page_size != 0 || len == 0)
		r->bad++;
	if (ev == DP_MEM_EVENT_ADD) {
		r->adds++;
		r->added += len;
		if (r->nlive < 256)
			r->live[r->nlive++] = (struct region){va, len, page_size};
		else
			r->bad++;
		return;
	}
	r->removes++;
	r->removed += len;
	for (int i = 0; i < r->nlive; i++)
		if (r->live[i].start == va && r->live[i].len == len)
			r->exact_removes++;
	if (!subtract(r, va, len))
		r->bad++;
}

/* True when [p, p+len) lies inside one region the recorder saw added. */
static bool covered(const struct recorder *r, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	for (int i = 0; i < r->nlive; i++)
		if (a >= r->live[i].start && a + len <= r->live[i].start + r->live[i].len)
			return true;
	return false;
}

static bool have_hugepages(void)
{
	return dpi_free_hugepages(2 * MiB) >= 16;
}

static struct dp_env_opts native_opts(void)
{
	struct dp_env_opts o;

	dp_env_opts_init(&o, sizeof(o));
	o.impl = DP_ENV_NATIVE;
	return o;
}

static struct dp_env_info info_now(void)
{
	struct dp_env_info i = {.size = sizeof(i)};

	CU_ASSERT_EQUAL(dp_env_get_info(&i), 0);
	return i;
}

/* ---- options and lifecycle ----------------------------------------------------------------- */

static void test_opts_defaults(void)
{
	struct dp_env_opts o;

	memset(&o, 0xff, sizeof(o));
	dp_env_opts_init(&o, sizeof(o));
	CU_ASSERT_EQUAL(o.size, sizeof(o));
	CU_ASSERT_EQUAL(o.impl, DP_ENV_AUTO);
	CU_ASSERT_EQUAL(o.numa_node, DP_NUMA_ANY);
	CU_ASSERT_EQUAL(o.flags, 0);
	CU_ASSERT_EQUAL(o.mem_size, 0);
	CU_ASSERT_PTR_NULL(o.core_list);
	CU_ASSERT_STRING_EQUAL(o.name, "dmaplane");

	/* A caller built against an older, shorter struct gets only what fits... */
	size_t older = offsetof(struct dp_env_opts, impl) + sizeof(o.impl);
	memset(&o, 0xff, sizeof(o));
	dp_env_opts_init(&o, older);
	CU_ASSERT_EQUAL(o.size, older);
	CU_ASSERT_EQUAL(o.impl, DP_ENV_AUTO);
	CU_ASSERT_EQUAL(o.flags, ~0u); /* beyond its size: untouched */
	/* ... a newer, longer one has its unknown tail zeroed and size = what this library knows,
	 * and a size too small for the size field writes nothing. */
	struct {
		struct dp_env_opts o;
		uint64_t newer_field;
	} big;
	memset(&big, 0xff, sizeof(big));
	dp_env_opts_init(&big.o, sizeof(big));
	CU_ASSERT_EQUAL(big.o.size, sizeof(big.o));
	CU_ASSERT_EQUAL(big.newer_field, 0);
	memset(&o, 0xff, sizeof(o));
	dp_env_opts_init(&o, 4);
	CU_ASSERT_EQUAL(o.size, SIZE_MAX);
	dp_env_opts_init(NULL, sizeof(o)); /* ignored */
}

static void test_bad_opts(void)
{
	struct dp_env_opts o;

	ut_log_capture();
	o = native_opts();
	o.size = 4;
	CU_ASSERT_EQUAL(dp_env_init(&o), -EINVAL);
	CU_ASSERT(ut_log_has("dp_env_opts_init"));
	o = native_opts();
	o.flags = 0x80;
	CU_ASSERT_EQUAL(dp_env_init(&o), -EINVAL);
	o = native_opts();
	o.reserved0 = 1;
	CU_ASSERT_EQUAL(dp_env_init(&o), -EINVAL);
	o = native_opts();
	o.hugepage_size = 4096;
	CU_ASSERT_EQUAL(dp_env_init(&o), -EINVAL);
	o = native_opts();
	o.numa_node = 4000;
	CU_ASSERT_EQUAL(dp_env_init(&o), -EINVAL);
	CU_ASSERT(ut_log_has("does not exist"));
	o = native_opts();
	o.impl = 9;
	CU_ASSERT_EQUAL(dp_env_init(&o), -EINVAL);
	o = native_opts();
	o.impl = DP_ENV_AUTO;
	setenv("DP_ENV", "bogus", 1);
	CU_ASSERT_EQUAL(dp_env_init(&o), -EINVAL);
	CU_ASSERT(ut_log_has("DP_ENV='bogus'"));
	unsetenv("DP_ENV");
	/* A newer caller's larger struct is fine while its extra fields are zero. */
	struct {
		struct dp_env_opts o;
		uint64_t future;
	} big;
	memset(&big, 0, sizeof(big));
	dp_env_opts_init(&big.o, sizeof(big.o));
	big.o.impl = DP_ENV_NATIVE;
	big.o.size = sizeof(big);
	big.future = 1;
	CU_ASSERT_EQUAL(dp_env_init(&big.o), -EINVAL);
	big.future = 0;
	CU_ASSERT_EQUAL(dp_env_init(&big.o), 0);
	dp_env_fini();
	CU_ASSERT_STRING_EQUAL(dp_env_impl_name(), "none");
	ut_log_release();
}

static void test_not_initialised(void)
{
	struct dp_env_info i = {.size = sizeof(i)};
	struct recorder r = {0};
	void *p = (void *)1;

	ut_log_capture();
	CU_ASSERT_EQUAL(dp_dma_alloc(4096, 0, DP_NUMA_ANY, &p), -ENODEV);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT(ut_log_has("dp_env_init"));
	CU_ASSERT_EQUAL(dp_env_get_info(&i), -ENODEV);
	CU_ASSERT_EQUAL(dp_mem_event_register(record, &r), -ENODEV);
	CU_ASSERT_EQUAL(dp_dma_free((void *)0x1000), -ENODEV);
	CU_ASSERT_STRING_EQUAL(dp_env_impl_name(), "none");
	dp_env_fini(); /* harmless */
	ut_log_release();
}

static void test_double_init(void)
{
	struct dp_env_opts o = native_opts();

	ut_log_capture();
	CU_ASSERT_EQUAL(dp_env_init(&o), 0);
	CU_ASSERT_EQUAL(dp_env_init(&o), -EALREADY);
	CU_ASSERT_STRING_EQUAL(dp_env_impl_name(), "native");
	dp_env_fini();
	CU_ASSERT_EQUAL(dp_env_init(&o), 0);
	dp_env_fini();
	ut_log_release();
}

/* ---- allocation ---------------------------------------------------------------------------- */

static void test_bad_args(void)
{
	struct dp_env_opts o = native_opts();
	void *p;
	int x;

	CU_ASSERT_EQUAL_FATAL(dp_env_init(&o), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_dma_alloc(0, 0, DP_NUMA_ANY, &p), -EINVAL);
	CU_ASSERT(ut_log_has("size is 0"));
	CU_ASSERT_EQUAL(dp_dma_alloc(4096, 3, DP_NUMA_ANY, &p), -EINVAL);
	CU_ASSERT(ut_log_has("not a power of two"));
	CU_ASSERT_EQUAL(dp_dma_alloc(4096, 48, DP_NUMA_ANY, &p), -EINVAL);
	CU_ASSERT_EQUAL(dp_dma_alloc(4096, 0, 1000, &p), -EINVAL);
	CU_ASSERT_EQUAL(dp_dma_alloc(4096, 0, -2, &p), -EINVAL);
	CU_ASSERT_EQUAL(dp_dma_alloc(4096, 0, DP_NUMA_ANY, NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_dma_alloc(SIZE_MAX, 0, DP_NUMA_ANY, &p), -ENOMEM);
	CU_ASSERT_EQUAL(dp_dma_free(NULL), 0);
	CU_ASSERT_EQUAL(dp_dma_free(&x), -EINVAL);
	CU_ASSERT(ut_log_has("not memory from dp_dma_alloc"));
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(100, 0, DP_NUMA_ANY, &p), 0);
	CU_ASSERT_EQUAL(dp_dma_free((char *)p + 64), -EINVAL);
	CU_ASSERT_EQUAL(dp_dma_free(p), 0);
	CU_ASSERT_EQUAL(dp_dma_free(p), -EINVAL); /* double free: detected, nothing changes */
	ut_log_release();
	dp_env_fini();
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Many allocations of random sizes and alignments: aligned, disjoint, inside mapped memory,
 * holding their contents; then freed in random order. */
static void alloc_pattern_check(void)
{
	enum { N = 300 };
	static void *ptr[N];
	static size_t len[N];
	struct recorder r = {0};

	CU_ASSERT_EQUAL(dp_mem_event_register(record, &r), 0);
	for (int i = 0; i < N; i++) {
		size_t align = (size_t)1 << (rng() % 22); /* 1 B .. 2 MiB */
		len[i] = 1 + rng() % (i % 50 == 0 ? 6 * MiB : 64 * 1024);
		int rc = (i & 1) ? dp_dma_zalloc(len[i], align, DP_NUMA_ANY, &ptr[i])
				 : dp_dma_alloc(len[i], align, DP_NUMA_ANY, &ptr[i]);
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		CU_ASSERT_EQUAL((uintptr_t)ptr[i] % align, 0);
		CU_ASSERT(covered(&r, ptr[i], len[i]));
		if (i & 1) {
			const uint8_t *b = ptr[i];
			CU_ASSERT(b[0] == 0 && b[len[i] - 1] == 0 && b[len[i] / 2] == 0);
		}
		memset(ptr[i], (int)(i & 0xff), len[i]);
	}
	for (int i = 0; i < N; i++) {
		const uint8_t *b = ptr[i];
		CU_ASSERT(b[0] == (i & 0xff) && b[len[i] - 1] == (i & 0xff));
		for (int j = i + 1; j < N; j++) {
			uintptr_t a0 = (uintptr_t)ptr[i], b0 = (uintptr_t)ptr[j];
			CU_ASSERT(a0 + len[i] <= b0 || b0 + len[j] <= a0);
		}
	}
	for (int i = N - 1; i > 0; i--) {
		int j = (int)(rng() % (uint64_t)(i + 1));
		void *tp = ptr[i];
		ptr[i] = ptr[j];
		ptr[j] = tp;
	}
	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL(dp_dma_free(ptr[i]), 0);
	CU_ASSERT_EQUAL(r.bad, 0);
	CU_ASSERT_EQUAL(dp_mem_event_unregister(record, &r), 0);
}

static void test_native_alloc(void)
{
	struct dp_env_opts o = native_opts();

	CU_ASSERT_EQUAL_FATAL(dp_env_init(&o), 0);
	alloc_pattern_check();
	dp_env_fini();
}

static void test_native_hugepages(void)
{
	struct dp_env_opts o = native_opts();
	struct dp_env_info i;
	void *p;

	if (!have_hugepages()) {
		printf("\n  SKIP: fewer than 16 free 2 MiB hugepages (run scripts/setup.sh hugepages)\n");
		return;
	}
	CU_ASSERT_EQUAL_FATAL(dp_env_init(&o), 0);
	i = info_now();
	CU_ASSERT_EQUAL(i.hugepages, 1);
	CU_ASSERT_EQUAL(i.page_size, 2 * MiB);
	CU_ASSERT_EQUAL(i.impl, DP_ENV_NATIVE);
	CU_ASSERT_EQUAL(dp_dma_alloc(3 * MiB, 2 * MiB, DP_NUMA_ANY, &p), 0);
	CU_ASSERT(info_now().mem_bytes >= 4 * MiB);
	CU_ASSERT_EQUAL(dp_dma_free(p), 0);
	dp_env_fini();
}

/* Hugepages asked for but unavailable: one warning, 4 KiB pages, everything still works. */
static void test_native_fallback_injected(void)
{
	struct dp_env_opts o = native_opts();
	struct dp_env_info i;
	void *p;

	ut_log_capture();
	CU_ASSERT_EQUAL_FATAL(dp_env_init(&o), 0);
	if (info_now().hugepages) {
		dpi_fault_arm_site("mmap-huge", 1, ENOMEM); /* the next hugepage mmap fails */
		CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(8192, 0, DP_NUMA_ANY, &p), 0);
		CU_ASSERT(dpi_fault_fired());
		CU_ASSERT_PTR_NOT_NULL_FATAL(dpi_fault_site());
		CU_ASSERT_STRING_EQUAL(dpi_fault_site(), "mmap-huge");
		dpi_fault_arm(0, 0);
	} else {
		CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(8192, 0, DP_NUMA_ANY, &p), 0);
	}
	i = info_now();
	CU_ASSERT_EQUAL(i.hugepages, 0);
	CU_ASSERT_EQUAL(i.page_size, 4096);
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_WARN], 1);
	CU_ASSERT(ut_log_has("scripts/setup.sh hugepages"));
	memset(p, 0xab, 8192);
	CU_ASSERT_EQUAL(dp_dma_free(p), 0);
	dp_env_fini();
	ut_log_release();
}

/* 1 GiB pages are normally not reserved: the fallback happens at init, with one warning. */
static void test_native_fallback_1g(void)
{
	struct dp_env_opts o = native_opts();
	void *p;

	if (dpi_free_hugepages(1ull << 30) != 0) {
		printf("\n  SKIP: this machine has free 1 GiB pages, so the 1 GiB fallback cannot be "
		       "shown (the injected fallback test covers the path)\n");
		return;
	}
	ut_log_capture();
	o.hugepage_size = 1ull << 30;
	CU_ASSERT_EQUAL_FATAL(dp_env_init(&o), 0);
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_WARN], 1);
	CU_ASSERT(ut_log_has("1048576 kB"));
	CU_ASSERT_EQUAL(info_now().page_size, 4096);
	CU_ASSERT_EQUAL(dp_dma_alloc(5 * MiB, 4096, DP_NUMA_ANY, &p), 0);
	memset(p, 1, 5 * MiB);
	CU_ASSERT_EQUAL(dp_dma_free(p), 0);
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_WARN], 1);
	dp_env_fini();
	ut_log_release();
}

static void test_no_huge_flag(void)
{
	struct dp_env_opts o = native_opts();

	ut_log_capture();
	o.flags = DP_ENV_F_NO_HUGE;
	o.mem_size = 4 * MiB;
	CU_ASSERT_EQUAL_FATAL(dp_env_init(&o), 0);
	CU_ASSERT_EQUAL(info_now().page_size, 4096);
	CU_ASSERT_EQUAL(info_now().mem_bytes, 4 * MiB);
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_WARN], 0); /* asked for: no warning */
	alloc_pattern_check();
	dp_env_fini();
	ut_log_release();
}

static void test_numa_placement(void)
{
	struct dp_env_opts o = native_opts();
	void *p;

	CU_ASSERT_EQUAL_FATAL(dp_env_init(&o), 0);
	int nodes = (int)info_now().numa_nodes;
	CU_ASSERT(nodes >= 1);
	for (int n = 0; n < nodes; n++) {
		CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(MiB, 4096, n, &p), 0);
		memset(p, 0, MiB);
#if DP_CONFIG_NUMA
		int where = -1;
		CU_ASSERT_EQUAL(get_mempolicy(&where, NULL, 0, p, MPOL_F_NODE | MPOL_F_ADDR), 0);
		CU_ASSERT_EQUAL(where, n);
#endif
		CU_ASSERT_EQUAL(dp_dma_free(p), 0);
	}
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_dma_alloc(MiB, 4096, nodes, &p), -EINVAL);
	CU_ASSERT(ut_log_has("does not exist"));
	ut_log_release();
	dp_env_fini();
}

/* ---- memory events ------------------------------------------------------------------------- */

static void test_mem_events(void)
{
	struct dp_env_opts o = native_opts();
	struct recorder early = {0}, late = {0};
	void *a, *b, *c;

	CU_ASSERT_EQUAL_FATAL(dp_env_init(&o), 0);
	CU_ASSERT_EQUAL(dp_mem_event_register(NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_mem_event_register(record, &early), 0);
	CU_ASSERT_EQUAL(dp_mem_event_register(record, &early), -EEXIST);
	CU_ASSERT_EQUAL(early.adds, 0); /* nothing mapped yet */

	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(3 * MiB, 0, DP_NUMA_ANY, &a), 0);
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(5 * MiB, 0, DP_NUMA_ANY, &b), 0);
	CU_ASSERT(covered(&early, a, 3 * MiB));
	CU_ASSERT(covered(&early, b, 5 * MiB));
	CU_ASSERT_EQUAL(early.added, info_now().mem_bytes);

	/* Late registration sees exactly what exists, no more, no less. */
	CU_ASSERT_EQUAL(dp_mem_event_register(record, &late), 0);
	CU_ASSERT_EQUAL(late.added, info_now().mem_bytes);
	CU_ASSERT(covered(&late, a, 3 * MiB));
	CU_ASSERT(covered(&late, b, 5 * MiB));

	/* Growth after late registration reaches both. */
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(7 * MiB, 0, DP_NUMA_ANY, &c), 0);
	CU_ASSERT(covered(&early, c, 7 * MiB) && covered(&late, c, 7 * MiB));

	/* Freeing gives memory back (one free segment stays cached): removes balance adds. */
	CU_ASSERT_EQUAL(dp_dma_free(a), 0);
	CU_ASSERT_EQUAL(dp_dma_free(b), 0);
	CU_ASSERT_EQUAL(dp_dma_free(c), 0);
	CU_ASSERT(early.removes >= 1);
	CU_ASSERT_EQUAL(early.added - early.removed, info_now().mem_bytes);
	CU_ASSERT_EQUAL(late.added - late.removed, info_now().mem_bytes);

	CU_ASSERT_EQUAL(dp_mem_event_unregister(record, &late), 0);
	CU_ASSERT_EQUAL(dp_mem_event_unregister(record, &late), -ENOENT);
	int late_adds = late.adds;
	CU_ASSERT_EQUAL_FATAL(dp_dma_alloc(9 * MiB, 0, DP_NUMA_ANY, &a), 0);
	CU_ASSERT_EQUAL(late.adds, late_adds);

	/* fini removes everything that is left, and says what was never freed. */
	ut_log_capture();
	dp_env_fini();
	CU_ASSERT(ut_log_has("1 DMA allocations were never freed"));
	ut_log_release();
	CU_ASSERT_EQUAL(early.added, early.removed);
	CU_ASSERT_EQUAL(early.nlive, 0);
	CU_ASSERT_EQUAL(early.bad, 0);
	CU_ASSERT_EQUAL(late.bad, 0);
}

/* ---- failure injection --------------------------------------------------------------------- */

/* Fail every fault point of dp_dma_alloc in turn: each failure is reported and leaves no
 * allocation, mapping or event behind; the retry without a fault succeeds. */
static void test_alloc_fail_nth(void)
{
	struct dp_env_opts o = native_opts();
	struct recorder r = {0};
	int n, failures_seen = 0;

	CU_ASSERT_EQUAL_FATAL(dp_env_init(&o), 0);
	CU_ASSERT_EQUAL(dp_mem_event_register(record, &r), 0);
	ut_log_capture();
	for (n = 1; n < 100; n++) {
		uint64_t before = info_now().mem_bytes;
		void *p = (void *)1;

		dpi_fault_arm(n, ENOMEM);
		int rc = dp_dma_alloc(6 * MiB, 4096, DP_NUMA_ANY, &p);
		bool fired = dpi_fault_fired();
		const char *site = dpi_fault_site();
		dpi_fault_arm(0, 0);
		if (!fired) {
			CU_ASSERT_EQUAL(rc, 0);
			CU_ASSERT_EQUAL(dp_dma_free(p), 0);
			break;
		}
		failures_seen++;
		if (rc == 0) {
			/* Only the hugepage mmap may fail without failing the call: it falls
			 * back to 4 KiB pages. */
			CU_ASSERT_PTR_NOT_NULL_FATAL(site);
			CU_ASSERT_STRING_EQUAL(site, "mmap-huge");
			CU_ASSERT_EQUAL(dp_dma_free(p), 0);
			dp_env_fini();
			CU_ASSERT_EQUAL_FATAL(dp_env_init(&o), 0);
			CU_ASSERT_EQUAL(dp_mem_event_register(record, &r), 0);
			continue;
		}
		CU_ASSERT_EQUAL(rc, -ENOMEM);
		CU_ASSERT_PTR_NULL(p);
		CU_ASSERT_EQUAL(info_now().mem_bytes, before);
		CU_ASSERT_EQUAL(r.added - r.removed, before);
	}
	CU_ASSERT(n < 100);
	CU_ASSERT(failures_seen >= 3);
	ut_log_release();
	dp_env_fini();
	CU_ASSERT_EQUAL(r.bad, 0);
}

static void test_init_fail_nth(void)
{
	struct dp_env_opts o = native_opts();
	int n;

	o.mem_size = 4 * MiB;
	o.flags = DP_ENV_F_NO_HUGE;
	ut_log_capture();
	for (n = 1; n < 50; n++) {
		dpi_fault_arm(n, ENOMEM);
		int rc = dp_env_init(&o);
		bool fired = dpi_fault_fired();
		dpi_fault_arm(0, 0);
		if (!fired) {
			CU_ASSERT_EQUAL(rc, 0);
			dp_env_fini();
			break;
		}
		CU_ASSERT_EQUAL(rc, -ENOMEM);
		CU_ASSERT_STRING_EQUAL(dp_env_impl_name(), "none");
	}
	CU_ASSERT(n > 1 && n < 50);
	ut_log_release();
}

/* ---- threads and time ---------------------------------------------------------------------- */

static int g_exit_ids[DP_MAX_THREADS];
static int g_exit_calls;
static pthread_mutex_t g_exit_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_thread_exit(int id, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_exit_lock);
	g_exit_ids[g_exit_calls++ % DP_MAX_THREADS] = id;
	pthread_mutex_unlock(&g_exit_lock);
}

static pthread_barrier_t g_barrier;

static void *thread_body(void *arg)
{
	int *out = arg;

	*out = dp_thread_id();
	CU_ASSERT_EQUAL(dp_thread_id(), *out); /* stable */
	pthread_barrier_wait(&g_barrier);      /* all alive at once: ids must differ */
	return NULL;
}

static void test_thread_ids(void)
{
	enum { T = 8 };
	pthread_t th[T];
	int ids[T];
	int main_id = dp_thread_id();

	CU_ASSERT(main_id >= 0 && main_id < DP_MAX_THREADS);
	CU_ASSERT_EQUAL(dpi_thread_exit_register(on_thread_exit, NULL), 0);
	CU_ASSERT_EQUAL(dpi_thread_exit_register(on_thread_exit, NULL), -EEXIST);
	g_exit_calls = 0;
	pthread_barrier_init(&g_barrier, NULL, T);
	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, thread_body, &ids[i]);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&g_barrier);
	for (int i = 0; i < T; i++) {
		CU_ASSERT(ids[i] >= 0 && ids[i] < DP_MAX_THREADS && ids[i] != main_id);
		for (int j = i + 1; j < T; j++)
			CU_ASSERT_NOT_EQUAL(ids[i], ids[j]);
	}
	/* Every thread's exit hook ran with its id. */
	CU_ASSERT_EQUAL(g_exit_calls, T);
	for (int i = 0; i < T; i++) {
		bool seen = false;
		for (int j = 0; j < T; j++)
			seen |= g_exit_ids[j] == ids[i];
		CU_ASSERT(seen);
	}
	/* Ids are recycled: a new thread gets one of the freed ids. */
	int again;
	pthread_barrier_init(&g_barrier, NULL, 1);
	pthread_create(&th[0], NULL, thread_body, &again);
	pthread_join(th[0], NULL);
	pthread_barrier_destroy(&g_barrier);
	bool recycled = false;
	for (int i = 0; i < T; i++)
		recycled |= again == ids[i];
	CU_ASSERT(recycled);
	CU_ASSERT_EQUAL(dpi_thread_exit_unregister(on_thread_exit, NULL), 0);
	CU_ASSERT_EQUAL(dpi_thread_exit_unregister(on_thread_exit, NULL), -ENOENT);
}

static void test_thread_pin(void)
{
	cpu_set_t saved;

	CU_ASSERT_EQUAL_FATAL(sched_getaffinity(0, sizeof(saved), &saved), 0);
	int core = -1;
	for (int c = 0; c < CPU_SETSIZE && core < 0; c++)
		if (CPU_ISSET(c, &saved))
			core = c;
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_thread_pin(core), 0);
	CU_ASSERT_EQUAL(dp_thread_core(), core);
	CU_ASSERT_EQUAL(dp_thread_pin(-1), -EINVAL);
	CU_ASSERT_EQUAL(dp_thread_pin(CPU_SETSIZE - 1), -EINVAL);
	CU_ASSERT(ut_log_has("outside this process's CPU set"));
	ut_log_release();
	sched_setaffinity(0, sizeof(saved), &saved);
}

static uint64_t g_fake_ticks;
static uint64_t fake_ticks(void)
{
	return g_fake_ticks;
}

static void test_ticks(void)
{
	uint64_t t0 = dp_ticks(), n0 = dp_time_ns();
	uint64_t x = 0;

	for (int i = 0; i < 100000; i++)
		x += (uint64_t)i * 3;
	CU_ASSERT(x != 1);
	CU_ASSERT(dp_ticks() > t0);
	CU_ASSERT(dp_time_ns() >= n0);
	CU_ASSERT(dp_ticks_hz() >= 1000000);
	dpi_ticks_set_source(fake_ticks, 1000);
	g_fake_ticks = 42;
	CU_ASSERT_EQUAL(dp_ticks(), 42);
	CU_ASSERT_EQUAL(dp_ticks_hz(), 1000);
	dpi_ticks_set_source(NULL, 0);
	CU_ASSERT(dp_ticks() > 42);
}

/* ---- logging ------------------------------------------------------------------------------- */

static void test_log(void)
{
	int saved = dp_log_get_level();

	CU_ASSERT_EQUAL(dp_log_parse_level("warn"), DP_LOG_WARN);
	CU_ASSERT_EQUAL(dp_log_parse_level("DEBUG"), DP_LOG_DEBUG);
	CU_ASSERT_EQUAL(dp_log_parse_level("3"), DP_LOG_NOTICE);
	CU_ASSERT_EQUAL(dp_log_parse_level("loud"), -EINVAL);
	CU_ASSERT_EQUAL(dp_log_parse_level(NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_log_set_level(0), -EINVAL);
	CU_ASSERT_EQUAL(dp_log_set_level(6), -EINVAL);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_log_set_level(DP_LOG_WARN), 0);
	dp_log(DP_LOG_INFO, "t", "dropped");
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_INFO], 0);
	dp_log(DP_LOG_ERROR, "t", "two\nlines\n");
	CU_ASSERT_STRING_EQUAL(g_ut_log.last, "t: two lines");
	ut_log_release();
	dp_log_set_level(saved);

	/* DP_LOG_LEVEL is read by dp_env_init; a bad value is reported and ignored. */
	struct dp_env_opts o = native_opts();
	setenv("DP_LOG_LEVEL", "debug", 1);
	CU_ASSERT_EQUAL(dp_env_init(&o), 0);
	CU_ASSERT_EQUAL(dp_log_get_level(), DP_LOG_DEBUG);
	dp_env_fini();
	setenv("DP_LOG_LEVEL", "shouty", 1);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_env_init(&o), 0);
	CU_ASSERT(ut_log_has("DP_LOG_LEVEL='shouty'"));
	dp_env_fini();
	ut_log_release();
	unsetenv("DP_LOG_LEVEL");
	dp_log_set_level(saved);
}

/* ---- DPDK (each case in its own process) --------------------------------------------------- */

#if DP_CONFIG_DPDK
static struct dp_env_opts dpdk_opts(void)
{
	struct dp_env_opts o;

	dp_env_opts_init(&o, sizeof(o));
	o.impl = DP_ENV_DPDK;
	return o;
}

static void child_dpdk_basic(void)
{
	struct dp_env_opts o = dpdk_opts();
	struct dp_env_info i = {.size = sizeof(i)};
	struct recorder r = {0}, late = {0};
	void *a, *b;
	int x;

	CHILD_CHECK(dp_env_init(&o) == 0);
	CHILD_CHECK(strcmp(dp_env_impl_name(), "dpdk") == 0);
	CHILD_CHECK(dp_env_get_info(&i) == 0 && i.impl == DP_ENV_DPDK);
	CHILD_CHECK(i.hugepages == 1 && i.page_size == 2 * MiB);
	CHILD_CHECK(dp_mem_event_register(record, &r) == 0);
	CHILD_CHECK(dp_dma_alloc(24 * MiB, 2 * MiB, DP_NUMA_ANY, &a) == 0);
	CHILD_CHECK((uintptr_t)a % (2 * MiB) == 0);
	CHILD_CHECK(covered(&r, a, 24 * MiB)); /* EAL grew its heap and told us */
	memset(a, 0x3c, 24 * MiB);
	CHILD_CHECK(dp_mem_event_register(record, &late) == 0);
	CHILD_CHECK(covered(&late, a, 24 * MiB)); /* late registration walks what exists */
	CHILD_CHECK(dp_dma_zalloc(4096, 0, DP_NUMA_ANY, &b) == 0 && ((char *)b)[100] == 0);
	ut_log_capture();
	CHILD_CHECK(dp_dma_free(&x) == -EINVAL);
	CHILD_CHECK(dp_dma_free(b) == 0);
	CHILD_CHECK(dp_dma_free(b) == -EINVAL); /* double free caught before EAL sees it */
	CHILD_CHECK(ut_log_has("freed already"));
	dpi_fault_arm(1, ENOMEM);
	CHILD_CHECK(dp_dma_alloc(4096, 0, DP_NUMA_ANY, &b) == -ENOMEM);
	dpi_fault_arm(0, 0);
	CHILD_CHECK(dp_dma_free(a) == 0);
	CHILD_CHECK(r.removes >= 1); /* EAL gave the pages back */
	CHILD_CHECK(r.exact_removes == r.removes); /* --match-allocations: whole regions only */
	alloc_pattern_check();
	dp_env_fini();
	CHILD_CHECK(r.nlive == 0 && r.bad == 0 && late.bad == 0);
	/* EAL cannot start twice in one process: a clear error, not a crash. */
	CHILD_CHECK(dp_env_init(&o) == -EALREADY);
	CHILD_CHECK(ut_log_has("cannot be initialised again"));
	ut_log_release();
}

static void child_dpdk_no_huge(void)
{
	struct dp_env_opts o = dpdk_opts();
	struct dp_env_info i = {.size = sizeof(i)};
	struct recorder r = {0};
	void *a;

	o.flags = DP_ENV_F_NO_HUGE;
	o.mem_size = 64 * MiB;
	CHILD_CHECK(dp_env_init(&o) == 0);
	CHILD_CHECK(dp_env_get_info(&i) == 0 && i.page_size == 4096 && i.hugepages == 0);
	CHILD_CHECK(i.mem_bytes == 64 * MiB);
	CHILD_CHECK(dp_mem_event_register(record, &r) == 0);
	CHILD_CHECK(r.added == 64 * MiB); /* static memory: the walk is all there is */
	CHILD_CHECK(dp_dma_alloc(MiB, 0, DP_NUMA_ANY, &a) == 0 && covered(&r, a, MiB));
	CHILD_CHECK(dp_dma_free(a) == 0);
	ut_log_capture();
	CHILD_CHECK(dp_dma_alloc(128 * MiB, 0, DP_NUMA_ANY, &a) == -ENOMEM);
	CHILD_CHECK(ut_log_has("cannot grow"));
	ut_log_release();
	dp_env_fini();
	CHILD_CHECK(r.removed == r.added);
}

static void child_dpdk_fallback(void)
{
	struct dp_env_opts o = dpdk_opts();
	struct dp_env_info i = {.size = sizeof(i)};
	void *a;

	ut_log_capture();
	o.hugepage_size = 1ull << 30; /* none reserved: falls back with one warning */
	CHILD_CHECK(dp_env_init(&o) == 0);
	CHILD_CHECK(dp_env_get_info(&i) == 0 && i.page_size == 4096);
	CHILD_CHECK(ut_log_has("scripts/setup.sh hugepages"));
	CHILD_CHECK(dp_dma_alloc(MiB, 0, DP_NUMA_ANY, &a) == 0);
	memset(a, 7, MiB);
	CHILD_CHECK(dp_dma_free(a) == 0);
	dp_env_fini();
	ut_log_release();
}

static void test_dpdk_basic(void)
{
	if (!have_hugepages()) {
		printf("\n  SKIP: fewer than 16 free 2 MiB hugepages (run scripts/setup.sh hugepages)\n");
		return;
	}
	CU_ASSERT_EQUAL(ut_run_in_child(child_dpdk_basic), 0);
}

static void test_dpdk_no_huge(void)
{
	CU_ASSERT_EQUAL(ut_run_in_child(child_dpdk_no_huge), 0);
}

static void test_dpdk_fallback(void)
{
	if (dpi_free_hugepages(1ull << 30) != 0) {
		printf("\n  SKIP: free 1 GiB pages exist, the DPDK fallback cannot be forced\n");
		return;
	}
	CU_ASSERT_EQUAL(ut_run_in_child(child_dpdk_fallback), 0);
}
#endif

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_opts_defaults),
		UT_TEST(test_bad_opts),
		UT_TEST(test_not_initialised),
		UT_TEST(test_double_init),
		UT_TEST(test_bad_args),
		UT_TEST(test_native_alloc),
		UT_TEST(test_native_hugepages),
		UT_TEST(test_native_fallback_injected),
		UT_TEST(test_native_fallback_1g),
		UT_TEST(test_no_huge_flag),
		UT_TEST(test_numa_placement),
		UT_TEST(test_mem_events),
		UT_TEST(test_alloc_fail_nth),
		UT_TEST(test_init_fail_nth),
		UT_TEST(test_thread_ids),
		UT_TEST(test_thread_pin),
		UT_TEST(test_ticks),
		UT_TEST(test_log),
#if DP_CONFIG_DPDK
		UT_TEST(test_dpdk_basic),
		UT_TEST(test_dpdk_no_huge),
		UT_TEST(test_dpdk_fallback),
#endif
	};

	return ut_main("env", tests, DPI_ARRAY_SIZE(tests), NULL, NULL);
}
