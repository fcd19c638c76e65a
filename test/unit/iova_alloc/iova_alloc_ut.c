/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the IOVA allocator (lib/iova/alloc*.c): every size class and the large path,
 * alignment, exhaustion and recovery, refused frees (double, never allocated, wrong size),
 * frees from other threads, thread exit with a full cache, reclaim of other threads' caches
 * under pressure, and a multi-thread stress that checks no IOVA is ever live twice.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane_internal/common.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/iova_alloc.h>

#include "ut.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

static struct dpi_iova_allocator *new_alloc(dp_iova_t start, uint64_t len)
{
	struct dp_iova_range r = {start, start + len - 1};
	struct dpi_iova_allocator *a = NULL;

	CU_ASSERT_EQUAL_FATAL(dpi_iova_allocator_create(&r, 1, &a), 0);
	return a;
}

static struct dpi_iova_alloc_stats stats(struct dpi_iova_allocator *a)
{
	struct dpi_iova_alloc_stats st;

	dpi_iova_alloc_stats(a, &st);
	return st;
}

/* ---- sizes and alignment ------------------------------------------------------------------ */

static void test_create_args(void)
{
	struct dp_iova_range r[2] = {{0x100000, 0x1fffff}, {0x180000, 0x2fffff}};
	struct dpi_iova_allocator *a;

	CU_ASSERT_EQUAL(dpi_iova_allocator_create(NULL, 1, &a), -EINVAL);
	CU_ASSERT_EQUAL(dpi_iova_allocator_create(r, 0, &a), -EINVAL);
	CU_ASSERT_EQUAL(dpi_iova_allocator_create(r, 2, &a), -EINVAL); /* overlapping */
	r[1] = (struct dp_iova_range){5, 4};
	CU_ASSERT_EQUAL(dpi_iova_allocator_create(r, 2, &a), -EINVAL);
	r[0] = (struct dp_iova_range){0, 4095}; /* only IOVA 0's page */
	CU_ASSERT_EQUAL(dpi_iova_allocator_create(r, 1, &a), -ENOSPC);
	r[0] = (struct dp_iova_range){0x1000, 0x1fff + DPI_IOVA_MAX_SPAN};
	CU_ASSERT_EQUAL(dpi_iova_allocator_create(r, 1, &a), -E2BIG);
	dpi_fault_arm(1, ENOMEM);
	r[0] = (struct dp_iova_range){0x1000, 0xffffff};
	CU_ASSERT_EQUAL(dpi_iova_allocator_create(r, 1, &a), -ENOMEM);
	dpi_fault_arm(2, ENOMEM);
	CU_ASSERT_EQUAL(dpi_iova_allocator_create(r, 1, &a), -ENOMEM);
	dpi_fault_arm(0, 0);
	dpi_iova_allocator_destroy(NULL);
}

