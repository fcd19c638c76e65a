/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_bench xlate: cost of dp_iova_of() on a hot address (2 MiB and 4 KiB entries) and on
 * cold addresses spread over 4 GiB of registered memory, and of the inline fast path drivers
 * use, against a baseline that looks the address up by bisection in a sorted array of
 * registrations (what a simple map would do). Instruction counts (--instr, callgrind) are net
 * of the measuring loop: the same loop with an identity translation is counted and subtracted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane_internal/xlate.h>

#include "bench.h"

#define HOT_OPS 20000000ull
#define COLD_OPS 4000000ull
#define INSTR_OPS 100000ull
#define COLD_SPAN (4ull << 30)
#define CHUNK (2ull << 20)
#define NADDR 65536

struct region {
	uintptr_t va;
	uint64_t len;
	uint64_t iova;
};

static struct region *g_regs;
static uint32_t g_nregs;
static uint8_t *g_big, *g_small;
static uintptr_t *g_addrs;

/* Baseline: bisection over sorted registrations. */
static __attribute__((noinline)) uint64_t baseline_lookup(uintptr_t va)
{
	uint32_t lo = 0, hi = g_nregs;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (g_regs[mid].va + g_regs[mid].len <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < g_nregs && g_regs[lo].va <= va)
		return g_regs[lo].iova + (va - g_regs[lo].va);
	return UINT64_MAX;
}

/* The measured loops (named for callgrind's --toggle-collect). */
static __attribute__((noinline, used)) uint64_t loop_hot(const void *p, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		__asm__ volatile("" : "+r"(p));
		sum += dp_iova_of(p, NULL);
	}
	return sum;
}

static __attribute__((noinline, used)) uint64_t loop_base_hot(uintptr_t va, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		__asm__ volatile("" : "+r"(va));
		sum += baseline_lookup(va);
	}
	return sum;
}

/* What drivers use: the inline fast path. */
static __attribute__((noinline, used)) uint64_t loop_inline(const void *p, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		__asm__ volatile("" : "+r"(p));
		sum += dpi_iova_of(p);
	}
	return sum;
}

/* The same loop with an identity "translation": its cost is subtracted. */
static __attribute__((noinline, used)) uint64_t loop_empty(const void *p, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		__asm__ volatile("" : "+r"(p));
		sum += (uintptr_t)p;
	}
	return sum;
}

static __attribute__((noinline, used)) uint64_t loop_cold(uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++)
		sum += dp_iova_of((const void *)g_addrs[i & (NADDR - 1)], NULL);
	return sum;
}

static __attribute__((noinline, used)) uint64_t loop_base_cold(uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < n; i++)
		sum += baseline_lookup(g_addrs[i & (NADDR - 1)]);
	return sum;
}

/* Register 4 GiB of untouched virtual memory in 2 MiB pieces (as many registrations as a
 * per-page map would hold), plus a region that is not 2 MiB aligned (4 KiB entries). */
static int setup(void)
{
	struct dp_env_opts o;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int rc;

	dp_env_opts_init(&o, sizeof(o));
	o.impl = DP_ENV_NATIVE;
	o.flags = DP_ENV_F_NO_HUGE;
	if ((rc = dp_env_init(&o)) != 0)
		return rc;
	g_big = mmap(NULL, COLD_SPAN + CHUNK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	g_small = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g_big == MAP_FAILED || g_small == MAP_FAILED)
		return -ENOMEM;
	g_big = (uint8_t *)(((uintptr_t)g_big + CHUNK - 1) & ~(CHUNK - 1));
	g_nregs = (uint32_t)(COLD_SPAN / CHUNK);
	g_regs = calloc(g_nregs, sizeof(*g_regs));
	g_addrs = calloc(NADDR, sizeof(*g_addrs));
	if (g_regs == NULL || g_addrs == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < g_nregs; i++) {
		uint8_t *p = g_big + (uint64_t)i * CHUNK;
		if ((rc = dp_mem_register(p, CHUNK)) != 0)
			return rc;
		g_regs[i] = (struct region){(uintptr_t)p, CHUNK, dp_iova_of(p, NULL)};
	}
	if ((rc = dp_mem_register(g_small + 4096, 32 * 4096)) != 0)
		return rc;
	for (int i = 0; i < NADDR; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		g_addrs[i] = (uintptr_t)g_big + (seed % COLD_SPAN);
	}
	return 0;
}

static double time_ns(uint64_t (*fn)(uint64_t), uint64_t n)
{
	uint64_t t0 = dp_time_ns(), s = fn(n), t1 = dp_time_ns();

	__asm__ volatile("" ::"r"(s));
	return (double)(t1 - t0) / (double)n;
}

