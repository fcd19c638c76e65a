/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_bench iova: the IOVA allocator behind dp_iova_map() against a baseline of the classic
 * design (a mutex around a balanced tree, first fit: bench_baseline_alloc.c), in the same run.
 *
 * Cases:
 *  pair_4k          alloc + free of 4 KiB, one thread: ns and (--instr) instructions per pair
 *  mixed_live_<n>   sizes 4 KiB - 1 MiB (half 4 KiB, a quarter 8 KiB, ...), n live allocations
 *                   (1k, 100k, 1M); each op frees a random live one and allocates a new one;
 *                   the median of 5 timed rounds on the same live set
 *  threads_2        each thread runs mixed_live with 1k live of its own; aggregate throughput of
 *                   2 threads over 1 thread ("scaling")
 *  cross_thread     2 threads, each allocating and handing its IOVAs to the other to free
 *                   (wall ns per op of both, and each thread's CPU ns per op of its own)
 * ratio_vs_baseline is baseline time / dmaplane time (how many times faster). The one-thread
 * cases time the thread's CPU time, the two-thread cases wall time. Instruction counts
 * are net of the measuring loop (the same loop with no allocator call is subtracted). The mixed
 * cases also report loop_ns, the loop with no allocator (it prefetches its own live array, see
 * loop_mixed, so it stays flat), and net_vs_live_1000, the growth of the cost net of that loop.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <dmaplane/env.h>
#include <dmaplane_internal/iova_alloc.h>

#include "bench.h"
#include "bench_iova.h"

#define SPAN_START (1ull << 38)
#define SPAN_LEN (64ull << 30)
#define PAIR_OPS 20000000ull
#define MIXED_OPS 2000000ull
#define THREAD_OPS 4000000ull
#define INSTR_OPS 200000ull

struct impl {
	const char *name;
	int (*alloc)(void *a, uint64_t size, uint64_t *iova);
	void (*free)(void *a, uint64_t iova, uint64_t size);
	void *(*create)(void);
	void (*destroy)(void *a);
};

static int ours_alloc(void *a, uint64_t size, uint64_t *iova)
{
	return dpi_iova_alloc(a, size, 0, iova);
}

static void ours_free(void *a, uint64_t iova, uint64_t size)
{
	if (dpi_iova_free(a, iova, size) != 0)
		abort();
}

static void *ours_create(void)
{
	struct dp_iova_range r = {SPAN_START, SPAN_START + SPAN_LEN - 1};
	struct dpi_iova_allocator *a;

	return dpi_iova_allocator_create(&r, 1, &a) == 0 ? a : NULL;
}

static void ours_destroy(void *a)
{
	dpi_iova_allocator_destroy(a);
}

static int b_alloc(void *a, uint64_t size, uint64_t *iova)
{
	return base_alloc(a, size, iova);
}

static void b_free(void *a, uint64_t iova, uint64_t size)
{
	base_free(a, iova, size);
}

static void *b_create(void)
{
	return base_create(SPAN_START, SPAN_LEN);
}

static void b_destroy(void *a)
{
	base_destroy(a);
}

/* No allocator at all: what the measuring loop itself costs (its live array grows too). */
static int null_alloc(void *a, uint64_t size, uint64_t *iova)
{
	(void)a;
	*iova = size;
	return 0;
}

static void null_free(void *a, uint64_t iova, uint64_t size)
{
	(void)a, (void)iova, (void)size;
}

static void *null_create(void)
{
	return (void *)1;
}

static void null_destroy(void *a)
{
	(void)a;
}

static const struct impl g_null = {"none", null_alloc, null_free, null_create, null_destroy};
static const struct impl g_ours = {"dmaplane", ours_alloc, ours_free, ours_create, ours_destroy};
static const struct impl g_base = {"mutex-avl-baseline", b_alloc, b_free, b_create, b_destroy};

/* ---- measured loops (noinline: callgrind collects inside them only) ----------------------- */

static __attribute__((noinline, used)) uint64_t loop_pair_ours(void *a, uint64_t n)
{
	uint64_t sum = 0, iova;

	for (uint64_t i = 0; i < n; i++) {
		dpi_iova_alloc(a, 4096, 0, &iova);
		dpi_iova_free(a, iova, 4096);
		sum += iova;
	}
	return sum;
}

static __attribute__((noinline, used)) uint64_t loop_pair_base(void *a, uint64_t n)
{
	uint64_t sum = 0, iova;

	for (uint64_t i = 0; i < n; i++) {
		base_alloc(a, 4096, &iova);
		base_free(a, iova, 4096);
		sum += iova;
	}
	return sum;
}

static __attribute__((noinline, used)) uint64_t loop_pair_empty(void *a, uint64_t n)
{
	uint64_t sum = 0, iova = (uintptr_t)a;

	for (uint64_t i = 0; i < n; i++) {
		__asm__ volatile("" : "+r"(iova));
		sum += iova;
	}
	return sum;
}

/* ---- mixed sizes with a live set ---------------------------------------------------------- */

struct live {
	uint64_t iova, size;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Half 4 KiB, a quarter 8 KiB, ... up to 1 MiB; one in 8 a non-power-of-two multiple. */
static uint64_t mixed_size(uint64_t r)
{
	uint32_t k = (uint32_t)__builtin_ctzll(r | (1ull << 8));
	uint64_t size = 4096ull << k;

	if ((r >> 61) == 0 && k > 0)
		size -= 4096;
	return size;
}

static int fill(const struct impl *im, void *a, struct live *l, uint64_t n, uint64_t *seed)
{
	for (uint64_t i = 0; i < n; i++) {
		l[i].size = mixed_size(xorshift(seed));
		if (im->alloc(a, l[i].size, &l[i].iova) != 0)
			return -ENOSPC;
	}
	return 0;
}

static void drain(const struct impl *im, void *a, struct live *l, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		im->free(a, l[i].iova, l[i].size);
}

/* A victim slot, uniform in [0, n) (multiply-shift: no division in the loop). */
static uint64_t pick(uint64_t *seed, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)xorshift(seed) * n) >> 64);
}