static void test_every_class_and_large(void)
{
	struct dpi_iova_allocator *a = new_alloc(1ull << 38, 64 * GiB);
	static const uint64_t sizes[] = {4 * KiB,  8 * KiB,  12 * KiB, 16 * KiB, 32 * KiB,
					 64 * KiB, 96 * KiB, 128 * KiB, 256 * KiB, 512 * KiB,
					 1 * MiB,  2 * MiB, 3 * MiB,  64 * MiB, 1 * GiB, 4 * GiB};
	dp_iova_t iova[DPI_ARRAY_SIZE(sizes)][3];

	for (size_t i = 0; i < DPI_ARRAY_SIZE(sizes); i++) {
		uint64_t natural = 4 * KiB;
		while (natural < sizes[i])
			natural <<= 1;
		for (int k = 0; k < 3; k++) {
			CU_ASSERT_EQUAL_FATAL(dpi_iova_alloc(a, sizes[i], 0, &iova[i][k]), 0);
			CU_ASSERT(iova[i][k] >= (1ull << 38));
			CU_ASSERT(iova[i][k] + sizes[i] <= (1ull << 38) + 64 * GiB);
			CU_ASSERT_EQUAL(iova[i][k] % natural, 0);
		}
	}
	/* no two overlap */
	for (size_t i = 0; i < DPI_ARRAY_SIZE(sizes) * 3; i++)
		for (size_t j = 0; j < i; j++) {
			dp_iova_t x = iova[i / 3][i % 3], y = iova[j / 3][j % 3];
			CU_ASSERT(x + sizes[i / 3] <= y || y + sizes[j / 3] <= x);
		}
	struct dpi_iova_alloc_stats st = stats(a);
	CU_ASSERT_EQUAL(st.allocs, DPI_ARRAY_SIZE(sizes) * 3);
	for (size_t i = 0; i < DPI_ARRAY_SIZE(sizes); i++)
		for (int k = 0; k < 3; k++)
			CU_ASSERT_EQUAL(dpi_iova_free(a, iova[i][k], sizes[i]), 0);
	/* a freed cached-class IOVA comes back from the cache: a hit */
	dp_iova_t again;
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * KiB, 0, &again), 0);
	CU_ASSERT_EQUAL(again, iova[0][2]);
	CU_ASSERT_EQUAL(dpi_iova_free(a, again, 4 * KiB), 0);
	st = stats(a);
	CU_ASSERT_EQUAL(st.frees, DPI_ARRAY_SIZE(sizes) * 3 + 1);
	CU_ASSERT(st.cache_hits >= 1);
	CU_ASSERT(st.bytes_cached > 0);
	CU_ASSERT_EQUAL(st.bytes_free + st.bytes_cached, st.bytes_total);
	dpi_iova_reclaim(a);
	st = stats(a);
	CU_ASSERT_EQUAL(st.bytes_cached, 0);
	CU_ASSERT_EQUAL(st.bytes_free, 64 * GiB);
	/* the whole space in one piece again */
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 64 * GiB, 0, &again), 0);
	CU_ASSERT_EQUAL(again, 1ull << 38);
	CU_ASSERT_EQUAL(dpi_iova_free(a, again, 64 * GiB), 0);
	dpi_iova_allocator_destroy(a);
}

static void test_alignment(void)
{
	struct dpi_iova_allocator *a = new_alloc(4 * KiB, 16 * GiB - 4 * KiB);
	static const struct {
		uint64_t size, align;
	} req[] = {{4 * KiB, 64 * KiB}, {8 * KiB, 2 * MiB}, {12 * KiB, 1 * MiB},
		   {2 * MiB, 1 * GiB},  {3 * MiB, 4 * KiB}, {4 * KiB, 4 * KiB},
		   {1 * GiB, 0},        {20 * KiB, 8 * KiB}};
	dp_iova_t iova[DPI_ARRAY_SIZE(req)];

	for (size_t i = 0; i < DPI_ARRAY_SIZE(req); i++) {
		CU_ASSERT_EQUAL_FATAL(dpi_iova_alloc(a, req[i].size, req[i].align, &iova[i]), 0);
		CU_ASSERT(iova[i] != 0);
		if (req[i].align)
			CU_ASSERT_EQUAL(iova[i] % req[i].align, 0);
	}
	CU_ASSERT_EQUAL(iova[6] % GiB, 0); /* natural alignment of a 1 GiB size */
	for (size_t i = 0; i < DPI_ARRAY_SIZE(req); i++)
		CU_ASSERT_EQUAL(dpi_iova_free(a, iova[i], req[i].size), 0);

	ut_log_capture();
	dp_iova_t x;
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 0, 0, &x), -EINVAL);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4095, 0, &x), -EINVAL);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4097, 0, &x), -EINVAL);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4096, 2048, &x), -EINVAL);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4096, 3 * 4096, &x), -EINVAL);
	CU_ASSERT(ut_log_has("multiple of 4 KiB"));
	ut_log_release();
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 32 * GiB, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4096, 32 * GiB, &x), -ENOSPC);
	dpi_iova_allocator_destroy(a);
}

/* ---- exhaustion --------------------------------------------------------------------------- */

