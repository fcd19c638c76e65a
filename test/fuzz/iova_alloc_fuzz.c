/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: random sequences of IOVA allocations, frees (good and bad) and reclaims
 * against a reference model, a bitmap of live pages plus the list of live allocations.
 *
 * Checked after every step: an allocation lies in the usable ranges, is aligned as asked and
 * overlaps nothing live; -ENOSPC only when the model has no free, usable, aligned block of the
 * size the buddy allocator needs; a free succeeds exactly when the model says it is a live
 * allocation of that size class; the byte counters add up.
 *
 * Input: byte 0-5 shape up to three usable ranges inside a 16 MiB span; then 4-byte ops.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane/log.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/iova_alloc.h>

#define SPAN_START (16ull << 20)
#define SPAN_PAGES 4096u
#define MAX_LIVE 512

struct live {
	dp_iova_t iova;
	uint64_t size;
};

static struct {
	struct dp_iova_range r[3];
	uint32_t nr;
	uint8_t used[SPAN_PAGES]; /* live pages */
	struct live live[MAX_LIVE];
	uint32_t nlive;
	struct live gone[64]; /* recently freed, for double frees */
	uint32_t ngone;
} m;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "iova_alloc_fuzz: check failed: %s (line %d)\n", #cond,    \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void quiet(int level, const char *component, const char *msg, void *arg)
{
	(void)level, (void)component, (void)msg, (void)arg;
}

/* What the allocator hands out for a request: the class size up to the cache maximum. */
static uint64_t real_size(uint64_t size)
{
	uint64_t c = 4096;

	if (size > DPI_IOVA_CACHE_MAX)
		return size;
	while (c < size)
		c <<= 1;
	return c;
}

static uint32_t order_ceil(uint64_t pages)
{
	uint32_t k = 0;

	while ((1ull << k) < pages)
		k++;
	return k;
}

static bool usable(uint64_t page)
{
	dp_iova_t a = SPAN_START + page * 4096;

	for (uint32_t i = 0; i < m.nr; i++)
		if (a >= m.r[i].start && a + 4095 <= m.r[i].last)
			return true;
	return false;
}

/* Any free usable naturally aligned block of 2^k pages in the model? */
static bool model_fits(uint32_t k)
{
	if (k > 12)
		return false;
	for (uint64_t b = 0; b < SPAN_PAGES; b += 1ull << k) {
		bool ok = true;
		for (uint64_t p = b; p < b + (1ull << k) && ok; p++)
			ok = usable(p) && !m.used[p];
		if (ok)
			return true;
	}
	return false;
}

static void mark(dp_iova_t iova, uint64_t size, uint8_t v)
{
	uint64_t first = (iova - SPAN_START) / 4096;

	for (uint64_t p = first; p < first + size / 4096; p++) {
		CHECK(p < SPAN_PAGES);
		CHECK(m.used[p] != v);
		if (v)
			CHECK(usable(p));
		m.used[p] = v;
	}
}

static void do_alloc(struct dpi_iova_allocator *a, uint8_t x, uint8_t y)
{
	uint64_t size = x < 200 ? 4096ull << (x % 9) : 4096ull * (1 + (uint64_t)x * y % 1100);
	uint64_t align = (y & 7) == 0 ? 4096ull << (y >> 3) % 12 : 0;
	uint64_t rs = real_size(size);
	uint32_t k = order_ceil(rs / 4096);
	dp_iova_t iova;
	int rc;

	if (align && order_ceil(align / 4096) > k)
		k = order_ceil(align / 4096);
	if (m.nlive == MAX_LIVE)
		return;
	rc = dpi_iova_alloc(a, size, align, &iova);
	if (rc == -ENOSPC) {
		CHECK(!model_fits(k));
		return;
	}
	CHECK(rc == 0);
	CHECK(iova % (4096ull << k) == 0);
	mark(iova, rs, 1);
	m.live[m.nlive++] = (struct live){iova, size};
}

static void forget(uint32_t i)
{
	m.gone[m.ngone++ % 64] = m.live[i];
	m.live[i] = m.live[--m.nlive];
}