/*
 * Victims are drawn AHEAD operations early and their slots prefetched, for every implementation
 * alike: the harness's own random access to its live array (16 MiB at 1M live) then costs no
 * cache miss, so what grows with the live count is the allocator's own cost, and the loop with
 * no allocator (loop_ns) is a fair thing to subtract. New sizes come from the same
 * distribution as the initial fill, so the size mix of the live set is stationary from the
 * first operation (no drift of the classes' balance during the measurement).
 */
#define AHEAD 16

static __attribute__((noinline, used)) uint64_t loop_mixed(const struct impl *im, void *a,
							   struct live *l, uint64_t nlive,
							   uint64_t ops, uint64_t *seed)
{
	uint64_t sum = 0, next[AHEAD];

	for (int k = 0; k < AHEAD; k++)
		next[k] = pick(seed, nlive);
	for (uint64_t i = 0; i < ops; i++) {
		struct live *x = &l[next[i % AHEAD]];
		uint64_t j = pick(seed, nlive);
		next[i % AHEAD] = j;
		__builtin_prefetch(&l[j], 1);
		im->free(a, x->iova, x->size);
		x->size = mixed_size(xorshift(seed));
		if (im->alloc(a, x->size, &x->iova) != 0)
			abort();
		sum += x->iova;
	}
	return sum;
}

/* The live array of the mixed cases, on huge pages where the kernel has them (like the
 * allocator's page map): the harness's own accesses should miss neither caches nor the TLB. */
static struct live *live_new(uint64_t n)
{
	size_t len = n * sizeof(struct live);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, len, MADV_HUGEPAGE);
	return p;
}

static void live_free(struct live *l, uint64_t n)
{
	munmap(l, n * sizeof(*l));
}

static double now_ns(void)
{
	return (double)dp_time_ns();
}

/* CPU time of the calling thread: the one-thread cases do not count time the thread spent
 * descheduled on a shared machine (wall time would). */