static void test_exhaustion(void)
{
	/* IOVA 0's page is never handed out: 255 pages. */
	struct dpi_iova_allocator *a = new_alloc(0, 1 * MiB);
	dp_iova_t iova[256], x;
	int n = 0;

	while (n < 256 && dpi_iova_alloc(a, 4 * KiB, 0, &iova[n]) == 0) {
		CU_ASSERT_NOT_EQUAL(iova[n], 0);
		n++;
	}
	CU_ASSERT_EQUAL(n, 255);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * KiB, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 8 * KiB, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(dpi_iova_free(a, iova[100], 4 * KiB), 0);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * KiB, 0, &x), 0);
	CU_ASSERT_EQUAL(x, iova[100]);
	CU_ASSERT_EQUAL(dpi_iova_free(a, x, 4 * KiB), 0);
	for (int i = 0; i < n; i++)
		if (i != 100)
			CU_ASSERT_EQUAL(dpi_iova_free(a, iova[i], 4 * KiB), 0);
	/* all of it cached; a 512 KiB allocation reclaims and succeeds */
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 512 * KiB, 0, &x), 0);
	CU_ASSERT_EQUAL(x, 512 * KiB);
	CU_ASSERT(stats(a).reclaims >= 1);
	CU_ASSERT_EQUAL(dpi_iova_free(a, x, 512 * KiB), 0);
	dpi_iova_allocator_destroy(a);

	/* A non-power-of-two size leaves its tail usable. */
	a = new_alloc(4 * MiB, 4 * MiB);
	dp_iova_t big, tail;
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 3 * MiB, 0, &big), 0);
	CU_ASSERT_EQUAL(big, 4 * MiB);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 1 * MiB, 0, &tail), 0);
	CU_ASSERT_EQUAL(tail, 7 * MiB);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * KiB, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(dpi_iova_free(a, big, 3 * MiB), 0);
	CU_ASSERT_EQUAL(dpi_iova_free(a, tail, 1 * MiB), 0);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * MiB, 0, &x), 0);
	CU_ASSERT_EQUAL(dpi_iova_free(a, x, 4 * MiB), 0);
	dpi_iova_allocator_destroy(a);
}

/* Several ranges with holes: only usable pages are handed out, merging stops at the holes. */
static void test_ranges_with_holes(void)
{
	struct dp_iova_range r[3] = {{0x10000, 0x1ffff}, {0x30000, 0x3ffff}, {0x40800, 0x80fff}};
	struct dpi_iova_allocator *a;
	dp_iova_t x, got[96];
	int n = 0;

	CU_ASSERT_EQUAL_FATAL(dpi_iova_allocator_create(r, 3, &a), 0);
	/* 16 + 16 + 64 pages (the third range's unaligned head page is left out) */
	CU_ASSERT_EQUAL(stats(a).bytes_total, 96 * 4 * KiB);
	while (dpi_iova_alloc(a, 4 * KiB, 0, &x) == 0) {
		bool in = false;
		for (int i = 0; i < 3; i++)
			in |= x >= r[i].start && x + 4095 <= r[i].last;
		CU_ASSERT(in);
		if (n < 96)
			got[n] = x;
		n++;
	}
	CU_ASSERT_EQUAL_FATAL(n, 96);
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(dpi_iova_free(a, got[i], 4 * KiB), 0);
	dpi_iova_reclaim(a);
	/* 0x40000 is not usable, so the only aligned 128 KiB block is 0x60000; no 256 KiB one */
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 256 * KiB, 0, &x), -ENOSPC);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 128 * KiB, 0, &x), 0);
	CU_ASSERT_EQUAL(x, 0x60000);
	dpi_iova_allocator_destroy(a);
}

/* ---- refused frees ------------------------------------------------------------------------ */

static void check_refused(struct dpi_iova_allocator *a, dp_iova_t iova, uint64_t size,
			  const char *why)
{
	struct dpi_iova_alloc_stats before = stats(a), after;

	ut_log_capture();
	CU_ASSERT_EQUAL(dpi_iova_free(a, iova, size), -EINVAL);
	CU_ASSERT(ut_log_has("refused"));
	if (why != NULL)
		CU_ASSERT(ut_log_has(why));
	ut_log_release();
	after = stats(a);
	CU_ASSERT_EQUAL(after.bad_frees, before.bad_frees + 1);
	CU_ASSERT_EQUAL(after.frees, before.frees);
	CU_ASSERT_EQUAL(after.bytes_cached, before.bytes_cached);
	CU_ASSERT_EQUAL(after.bytes_free, before.bytes_free);
}