static uint64_t hot2m(uint64_t n)
{
	return loop_hot(g_big + 12345, n);
}
static uint64_t hot4k(uint64_t n)
{
	return loop_hot(g_small + 4096 + 777, n);
}
static uint64_t inline2m(uint64_t n)
{
	return loop_inline(g_big + 12345, n);
}
static uint64_t empty(uint64_t n)
{
	return loop_empty(g_big + 12345, n);
}
static uint64_t base_hot(uint64_t n)
{
	return loop_base_hot((uintptr_t)g_big + 12345, n);
}

static int worker(const char *what)
{
	/* Under callgrind, with collection on in the loop function only. */
	if (strcmp(what, "hot2m") == 0)
		hot2m(INSTR_OPS);
	else if (strcmp(what, "hot4k") == 0)
		hot4k(INSTR_OPS);
	else if (strcmp(what, "cold") == 0)
		loop_cold(INSTR_OPS);
	else if (strcmp(what, "inline2m") == 0)
		inline2m(INSTR_OPS);
	else if (strcmp(what, "empty") == 0)
		empty(INSTR_OPS);
	else if (strcmp(what, "base_hot") == 0)
		base_hot(INSTR_OPS);
	else if (strcmp(what, "base_cold") == 0)
		loop_base_cold(INSTR_OPS);
	else
		return 2;
	return 0;
}

static double g_empty_instr; /* per iteration of the empty loop, subtracted from the others */

static double instr(const char *argv0, const char *what, const char *fn)
{
	const char *args[] = {"xlate", what, NULL};
	double total = bench_callgrind(argv0, fn, args);

	return total < 0 ? -1 : total / (double)INSTR_OPS - g_empty_instr;
}

int bench_xlate(int argc, char **argv, const char *argv0)
{
	bool do_instr = false;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--instr") == 0)
			do_instr = true;
		else if (strcmp(argv[i], "--json") != 0 && argv0 != NULL) {
			fprintf(stderr, "dmaplane_bench xlate: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	rc = setup();
	if (rc != 0) {
		fprintf(stderr, "dmaplane_bench xlate: setup failed: %s\n", strerror(-rc));
		return 1;
	}
	if (argv0 == NULL) /* worker */
		return worker(argc > 0 ? argv[0] : "");

	/* Sanity: both implementations agree before anything is timed. */
	for (int i = 0; i < NADDR; i++) {
		if (dp_iova_of((void *)g_addrs[i], NULL) != baseline_lookup(g_addrs[i])) {
			fprintf(stderr, "dmaplane_bench xlate: translation mismatch at %#lx\n",
				(unsigned long)g_addrs[i]);
			return 1;
		}
	}
	/* Instruction counts are net of the loop around the lookup. */
	if (do_instr) {
		g_empty_instr = 0;
		g_empty_instr = instr(argv0, "empty", "loop_empty");
		if (g_empty_instr < 0)
			do_instr = false, g_empty_instr = 0;
	}
	struct {
		const char *name;
		uint64_t (*ours)(uint64_t), (*base)(uint64_t);
		uint64_t ops;
		const char *w_ours, *f_ours, *w_base, *f_base;
	} cases[] = {
		{"hot_2m", hot2m, base_hot, HOT_OPS, "hot2m", "loop_hot", "base_hot",
		 "loop_base_hot"},
		{"hot_2m_inline", inline2m, base_hot, HOT_OPS, "inline2m", "loop_inline", "base_hot",
		 "loop_base_hot"},
		{"hot_4k", hot4k, NULL, HOT_OPS, "hot4k", "loop_hot", NULL, NULL},
		{"cold_4g", loop_cold, loop_base_cold, COLD_OPS, "cold", "loop_cold", "base_cold",
		 "loop_base_cold"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		double ns = time_ns(cases[c].ours, cases[c].ops), bns = -1, bi = -1;
		double in = do_instr ? instr(argv0, cases[c].w_ours, cases[c].f_ours) : -1;
		if (cases[c].base != NULL) {
			bns = time_ns(cases[c].base, cases[c].ops);
			bi = do_instr ? instr(argv0, cases[c].w_base, cases[c].f_base) : -1;
			bench_print(&(struct bench_result){"xlate", cases[c].name, "bisect-baseline", 1,
							   cases[c].ops, bns, bi, -1, NULL});
		}
		bench_print(&(struct bench_result){"xlate", cases[c].name, "dmaplane", 1,
						   cases[c].ops, ns, in, bns > 0 ? bns / ns : -1,
						   do_instr ? "\"instr_net_of_loop\":true" : NULL});
	}
	dp_env_fini();
	return 0;
}