static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* Timed rounds of the mixed cases, on the same live set: the median is reported, so that one
 * round disturbed by the shared machine does not move a ratio of two cases. */
#define MIXED_ROUNDS 5

/* ns per op of the mixed case with @nlive live allocations (median of MIXED_ROUNDS rounds). */
static double mixed(const struct impl *im, uint64_t nlive, uint64_t ops)
{
	double round[MIXED_ROUNDS];
	void *a = im->create();
	struct live *l = live_new(nlive);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	double t0, t1;

	if (a == NULL || l == NULL || fill(im, a, l, nlive, &seed) != 0) {
		fprintf(stderr, "dmaplane_bench iova: setup of mixed_live_%llu failed\n",
			(unsigned long long)nlive);
		exit(1);
	}
	loop_mixed(im, a, l, nlive, ops / 10, &seed); /* warm up */
	for (int r = 0; r < MIXED_ROUNDS; r++) {
		t0 = cpu_ns();
		loop_mixed(im, a, l, nlive, ops / MIXED_ROUNDS, &seed);
		t1 = cpu_ns();
		round[r] = (t1 - t0) / (double)(ops / MIXED_ROUNDS);
	}
	drain(im, a, l, nlive);
	im->destroy(a);
	live_free(l, nlive);
	qsort(round, MIXED_ROUNDS, sizeof(round[0]), cmp_double);
	return round[MIXED_ROUNDS / 2];
}

/* ---- threads ------------------------------------------------------------------------------ */

#define RING 256

struct ring {
	uint64_t head __attribute__((aligned(64)));
	uint64_t tail __attribute__((aligned(64)));
	struct live e[RING];
};

struct worker {
	const struct impl *im;
	void *a;
	uint64_t ops;
	int id;
	struct ring *in, *out; /* cross-thread case */
	pthread_barrier_t *start;
	double ns;
	double cpu; /* the thread's CPU time over the same span (run_mixed) */
};

static void *run_mixed(void *p)
{
	struct worker *w = p;
	struct live *l = calloc(1000, sizeof(*l));
	uint64_t seed = 0x1234567ull * (uint64_t)(w->id + 1);

	if (l == NULL || fill(w->im, w->a, l, 1000, &seed) != 0)
		abort();
	pthread_barrier_wait(w->start);
	double t0 = now_ns(), c0 = cpu_ns();
	loop_mixed(w->im, w->a, l, 1000, w->ops, &seed);
	w->ns = now_ns() - t0;
	w->cpu = cpu_ns() - c0;
	drain(w->im, w->a, l, 1000);
	free(l);
	return NULL;
}

/* Allocate, hand to the other thread; take what it handed over, free it. */
static void *run_cross(void *p)
{
	struct worker *w = p;
	uint64_t seed = 0x7654321ull * (uint64_t)(w->id + 1), sent = 0, got = 0;

	pthread_barrier_wait(w->start);
	double t0 = now_ns(), c0 = cpu_ns();
	while (sent < w->ops || got < w->ops) {
		bool progress = false;
		uint64_t tail = __atomic_load_n(&w->out->tail, __ATOMIC_ACQUIRE);
		if (sent < w->ops && w->out->head - tail < RING) {
			struct live x = {0, mixed_size(xorshift(&seed) | 1ull << 6)}; /* <= 256 KiB */
			if (w->im->alloc(w->a, x.size, &x.iova) != 0)
				abort();
			w->out->e[w->out->head % RING] = x;
			__atomic_store_n(&w->out->head, w->out->head + 1, __ATOMIC_RELEASE);
			sent++;
			progress = true;
		}
		uint64_t head = __atomic_load_n(&w->in->head, __ATOMIC_ACQUIRE);
		if (got < w->ops && w->in->tail != head) {
			struct live x = w->in->e[w->in->tail % RING];
			__atomic_store_n(&w->in->tail, w->in->tail + 1, __ATOMIC_RELEASE);
			w->im->free(w->a, x.iova, x.size);
			got++;
			progress = true;
		}
		if (!progress)
			sched_yield(); /* the other thread is not running: let it */
	}
	w->ns = now_ns() - t0;
	w->cpu = cpu_ns() - c0;
	return NULL;
}