static void test_double_free(void)
{
	struct dpi_iova_allocator *a = new_alloc(1 * GiB, 1 * GiB);
	dp_iova_t s, s2, b, x, y;

	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * KiB, 0, &s), 0);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 64 * KiB, 0, &s2), 0);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 2 * MiB, 0, &b), 0);
	CU_ASSERT_EQUAL(dpi_iova_free(a, s, 4 * KiB), 0);
	check_refused(a, s, 4 * KiB, "double free"); /* while in the thread cache */
	CU_ASSERT_EQUAL(dpi_iova_free(a, b, 2 * MiB), 0);
	check_refused(a, b, 2 * MiB, NULL); /* large: back in the backing allocator */
	/* after a reclaim the small one is back in the backing allocator: still refused */
	dpi_iova_reclaim(a);
	check_refused(a, s, 4 * KiB, NULL);
	/* state intact: allocations go on, nothing handed out twice */
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * KiB, 0, &x), 0);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * KiB, 0, &y), 0);
	CU_ASSERT_NOT_EQUAL(x, y);
	CU_ASSERT(x + 4 * KiB <= s2 || x >= s2 + 64 * KiB);
	CU_ASSERT_EQUAL(dpi_iova_free(a, x, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dpi_iova_free(a, y, 4 * KiB), 0);
	CU_ASSERT_EQUAL(dpi_iova_free(a, s2, 64 * KiB), 0);
	/* a double free in the depot: fill magazines until one moves there */
	dp_iova_t many[3 * DPI_IOVA_MAG_SIZE];
	for (int i = 0; i < 3 * DPI_IOVA_MAG_SIZE; i++)
		CU_ASSERT_EQUAL(dpi_iova_alloc(a, 8 * KiB, 0, &many[i]), 0);
	for (int i = 0; i < 3 * DPI_IOVA_MAG_SIZE; i++)
		CU_ASSERT_EQUAL(dpi_iova_free(a, many[i], 8 * KiB), 0);
	CU_ASSERT(stats(a).depot_exchanges >= 1);
	check_refused(a, many[0], 8 * KiB, "double free");
	dpi_iova_allocator_destroy(a);
}

static void test_never_allocated(void)
{
	struct dpi_iova_allocator *a = new_alloc(1 * GiB, 1 * GiB);
	dp_iova_t s, b;

	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 16 * KiB, 0, &s), 0);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * MiB, 0, &b), 0);
	check_refused(a, s + 64 * MiB, 16 * KiB, "not a live allocation"); /* free space */
	check_refused(a, s + 4 * KiB, 4 * KiB, NULL);   /* inside an allocation */
	check_refused(a, s, 8 * KiB, NULL);             /* wrong size, smaller class */
	check_refused(a, s, 32 * KiB, NULL);            /* wrong size, larger class */
	check_refused(a, s + 1, 16 * KiB, NULL);        /* misaligned */
	check_refused(a, b, 2 * MiB, NULL);             /* large, wrong size */
	check_refused(a, b + 2 * MiB, 2 * MiB, NULL);   /* large, inside */
	check_refused(a, b, 8 * MiB, NULL);
	check_refused(a, 4 * KiB, 4 * KiB, NULL);       /* below the span */
	check_refused(a, 3 * GiB, 4 * KiB, NULL);       /* above the span */
	check_refused(a, 3 * GiB, 4 * MiB, NULL);
	check_refused(a, s, 0, NULL);
	check_refused(a, UINT64_MAX - 4095, 8 * MiB, NULL);
	CU_ASSERT_EQUAL(dpi_iova_free(a, s, 16 * KiB), 0);
	CU_ASSERT_EQUAL(dpi_iova_free(a, b, 4 * MiB), 0);
	dpi_iova_allocator_destroy(a);
}