static void do_free(struct dpi_iova_allocator *a, uint8_t x)
{
	if (m.nlive == 0)
		return;
	uint32_t i = x % m.nlive;
	CHECK(dpi_iova_free(a, m.live[i].iova, m.live[i].size) == 0);
	mark(m.live[i].iova, real_size(m.live[i].size), 0);
	forget(i);
}

/* A free that may be bad: an old IOVA, a shifted one, or a wrong size. */
static void do_bad_free(struct dpi_iova_allocator *a, uint8_t x, uint8_t y)
{
	struct live t;

	if (m.ngone == 0 && m.nlive == 0)
		return;
	if ((x & 1) && m.ngone > 0)
		t = m.gone[y % DPI_MIN(m.ngone, 64u)];
	else if (m.nlive > 0)
		t = m.live[y % m.nlive];
	else
		return;
	if (x & 2)
		t.iova += 4096ull * ((x >> 2) % 8);
	if (x & 0x40)
		t.size = 4096ull << (y % 11);
	/* Valid exactly when a live allocation starts there with a size of the same class. */
	int32_t hit = -1;
	for (uint32_t i = 0; i < m.nlive; i++)
		if (m.live[i].iova == t.iova && real_size(m.live[i].size) == real_size(t.size) &&
		    (t.size <= DPI_IOVA_CACHE_MAX) == (m.live[i].size <= DPI_IOVA_CACHE_MAX))
			hit = (int32_t)i;
	int rc = dpi_iova_free(a, t.iova, t.size);
	if (hit < 0) {
		CHECK(rc == -EINVAL);
		return;
	}
	CHECK(rc == 0);
	mark(m.live[hit].iova, real_size(m.live[hit].size), 0);
	forget((uint32_t)hit);
}

static uint64_t live_bytes(void)
{
	uint64_t b = 0;

	for (uint32_t i = 0; i < m.nlive; i++)
		b += real_size(m.live[i].size);
	return b;
}

static void check_counters(struct dpi_iova_allocator *a)
{
	struct dpi_iova_alloc_stats st;

	dpi_iova_alloc_stats(a, &st);
	CHECK(st.bytes_free + st.bytes_cached + live_bytes() == st.bytes_total);
}

/* Up to three disjoint ranges, in order, cut from the span by the first bytes. */
static void shape(const uint8_t *d)
{
	uint64_t at = SPAN_START + (d[0] % 16) * 4096ull * 7 + (d[0] & 1);
	uint64_t end = SPAN_START + SPAN_PAGES * 4096ull;

	m.nr = 0;
	for (int i = 0; i < 3 && at < end; i++) {
		uint64_t len = 4096ull * (1 + d[1 + i] * 16ull + d[4 + i % 2]);
		uint64_t last = DPI_MIN(at + len, end) - 1;
		m.r[m.nr++] = (struct dp_iova_range){at, last};
		at = last + 1 + 4096ull * (d[4 + i % 2] % 64);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpi_iova_allocator *a;
	struct dpi_iova_alloc_stats st;

	if (size < 6)
		return 0;
	dp_log_set_handler(quiet, NULL);
	memset(&m, 0, sizeof(m));
	shape(data);
	if (dpi_iova_allocator_create(m.r, m.nr, &a) != 0)
		return 0;
	for (size_t i = 6; i + 4 <= size; i += 4) {
		const uint8_t *op = &data[i];
		switch (op[0] % 8) {
		case 0:
		case 1:
		case 2:
			do_alloc(a, op[1], op[2]);
			break;
		case 3:
		case 4:
			do_free(a, op[1]);
			break;
		case 5:
			do_bad_free(a, op[1], op[2]);
			break;
		case 6:
			dpi_iova_reclaim(a);
			dpi_iova_alloc_stats(a, &st);
			CHECK(st.bytes_cached == 0);
			break;
		default: /* a burst of small allocations and frees */
			for (int k = 0; k < op[1] % 32; k++)
				do_alloc(a, (uint8_t)(op[2] % 3), 0);
			for (int k = 0; k < op[3] % 32; k++)
				do_free(a, (uint8_t)(op[2] + k));
			break;
		}
		check_counters(a);
	}
	while (m.nlive > 0)
		do_free(a, 0);
	dpi_iova_reclaim(a);
	dpi_iova_alloc_stats(a, &st);
	CHECK(st.bytes_free == st.bytes_total);
	dpi_iova_allocator_destroy(a);
	return 0;
}