/* Wall ns for @n threads each doing @ops operations of @fn; *cpu: the largest thread CPU time. */
static double threads(const struct impl *im, void *(*fn)(void *), int n, uint64_t ops,
		      double *cpu)
{
	struct worker w[2];
	struct ring *r = aligned_alloc(64, 2 * sizeof(*r));
	pthread_t t[2];
	pthread_barrier_t start;
	void *a = im->create();
	double wall = 0;

	if (r == NULL || a == NULL)
		exit(1);
	memset(r, 0, 2 * sizeof(*r));
	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){im, a, ops, i, &r[i], &r[1 - i], &start, 0, 0};
		if (pthread_create(&t[i], NULL, fn, &w[i]) != 0)
			exit(1);
	}
	*cpu = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		if (w[i].ns > wall)
			wall = w[i].ns;
		if (w[i].cpu > *cpu)
			*cpu = w[i].cpu;
	}
	pthread_barrier_destroy(&start);
	im->destroy(a);
	free(r);
	return wall;
}

/* ---- driver ------------------------------------------------------------------------------- */

static double pair_ns(const struct impl *im, uint64_t (*loop)(void *, uint64_t))
{
	void *a = im->create();
	double t0, t1;

	loop(a, PAIR_OPS / 10);
	t0 = cpu_ns();
	loop(a, PAIR_OPS);
	t1 = cpu_ns();
	im->destroy(a);
	return (t1 - t0) / (double)PAIR_OPS;
}

static int worker(const char *what)
{
	const struct impl *im = strcmp(what, "base") == 0 ? &g_base : &g_ours;
	void *a = im->create();
	uint64_t iova;

	/* Warm up outside the counted function: thread id, caches, first refill. */
	for (int i = 0; i < 100; i++) {
		im->alloc(a, 4096, &iova);
		im->free(a, iova, 4096);
	}
	if (strcmp(what, "ours") == 0)
		loop_pair_ours(a, INSTR_OPS);
	else if (strcmp(what, "base") == 0)
		loop_pair_base(a, INSTR_OPS);
	else if (strcmp(what, "empty") == 0)
		loop_pair_empty(a, INSTR_OPS);
	else
		return 2;
	im->destroy(a);
	return 0;
}

static double instr(const char *argv0, const char *what, const char *fn)
{
	const char *args[] = {"iova", what, NULL};
	double total = bench_callgrind(argv0, fn, args);

	return total < 0 ? -1 : total / (double)INSTR_OPS;
}

static void print(const char *cs, const char *impl, int nthreads, uint64_t ops, double ns,
		  double in, double ratio, const char *extra)
{
	bench_print(&(struct bench_result){"iova", cs, impl, nthreads, ops, ns, in, ratio, extra});
}