/* 12 KiB is served from the 16 KiB class: freed with the size that was asked. */
static void test_non_pow2_class(void)
{
	struct dpi_iova_allocator *a = new_alloc(1 * GiB, 1 * GiB);
	dp_iova_t x, y;

	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 12 * KiB, 0, &x), 0);
	CU_ASSERT_EQUAL(x % (16 * KiB), 0);
	CU_ASSERT_EQUAL(dpi_iova_free(a, x, 12 * KiB), 0);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 16 * KiB, 0, &y), 0);
	CU_ASSERT_EQUAL(y, x);
	CU_ASSERT_EQUAL(dpi_iova_free(a, y, 16 * KiB), 0);
	dpi_iova_allocator_destroy(a);
}

/* ---- threads ------------------------------------------------------------------------------ */

struct batch {
	struct dpi_iova_allocator *a;
	dp_iova_t *iova;
	int n;
	uint64_t size;
	int rc;
	pthread_barrier_t *hold; /* wait here before exiting, if set */
};

static void *alloc_batch(void *p)
{
	struct batch *b = p;

	for (int i = 0; i < b->n && b->rc == 0; i++)
		b->rc = dpi_iova_alloc(b->a, b->size, 0, &b->iova[i]);
	return NULL;
}

static void *free_batch(void *p)
{
	struct batch *b = p;

	for (int i = 0; i < b->n && b->rc == 0; i++)
		b->rc = dpi_iova_free(b->a, b->iova[i], b->size);
	return NULL;
}

static void *alloc_free_hold(void *p)
{
	struct batch *b = p;

	alloc_batch(b);
	if (b->rc == 0)
		free_batch(b);
	if (b->hold != NULL) {
		pthread_barrier_wait(b->hold); /* filled */
		pthread_barrier_wait(b->hold); /* the other thread is done */
	}
	return NULL;
}

static void run(void *(*fn)(void *), struct batch *b)
{
	pthread_t t;

	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, fn, b), 0);
	pthread_join(t, NULL);
}

static void test_cross_thread_free(void)
{
	struct dpi_iova_allocator *a = new_alloc(64 * MiB, 64 * MiB);
	dp_iova_t *iova = calloc(4096, sizeof(*iova)), x;
	struct batch b = {a, iova, 4096, 4 * KiB, 0, NULL};

	run(alloc_batch, &b);
	CU_ASSERT_EQUAL(b.rc, 0);
	run(free_batch, &b); /* another thread frees them all */
	CU_ASSERT_EQUAL(b.rc, 0);
	/* and a third allocates them again (from the depot or the backing allocator) */
	b.size = 4 * KiB;
	run(alloc_batch, &b);
	CU_ASSERT_EQUAL(b.rc, 0);
	for (int i = 0; i < 4096; i++)
		CU_ASSERT_EQUAL(dpi_iova_free(a, iova[i], 4 * KiB), 0);
	struct dpi_iova_alloc_stats st = stats(a);
	CU_ASSERT_EQUAL(st.allocs, 2 * 4096);
	CU_ASSERT_EQUAL(st.frees, 2 * 4096);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 64 * MiB, 0, &x), 0);
	CU_ASSERT_EQUAL(dpi_iova_free(a, x, 64 * MiB), 0);
	dpi_iova_allocator_destroy(a);
	free(iova);
}

static void test_thread_exit(void)
{
	struct dpi_iova_allocator *a = new_alloc(64 * MiB, 64 * MiB);
	dp_iova_t iova[2 * DPI_IOVA_MAG_SIZE], x;
	struct batch b = {a, iova, 2 * DPI_IOVA_MAG_SIZE, 32 * KiB, 0, NULL};

	/* Both magazines of the thread end full; the thread exits. */
	run(alloc_free_hold, &b);
	CU_ASSERT_EQUAL(b.rc, 0);
	struct dpi_iova_alloc_stats st = stats(a);
	CU_ASSERT_EQUAL(st.bytes_cached, 0);
	CU_ASSERT_EQUAL(st.bytes_free, 64 * MiB);
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 64 * MiB, 0, &x), 0);
	CU_ASSERT_EQUAL(stats(a).reclaims, 0); /* came back at exit, not by reclaim */
	CU_ASSERT_EQUAL(dpi_iova_free(a, x, 64 * MiB), 0);
	dpi_iova_allocator_destroy(a);
}

