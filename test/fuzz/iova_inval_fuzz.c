/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: random dp_iova_map / dp_iova_unmap / dp_iova_flush / dp_iova_poll sequences
 * on the sim backend (the invalidation engine, inval.c, and dp_iova_map's streams, dynmap.c)
 * against a reference model: the live mappings and the ranges unmapped but maybe not flushed
 * yet (pending). The sim IOMMU's page table is the ground truth for what a device can reach.
 *
 * Checked after every step:
 *  - a live mapping translates to its buffer in the sim IOMMU, and nothing live overlaps;
 *  - the epoch rule: a new mapping never overlaps a pending range of the same flush epoch
 *    (dp_iova_stats' flush_epoch; a call that flushed has released everything pending before
 *    it allocated), and its IOVA is aligned as documented;
 *  - deferred mode: an unmapped range stays reachable until a flush and is unreachable after
 *    it (in strict mode at once), unless a later mapping took the IOVA again;
 *  - a second unmap of a pending range, and an unmap of a wrong length, fail with -ENOENT;
 *  - the counters: reclaimed + pending == unmaps, pending == the model's pending ranges;
 *  - -ENOSPC from dp_iova_map only while something is mapped; after everything is unmapped
 *    and flushed, a map always succeeds (nothing leaks: not IOVA space, not stream chunks).
 *
 * Input: byte 0 picks the mode, queue length and window; then 3-byte ops. The clock is fake
 * (advanced by an op), so the age trigger is exercised without waiting.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/log.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/sim.h>

#define DYN_START (1ull << 38)
#define DYN_LAST ((1ull << 39) - 1)
#define BUF_LEN (256u << 10)
#define MAX_MAPS 256

struct rng {
	dp_iova_t iova;
	uint64_t len;
	uint64_t off; /* buffer offset (live) */
	uint64_t epoch; /* flush epoch when unmapped (pending) */
};

static struct {
	struct dp_ioas *ioas;
	struct dpi_sim_domain *dom;
	bool deferred;
	uint64_t window;
	struct rng live[MAX_MAPS];
	uint32_t nlive;
	struct rng pend[MAX_MAPS * 4];
	uint32_t npend;
	uint64_t unmaps;
} m;

static uint8_t *g_buf;
static uint64_t g_now;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "iova_inval_fuzz: check failed: %s (line %d)\n", #cond,    \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void quiet(int level, const char *component, const char *msg, void *arg)
{
	(void)level, (void)component, (void)msg, (void)arg;
}

static uint64_t fake_ticks(void)
{
	return g_now;
}

static void *target(dp_iova_t iova)
{
	void *va = NULL;
	size_t contig;

	if (dpi_sim_domain_translate(m.dom, iova, DPI_SIM_ACCESS_READ, &va, &contig) != 0)
		return NULL;
	return va;
}

static struct dp_iova_stats stats(void)
{
	struct dp_iova_stats s = {.size = sizeof(s)};

	CHECK(dp_iova_stats(m.ioas, &s) == 0);
	return s;
}

static bool overlaps(dp_iova_t a, uint64_t alen, dp_iova_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Is page @iova inside a live mapping? */
static bool live_page(dp_iova_t iova)
{
	for (uint32_t i = 0; i < m.nlive; i++)
		if (overlaps(iova, 4096, m.live[i].iova, m.live[i].len))
			return true;
	return false;
}

/* A flush happened (the epoch moved): every pending range is unmapped in the sim IOMMU, unless
 * a live mapping took its IOVA again since. */
static void flushed(void)
{
	for (uint32_t i = 0; i < m.npend; i++)
		for (uint64_t off = 0; off < m.pend[i].len; off += 4096)
			if (!live_page(m.pend[i].iova + off))
				CHECK(target(m.pend[i].iova + off) == NULL);
	m.npend = 0;
}

static void after_call(uint64_t epoch0)
{
	if (stats().flush_epoch != epoch0)
		flushed();
}

static void check_counters(void)
{
	struct dp_iova_stats s = stats();

	CHECK(s.reclaimed + s.pending == s.unmaps);
	CHECK(s.unmaps == m.unmaps);
	CHECK(s.pending == m.npend);
	CHECK(s.unmap_failures == 0);
}

static uint64_t pow2_ceil(uint64_t x)
{
	uint64_t p = 4096;

	while (p < x)
		p <<= 1;
	return p;
}

static void do_map(uint8_t x, uint8_t y)
{
	/* mostly stream sizes (powers of two up to 64 KiB), some others up to 256 KiB */
	uint64_t len = x < 192 ? 4096ull << (x % 5) : 4096ull * (1 + (uint64_t)(x ^ y) % 64);
	uint64_t off = ((uint64_t)y * 4096) % (BUF_LEN - len + 4096);
	uint64_t epoch0 = stats().flush_epoch;
	dp_iova_t iova = 0;

	if (m.nlive == MAX_MAPS)
		return;
	int rc = dp_iova_map(m.ioas, g_buf + off, len, 0, &iova);
	uint64_t epoch1 = stats().flush_epoch;
	if (rc == -ENOSPC) {
		CHECK(m.nlive > 0);
		after_call(epoch0);
		return;
	}
	CHECK(rc == 0);
	CHECK(iova >= DYN_START && iova + len - 1 <= DYN_START + m.window - 1);
	CHECK(iova % pow2_ceil(len) == 0);
	for (uint32_t i = 0; i < m.nlive; i++)
		CHECK(!overlaps(iova, len, m.live[i].iova, m.live[i].len));
	/* the epoch rule: nothing pending of this epoch is handed out again */
	if (epoch1 == epoch0)
		for (uint32_t i = 0; i < m.npend; i++)
			CHECK(!overlaps(iova, len, m.pend[i].iova, m.pend[i].len));
	m.live[m.nlive++] = (struct rng){iova, len, off, 0};
	if (epoch1 != epoch0)
		flushed();
	CHECK(target(iova) == g_buf + off);
	CHECK(target(iova + len - 4096) == g_buf + off + len - 4096);
}

static void do_unmap(uint8_t x)
{
	if (m.nlive == 0)
		return;
	uint32_t i = x % m.nlive;
	struct rng r = m.live[i];
	uint64_t epoch0 = stats().flush_epoch;

	/* a wrong length first: refused, nothing changes */
	CHECK(dp_iova_unmap(m.ioas, r.iova, r.len + 4096) == -ENOENT);
	CHECK(dp_iova_unmap(m.ioas, r.iova, r.len) == 0);
	m.unmaps++;
	memmove(&m.live[i], &m.live[i + 1], (--m.nlive - i) * sizeof(m.live[0]));
	r.epoch = epoch0;
	if (!m.deferred) {
		m.pend[m.npend++] = r;
		flushed();
		return;
	}
	if (stats().flush_epoch != epoch0) {
		/* The age trigger flushes before the range is queued, the queue trigger after:
		 * the pending count tells which one ran. */
		if (stats().pending == 0) {
			m.pend[m.npend++] = r;
			flushed();
		} else {
			flushed();
			m.pend[m.npend++] = r;
			CHECK(target(r.iova) == g_buf + r.off);
		}
	} else {
		CHECK(m.npend < DPI_ARRAY_SIZE(m.pend));
		m.pend[m.npend++] = r;
		/* the deferred window: still reachable until the flush */
		CHECK(target(r.iova) == g_buf + r.off);
		/* a second unmap of a pending range */
		if (x & 1)
			CHECK(dp_iova_unmap(m.ioas, r.iova, r.len) == -ENOENT);
	}
}

static void do_flush(void)
{
	CHECK(dp_iova_flush(m.ioas) == 0);
	flushed();
}

static void do_poll(uint8_t x)
{
	uint64_t epoch0 = stats().flush_epoch;

	g_now += (uint64_t)x * 100; /* up to 25.5 ms at 1 MHz */
	CHECK(dp_iova_poll(m.ioas) >= 0);
	after_call(epoch0);
}

/* Everything unmapped and flushed: a map of any stream size and of 256 KiB must succeed. */
static void check_recovery(void)
{
	dp_iova_t iova;

	while (m.nlive > 0)
		do_unmap(0);
	do_flush();
	check_counters();
	for (uint64_t len = 4096; len <= BUF_LEN; len <<= 1) {
		CHECK(dp_iova_map(m.ioas, g_buf, len, 0, &iova) == 0);
		CHECK(dp_iova_unmap(m.ioas, iova, len) == 0);
		m.unmaps++;
		m.pend[m.npend++] = (struct rng){iova, len, 0, stats().flush_epoch};
		do_flush();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_ioas_opts o;

	if (size < 1)
		return 0;
	if (g_buf == NULL) {
		g_buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			     0);
		CHECK(g_buf != MAP_FAILED);
		dp_log_set_handler(quiet, NULL);
		dpi_ticks_set_source(fake_ticks, 1000000);
		struct dp_env_opts eo;
		dp_env_opts_init(&eo, sizeof(eo));
		eo.impl = DP_ENV_NATIVE;
		eo.flags = DP_ENV_F_NO_HUGE;
		CHECK(dp_env_init(&eo) == 0);
	}
	memset(&m, 0, sizeof(m));
	g_now = 1000;
	m.deferred = (data[0] & 3) != 0;
	/* a window of 1 MiB (no stream chunk fits), 4 MiB or 16 MiB */
	m.window = (data[0] & 0x30) == 0 ? 1ull << 20 : (data[0] & 0x30) == 0x10 ? 4ull << 20
											: 16ull << 20;
	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.flags = DP_IOAS_F_MANUAL;
	o.inval_mode = m.deferred ? DP_INVAL_DEFERRED : DP_INVAL_STRICT;
	o.inval_batch = 1u << (2 + (data[0] >> 6) * 2); /* 4, 16, 64, 256 */
	o.inval_age_us = 10000;
	CHECK(dp_ioas_create(&o, &m.ioas) == 0);
	struct dp_iova_range r = {DYN_START + m.window, DYN_LAST};
	CHECK(dpi_ioas_sim_reserve(m.ioas, m.ioas, &r, 1) == 0);
	dpi_ioas_device_gone(m.ioas);
	CHECK(dpi_ioas_sim_domain(m.ioas, &m.dom) == 0);
	for (size_t i = 1; i + 3 <= size; i += 3) {
		const uint8_t *op = &data[i];
		switch (op[0] % 8) {
		case 0:
		case 1:
		case 2:
			do_map(op[1], op[2]);
			break;
		case 3:
		case 4:
			do_unmap(op[1]);
			break;
		case 5:
			do_flush();
			break;
		case 6:
			do_poll(op[1]);
			break;
		default: /* a burst: maps, then unmaps, oldest first (a ring of buffers) */
			for (int k = 0; k < op[1] % 64; k++)
				do_map((uint8_t)(op[2] % 5 + k % 2), (uint8_t)k);
			for (int k = 0; k < op[1] % 64 && m.nlive > 0; k++)
				do_unmap(0);
			break;
		}
		check_counters();
		if (m.nlive > 0) {
			struct rng *l = &m.live[op[2] % m.nlive];
			CHECK(target(l->iova) == g_buf + l->off);
		}
	}
	check_recovery();
	CHECK(dp_ioas_destroy(m.ioas) == 0);
	return 0;
}