int bench_iova(int argc, char **argv, const char *argv0)
{
	bool do_instr = false;
	char extra[160];

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--instr") == 0)
			do_instr = true;
		else if (strcmp(argv[i], "--json") != 0 && argv0 != NULL) {
			fprintf(stderr, "dmaplane_bench iova: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (argv0 == NULL) /* worker under callgrind */
		return worker(argc > 0 ? argv[0] : "");

	/* 1: one pair of 4 KiB, one thread. */
	double bi = -1, oi = -1;
	if (do_instr) {
		double e = instr(argv0, "empty", "loop_pair_empty");
		bi = instr(argv0, "base", "loop_pair_base");
		oi = instr(argv0, "ours", "loop_pair_ours");
		if (e >= 0 && bi >= 0 && oi >= 0)
			bi -= e, oi -= e;
		else
			bi = oi = -1;
	}
	double bns = pair_ns(&g_base, loop_pair_base), ons = pair_ns(&g_ours, loop_pair_ours);
	print("pair_4k", g_base.name, 1, PAIR_OPS, bns, bi, -1,
	      do_instr ? "\"instr_net_of_loop\":true" : NULL);
	snprintf(extra, sizeof(extra), "\"instr_ratio_vs_baseline\":%.2f%s",
		 oi > 0 ? bi / oi : -1.0, do_instr ? ",\"instr_net_of_loop\":true" : "");
	print("pair_4k", g_ours.name, 1, PAIR_OPS, ons, oi, bns / ons, do_instr ? extra : NULL);

	/* 2: mixed sizes, 1k / 100k / 1M live allocations. */
	static const uint64_t live[] = {1000, 100000, 1000000};
	char cs[32];
	double o1k = 0, b1k = 0, h1k = 0;
	for (size_t i = 0; i < 3; i++) {
		double b = mixed(&g_base, live[i], MIXED_OPS), o = mixed(&g_ours, live[i], MIXED_OPS);
		double h = mixed(&g_null, live[i], MIXED_OPS);
		if (i == 0)
			o1k = o, b1k = b, h1k = h;
		snprintf(cs, sizeof(cs), "mixed_live_%llu", (unsigned long long)live[i]);
		snprintf(extra, sizeof(extra),
			 "\"live\":%llu,\"vs_live_1000\":%.2f,\"loop_ns\":%.3f,"
			 "\"net_vs_live_1000\":%.2f",
			 (unsigned long long)live[i], b / b1k, h, (b - h) / (b1k - h1k));
		print(cs, g_base.name, 1, MIXED_OPS, b, -1, -1, extra);
		snprintf(extra, sizeof(extra),
			 "\"live\":%llu,\"vs_live_1000\":%.2f,\"loop_ns\":%.3f,"
			 "\"net_vs_live_1000\":%.2f",
			 (unsigned long long)live[i], o / o1k, h, (o - h) / (o1k - h1k));
		print(cs, g_ours.name, 1, MIXED_OPS, o, -1, b / o, extra);
	}

	/* 3: two threads against one; cross-thread frees. */
	const struct impl *ims[2] = {&g_base, &g_ours};
	double base2 = 0, basex = 0;
	for (int k = 0; k < 2; k++) {
		double cpu1, cpu2, load[1] = {-1};
		double one = threads(ims[k], run_mixed, 1, THREAD_OPS, &cpu1);
		double two = threads(ims[k], run_mixed, 2, THREAD_OPS, &cpu2);
		double ns = two / (2.0 * THREAD_OPS); /* wall ns per op, aggregate */
		/* Wall-time scaling needs two idle cores; the CPU-time one says what the two
		 * threads cost each other (shared lines, locks) whatever else the machine runs. */
		(void)getloadavg(load, 1);
		snprintf(extra, sizeof(extra),
			 "\"scaling_vs_1_thread\":%.2f,\"one_thread_ns\":%.3f,"
			 "\"cpu_scaling_vs_1_thread\":%.2f,\"loadavg\":%.2f",
			 (one / THREAD_OPS) / ns, one / THREAD_OPS, 2.0 * cpu1 / cpu2, load[0]);
		if (k == 0)
			base2 = ns;
		print("threads_2", ims[k]->name, 2, 2 * THREAD_OPS, ns, -1, k ? base2 / ns : -1,
		      extra);
	}
	for (int k = 0; k < 2; k++) {
		double cpu, load[1] = {-1};
		double ns = threads(ims[k], run_cross, 2, THREAD_OPS / 2, &cpu) / (double)THREAD_OPS;
		(void)getloadavg(load, 1);
		if (k == 0)
			basex = ns;
		/* cpu_ns_per_op: the busier thread's CPU time per op of its own (an alloc and a
		 * free each op, one of them of the other thread's IOVA), which sched_yield while
		 * the other thread is descheduled inflates less than wall time does */
		snprintf(extra, sizeof(extra),
			 "\"op\":\"alloc in one thread, free in the other\","
			 "\"cpu_ns_per_op\":%.3f,\"loadavg\":%.2f",
			 cpu / (double)(THREAD_OPS / 2), load[0]);
		print("cross_thread", ims[k]->name, 2, THREAD_OPS, ns, -1, k ? basex / ns : -1,
		      extra);
	}
	return 0;
}