static void test_reclaim_under_pressure(void)
{
	struct dpi_iova_allocator *a = new_alloc(64 * MiB, 64 * MiB);
	dp_iova_t *iova = calloc(2048, sizeof(*iova)), x;
	struct batch b = {a, iova, 128, 256 * KiB, 0, NULL};
	pthread_barrier_t hold;
	pthread_t t;

	/* Thread A caches all 64 MiB (in its magazines and the depot) and stays alive. */
	pthread_barrier_init(&hold, NULL, 2);
	b.n = 256;
	b.hold = &hold;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, alloc_free_hold, &b), 0);
	pthread_barrier_wait(&hold);
	CU_ASSERT_EQUAL(b.rc, 0);
	CU_ASSERT_EQUAL(stats(a).bytes_cached, 64 * MiB);
	/* Thread B (this one) allocates the whole space, in one piece and then in pages. */
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 64 * MiB, 0, &x), 0);
	CU_ASSERT(stats(a).reclaims >= 1);
	CU_ASSERT_EQUAL(stats(a).bytes_cached, 0);
	CU_ASSERT_EQUAL(dpi_iova_free(a, x, 64 * MiB), 0);
	pthread_barrier_wait(&hold);
	pthread_join(t, NULL);
	dpi_iova_allocator_destroy(a);
	pthread_barrier_destroy(&hold);
	free(iova);
}

/*
 * A reclaim empties the loaded magazines of an idle owner without writing its class words: the
 * owner's next operation goes out of line, resets its counts and reopens its hit paths. After
 * that nothing cached earlier may come back twice, the hit counts must still add up, and hits
 * must be possible again.
 */
static void test_reclaim_then_owner_resumes(void)
{
	struct dpi_iova_allocator *a = new_alloc(1 * MiB, 1 * MiB);
	dp_iova_t v[40], x;
	uint8_t seen[256] = {0};

	for (int i = 0; i < 40; i++)
		CU_ASSERT_EQUAL_FATAL(dpi_iova_alloc(a, 4 * KiB, 0, &v[i]), 0);
	for (int i = 0; i < 40; i++)
		CU_ASSERT_EQUAL(dpi_iova_free(a, v[i], 4 * KiB), 0);
	struct dpi_iova_alloc_stats st = stats(a);
	CU_ASSERT(st.bytes_cached >= 40 * 4 * KiB);
	dpi_iova_reclaim(a);
	st = stats(a);
	CU_ASSERT_EQUAL(st.bytes_cached, 0);
	CU_ASSERT_EQUAL(st.bytes_free, 1 * MiB);
	/* A second reclaim before the owner came back must not flush the stale counts again. */
	dpi_iova_reclaim(a);
	CU_ASSERT_EQUAL(stats(a).bytes_free, 1 * MiB);
	/* The whole span, page by page: every page exactly once. */
	for (int i = 0; i < 256; i++) {
		CU_ASSERT_EQUAL_FATAL(dpi_iova_alloc(a, 4 * KiB, 0, &x), 0);
		CU_ASSERT_FATAL(x >= 1 * MiB && x < 2 * MiB);
		CU_ASSERT_EQUAL(seen[(x - 1 * MiB) / (4 * KiB)]++, 0);
	}
	CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * KiB, 0, &x), -ENOSPC);
	for (int i = 0; i < 256; i++)
		CU_ASSERT_EQUAL(dpi_iova_free(a, 1 * MiB + (dp_iova_t)i * 4 * KiB, 4 * KiB), 0);
	/* hits again after the reset */
	uint64_t hits = stats(a).cache_hits;
	for (int i = 0; i < 100; i++) {
		CU_ASSERT_EQUAL(dpi_iova_alloc(a, 4 * KiB, 0, &x), 0);
		CU_ASSERT_EQUAL(dpi_iova_free(a, x, 4 * KiB), 0);
	}
	st = stats(a);
	CU_ASSERT(st.cache_hits >= hits + 99);
	CU_ASSERT_EQUAL(st.allocs, 40 + 256 + 100);
	CU_ASSERT_EQUAL(st.frees, st.allocs);
	CU_ASSERT_EQUAL(st.bad_frees, 0);
	dpi_iova_allocator_destroy(a);
}

/* Explicit reclaims racing with another thread's inline hit paths: the hit paths' limits close
 * and reopen under it thousands of times; no IOVA may be handed out twice or lost. */
static struct {
	struct dpi_iova_allocator *a;
	uint8_t live[256]; /* one byte per 4 KiB page of a 1 MiB span */
	int stop;
	uint64_t errors, rounds;
} g_rr;

static void *hit_loop(void *arg)
{
	dp_iova_t v[8];

	(void)arg;
	while (!__atomic_load_n(&g_rr.stop, __ATOMIC_ACQUIRE)) {
		for (int i = 0; i < 8; i++) {
			if (dpi_iova_alloc(g_rr.a, 4 * KiB, 0, &v[i]) != 0) {
				g_rr.errors++;
				return NULL;
			}
			uint8_t *b = &g_rr.live[(v[i] - 1 * MiB) / (4 * KiB)];
			if (__atomic_exchange_n(b, 1, __ATOMIC_RELAXED) != 0)
				g_rr.errors++; /* handed out twice */
		}
		for (int i = 0; i < 8; i++) {
			__atomic_store_n(&g_rr.live[(v[i] - 1 * MiB) / (4 * KiB)], 0,
					 __ATOMIC_RELAXED);
			if (dpi_iova_free(g_rr.a, v[i], 4 * KiB) != 0)
				g_rr.errors++;
		}
		__atomic_fetch_add(&g_rr.rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_reclaim_races_hits(void)
{
	pthread_t t;

	memset(&g_rr, 0, sizeof(g_rr));
	g_rr.a = new_alloc(1 * MiB, 1 * MiB);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, hit_loop, NULL), 0);
	/* at least 3000 reclaims, and until the other thread made 2000 rounds (it may start late
	 * on a loaded machine) */
	for (int i = 0; i < 3000 || __atomic_load_n(&g_rr.rounds, __ATOMIC_RELAXED) < 2000; i++)
		dpi_iova_reclaim(g_rr.a);
	__atomic_store_n(&g_rr.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(g_rr.errors, 0);
	CU_ASSERT(g_rr.rounds > 0);
	struct dpi_iova_alloc_stats st = stats(g_rr.a);
	CU_ASSERT_EQUAL(st.bad_frees, 0);
	CU_ASSERT_EQUAL(st.allocs, st.frees);
	CU_ASSERT_EQUAL(st.allocs, g_rr.rounds * 8);
	CU_ASSERT_EQUAL(st.bytes_free + st.bytes_cached, st.bytes_total);
	dpi_iova_reclaim(g_rr.a);
	CU_ASSERT_EQUAL(stats(g_rr.a).bytes_free, 1 * MiB);
	dpi_iova_allocator_destroy(g_rr.a);
}

/* ---- stress ------------------------------------------------------------------------------- */

#define ST_SPAN (512 * MiB)
#define ST_BASE (1ull << 32)
#define ST_SLOTS 4096
#define ST_THREADS 4

static struct {
	struct dpi_iova_allocator *a;
	uint64_t owner[ST_SPAN / 4096 / 64]; /* one bit per live page */
	uint64_t slot[ST_SLOTS];             /* iova | (pages - 1), 0 = empty */
	uint64_t errors, allocs, enospc;
} g_st;

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void own(dp_iova_t iova, uint64_t pages, bool take)
{
	uint64_t first = (iova - ST_BASE) / 4096;

	for (uint64_t p = first; p < first + pages; p++) {
		uint64_t bit = 1ull << (p % 64), old;
		if (take)
			old = __atomic_fetch_or(&g_st.owner[p / 64], bit, __ATOMIC_RELAXED);
		else
			old = ~__atomic_fetch_and(&g_st.owner[p / 64], ~bit, __ATOMIC_RELAXED);
		if (old & bit)
			__atomic_fetch_add(&g_st.errors, 1, __ATOMIC_RELAXED);
	}
}

static uint64_t stress_size(uint64_t r)
{
	switch (r % 8) {
	case 0:
		return 4096ull * (1 + (r >> 8) % 512); /* any size up to 2 MiB */
	case 1:
		return 4096ull << ((r >> 8) % 11);      /* 4 KiB .. 4 MiB powers of two */
	default:
		return 4096ull << ((r >> 8) % 4);       /* mostly small */
	}
}

static uint64_t pages_of(uint64_t size)
{
	/* what the allocator really hands out: the class size up to 1 MiB */
	if (size <= DPI_IOVA_CACHE_MAX) {
		uint64_t c = 4096;
		while (c < size)
			c <<= 1;
		return c / 4096;
	}
	return size / 4096;
}

static void *stress(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;

	for (int i = 0; i < 60000; i++) {
		uint64_t r = xorshift(&seed), s = r % ST_SLOTS;
		uint64_t v = __atomic_exchange_n(&g_st.slot[s], 0, __ATOMIC_ACQ_REL);
		if (v != 0) {
			dp_iova_t iova = v & ~4095ull;
			uint64_t size = ((v & 4095) + 1) * 4096;
			own(iova, pages_of(size), false);
			if (dpi_iova_free(g_st.a, iova, size) != 0)
				__atomic_fetch_add(&g_st.errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		uint64_t size = stress_size(xorshift(&seed));
		dp_iova_t iova;
		int rc = dpi_iova_alloc(g_st.a, size, 0, &iova);
		if (rc == -ENOSPC) {
			__atomic_fetch_add(&g_st.enospc, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (rc != 0 || iova < ST_BASE || iova + size > ST_BASE + ST_SPAN) {
			__atomic_fetch_add(&g_st.errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_fetch_add(&g_st.allocs, 1, __ATOMIC_RELAXED);
		own(iova, pages_of(size), true);
		uint64_t expect = 0;
		if (!__atomic_compare_exchange_n(&g_st.slot[s], &expect, iova | (size / 4096 - 1),
						 false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			own(iova, pages_of(size), false);
			dpi_iova_free(g_st.a, iova, size);
		}
	}
	return NULL;
}

static void test_stress(void)
{
	pthread_t t[ST_THREADS];

	memset(&g_st, 0, sizeof(g_st));
	g_st.a = new_alloc(ST_BASE, ST_SPAN);
	for (uintptr_t i = 0; i < ST_THREADS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, stress, (void *)i), 0);
	for (int i = 0; i < ST_THREADS; i++)
		pthread_join(t[i], NULL);
	CU_ASSERT_EQUAL(g_st.errors, 0);
	CU_ASSERT(g_st.allocs > 10000);
	for (int s = 0; s < ST_SLOTS; s++) {
		uint64_t v = g_st.slot[s];
		if (v != 0)
			CU_ASSERT_EQUAL(dpi_iova_free(g_st.a, v & ~4095ull, ((v & 4095) + 1) * 4096),
					0);
	}
	struct dpi_iova_alloc_stats st = stats(g_st.a);
	CU_ASSERT_EQUAL(st.allocs, st.frees);
	CU_ASSERT_EQUAL(st.bad_frees, 0);
	CU_ASSERT_EQUAL(st.bytes_free + st.bytes_cached, ST_SPAN);
	dp_iova_t x;
	CU_ASSERT_EQUAL(dpi_iova_alloc(g_st.a, ST_SPAN, 0, &x), 0);
	printf("\n  stress: %" PRIu64 " allocations, %" PRIu64 " ENOSPC, %" PRIu64
	       " reclaims, %" PRIu64 " depot exchanges\n", g_st.allocs, g_st.enospc, st.reclaims,
	       st.depot_exchanges);
	dpi_iova_allocator_destroy(g_st.a);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_create_args),
		UT_TEST(test_every_class_and_large),
		UT_TEST(test_alignment),
		UT_TEST(test_exhaustion),
		UT_TEST(test_ranges_with_holes),
		UT_TEST(test_double_free),
		UT_TEST(test_never_allocated),
		UT_TEST(test_non_pow2_class),
		UT_TEST(test_cross_thread_free),
		UT_TEST(test_thread_exit),
		UT_TEST(test_reclaim_under_pressure),
		UT_TEST(test_reclaim_then_owner_resumes),
		UT_TEST(test_reclaim_races_hits),
		UT_TEST(test_stress),
	};

	return ut_main("iova_alloc", tests, DPI_ARRAY_SIZE(tests), NULL, NULL);
}
