/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * drivers/idxd unit tests: every DSA operation against the reference implementation (dsa_ref)
 * on random sizes (1 byte to 2 MiB) and alignments, batches (a failing member, fences, batches
 * of one and of many), automatic batching, argument errors, on the software engine ("sw") and
 * on the lib/sim DSA model ("sim:dsa0") where the model is built in.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane/env.h>
#include <dmaplane/idxd.h>
#include <dmaplane/iova.h>
#include <dmaplane/pasid.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/dsa_ref.h>
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/idxd.h>
#include <dmaplane_internal/sim.h>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ut.h"
#include "ut_simdev.h"

#define KiB 1024u
#define MiB (1024u * KiB)
#define BUF_LEN (4 * MiB + 8 * KiB)

/* ---- fixtures ------------------------------------------------------------------------------ */

struct fx {
	struct dp_ioas *ioas;
	struct dp_idxd_dev *dev;
	struct dp_idxd_chan *ch;
	uint8_t *src, *src2, *dst, *dst2, *ref, *ref2, *delta;
};

static struct dp_ioas *new_ioas(void)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	return ioas;
}

static uint8_t *buf(void)
{
	void *p = NULL;

	CU_ASSERT_EQUAL_FATAL(dp_dma_zalloc(BUF_LEN, 2 * MiB, DP_NUMA_ANY, &p), 0);
	return p;
}

static void fx_open_opts(struct fx *f, const char *addr, const struct dp_idxd_opts *o,
			 uint32_t depth, uint32_t chan_flags)
{
	struct dp_idxd_chan_opts co;

	memset(f, 0, sizeof(*f));
	f->ioas = new_ioas();
	CU_ASSERT_EQUAL_FATAL(dp_idxd_open(addr, f->ioas, o, &f->dev), 0);
	dp_idxd_chan_opts_init(&co, sizeof(co));
	co.depth = depth;
	co.flags = chan_flags;
	CU_ASSERT_EQUAL_FATAL(dp_idxd_chan_create(f->dev, &co, &f->ch), 0);
	f->src = buf();
	f->src2 = buf();
	f->dst = buf();
	f->dst2 = buf();
	f->ref = buf();
	f->ref2 = buf();
	f->delta = buf();
}

static void fx_open(struct fx *f, const char *addr)
{
	fx_open_opts(f, addr, NULL, 64, 0);
}

static void fx_close(struct fx *f)
{
	uint8_t *b[] = {f->src, f->src2, f->dst, f->dst2, f->ref, f->ref2, f->delta};

	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f->ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_chan_destroy(f->ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_close(f->dev), 0);
	for (size_t i = 0; i < DPI_ARRAY_SIZE(b); i++)
		dp_dma_free(b[i]);
	CU_ASSERT_EQUAL(dp_ioas_destroy(f->ioas), 0);
}

struct done {
	int calls;
	int rc;
	struct dp_idxd_result res;
};

static void on_done(void *arg, int rc, const struct dp_idxd_result *res)
{
	struct done *d = arg;

	d->calls++;
	d->rc = rc;
	d->res = *res;
}

static void wait_done(struct dp_idxd_chan *ch, struct done *d)
{
	for (int i = 0; i < 1000000 && d->calls == 0; i++)
		CU_ASSERT(dp_idxd_poll(ch, 0) >= 0);
	CU_ASSERT_EQUAL(d->calls, 1);
}

/* Submit with on_done and wait: the callback's rc, or the submit error. */
#define SYNC(f, d, call)                                                                         \
	({                                                                                        \
		int _rc = (call);                                                                 \
		if (_rc == 0) {                                                                   \
			wait_done((f)->ch, (d));                                                  \
			_rc = (d)->rc;                                                            \
		}                                                                                 \
		_rc;                                                                              \
	})

static uint64_t g_seed = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	g_seed ^= g_seed << 13;
	g_seed ^= g_seed >> 7;
	g_seed ^= g_seed << 17;
	return g_seed;
}

static void fill_rand(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
}

/* Sizes from 1 byte to 2 MiB: edges and random ones. */
static uint32_t pick_len(int i, uint32_t max)
{
	static const uint32_t edges[] = {1, 2, 7, 8, 63, 64, 4095, 4096, 4097, 65539, 2 * MiB};
	uint32_t len = i < (int)DPI_ARRAY_SIZE(edges) ? edges[i] : 1 + (uint32_t)(rnd() % (256 * KiB));

	return DPI_MIN(len, max);
}

/* Run the reference on a descriptor with host addresses; returns the status. */
static uint8_t ref_exec(struct dsa_hw_desc *d, struct dsa_completion_record *cr)
{
	d->flags |= IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
	return dpi_dsa_ref_exec(d, &dpi_dsa_mem_identity, NULL, cr);
}

/* ---- every operation against the reference ------------------------------------------------ */

static void ops_memmove_fill_dualcast(struct fx *f, int iters)
{
	for (int i = 0; i < iters; i++) {
		uint32_t len = pick_len(i, 2 * MiB), so = rnd() % 64, dof = rnd() % 64;
		uint64_t pat = rnd();
		struct done d = {0};

		fill_rand(f->src + so, len);
		memset(f->dst + dof, 0xa5, len + 1);
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_copy(f->ch, f->dst + dof, f->src + so, len,
								0, on_done, &d)), 0);
		CU_ASSERT(memcmp(f->dst + dof, f->src + so, len) == 0);
		CU_ASSERT_EQUAL(f->dst[dof + len], 0xa5);

		memset(&d, 0, sizeof(d));
		memset(f->dst + dof, 0, len + 1);
		memset(f->ref + dof, 0, len + 1);
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_fill(f->ch, f->dst + dof, pat, len, 0,
								on_done, &d)), 0);
		{
			struct dsa_hw_desc r = {.opcode = DSA_OPCODE_MEMFILL};
			struct dsa_completion_record cr;

			r.pattern = pat;
			r.dst_addr = (uintptr_t)(f->ref + dof);
			r.xfer_size = len;
			CU_ASSERT_EQUAL(ref_exec(&r, &cr), DSA_COMP_SUCCESS);
		}
		CU_ASSERT(memcmp(f->dst + dof, f->ref + dof, len + 1) == 0);

		/* dualcast: both destinations at the same offset within a page */
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_dualcast(f->ch, f->dst + dof,
								    f->dst2 + dof, f->src + so,
								    len, 0, on_done, &d)), 0);
		CU_ASSERT(memcmp(f->dst + dof, f->src + so, len) == 0);
		CU_ASSERT(memcmp(f->dst2 + dof, f->src + so, len) == 0);
	}
}

static void ops_compare(struct fx *f, int iters)
{
	for (int i = 0; i < iters; i++) {
		uint32_t len = pick_len(i, 2 * MiB), so = rnd() % 64, so2 = rnd() % 64;
		uint32_t at = (uint32_t)(rnd() % len);
		uint64_t pat = rnd();
		struct done d = {0};

		fill_rand(f->src + so, len);
		memcpy(f->src2 + so2, f->src + so, len);
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_compare(f->ch, f->src + so, f->src2 + so2,
								   len, 0, on_done, &d)), 0);
		CU_ASSERT_EQUAL(d.res.result, DSA_COMPARE_EQUAL);
		f->src2[so2 + at] ^= 0x10;
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_compare(f->ch, f->src + so, f->src2 + so2,
								   len, 0, on_done, &d)), 0);
		CU_ASSERT_EQUAL(d.res.result, DSA_COMPARE_DIFF);
		CU_ASSERT_EQUAL(d.res.bytes_completed, at);

		/* compval: a patterned buffer, then one byte off */
		for (uint32_t k = 0; k < len; k++)
			f->src[so + k] = (uint8_t)(pat >> (8 * (k % 8)));
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_compval(f->ch, f->src + so, pat, len, 0,
								   on_done, &d)), 0);
		CU_ASSERT_EQUAL(d.res.result, DSA_COMPARE_EQUAL);
		f->src[so + at] ^= 1;
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_compval(f->ch, f->src + so, pat, len, 0,
								   on_done, &d)), 0);
		CU_ASSERT_EQUAL(d.res.result, DSA_COMPARE_DIFF);
		CU_ASSERT_EQUAL(d.res.bytes_completed, at);
	}
}

static void ops_crc(struct fx *f, int iters)
{
	for (int i = 0; i < iters; i++) {
		uint32_t len = pick_len(i, 2 * MiB), so = rnd() % 64, dof = rnd() % 64;
		uint32_t seed = (uint32_t)rnd(), want;
		struct done d = {0};

		fill_rand(f->src + so, len);
		want = dpi_crc32c(seed, f->src + so, len);
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_crcgen(f->ch, f->src + so, len, seed, 0,
								  on_done, &d)), 0);
		CU_ASSERT_EQUAL((uint32_t)d.res.crc, want);
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_copy_crc(f->ch, f->dst + dof, f->src + so,
								    len, seed, 0, on_done, &d)),
				0);
		CU_ASSERT_EQUAL((uint32_t)d.res.crc, want);
		CU_ASSERT(memcmp(f->dst + dof, f->src + so, len) == 0);
	}
}

static void ops_delta(struct fx *f, int iters)
{
	for (int i = 0; i < iters; i++) {
		uint32_t len = DPI_ALIGN_UP(pick_len(i, 512 * KiB), 8u), so = 8 * (rnd() % 8);
		uint32_t changes = 1 + (uint32_t)(rnd() % 16), max = 10 * 64;
		struct done d = {0};

		fill_rand(f->src + so, len);
		memcpy(f->src2 + so, f->src + so, len);
		for (uint32_t k = 0; k < changes; k++)
			f->src2[so + rnd() % len] ^= 0x5a;
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_cr_delta(f->ch, f->src + so, f->src2 + so,
								    len, f->delta, max, 0, on_done,
								    &d)), 0);
		CU_ASSERT_EQUAL(d.res.result, DSA_DELTA_RESULT_DIFF);
		CU_ASSERT(d.res.delta_size > 0 && d.res.delta_size <= 10 * changes);
		/* apply the delta to a copy of src1: it becomes src2 */
		memcpy(f->dst + so, f->src + so, len);
		{
			uint32_t size = d.res.delta_size;

			memset(&d, 0, sizeof(d));
			CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_ap_delta(f->ch, f->dst + so,
									    f->delta, size, len, 0,
									    on_done, &d)), 0);
		}
		CU_ASSERT(memcmp(f->dst + so, f->src2 + so, len) == 0);
		/* equal buffers: result 0; a delta record too small: -ENOSPC */
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_cr_delta(f->ch, f->src + so, f->src + so,
								    len, f->delta, max, 0, on_done,
								    &d)), 0);
		CU_ASSERT_EQUAL(d.res.result, DSA_DELTA_RESULT_EQUAL);
		if (len >= 16) {
			for (uint32_t k = 0; k < len; k += 8)
				f->src2[so + k] = (uint8_t)~f->src[so + k];
			memset(&d, 0, sizeof(d));
			CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_cr_delta(
							    f->ch, f->src + so, f->src2 + so, len,
							    f->delta, 10, 0, on_done, &d)), -ENOSPC);
			CU_ASSERT_EQUAL(d.res.result, DSA_DELTA_RESULT_OVERFLOW);
		}
	}
}

static void ops_dif(struct fx *f, int iters)
{
	for (int i = 0; i < iters; i++) {
		uint32_t bs_code = (uint32_t)(rnd() % 4), bs = dsa_dif_block_size((uint8_t)bs_code);
		uint32_t nblk = 1 + (uint32_t)(rnd() % 16), len = nblk * bs;
		uint32_t plen = nblk * (bs + DSA_DIF_TUPLE_SIZE);
		struct dp_idxd_dif dif = {.flags = 0, .op_flags = (uint8_t)bs_code,
					  .app_tag_mask = 0, .app_tag = 0x1234,
					  .ref_tag = (uint32_t)rnd()};
		struct dp_idxd_dif ndif = dif;
		struct dsa_hw_desc r = {.opcode = DSA_OPCODE_DIF_INS};
		struct dsa_completion_record cr;
		struct done d = {0};

		fill_rand(f->src, len);
		/* insert: compare with the reference */
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_dif_insert(f->ch, f->dst, f->src, len,
								      &dif, 0, on_done, &d)), 0);
		r.src_addr = (uintptr_t)f->src;
		r.dst_addr = (uintptr_t)f->ref;
		r.xfer_size = len;
		r.dif_ins_flags = (uint8_t)bs_code;
		r.ins_app_tag_seed = dif.app_tag;
		r.ins_ref_tag_seed = dif.ref_tag;
		CU_ASSERT_EQUAL(ref_exec(&r, &cr), DSA_COMP_SUCCESS);
		CU_ASSERT(memcmp(f->dst, f->ref, plen) == 0);
		/* check passes; strip gives the data back */
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_dif_check(f->ch, f->dst, plen, &dif, 0,
								     on_done, &d)), 0);
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_dif_strip(f->ch, f->dst2, f->dst, plen,
								     &dif, 0, on_done, &d)), 0);
		CU_ASSERT(memcmp(f->dst2, f->src, len) == 0);
		/* update to a new ref tag, then check against it */
		ndif.ref_tag = dif.ref_tag + 1000;
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_dif_update(f->ch, f->dst2, f->dst, plen,
								      &dif, &ndif, 0, on_done, &d)),
				0);
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_dif_check(f->ch, f->dst2, plen, &ndif, 0,
								     on_done, &d)), 0);
		/* a corrupted block: -EILSEQ with the guard error bit */
		f->dst[bs / 2] ^= 0xff;
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_dif_check(f->ch, f->dst, plen, &dif, 0,
								     on_done, &d)), -EILSEQ);
		CU_ASSERT(d.res.result & DSA_DIF_ERR_GUARD);
	}
}

static void ops_misc(struct fx *f)
{
	struct done d = {0};

	CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_noop(f->ch, 0, on_done, &d)), 0);
	CU_ASSERT_EQUAL(d.res.status & DSA_COMP_STATUS_MASK, DSA_COMP_SUCCESS);
	memset(&d, 0, sizeof(d));
	CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_drain(f->ch, 0, on_done, &d)), 0);
	memset(&d, 0, sizeof(d));
	CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_cflush(f->ch, f->dst, 8192, 0, on_done, &d)),
			0);
}

static void run_all_ops(const char *addr, int iters)
{
	struct fx f;

	fx_open(&f, addr);
	ops_memmove_fill_dualcast(&f, iters);
	ops_compare(&f, iters);
	ops_crc(&f, iters);
	ops_delta(&f, iters);
	ops_dif(&f, iters);
	ops_misc(&f);
	fx_close(&f);
}

static void test_ops_sw(void)
{
	run_all_ops("sw", 16);
}

static void test_ops_sim(void)
{
	run_all_ops("sim:dsa0", 16);
}

/* ---- batches ------------------------------------------------------------------------------- */

struct cnt {
	int calls;
	int rc[64];
	uint8_t status[64];
	int order[64];
	uint64_t crc[64];
};

struct member {
	struct cnt *c;
	int idx;
};

static void on_member(void *arg, int rc, const struct dp_idxd_result *res)
{
	struct member *m = arg;

	m->c->rc[m->idx] = rc;
	m->c->status[m->idx] = res->status;
	m->c->crc[m->idx] = res->crc;
	m->c->order[m->c->calls++] = m->idx;
}

static void poll_until(struct fx *f, struct cnt *c, int n)
{
	for (int i = 0; i < 1000000 && c->calls < n; i++)
		CU_ASSERT(dp_idxd_poll(f->ch, 0) >= 0);
	CU_ASSERT_EQUAL(c->calls, n);
}

static void batch_with_failure(const char *addr)
{
	struct fx f;
	struct cnt c = {0};
	struct member m[8];
	struct dp_idxd_dif bad = {.op_flags = 0, .ref_tag = 7};

	fx_open(&f, addr);
	for (int i = 0; i < 8; i++)
		m[i] = (struct member){&c, i};
	fill_rand(f.src, 64 * KiB);
	CU_ASSERT_EQUAL(dp_idxd_batch_open(f.ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_open(f.ch), -EBUSY);
	for (int i = 0; i < 8; i++) {
		int rc;

		if (i == 3) /* garbage checked as DIF: this member fails */
			rc = dp_idxd_submit_dif_check(f.ch, f.src, 520, &bad, 0, on_member, &m[i]);
		else
			rc = dp_idxd_submit_copy(f.ch, f.dst + i * 4096, f.src + i * 4096, 4096, 0,
						 on_member, &m[i]);
		CU_ASSERT_EQUAL(rc, 0);
	}
	CU_ASSERT_EQUAL(dp_idxd_poll(f.ch, 0), 0); /* nothing submitted while the batch is open */
	CU_ASSERT_EQUAL(c.calls, 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), 0);
	poll_until(&f, &c, 8);
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(c.order[i], i);
		CU_ASSERT_EQUAL(c.rc[i], i == 3 ? -EILSEQ : 0);
		if (i != 3) {
			CU_ASSERT(memcmp(f.dst + i * 4096, f.src + i * 4096, 4096) == 0);
		}
	}
	/* a fence after the failure: the fenced member and those after it do not run */
	memset(&c, 0, sizeof(c));
	memset(f.dst, 0, 64 * KiB);
	CU_ASSERT_EQUAL(dp_idxd_batch_open(f.ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst, f.src, 4096, 0, on_member, &m[0]), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_dif_check(f.ch, f.src, 520, &bad, 0, on_member, &m[1]), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst + 4096, f.src + 4096, 4096,
					    DP_IDXD_F_FENCE, on_member, &m[2]), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst + 8192, f.src + 8192, 4096, 0, on_member,
					    &m[3]), 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), 0);
	poll_until(&f, &c, 4);
	CU_ASSERT_EQUAL(c.rc[0], 0);
	CU_ASSERT_EQUAL(c.rc[1], -EILSEQ);
	CU_ASSERT_EQUAL(c.rc[2], -ECANCELED);
	CU_ASSERT_EQUAL(c.rc[3], -ECANCELED);
	CU_ASSERT(memcmp(f.dst, f.src, 4096) == 0);
	CU_ASSERT_EQUAL(f.dst[4096], 0);
	/* batches of zero and one */
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(dp_idxd_batch_open(f.ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_batch_open(f.ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_noop(f.ch, DP_IDXD_F_FENCE, on_member, &m[0]), 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), 0);
	poll_until(&f, &c, 1);
	CU_ASSERT_EQUAL(c.rc[0], 0);
	fx_close(&f);
}

static void test_batch_sw(void)
{
	batch_with_failure("sw");
}

/* More members than a batch holds: the batch goes out when full and a new one opens. */
static void batch_many(const char *addr, uint32_t chan_flags)
{
	struct fx f;
	struct cnt c = {0};
	struct member m[64];

	fx_open_opts(&f, addr, NULL, 128, chan_flags);
	fill_rand(f.src, 64 * 1024);
	if (!(chan_flags & DP_IDXD_CHAN_F_AUTOBATCH))
		CU_ASSERT_EQUAL(dp_idxd_batch_open(f.ch), 0);
	for (int i = 0; i < 64; i++) {
		m[i] = (struct member){&c, i};
		CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst + i * 1024, f.src + i * 1024, 1024,
						    0, on_member, &m[i]), 0);
	}
	if (!(chan_flags & DP_IDXD_CHAN_F_AUTOBATCH))
		CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), 0);
	poll_until(&f, &c, 64);
	for (int i = 0; i < 64; i++) {
		CU_ASSERT_EQUAL(c.order[i], i);
		CU_ASSERT_EQUAL(c.rc[i], 0);
	}
	CU_ASSERT(memcmp(f.dst, f.src, 64 * 1024) == 0);
	fx_close(&f);
}

/* A batch of more members than the ring has room for: it goes out in pieces (at the ring's
 * end and when the channel is full), submit says -EAGAIN until polling makes room, and every
 * member completes in order. */
static void batch_wrap(const char *addr)
{
	struct fx f;
	struct cnt c = {0};
	struct member m[40];
	int again = 0;

	fx_open_opts(&f, addr, NULL, 16, 0);
	fill_rand(f.src, 40 * 1024);
	CU_ASSERT_EQUAL(dp_idxd_batch_open(f.ch), 0);
	for (int i = 0; i < 40; i++) {
		int rc;

		m[i] = (struct member){&c, i};
		while ((rc = dp_idxd_submit_copy(f.ch, f.dst + i * 1024, f.src + i * 1024, 1024, 0,
						 on_member, &m[i])) == -EAGAIN) {
			again++;
			CU_ASSERT(dp_idxd_poll(f.ch, 0) >= 0);
		}
		CU_ASSERT_EQUAL(rc, 0);
	}
	CU_ASSERT(again > 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), -EINVAL);
	poll_until(&f, &c, 40);
	for (int i = 0; i < 40; i++) {
		CU_ASSERT_EQUAL(c.order[i], i);
		CU_ASSERT_EQUAL(c.rc[i], 0);
	}
	CU_ASSERT(memcmp(f.dst, f.src, 40 * 1024) == 0);
	fx_close(&f);
}

static void test_batch_many_sw(void)
{
	batch_many("sw", 0);
	batch_many("sw", DP_IDXD_CHAN_F_AUTOBATCH);
	batch_wrap("sw");
}

/* ---- errors -------------------------------------------------------------------------------- */

static void test_arg_errors(void)
{
	struct fx f;
	struct done d = {0};
	struct dp_idxd_opts o;
	struct dp_idxd_chan_opts co;
	struct dp_idxd_chan *ch = NULL;
	struct dp_idxd_dev *dev = NULL;
	struct dp_idxd_dif dif = {0};
	uint8_t stack[64];

	ut_log_capture();
	CU_ASSERT_EQUAL(dp_idxd_open(NULL, NULL, NULL, &dev), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_open("sw", NULL, NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_open("/dev/dsa/wq97.3", NULL, NULL, &dev), -ENODEV);
	CU_ASSERT(ut_log_has("kernel-owned WQ cannot be opened"));
	dp_idxd_opts_init(&o, sizeof(o));
	o.num_wqs = DP_IDXD_MAX_WQS + 1;
	CU_ASSERT_EQUAL(dp_idxd_open("sw", NULL, &o, &dev), -EINVAL);
	CU_ASSERT(ut_log_has("num_wqs"));
	dp_idxd_opts_init(&o, sizeof(o));
	o.wq[0].priority = 16;
	CU_ASSERT_EQUAL(dp_idxd_open("sw", NULL, &o, &dev), -EINVAL);
	dp_idxd_opts_init(&o, sizeof(o));
	o.wq[0].pasid_enable = 1;
	o.wq[0].pasid = 1u << 20;
	CU_ASSERT_EQUAL(dp_idxd_open("sw", NULL, &o, &dev), -EINVAL);
	CU_ASSERT(ut_log_has("PASID"));
	dp_idxd_opts_init(&o, sizeof(o));
	o.size = 3;
	CU_ASSERT_EQUAL(dp_idxd_open("sw", NULL, &o, &dev), -EINVAL);
	CU_ASSERT(dev == NULL);

	fx_open(&f, "sw");
	dp_idxd_chan_opts_init(&co, sizeof(co));
	co.depth = 48;
	CU_ASSERT_EQUAL(dp_idxd_chan_create(f.dev, &co, &ch), -EINVAL);
	CU_ASSERT(ut_log_has("power of 2"));
	co.depth = 64;
	co.wq = 1;
	CU_ASSERT_EQUAL(dp_idxd_chan_create(f.dev, &co, &ch), -EINVAL);
	co.wq = 0;
	co.flags = 0x80;
	CU_ASSERT_EQUAL(dp_idxd_chan_create(f.dev, &co, &ch), -EINVAL);
	CU_ASSERT(ch == NULL);

	CU_ASSERT_EQUAL(dp_idxd_submit_copy(NULL, f.dst, f.src, 8, 0, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst, f.src, 0, 0, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, NULL, f.src, 8, 0, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst, f.src, 8, 0x2, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst, f.src, 2 * MiB + 1, 0, on_done, &d),
			-E2BIG);
	CU_ASSERT(ut_log_has("largest transfer"));
	CU_ASSERT_EQUAL(dp_idxd_submit_dualcast(f.ch, f.dst, f.dst2 + 8, f.src, 8, 0, on_done,
						&d), -EINVAL);
	CU_ASSERT(ut_log_has("bits 11:0"));
	CU_ASSERT_EQUAL(dp_idxd_submit_cr_delta(f.ch, f.src, f.src2, 12, f.delta, 100, 0, on_done,
						&d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_dif_check(f.ch, f.src, 500, &dif, 0, on_done, &d),
			-EINVAL);
	CU_ASSERT(ut_log_has("whole number"));
	CU_ASSERT_EQUAL(dp_idxd_submit_dif_check(f.ch, f.src, 520, NULL, 0, on_done, &d),
			-EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_poll(NULL, 0), -EINVAL);
	/* the software engine takes any memory */
	memset(stack, 1, sizeof(stack));
	CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_fill(f.ch, stack, 0, sizeof(stack), 0, on_done,
							 &d)), 0);
	CU_ASSERT_EQUAL(stack[17], 0);
	CU_ASSERT_EQUAL(d.calls, 1);
	fx_close(&f);
	ut_log_release();
}

/* Channel full: -EAGAIN, then room again after polling. */
static void chan_full(const char *addr)
{
	struct fx f;
	struct cnt c = {0};
	struct member m[8];

	fx_open_opts(&f, addr, NULL, 4, 0);
	for (int i = 0; i < 4; i++) {
		m[i] = (struct member){&c, i};
		CU_ASSERT_EQUAL(dp_idxd_submit_noop(f.ch, 0, on_member, &m[i]), 0);
	}
	CU_ASSERT_EQUAL(dp_idxd_submit_noop(f.ch, 0, on_member, &m[4]), -EAGAIN);
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 4);
	poll_until(&f, &c, 4);
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 0);
	fx_close(&f);
}

static void test_chan_full_sw(void)
{
	chan_full("sw");
}

/* Callbacks may submit on the same channel. */
struct chain {
	struct fx *f;
	int left, calls;
};

static void on_chain(void *arg, int rc, const struct dp_idxd_result *res)
{
	struct chain *c = arg;

	(void)res;
	CU_ASSERT_EQUAL(rc, 0);
	c->calls++;
	if (--c->left > 0)
		CU_ASSERT_EQUAL(dp_idxd_submit_noop(c->f->ch, 0, on_chain, c), 0);
}

static void test_resubmit_from_callback_sw(void)
{
	struct fx f;
	struct chain c = {&f, 100, 0};

	fx_open_opts(&f, "sw", NULL, 2, 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_noop(f.ch, 0, on_chain, &c), 0);
	for (int i = 0; i < 1000 && c.calls < 100; i++)
		dp_idxd_poll(f.ch, 0);
	CU_ASSERT_EQUAL(c.calls, 100);
	fx_close(&f);
}

static void test_info_sw(void)
{
	struct dp_idxd_dev *dev = NULL;
	struct dp_idxd_info info = {.size = sizeof(info)};
	struct dp_idxd_opts o;

	dp_idxd_opts_init(&o, sizeof(o));
	o.num_wqs = 2;
	o.wq[1].mode = DP_IDXD_WQ_SHARED;
	o.wq[1].size = 16;
	CU_ASSERT_EQUAL_FATAL(dp_idxd_open("sw", NULL, &o, &dev), 0);
	CU_ASSERT_EQUAL(dp_idxd_get_info(dev, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.addr, "sw");
	CU_ASSERT_EQUAL(info.num_wqs, 2);
	CU_ASSERT_EQUAL(info.max_xfer, 2 * MiB);
	CU_ASSERT_EQUAL(info.wq_mode[1], DP_IDXD_WQ_SHARED);
	CU_ASSERT_EQUAL(info.wq_size[1], 16);
	CU_ASSERT((info.opcap & (1ull << DSA_OPCODE_DIF_UPDT)) != 0);
	info.size = 4;
	CU_ASSERT_EQUAL(dp_idxd_get_info(dev, &info), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_close(dev), 0);
	CU_ASSERT_EQUAL(dp_idxd_close(NULL), -EINVAL);
}

/* ---- the sim model: configuration, submission, completion handling ----------------------- */

static struct dpi_sim_device *sim_of(struct fx *f)
{
	return dpi_device_sim(dpi_idxd_device(f->dev));
}

static void test_batch_sim(void)
{
	batch_with_failure("sim:dsa0");
	batch_many("sim:dsa0", 0);
	batch_many("sim:dsa0", DP_IDXD_CHAN_F_AUTOBATCH);
	batch_wrap("sim:dsa0");
}

static void test_chan_full_sim(void)
{
	chan_full("sim:dsa0");
}

static void test_config_sim(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_idxd_dev *dev = NULL;
	struct dp_idxd_info info = {.size = sizeof(info)};
	struct dp_idxd_opts o;
	struct dp_idxd_chan_opts co;
	struct dp_idxd_chan *ch[3] = {NULL};
	uint32_t err = 0;

	ut_log_capture();
	/* valid: a dedicated and a shared WQ of chosen sizes, priorities, limits */
	dp_idxd_opts_init(&o, sizeof(o));
	o.num_wqs = 2;
	o.wq[0] = (struct dp_idxd_wq_opts){.mode = DP_IDXD_WQ_DEDICATED, .size = 32,
					   .priority = 5, .max_xfer_shift = 16,
					   .max_batch_shift = 5};
	o.wq[1] = (struct dp_idxd_wq_opts){.mode = DP_IDXD_WQ_SHARED, .size = 16, .threshold = 8};
	CU_ASSERT_EQUAL_FATAL(dp_idxd_open("sim:dsa0", ioas, &o, &dev), 0);
	CU_ASSERT_EQUAL(dp_idxd_get_info(dev, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.addr, "sim:dsa0");
	CU_ASSERT_EQUAL(info.num_wqs, 2);
	CU_ASSERT_EQUAL(info.wq_size[0], 32);
	CU_ASSERT_EQUAL(info.wq_size[1], 16);
	CU_ASSERT_EQUAL(info.max_xfer, 64 * KiB);
	CU_ASSERT_EQUAL(info.max_batch, 32);
	CU_ASSERT((info.opcap & (1ull << DSA_OPCODE_CFLUSH)) != 0);
	/* the registers hold what was asked for */
	{
		struct dp_device *pci = dpi_idxd_device(dev);
		uint64_t off0 = 0;
		uint32_t w = 0, wqcfg;

		CU_ASSERT_EQUAL(dp_device_region_read(pci, 0, IDXD_REG_OFFSETS, &off0, 8), 0);
		wqcfg = IDXD_OFFSETS_WQCFG(off0) * IDXD_TABLE_MULT;
		CU_ASSERT_EQUAL(dp_device_region_read(pci, 0, wqcfg + 64 + 4 * IDXD_WQCFG_W_MODE, &w,
						      4), 0);
		CU_ASSERT_EQUAL(w & IDXD_WQCFG_MODE_DEDICATED, 0);
		CU_ASSERT_EQUAL(w & IDXD_WQCFG_BOF, 0);
		CU_ASSERT_EQUAL(dp_device_region_read(pci, 0, wqcfg + 4 * IDXD_WQCFG_W_MODE, &w, 4),
				0);
		CU_ASSERT(w & IDXD_WQCFG_MODE_DEDICATED);
		CU_ASSERT_EQUAL(IDXD_WQCFG_PRIORITY(w), 5);
		CU_ASSERT_EQUAL(dp_device_region_read(pci, 0, wqcfg + 4 * IDXD_WQCFG_W_STATE, &w, 4),
				0);
		CU_ASSERT_EQUAL(IDXD_WQCFG_STATE(w), IDXD_WQ_STATE_ENABLED);
	}
	/* dedicated WQ room: 32 entries, two channels of 16, a third does not fit */
	dp_idxd_chan_opts_init(&co, sizeof(co));
	co.depth = 16;
	CU_ASSERT_EQUAL(dp_idxd_chan_create(dev, &co, &ch[0]), 0);
	CU_ASSERT_EQUAL(dp_idxd_chan_create(dev, &co, &ch[1]), 0);
	CU_ASSERT_EQUAL(dp_idxd_chan_create(dev, &co, &ch[2]), -ENOSPC);
	CU_ASSERT(ut_log_has("no room"));
	CU_ASSERT_EQUAL(dp_idxd_chan_destroy(ch[1]), 0);
	CU_ASSERT_EQUAL(dp_idxd_chan_create(dev, &co, &ch[2]), 0);
	/* CMDSTS errors come back as -EIO with the error named */
	CU_ASSERT_EQUAL(dpi_idxd_cmd(dev, IDXD_CMD_ENABLE_WQ, 0, &err), -EIO);
	CU_ASSERT_EQUAL(err, IDXD_CMDSTS_ERR_WQ_ENABLED);
	CU_ASSERT(ut_log_has("WQ already enabled"));
	CU_ASSERT_EQUAL(dpi_idxd_cmd(dev, IDXD_CMD_ENABLE_DEVICE, 0, &err), -EIO);
	CU_ASSERT_EQUAL(err, IDXD_CMDSTS_ERR_DEV_ENABLED);
	CU_ASSERT(ut_log_has("device already enabled"));
	CU_ASSERT_EQUAL(dpi_idxd_cmd(dev, IDXD_CMD_DISABLE_DEVICE, 0, NULL), 0);
	CU_ASSERT_EQUAL(dp_device_set_bus_master(dpi_idxd_device(dev), false), 0);
	CU_ASSERT_EQUAL(dpi_idxd_cmd(dev, IDXD_CMD_ENABLE_DEVICE, 0, &err), -EIO);
	CU_ASSERT_EQUAL(err, IDXD_CMDSTS_ERR_BUSMASTER_EN);
	CU_ASSERT(ut_log_has("bus master"));
	CU_ASSERT_EQUAL(dp_idxd_close(dev), 0); /* closes the channels too */
	/* the device left disabled opens again */
	CU_ASSERT_EQUAL_FATAL(dp_idxd_open("sim:dsa0", ioas, NULL, &dev), 0);
	CU_ASSERT_EQUAL(dp_idxd_get_info(dev, &info), 0);
	CU_ASSERT_EQUAL(info.num_wqs, 1);
	CU_ASSERT_EQUAL(info.wq_size[0], 128); /* the whole WQ space */
	CU_ASSERT_EQUAL(dp_idxd_close(dev), 0);

	/* invalid configurations: each a specific errno and a log line */
	dp_idxd_opts_init(&o, sizeof(o));
	o.num_wqs = 2;
	o.wq[0].size = 100;
	o.wq[1].size = 100;
	CU_ASSERT_EQUAL(dp_idxd_open("sim:dsa0", ioas, &o, &dev), -EINVAL);
	CU_ASSERT(ut_log_has("add up to 200"));
	dp_idxd_opts_init(&o, sizeof(o));
	o.wq[0].max_xfer_shift = 31;
	CU_ASSERT_EQUAL(dp_idxd_open("sim:dsa0", ioas, &o, &dev), -ENOTSUP);
	CU_ASSERT(ut_log_has("exceed the device"));
	dp_idxd_opts_init(&o, sizeof(o));
	o.wq[0].size = 8;
	o.wq[0].threshold = 9;
	CU_ASSERT_EQUAL(dp_idxd_open("sim:dsa0", ioas, &o, &dev), -EINVAL);
	CU_ASSERT(ut_log_has("threshold"));
	CU_ASSERT_EQUAL(dp_idxd_open("sim:dsa0", NULL, NULL, &dev), -EINVAL);
	CU_ASSERT(ut_log_has("NULL IOAS"));
	CU_ASSERT_EQUAL(dp_idxd_open("sim:nosuch0", ioas, NULL, &dev), -ENODEV);
	CU_ASSERT(dev == NULL);
	/* a device with fewer WQs or a smaller transfer than asked for */
	setenv("DP_SIM_DSA_WQS", "2", 1);
	setenv("DP_SIM_DSA_XFER_SHIFT", "16", 1);
	dp_idxd_opts_init(&o, sizeof(o));
	o.num_wqs = 3;
	CU_ASSERT_EQUAL(dp_idxd_open("sim:dsa1", ioas, &o, &dev), -ENOTSUP);
	CU_ASSERT(ut_log_has("3 WQs asked for, the device has 2"));
	dp_idxd_opts_init(&o, sizeof(o));
	o.wq[0].max_xfer_shift = 17;
	CU_ASSERT_EQUAL(dp_idxd_open("sim:dsa1", ioas, &o, &dev), -ENOTSUP);
	CU_ASSERT(ut_log_has("max transfer 2^17"));
	CU_ASSERT_EQUAL_FATAL(dp_idxd_open("sim:dsa1", ioas, NULL, &dev), 0);
	CU_ASSERT_EQUAL(dp_idxd_get_info(dev, &info), 0);
	CU_ASSERT_EQUAL(info.max_xfer, 64 * KiB);
	CU_ASSERT_EQUAL(dp_idxd_close(dev), 0);
	unsetenv("DP_SIM_DSA_WQS");
	unsetenv("DP_SIM_DSA_XFER_SHIFT");
	ut_log_release();
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* Memory that dp_iova_of() does not know: -EFAULT at submit, with the hint to register it. */
static void test_unregistered_sim(void)
{
	struct fx f;
	struct done d = {0};
	uint8_t *plain = malloc(8192);

	fx_open(&f, "sim:dsa0");
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst, plain, 64, 0, on_done, &d), -EFAULT);
	CU_ASSERT(ut_log_has("dp_mem_register"));
	CU_ASSERT_EQUAL(dp_idxd_submit_fill(f.ch, plain + 100, 0, 64, 0, on_done, &d), -EFAULT);
	CU_ASSERT_EQUAL(dp_idxd_submit_crcgen(f.ch, plain, 6000, 0, 0, on_done, &d), -EFAULT);
	/* DMA memory past its end is not contiguous with it */
	ut_log_release();
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 0);
	CU_ASSERT_EQUAL(d.calls, 0);
	free(plain);
	fx_close(&f);
}

/* The argument checks of copy, fill and crcgen (their inline fast paths defer every "no" to
 * the generic path): each error, its log line, nothing taken. @device: IOVA checks too
 * (memory dp_iova_of() does not know); the software engine takes any host address. */
static void fast_path_args(struct fx *f, bool device)
{
	struct done d = {0};
	uint8_t *plain = malloc(8192);
	uint32_t out0 = dp_idxd_chan_outstanding(f->ch);

	CU_ASSERT_FATAL(plain != NULL);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(NULL, f->dst, f->src, 8, 0, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f->ch, f->dst, f->src, 0, 0, on_done, &d), -EINVAL);
	CU_ASSERT(ut_log_has("zero length"));
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f->ch, f->dst, f->src, 8, 0x2, on_done, &d), -EINVAL);
	CU_ASSERT(ut_log_has("unknown flags"));
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f->ch, f->dst, f->src, 4 * MiB, 0, on_done, &d),
			-E2BIG);
	CU_ASSERT(ut_log_has("largest transfer"));
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f->ch, NULL, f->src, 8, 0, on_done, &d), -EINVAL);
	CU_ASSERT(ut_log_has("NULL buffer"));
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f->ch, f->dst, NULL, 8, 0, on_done, &d), -EINVAL);
	if (device) {
		CU_ASSERT_EQUAL(dp_idxd_submit_copy(f->ch, f->dst, plain, 64, 0, on_done, &d),
				-EFAULT);
		CU_ASSERT(ut_log_has("dp_mem_register"));
		/* a kernel-half address: beyond the translation map, refused, not read */
		CU_ASSERT_EQUAL(dp_idxd_submit_copy(f->ch,
						    (void *)(uintptr_t)0xffff880000001000ull,
						    f->src, 64, 0, on_done, &d), -EFAULT);
		CU_ASSERT_EQUAL(dp_idxd_submit_fill(f->ch, plain + 4000, 1, 200, 0, on_done, &d),
				-EFAULT);
		CU_ASSERT_EQUAL(dp_idxd_submit_crcgen(f->ch, plain, 64, 0, 0, on_done, &d),
				-EFAULT);
	}
	CU_ASSERT_EQUAL(dp_idxd_submit_fill(NULL, f->dst, 1, 8, 0, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_fill(f->ch, f->dst, 1, 0, 0, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_fill(f->ch, f->dst, 1, 8, 0x10, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_fill(f->ch, f->dst, 1, 4 * MiB, 0, on_done, &d), -E2BIG);
	CU_ASSERT_EQUAL(dp_idxd_submit_fill(f->ch, NULL, 1, 8, 0, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_crcgen(NULL, f->src, 8, 0, 0, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_crcgen(f->ch, f->src, 0, 0, 0, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_crcgen(f->ch, f->src, 8, 0, 0x4, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_crcgen(f->ch, f->src, 4 * MiB, 0, 0, on_done, &d), -E2BIG);
	CU_ASSERT_EQUAL(dp_idxd_submit_crcgen(f->ch, NULL, 8, 0, 0, on_done, &d), -EINVAL);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f->ch), out0);
	CU_ASSERT_EQUAL(dp_idxd_poll(f->ch, 0), 0);
	CU_ASSERT_EQUAL(d.calls, 0);
	free(plain);
}

/* Buffers at the edges the fast path decides on (a 4 KiB page, a 2 MiB translation entry):
 * the same results either way. */
static void fast_path_edges(struct fx *f)
{
	static const uint32_t offs[] = {0, 4096 - 10, 2 * MiB - 10, 2 * MiB - 4096, 2 * MiB};
	static const uint32_t lens[] = {1, 64, 100, 5000, 2 * MiB - 100};
	uint64_t pattern = 0x0123456789abcdefull;
	struct done d;

	fill_rand(f->src, BUF_LEN);
	for (size_t i = 0; i < DPI_ARRAY_SIZE(offs); i++) {
		for (size_t j = 0; j < DPI_ARRAY_SIZE(lens); j++) {
			uint32_t o = offs[i], len = lens[j];
			uint32_t crc_a, crc_b;

			if (o + len + 64 > BUF_LEN)
				continue;
			memset(f->dst, 0, o + len + 64);
			memset(&d, 0, sizeof(d));
			CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_copy(f->ch, f->dst + o + 7,
									  f->src + o, len, 0,
									  on_done, &d)), 0);
			CU_ASSERT(memcmp(f->dst + o + 7, f->src + o, len) == 0);
			CU_ASSERT_EQUAL(f->dst[o + 6], 0);
			CU_ASSERT_EQUAL(f->dst[o + 7 + len], 0);
			memset(&d, 0, sizeof(d));
			CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_fill(f->ch, f->dst + o, pattern,
									  len, 0, on_done, &d)), 0);
			for (uint32_t k = 0; k < len; k += 1 + len / 64)
				CU_ASSERT_EQUAL(f->dst[o + k], (uint8_t)(pattern >> (8 * (k % 8))));
			/* the CRC of the same bytes at the edge and at an aligned place */
			memcpy(f->src2 + 64, f->src + o, len);
			memset(&d, 0, sizeof(d));
			CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_crcgen(f->ch, f->src + o, len, 0, 0,
									    on_done, &d)), 0);
			crc_a = (uint32_t)d.res.crc;
			memset(&d, 0, sizeof(d));
			CU_ASSERT_EQUAL(SYNC(f, &d, dp_idxd_submit_crcgen(f->ch, f->src2 + 64, len, 0,
									    0, on_done, &d)), 0);
			crc_b = (uint32_t)d.res.crc;
			CU_ASSERT_EQUAL(crc_a, crc_b);
		}
	}
}

/* A batch reaped a few callbacks at a time (max), with a member that needs more than its
 * status (CR_DELTA overflow) between plain ones. */
static void fast_path_batch_max(struct fx *f)
{
	struct cnt c = {0};
	struct member m[8];
	int n;

	for (int i = 0; i < 8; i++)
		m[i] = (struct member){&c, i};
	fill_rand(f->src, 64 * KiB);
	fill_rand(f->src2, 64 * KiB);
	memset(f->dst, 0, 64 * KiB);
	CU_ASSERT_EQUAL(dp_idxd_batch_open(f->ch), 0);
	for (int i = 0; i < 8; i++) {
		int rc;

		if (i == 5) /* different buffers, room for one delta entry: -ENOSPC */
			rc = dp_idxd_submit_cr_delta(f->ch, f->src, f->src2, 64, f->delta, 10, 0,
						     on_member, &m[i]);
		else
			rc = dp_idxd_submit_copy(f->ch, f->dst + i * 4096, f->src + i * 4096, 4096,
						 0, on_member, &m[i]);
		CU_ASSERT_EQUAL(rc, 0);
	}
	CU_ASSERT_EQUAL(dp_idxd_batch_close(f->ch), 0);
	for (int i = 0; i < 1000000 && c.calls == 0; i++) {
		n = dp_idxd_poll(f->ch, 3);
		CU_ASSERT(n == 0 || n == 3);
	}
	CU_ASSERT_EQUAL(c.calls, 3);
	CU_ASSERT_EQUAL(dp_idxd_poll(f->ch, 1), 1);
	CU_ASSERT_EQUAL(c.calls, 4);
	CU_ASSERT_EQUAL(dp_idxd_poll(f->ch, 0), 4);
	CU_ASSERT_EQUAL(c.calls, 8);
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f->ch), 0);
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(c.order[i], i);
		CU_ASSERT_EQUAL(c.rc[i], i == 5 ? -ENOSPC : 0);
		if (i != 5) {
			CU_ASSERT(memcmp(f->dst + i * 4096, f->src + i * 4096, 4096) == 0);
		}
	}
}

static void test_fast_path_sim(void)
{
	struct fx f;

	fx_open(&f, "sim:dsa0");
	fast_path_args(&f, true);
	CU_ASSERT_EQUAL(dp_idxd_batch_open(f.ch), 0); /* inside an open batch */
	fast_path_args(&f, true);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), 0);
	fast_path_edges(&f);
	fast_path_batch_max(&f);
	fx_close(&f);
	/* the same on the software engine (host addresses) */
	fx_open(&f, "sw");
	fast_path_args(&f, false);
	fast_path_edges(&f);
	fast_path_batch_max(&f);
	fx_close(&f);
}

/* A shared WQ of 4 entries with the engines held: the fifth ENQCMD is retried and refused
 * with -EAGAIN; once the engines run, everything completes and submission works again. */
static void test_shared_queue_full_sim(void)
{
	struct fx f;
	struct dp_idxd_opts o;
	struct dpi_sim_dsa_stats st0, st1;
	struct cnt c = {0};
	struct member m[8];

	dp_idxd_opts_init(&o, sizeof(o));
	o.wq[0].mode = DP_IDXD_WQ_SHARED;
	o.wq[0].size = 4;
	fx_open_opts(&f, "sim:dsa0", &o, 8, 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_stats(sim_of(&f), &st0), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(sim_of(&f), true), 0);
	fill_rand(f.src, 8 * 4096);
	for (int i = 0; i < 4; i++) {
		m[i] = (struct member){&c, i};
		CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst + i * 4096, f.src + i * 4096, 4096, 0,
						    on_member, &m[i]), 0);
	}
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(sim_of(&f), 0), 4);
	m[4] = (struct member){&c, 4};
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst + 4 * 4096, f.src + 4 * 4096, 4096, 0,
					    on_member, &m[4]), -EAGAIN);
	CU_ASSERT_EQUAL(dpi_sim_dsa_stats(sim_of(&f), &st1), 0);
	CU_ASSERT(st1.retries - st0.retries >= 2); /* retried before giving up */
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 4);
	CU_ASSERT_EQUAL(dp_idxd_poll(f.ch, 0), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(sim_of(&f), false), 0);
	poll_until(&f, &c, 4);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst + 4 * 4096, f.src + 4 * 4096, 4096, 0,
					    on_member, &m[4]), 0);
	poll_until(&f, &c, 5);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(c.rc[i], 0);
	CU_ASSERT(memcmp(f.dst, f.src, 5 * 4096) == 0);
	fx_close(&f);
}

/* Device status codes reach the callback as errnos, with the raw status beside them. */
static void test_status_errno_sim(void)
{
	static const struct {
		uint8_t status;
		int rc;
	} map[] = {
		{DSA_COMP_HW_ERR1, -EIO},          {DSA_COMP_BAD_OPCODE, -EOPNOTSUPP},
		{DSA_COMP_XFER_ERANGE, -E2BIG},    {DSA_COMP_INVALID_FLAGS, -EINVAL},
		{DSA_COMP_TRANSLATION_FAIL, -EFAULT}, {DSA_COMP_PRIV_BAD, -EPERM},
		{DSA_COMP_DIF_ERR, -EILSEQ},
	};
	struct fx f;

	fx_open(&f, "sim:dsa0");
	for (size_t i = 0; i < DPI_ARRAY_SIZE(map); i++) {
		struct done d = {0};

		CU_ASSERT_EQUAL(dpi_sim_dsa_inject_status(sim_of(&f), DSA_OPCODE_MEMMOVE,
							  map[i].status, 1), 0);
		CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy(f.ch, f.dst, f.src, 64, 0, on_done,
								 &d)), map[i].rc);
		CU_ASSERT_EQUAL(d.res.status & DSA_COMP_STATUS_MASK, map[i].status);
	}
	/* a device writing any status at all: one callback each, an errno for every failure */
	for (unsigned st = 1; st <= 0xff; st++) {
		struct done d = {0};
		unsigned masked = st & DSA_COMP_STATUS_MASK;
		int rc;

		if (masked == 0)
			continue; /* "not done yet": the operation would time out */
		CU_ASSERT_EQUAL(dpi_sim_dsa_inject_status(sim_of(&f), DSA_OPCODE_MEMMOVE, (uint8_t)st,
							  1), 0);
		ut_log_capture();
		rc = SYNC(&f, &d, dp_idxd_submit_copy(f.ch, f.dst, f.src, 64, 0, on_done, &d));
		ut_log_release();
		CU_ASSERT_EQUAL(d.calls, 1);
		CU_ASSERT((masked == DSA_COMP_SUCCESS || masked == DSA_COMP_SUCCESS_PRED) ? rc == 0
											 : rc < 0);
	}
	/* and the next one runs */
	{
		struct done d = {0};

		fill_rand(f.src, 64);
		CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy(f.ch, f.dst, f.src, 64, 0, on_done,
								 &d)), 0);
		CU_ASSERT(memcmp(f.dst, f.src, 64) == 0);
	}
	fx_close(&f);
}

/* A shared WQ used as a process uses a kernel-owned one: lib/pasid binds a PASID to the
 * process's address space, descriptors carry virtual addresses, so plain malloc memory works. */
static void test_kernel_wq_sim(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_idxd_dev *owner = NULL, *dev = NULL;
	struct dp_idxd_chan *ch = NULL;
	struct dp_idxd_info info = {.size = sizeof(info)};
	struct dp_idxd_opts o;
	struct cnt c = {0};
	struct member m[8];
	size_t len = 256 * KiB;
	uint8_t *a = malloc(len), *b = malloc(len);
	uint32_t want;

	/* the driver in the kernel's role: WQ 0 dedicated, WQ 1 shared */
	dp_idxd_opts_init(&o, sizeof(o));
	o.num_wqs = 2;
	o.wq[1].mode = DP_IDXD_WQ_SHARED;
	CU_ASSERT_EQUAL_FATAL(dp_idxd_open("sim:dsa0", ioas, &o, &owner), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_idxd_open("sim:dsa0/wq0.0", NULL, NULL, &dev), -ENOTSUP);
	o.num_wqs = 1;
	o.wq[0].size = 8;
	CU_ASSERT_EQUAL(dp_idxd_open("sim:dsa0/wq0.1", NULL, &o, &dev), -EINVAL);
	CU_ASSERT(ut_log_has("accel-config"));
	ut_log_release();
	CU_ASSERT_EQUAL_FATAL(dp_idxd_open("sim:dsa0/wq0.1", NULL, NULL, &dev), 0);
	CU_ASSERT_EQUAL(dp_idxd_get_info(dev, &info), 0);
	CU_ASSERT_EQUAL(info.num_wqs, 1);
	CU_ASSERT_EQUAL(info.wq_mode[0], DP_IDXD_WQ_SHARED);
	CU_ASSERT_EQUAL(info.wq_size[0], 64);
	CU_ASSERT_EQUAL(dp_idxd_chan_create(dev, NULL, &ch), 0);

	fill_rand(a, len);
	want = dpi_crc32c(0, a, len);
	for (int i = 0; i < 4; i++)
		m[i] = (struct member){&c, i};
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(ch, b, a, (uint32_t)len, 0, on_member, &m[0]), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_crcgen(ch, a, (uint32_t)len, 0, 0, on_member, &m[1]), 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_open(ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_compare(ch, a, b, (uint32_t)len, 0, on_member, &m[2]), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_noop(ch, 0, on_member, &m[3]), 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(ch), 0);
	for (int i = 0; i < 100000 && c.calls < 4; i++)
		CU_ASSERT(dp_idxd_poll(ch, 0) >= 0);
	CU_ASSERT_EQUAL(c.calls, 4);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(c.rc[i], 0);
	CU_ASSERT(memcmp(a, b, len) == 0);
	CU_ASSERT_EQUAL((uint32_t)c.crc[1], want);
	CU_ASSERT_EQUAL(dp_idxd_chan_destroy(ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_close(dev), 0);
	CU_ASSERT_EQUAL(dp_idxd_close(owner), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	free(a);
	free(b);
}

/* A dedicated WQ with a PASID DMAs through the address space attached to that PASID: a page
 * remapped there (and only there) is what the device reads. */
static void test_pasid_sim(void)
{
	struct fx f;
	struct dp_ioas *b;
	struct dp_device *pci;
	struct dp_idxd_chan_opts co;
	struct dpi_sim_domain *dom;
	struct done d = {0};
	uint32_t pasid = 0;
	dp_iova_t x;

	fx_open(&f, "sim:dsa0");
	b = new_ioas(); /* registered memory is mapped here too, at the same IOVAs */
	dom = domain_of(b);
	pci = dp_idxd_device(f.dev);
	CU_ASSERT_FATAL(pci != NULL);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_idxd_wq_set_pasid(f.dev, 0, 5), -EBUSY);
	CU_ASSERT(ut_log_has("open channels"));
	CU_ASSERT_EQUAL(dp_idxd_wq_set_pasid(f.dev, 1, 5), -EINVAL);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_idxd_chan_destroy(f.ch), 0);
	CU_ASSERT_EQUAL_FATAL(dp_pasid_alloc(pci, &pasid), 0);
	CU_ASSERT_EQUAL_FATAL(dp_pasid_attach(pci, pasid, b), 0);
	CU_ASSERT_EQUAL(dp_idxd_wq_set_pasid(f.dev, 0, pasid), 0);
	dp_idxd_chan_opts_init(&co, sizeof(co));
	CU_ASSERT_EQUAL_FATAL(dp_idxd_chan_create(f.dev, &co, &f.ch), 0);

	/* in the PASID's address space only, the source's first page is another buffer's */
	memset(f.src, 0x11, 4096);
	memset(f.src2, 0x22, 4096);
	x = dp_iova_of(f.src, NULL);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_domain_unmap(dom, x, 4096), 0);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_domain_map(dom, x, f.src2, 4096,
						 DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE), 0);
	CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy(f.ch, f.dst, f.src, 4096, 0, on_done, &d)),
			0);
	CU_ASSERT_EQUAL(f.dst[0], 0x22);
	CU_ASSERT_EQUAL(f.dst[4095], 0x22);

	/* without the PASID the device reads through the IOAS it was opened with */
	CU_ASSERT_EQUAL(dp_idxd_chan_destroy(f.ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_wq_set_pasid(f.dev, 0, 0), 0);
	CU_ASSERT_EQUAL_FATAL(dp_idxd_chan_create(f.dev, &co, &f.ch), 0);
	memset(&d, 0, sizeof(d));
	CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy(f.ch, f.dst, f.src, 4096, 0, on_done, &d)),
			0);
	CU_ASSERT_EQUAL(f.dst[0], 0x11);
	CU_ASSERT_EQUAL(f.dst[4095], 0x11);

	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(dom, x, 4096), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(dom, x, f.src, 4096,
					   DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE), 0);
	CU_ASSERT_EQUAL(dp_pasid_detach(pci, pasid), 0);
	CU_ASSERT_EQUAL(dp_pasid_free(pci, pasid), 0);
	fx_close(&f);
	CU_ASSERT_EQUAL(dp_ioas_destroy(b), 0);
}

/* Every failure point of open and channel creation reports an error and leaves nothing behind
 * (the device can be opened again; ASan builds check for leaks). */
static void test_fail_nth_sim(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_idxd_dev *dev = NULL;
	struct dp_idxd_chan *ch = NULL;
	struct cnt c = {0};
	struct member m = {&c, 0};
	int rc = -1, n;

	ut_log_capture();
	for (n = 1; n < 1000; n++) {
		dpi_fault_arm(n, ENOMEM);
		rc = dp_idxd_open("sim:dsa0", ioas, NULL, &dev);
		if (!dpi_fault_fired())
			break;
		dpi_fault_arm(0, 0);
		CU_ASSERT(rc < 0);
		CU_ASSERT_PTR_NULL(dev);
	}
	dpi_fault_arm(0, 0);
	CU_ASSERT(n > 2);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	for (n = 1; n < 1000; n++) {
		dpi_fault_arm(n, ENOMEM);
		rc = dp_idxd_chan_create(dev, NULL, &ch);
		if (!dpi_fault_fired())
			break;
		dpi_fault_arm(0, 0);
		CU_ASSERT(rc < 0);
		CU_ASSERT_PTR_NULL(ch);
	}
	dpi_fault_arm(0, 0);
	ut_log_release();
	CU_ASSERT(n > 1);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	/* the failed creates gave their WQ room back: the channel took 64 of 128 entries */
	CU_ASSERT_EQUAL(dp_idxd_submit_noop(ch, 0, on_member, &m), 0);
	for (int i = 0; i < 1000 && c.calls == 0; i++)
		dp_idxd_poll(ch, 0);
	CU_ASSERT_EQUAL(c.rc[0], 0);
	{
		struct dp_idxd_chan *ch2 = NULL;

		CU_ASSERT_EQUAL(dp_idxd_chan_create(dev, NULL, &ch2), 0);
		CU_ASSERT_EQUAL(dp_idxd_chan_destroy(ch2), 0);
	}
	CU_ASSERT_EQUAL(dp_idxd_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

/* Two threads, each with its own channel on one shared WQ. */
struct thr {
	struct dp_idxd_dev *dev;
	uint8_t *src, *dst;
	int errors, done;
};

static void on_thr(void *arg, int rc, const struct dp_idxd_result *res)
{
	struct thr *t = arg;

	(void)res;
	t->done++;
	t->errors += rc != 0;
}

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	struct dp_idxd_chan *ch = NULL;
	int submitted = 0;

	if (dp_idxd_chan_create(t->dev, NULL, &ch) != 0) {
		t->errors++;
		return NULL;
	}
	while (t->done < 2000) {
		if (submitted < 2000) {
			int rc = dp_idxd_submit_copy(ch, t->dst + (submitted % 64) * 1024,
						     t->src + (submitted % 64) * 1024, 1024, 0,
						     on_thr, t);
			if (rc == 0)
				submitted++;
			else if (rc != -EAGAIN)
				t->errors++;
		}
		if (dp_idxd_poll(ch, 0) < 0)
			t->errors++;
	}
	dp_idxd_chan_destroy(ch);
	return NULL;
}

static void test_threads_shared_wq_sim(void)
{
	struct fx f;
	struct dp_idxd_opts o;
	struct thr t[2];
	pthread_t th[2];

	dp_idxd_opts_init(&o, sizeof(o));
	o.wq[0].mode = DP_IDXD_WQ_SHARED;
	o.wq[0].size = 32;
	fx_open_opts(&f, "sim:dsa0", &o, 64, 0);
	fill_rand(f.src, 64 * KiB);
	fill_rand(f.src2, 64 * KiB);
	t[0] = (struct thr){f.dev, f.src, f.dst, 0, 0};
	t[1] = (struct thr){f.dev, f.src2, f.dst2, 0, 0};
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(t[i].errors, 0);
		CU_ASSERT_EQUAL(t[i].done, 2000);
	}
	CU_ASSERT(memcmp(f.dst, f.src, 64 * KiB) == 0);
	CU_ASSERT(memcmp(f.dst2, f.src2, 64 * KiB) == 0);
	fx_close(&f);
}

/* ---- batch calls (dp_idxd_submit_copy_batch) ---------------------------------------------- */

/* A channel deep enough for a batch call of max_batch members. */
static void fx_open_batch(struct fx *f, const char *addr, uint32_t *max_batch)
{
	struct dp_idxd_info info = {.size = sizeof(info)};
	struct dp_idxd_dev *dev = NULL;
	struct dp_ioas *ioas = new_ioas();
	struct dp_idxd_opts o, *op = NULL;
	uint32_t depth = 4;

	/* the sim's WQ (128 entries) takes no channel for its largest batch (1024): 32 */
	dp_idxd_opts_init(&o, sizeof(o));
	o.wq[0].max_batch_shift = 5;
	if (strcmp(addr, "sw") != 0)
		op = &o;
	CU_ASSERT_EQUAL_FATAL(dp_idxd_open(addr, ioas, op, &dev), 0);
	CU_ASSERT_EQUAL_FATAL(dp_idxd_get_info(dev, &info), 0);
	CU_ASSERT_EQUAL(dp_idxd_close(dev), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	*max_batch = DPI_MIN(info.max_batch, 1024u);
	while (depth < 2 * (*max_batch + 1))
		depth *= 2;
	fx_open_opts(f, addr, op, DPI_MIN(depth, 4096u), 0);
}

/* Random copies in batch calls of n = 1, 2, random and max_batch: the destinations equal what
 * the reference computes, and the one callback reports every member completed. */
static void copy_batch_ref(const char *addr)
{
	static struct dp_idxd_copy_desc ops[1024];
	struct fx f;
	uint32_t maxb;

	fx_open_batch(&f, addr, &maxb);
	for (int round = 0; round < 12; round++) {
		uint32_t n = round % 4 == 0 ? 1 : round % 4 == 1 ? 2 : round % 4 == 2 ? maxb
			   : 1 + (uint32_t)(rnd() % maxb);
		uint32_t chunk = DPI_MIN(64 * KiB, (4 * MiB / n) & ~63u);
		struct done d = {0};

		fill_rand(f.src, 4 * MiB);
		memset(f.dst, 0, 4 * MiB);
		memset(f.ref, 0, 4 * MiB);
		for (uint32_t k = 0; k < n; k++) {
			uint32_t off = (uint32_t)(rnd() % 64), len = 1 + (uint32_t)(rnd() % (chunk - 64));
			struct dsa_hw_desc hd = {0};
			struct dsa_completion_record cr = {0};

			ops[k] = (struct dp_idxd_copy_desc){f.dst + k * chunk + off,
							    f.src + k * chunk + (rnd() % 64), len, 0};
			hd.opcode = DSA_OPCODE_MEMMOVE;
			hd.src_addr = (uintptr_t)ops[k].src;
			hd.dst_addr = (uintptr_t)(f.ref + k * chunk + off);
			hd.xfer_size = len;
			CU_ASSERT_EQUAL(ref_exec(&hd, &cr), DSA_COMP_SUCCESS);
		}
		CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy_batch(f.ch, ops, n, on_done, &d)), 0);
		CU_ASSERT_EQUAL(d.calls, 1);
		CU_ASSERT_EQUAL(d.res.status, DSA_COMP_SUCCESS);
		CU_ASSERT_EQUAL(d.res.batch.completed, n);
		CU_ASSERT_EQUAL(d.res.batch.first_failed, n);
		CU_ASSERT(memcmp(f.dst, f.ref, 4 * MiB) == 0);
		CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 0);
	}
	fx_close(&f);
}

/* Each bad member refuses the whole call: nothing submitted, the log names its index. The bad
 * member is the second of a pair, the first of one, and the odd last one (the fast loops take
 * members two at a time). */
static void copy_batch_args(const char *addr)
{
	struct dp_idxd_copy_desc ops[8];
	struct dp_idxd_info info = {.size = sizeof(info)};
	struct fx f;
	struct done d = {0};
	uint8_t *heap = malloc(8192);
	uint32_t maxb;

	fx_open_batch(&f, addr, &maxb);
	CU_ASSERT_EQUAL(dp_idxd_get_info(f.dev, &info), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(heap);
	for (int cc = 0; cc < 21; cc++) {
		static const uint32_t nbad[3][2] = {{8, 5}, {8, 4}, {7, 6}};
		uint32_t n = nbad[cc / 7][0], bad = nbad[cc / 7][1];
		int c = cc % 7, want = -EINVAL;
		char what[32];

		for (int k = 0; k < 8; k++)
			ops[k] = (struct dp_idxd_copy_desc){f.dst + k * 4096, f.src + k * 4096, 4096, 0};
		switch (c) {
		case 0: ops[bad].dst = NULL; break;
		case 1: ops[bad].src = NULL; break;
		case 2: ops[bad].len = 0; break;
		case 3: ops[bad].flags = 1u << 30; break;
		case 4:
			if (info.max_xfer == UINT32_MAX)
				continue;
			ops[bad].len = info.max_xfer + 1;
			want = -E2BIG;
			break;
		case 5:
			if (strcmp(addr, "sw") == 0)
				continue; /* any memory is DMA-able there */
			ops[bad].src = heap;
			want = -EFAULT;
			break;
		case 6:
			if (strcmp(addr, "sw") == 0)
				continue;
			ops[bad].dst = heap + 4096;
			want = -EFAULT;
			break;
		}
		memset(f.dst, 0, 8 * 4096);
		ut_log_capture();
		CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(f.ch, ops, n, on_done, &d), want);
		snprintf(what, sizeof(what), "operation %u", bad);
		CU_ASSERT(ut_log_has(what));
		ut_log_release();
		CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 0);
		CU_ASSERT_EQUAL(dp_idxd_poll(f.ch, 0), 0);
		CU_ASSERT_EQUAL(d.calls, 0);
		CU_ASSERT_EQUAL(f.dst[0], 0); /* member 0 did not run either */
	}
	for (int k = 0; k < 8; k++)
		ops[k] = (struct dp_idxd_copy_desc){f.dst + k * 4096, f.src + k * 4096, 4096, 0};
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(NULL, ops, 8, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(f.ch, NULL, 8, on_done, &d), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(f.ch, ops, 0, on_done, &d), -EINVAL);
	if (maxb < 1024) {
		static struct dp_idxd_copy_desc many[1025];

		for (uint32_t k = 0; k <= maxb; k++)
			many[k] = ops[0];
		CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(f.ch, many, maxb + 1, on_done, &d),
				-E2BIG);
		CU_ASSERT(ut_log_has("largest batch"));
	}
	CU_ASSERT_EQUAL(dp_idxd_batch_open(f.ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(f.ch, ops, 8, on_done, &d), -EBUSY);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), 0);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 0);
	CU_ASSERT_EQUAL(d.calls, 0);
	/* and a good call afterwards goes through */
	fill_rand(f.src, 8 * 4096);
	CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy_batch(f.ch, ops, 8, on_done, &d)), 0);
	CU_ASSERT(memcmp(f.dst, f.src, 8 * 4096) == 0);
	free(heap);
	fx_close(&f);
}

/* Batch calls between single operations on a small ring: callbacks in submission order; the
 * members never wrap around the ring's end (pads), with operations outstanding or not. Also a
 * channel whose depth cannot hold the batch (-E2BIG), and a full one (-EAGAIN). */
static void copy_batch_ring(const char *addr, uint32_t chan_flags)
{
	struct dp_idxd_copy_desc ops[16];
	struct fx f;
	struct cnt c = {0};
	struct member m[2] = {{&c, 0}, {&c, 1}};

	fx_open_opts(&f, addr, NULL, 16, chan_flags);
	for (int round = 0; round < 40; round++) {
		uint32_t n = 1 + (uint32_t)(rnd() % 7);

		memset(&c, 0, sizeof(c));
		fill_rand(f.src, 64 * KiB);
		memset(f.dst, 0, 64 * KiB);
		for (uint32_t k = 0; k < n; k++)
			ops[k] = (struct dp_idxd_copy_desc){f.dst + 4096 + k * 512,
							    f.src + 4096 + k * 512, 512, 0};
		CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst, f.src, 100, 0, on_member, &m[0]), 0);
		CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(f.ch, ops, n, on_member, &m[1]), 0);
		poll_until(&f, &c, 2);
		CU_ASSERT_EQUAL(c.order[0], 0);
		CU_ASSERT_EQUAL(c.order[1], 1);
		CU_ASSERT_EQUAL(c.rc[0], 0);
		CU_ASSERT_EQUAL(c.rc[1], 0);
		CU_ASSERT(memcmp(f.dst, f.src, 100) == 0);
		CU_ASSERT(memcmp(f.dst + 4096, f.src + 4096, n * 512) == 0);
		CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 0);
	}
	/* 15 members + the BATCH slot fill a ring of 16; 16 members cannot fit */
	for (uint32_t k = 0; k < 16; k++)
		ops[k] = (struct dp_idxd_copy_desc){f.dst + k * 64, f.src + k * 64, 64, 0};
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(f.ch, ops, 16, on_member, &m[1]), -E2BIG);
	CU_ASSERT(ut_log_has("depth"));
	ut_log_release();
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst, f.src, 100, 0, on_member, &m[0]), 0);
	if (chan_flags & DP_IDXD_CHAN_F_AUTOBATCH)
		CU_ASSERT_EQUAL(dp_idxd_flush(f.ch), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(f.ch, ops, 15, on_member, &m[1]), -EAGAIN);
	poll_until(&f, &c, 1);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(f.ch, ops, 15, on_member, &m[1]), 0);
	poll_until(&f, &c, 1);
	CU_ASSERT_EQUAL(c.rc[1], 0);
	fx_close(&f);
}

static void test_copy_batch_sw(void)
{
	copy_batch_ref("sw");
	copy_batch_args("sw");
	copy_batch_ring("sw", 0);
	copy_batch_ring("sw", DP_IDXD_CHAN_F_AUTOBATCH);
}

static void test_copy_batch_sim(void)
{
	copy_batch_ref("sim:dsa0");
	copy_batch_args("sim:dsa0");
	copy_batch_ring("sim:dsa0", 0);
}

/* ---- page faults --------------------------------------------------------------------------- */

static struct {
	uint8_t *page;
	dp_iova_t iova;
	struct dpi_sim_domain *domain;
	int hits;
} g_pf;

/* The CPU touched the page: make it present again, as the kernel would on a fault. */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if ((uint8_t *)si->si_addr < g_pf.page || (uint8_t *)si->si_addr >= g_pf.page + 4096)
		abort();
	g_pf.hits++;
	mprotect(g_pf.page, 4096, PROT_READ | PROT_WRITE);
	dpi_sim_domain_map(g_pf.domain, g_pf.iova, g_pf.page, 4096,
			   DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE);
}

/* Make one 4 KiB page of registered memory absent: for the device (unmapped from the sim
 * IOMMU) and for the CPU (PROT_NONE, until the SIGSEGV handler restores both). */
static void page_absent(struct fx *f, uint8_t *page)
{
	g_pf.page = page;
	g_pf.iova = dp_iova_of(page, NULL);
	g_pf.domain = domain_of(f->ioas);
	CU_ASSERT_EQUAL_FATAL(dpi_sim_domain_unmap(g_pf.domain, g_pf.iova, 4096), 0);
	CU_ASSERT_EQUAL_FATAL(mprotect(page, 4096, PROT_NONE), 0);
}

static void test_page_fault_sim(void)
{
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO}, old;
	struct fx f;
	struct done d = {0};
	size_t len = 128 * KiB;
	uint8_t *reg = map_anon(len);
	uint32_t want;

	fx_open(&f, "sim:dsa0");
	CU_ASSERT_EQUAL_FATAL(dp_mem_register(reg, len), 0);
	CU_ASSERT_EQUAL_FATAL(sigaction(SIGSEGV, &sa, &old), 0);

	/* read fault in the source of a copy: resumed at the page, the callback sees success */
	fill_rand(reg, len);
	memset(f.dst, 0, len);
	page_absent(&f, reg + 3 * 4096);
	CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy(f.ch, f.dst, reg + 100, 40000, 0, on_done,
							 &d)), 0);
	CU_ASSERT_EQUAL(g_pf.hits, 1);
	CU_ASSERT(memcmp(f.dst, reg + 100, 40000) == 0);

	/* write fault in the destination of a fill */
	memset(&d, 0, sizeof(d));
	page_absent(&f, reg + 5 * 4096);
	CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_fill(f.ch, reg + 3, 0x0102030405060708ull,
							 30001, 0, on_done, &d)), 0);
	CU_ASSERT_EQUAL(g_pf.hits, 2);
	for (uint32_t k = 0; k < 30001; k++)
		if (reg[3 + k] != (uint8_t)(0x0102030405060708ull >> (8 * (k % 8)))) {
			CU_FAIL("fill pattern broken after the resumed page");
			break;
		}

	/* a CRC across a faulting page: the partial CRC seeds the rest */
	fill_rand(reg, len);
	want = dpi_crc32c(7, reg + 11, 50000);
	memset(&d, 0, sizeof(d));
	page_absent(&f, reg + 9 * 4096);
	CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_crcgen(f.ch, reg + 11, 50000, 7, 0, on_done,
							   &d)), 0);
	CU_ASSERT_EQUAL(g_pf.hits, 3);
	CU_ASSERT_EQUAL((uint32_t)d.res.crc, want);

	/* a fault in a batch member: that member is resumed alone, the others are untouched */
	{
		struct cnt c = {0};
		struct member m[3] = {{&c, 0}, {&c, 1}, {&c, 2}};

		fill_rand(reg, len);
		memset(f.dst, 0, 3 * 8192);
		page_absent(&f, reg + 12 * 4096);
		CU_ASSERT_EQUAL(dp_idxd_batch_open(f.ch), 0);
		for (int i = 0; i < 3; i++)
			CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst + i * 8192,
							    reg + (10 + 2 * i) * 4096 + 5, 8000, 0,
							    on_member, &m[i]), 0);
		CU_ASSERT_EQUAL(dp_idxd_batch_close(f.ch), 0);
		poll_until(&f, &c, 3);
		CU_ASSERT_EQUAL(g_pf.hits, 4);
		for (int i = 0; i < 3; i++) {
			CU_ASSERT_EQUAL(c.rc[i], 0);
			CU_ASSERT(memcmp(f.dst + i * 8192, reg + (10 + 2 * i) * 4096 + 5, 8000) == 0);
		}
	}

	/* an operation that cannot resume mid-way (a delta record) starts again after the fault */
	{
		uint32_t size_ok;

		fill_rand(reg, len);
		memcpy(f.src2, reg + 16 * 4096, 12288);
		f.src2[100] ^= 1;
		f.src2[9000] ^= 1;
		memset(&d, 0, sizeof(d));
		CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_cr_delta(f.ch, reg + 16 * 4096, f.src2,
								     12288, f.delta, 100, 0, on_done,
								     &d)), 0);
		size_ok = d.res.delta_size;
		CU_ASSERT_EQUAL(size_ok, 20);
		memset(&d, 0, sizeof(d));
		memset(f.delta, 0, 100);
		page_absent(&f, reg + 17 * 4096);
		CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_cr_delta(f.ch, reg + 16 * 4096, f.src2,
								     12288, f.delta, 100, 0, on_done,
								     &d)), 0);
		CU_ASSERT_EQUAL(g_pf.hits, 5);
		CU_ASSERT_EQUAL(d.res.result, DSA_DELTA_RESULT_DIFF);
		CU_ASSERT_EQUAL(d.res.delta_size, size_ok);
	}

	/* a fault that touching does not cure (the IOMMU mapping stays gone): -EFAULT */
	memset(&d, 0, sizeof(d));
	g_pf.iova = dp_iova_of(reg + 2 * 4096, NULL);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(g_pf.domain, g_pf.iova, 4096), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy(f.ch, f.dst, reg, 16384, 0, on_done, &d)),
			-EFAULT);
	ut_log_release();
	CU_ASSERT_EQUAL(d.res.fault_addr, g_pf.iova);
	CU_ASSERT_EQUAL(d.res.status & DSA_COMP_STATUS_MASK, DSA_COMP_PAGE_FAULT_NOBOF);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g_pf.domain, g_pf.iova, reg + 2 * 4096, 4096,
					   DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE), 0);
	dpi_sim_fault_clear();

	CU_ASSERT_EQUAL(sigaction(SIGSEGV, &old, NULL), 0);
	CU_ASSERT_EQUAL(dp_mem_unregister(reg, len), 0);
	munmap(reg, len);
	fx_close(&f);
}

/* Batch calls and page faults: a member faulting on an absent page is finished by the driver
 * (one callback, success); a fault that touching does not cure fails that member, whose index
 * the result gives, while the others complete; a fence after it leaves the rest out. */
static void test_copy_batch_fault_sim(void)
{
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO}, old;
	struct dp_idxd_copy_desc ops[6];
	struct fx f;
	struct done d = {0};
	size_t len = 128 * KiB;
	uint8_t *reg = map_anon(len);

	fx_open(&f, "sim:dsa0");
	g_pf.hits = 0;
	CU_ASSERT_EQUAL_FATAL(dp_mem_register(reg, len), 0);
	CU_ASSERT_EQUAL_FATAL(sigaction(SIGSEGV, &sa, &old), 0);

	/* read fault in member 2's source, write fault in member 4's destination */
	for (int pass = 0; pass < 2; pass++) {
		memset(&d, 0, sizeof(d));
		fill_rand(reg, len);
		fill_rand(f.src, 6 * 8192);
		memset(f.dst, 0, 6 * 8192);
		for (int k = 0; k < 6; k++)
			ops[k] = (struct dp_idxd_copy_desc){f.dst + k * 8192, f.src + k * 8192, 8000, 0};
		if (pass == 0) {
			ops[2].src = reg + 4 * 4096 + 5; /* spans pages 4 and 5 */
			page_absent(&f, reg + 5 * 4096);
		} else {
			ops[4].dst = reg + 8 * 4096 + 9;
			page_absent(&f, reg + 9 * 4096);
		}
		CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy_batch(f.ch, ops, 6, on_done, &d)),
				0);
		CU_ASSERT_EQUAL(g_pf.hits, pass + 1);
		CU_ASSERT_EQUAL(d.res.batch.completed, 6);
		CU_ASSERT_EQUAL(d.res.batch.first_failed, 6);
		for (int k = 0; k < 6; k++)
			CU_ASSERT(memcmp(ops[k].dst, ops[k].src, 8000) == 0);
		CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 0);
	}

	/* a fault that touching does not cure, in member 3: -EFAULT, index 3, 5 completed */
	memset(&d, 0, sizeof(d));
	fill_rand(f.src, 6 * 8192);
	memset(f.dst, 0, 6 * 8192);
	for (int k = 0; k < 6; k++)
		ops[k] = (struct dp_idxd_copy_desc){f.dst + k * 8192, f.src + k * 8192, 8000, 0};
	ops[3].src = reg + 2 * 4096;
	g_pf.iova = dp_iova_of(reg + 2 * 4096, NULL);
	CU_ASSERT_EQUAL(dpi_sim_domain_unmap(g_pf.domain, g_pf.iova, 4096), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy_batch(f.ch, ops, 6, on_done, &d)), -EFAULT);
	CU_ASSERT_EQUAL(d.res.batch.first_failed, 3);
	CU_ASSERT_EQUAL(d.res.batch.completed, 5);
	CU_ASSERT_EQUAL(d.res.fault_addr, g_pf.iova);
	CU_ASSERT_EQUAL(d.res.status & DSA_COMP_STATUS_MASK, DSA_COMP_PAGE_FAULT_NOBOF);
	for (int k = 0; k < 6; k++)
		if (k != 3)
			CU_ASSERT(memcmp(ops[k].dst, ops[k].src, 8000) == 0);
	/* the same with a fence on member 4: members 4 and 5 do not run */
	memset(&d, 0, sizeof(d));
	memset(f.dst, 0, 6 * 8192);
	ops[4].flags = DP_IDXD_F_FENCE;
	CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy_batch(f.ch, ops, 6, on_done, &d)), -EFAULT);
	ut_log_release();
	CU_ASSERT_EQUAL(d.res.batch.first_failed, 3);
	CU_ASSERT_EQUAL(d.res.batch.completed, 3);
	CU_ASSERT_EQUAL(f.dst[4 * 8192], 0);
	CU_ASSERT_EQUAL(f.dst[5 * 8192], 0);
	CU_ASSERT(memcmp(ops[2].dst, ops[2].src, 8000) == 0);
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 0);
	CU_ASSERT_EQUAL(dpi_sim_domain_map(g_pf.domain, g_pf.iova, reg + 2 * 4096, 4096,
					   DPI_SIM_ACCESS_READ | DPI_SIM_ACCESS_WRITE), 0);
	dpi_sim_fault_clear();

	CU_ASSERT_EQUAL(sigaction(SIGSEGV, &old, NULL), 0);
	CU_ASSERT_EQUAL(dp_mem_unregister(reg, len), 0);
	munmap(reg, len);
	fx_close(&f);
}

/* ---- timeouts, SWERR, halt ----------------------------------------------------------------- */

static uint64_t g_fake_ticks;

static uint64_t fake_ticks(void)
{
	return g_fake_ticks;
}

static void test_timeout_sim(void)
{
	struct fx f;
	struct dp_idxd_chan_opts co;
	struct dp_idxd_chan *ch2 = NULL;
	struct cnt c = {0};
	struct member m[4];

	dpi_ticks_set_source(fake_ticks, 1000); /* one tick per millisecond */
	fx_open(&f, "sim:dsa0");
	dp_idxd_chan_opts_init(&co, sizeof(co));
	co.depth = 8;
	co.timeout_ms = 50;
	CU_ASSERT_EQUAL_FATAL(dp_idxd_chan_create(f.dev, &co, &ch2), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(sim_of(&f), true), 0);
	for (int i = 0; i < 3; i++) {
		m[i] = (struct member){&c, i};
		CU_ASSERT_EQUAL(dp_idxd_submit_copy(ch2, f.dst + i * 64, f.src + i * 64, 64, 0,
						    on_member, &m[i]), 0);
	}
	ut_log_capture();
	for (int i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL(dp_idxd_poll(ch2, 0), 0); /* pending, not yet timed out */
		g_fake_ticks += 4;
	}
	CU_ASSERT_EQUAL(c.calls, 0);
	g_fake_ticks += 20;
	CU_ASSERT_EQUAL(dp_idxd_poll(ch2, 0), 3);
	CU_ASSERT(ut_log_has("timeout"));
	ut_log_release();
	CU_ASSERT_EQUAL(c.rc[0], -ETIMEDOUT);
	CU_ASSERT_EQUAL(c.rc[1], -ECANCELED);
	CU_ASSERT_EQUAL(c.rc[2], -ECANCELED);
	CU_ASSERT_EQUAL(dpi_sim_dsa_wq_occupancy(sim_of(&f), 0), 0); /* aborted */
	/* the WQ works again */
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(sim_of(&f), false), 0);
	memset(&c, 0, sizeof(c));
	fill_rand(f.src, 64);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(ch2, f.dst, f.src, 64, 0, on_member, &m[0]), 0);
	for (int i = 0; i < 100 && c.calls == 0; i++)
		dp_idxd_poll(ch2, 0);
	CU_ASSERT_EQUAL(c.rc[0], 0);
	CU_ASSERT(memcmp(f.dst, f.src, 64) == 0);
	/* a batch that times out: its first member reports it, the others are cancelled */
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(sim_of(&f), true), 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_open(ch2), 0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(dp_idxd_submit_noop(ch2, 0, on_member, &m[i]), 0);
	CU_ASSERT_EQUAL(dp_idxd_batch_close(ch2), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_idxd_poll(ch2, 0), 0);
	g_fake_ticks += 100;
	CU_ASSERT_EQUAL(dp_idxd_poll(ch2, 0), 3);
	ut_log_release();
	CU_ASSERT_EQUAL(c.rc[0], -ETIMEDOUT);
	CU_ASSERT_EQUAL(c.rc[1], -ECANCELED);
	CU_ASSERT_EQUAL(c.rc[2], -ECANCELED);
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(ch2), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(sim_of(&f), false), 0);
	CU_ASSERT_EQUAL(dp_idxd_chan_destroy(ch2), 0);
	fx_close(&f);
	dpi_ticks_set_source(NULL, 0);
}

/* A batch call that times out fails back once, with -ETIMEDOUT, and the channel works on. */
static void test_copy_batch_timeout_sim(void)
{
	struct dp_idxd_copy_desc ops[4];
	struct dp_idxd_chan_opts co;
	struct dp_idxd_chan *ch2 = NULL;
	struct fx f;
	struct done d = {0};

	dpi_ticks_set_source(fake_ticks, 1000);
	fx_open(&f, "sim:dsa0");
	dp_idxd_chan_opts_init(&co, sizeof(co));
	co.depth = 8;
	co.timeout_ms = 50;
	CU_ASSERT_EQUAL_FATAL(dp_idxd_chan_create(f.dev, &co, &ch2), 0);
	for (int k = 0; k < 4; k++)
		ops[k] = (struct dp_idxd_copy_desc){f.dst + k * 64, f.src + k * 64, 64, 0};
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(sim_of(&f), true), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(ch2, ops, 4, on_done, &d), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_idxd_poll(ch2, 0), 0);
	g_fake_ticks += 100;
	CU_ASSERT_EQUAL(dp_idxd_poll(ch2, 0), 1);
	CU_ASSERT_EQUAL(dp_idxd_poll(ch2, 0), 0);
	ut_log_release();
	CU_ASSERT_EQUAL(d.calls, 1);
	CU_ASSERT_EQUAL(d.rc, -ETIMEDOUT);
	CU_ASSERT_EQUAL(d.res.batch.completed, 0);
	CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(ch2), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(sim_of(&f), false), 0);
	/* the channel works again */
	memset(&d, 0, sizeof(d));
	fill_rand(f.src, 256);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(ch2, ops, 4, on_done, &d), 0);
	for (int i = 0; i < 100 && d.calls == 0; i++)
		dp_idxd_poll(ch2, 0);
	CU_ASSERT_EQUAL(d.rc, 0);
	CU_ASSERT(memcmp(f.dst, f.src, 256) == 0);
	CU_ASSERT_EQUAL(dp_idxd_chan_destroy(ch2), 0);
	fx_close(&f);
	dpi_ticks_set_source(NULL, 0);
}

/* A kernel-owned WQ cannot be aborted from here: a timeout fails the channel (and keeps its
 * records allocated, for the device may still write them). */
static void test_kernel_wq_timeout_sim(void)
{
	struct dp_ioas *ioas = new_ioas();
	struct dp_idxd_dev *owner = NULL, *dev = NULL;
	struct dp_idxd_chan *ch = NULL;
	struct dp_idxd_chan_opts co;
	struct dp_idxd_opts o;
	struct cnt c = {0};
	struct member m[2] = {{&c, 0}, {&c, 1}};

	dpi_ticks_set_source(fake_ticks, 1000);
	dp_idxd_opts_init(&o, sizeof(o));
	o.wq[0].mode = DP_IDXD_WQ_SHARED;
	CU_ASSERT_EQUAL_FATAL(dp_idxd_open("sim:dsa0", ioas, &o, &owner), 0);
	CU_ASSERT_EQUAL_FATAL(dp_idxd_open("sim:dsa0/wq0.0", NULL, NULL, &dev), 0);
	dp_idxd_chan_opts_init(&co, sizeof(co));
	co.timeout_ms = 10;
	CU_ASSERT_EQUAL_FATAL(dp_idxd_chan_create(dev, &co, &ch), 0);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(dpi_device_sim(dp_idxd_device(owner)), true), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_noop(ch, 0, on_member, &m[0]), 0);
	CU_ASSERT_EQUAL(dp_idxd_submit_noop(ch, 0, on_member, &m[1]), 0);
	CU_ASSERT_EQUAL(dp_idxd_poll(ch, 0), 0);
	g_fake_ticks += 50;
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_idxd_poll(ch, 0), -EIO);
	CU_ASSERT(ut_log_has("cannot be aborted"));
	CU_ASSERT_EQUAL(c.calls, 2);
	CU_ASSERT_EQUAL(c.rc[0], -ETIMEDOUT);
	CU_ASSERT_EQUAL(c.rc[1], -ECANCELED);
	CU_ASSERT_EQUAL(dp_idxd_submit_noop(ch, 0, on_member, &m[0]), -EIO);
	CU_ASSERT_EQUAL(dp_idxd_chan_destroy(ch), 0);
	CU_ASSERT(ut_log_has("keeping a channel's completion records"));
	ut_log_release();
	/* the held descriptors run now and write into the records that were kept */
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(dpi_device_sim(dp_idxd_device(owner)), false), 0);
	CU_ASSERT_EQUAL(dp_idxd_close(dev), 0);
	CU_ASSERT_EQUAL(dp_idxd_close(owner), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	dpi_ticks_set_source(NULL, 0);
}

/* A descriptor sent to a disabled WQ is dropped and reported in SWERR: the driver finds it,
 * recovers the WQ, fails the lost operation with -EIO, and goes on. */
static void test_swerr_sim(void)
{
	struct fx f;
	struct cnt c = {0};
	struct member m[2] = {{&c, 0}, {&c, 1}};
	int polls = 0;

	fx_open(&f, "sim:dsa0");
	ut_log_capture();
	CU_ASSERT_EQUAL(dpi_idxd_cmd(f.dev, IDXD_CMD_DISABLE_WQ, IDXD_CMD_WQ_MASK_OPERAND(0), NULL),
			0);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst, f.src, 64, 0, on_member, &m[0]), 0);
	for (; polls < 100000 && c.calls == 0; polls++)
		CU_ASSERT(dp_idxd_poll(f.ch, 0) >= 0);
	CU_ASSERT_EQUAL(c.calls, 1);
	CU_ASSERT_EQUAL(c.rc[0], -EIO);
	CU_ASSERT(ut_log_has("SWERR"));
	CU_ASSERT(ut_log_has("enabled again"));
	ut_log_release();
	fill_rand(f.src, 64);
	CU_ASSERT_EQUAL(dp_idxd_submit_copy(f.ch, f.dst, f.src, 64, 0, on_member, &m[1]), 0);
	poll_until(&f, &c, 2);
	CU_ASSERT_EQUAL(c.rc[1], 0);
	CU_ASSERT(memcmp(f.dst, f.src, 64) == 0);
	/* a batch call sent to a disabled WQ: its one callback gets -EIO, once */
	{
		struct dp_idxd_copy_desc ops[4];
		struct done d = {0};

		for (int k = 0; k < 4; k++)
			ops[k] = (struct dp_idxd_copy_desc){f.dst + k * 64, f.src + k * 64, 64, 0};
		ut_log_capture();
		CU_ASSERT_EQUAL(dpi_idxd_cmd(f.dev, IDXD_CMD_DISABLE_WQ,
					     IDXD_CMD_WQ_MASK_OPERAND(0), NULL), 0);
		CU_ASSERT_EQUAL(dp_idxd_submit_copy_batch(f.ch, ops, 4, on_done, &d), 0);
		for (polls = 0; polls < 100000 && d.calls == 0; polls++)
			CU_ASSERT(dp_idxd_poll(f.ch, 0) >= 0);
		for (int i = 0; i < 10; i++)
			CU_ASSERT(dp_idxd_poll(f.ch, 0) >= 0);
		ut_log_release();
		CU_ASSERT_EQUAL(d.calls, 1);
		CU_ASSERT_EQUAL(d.rc, -EIO);
		CU_ASSERT_EQUAL(dp_idxd_chan_outstanding(f.ch), 0);
		memset(&d, 0, sizeof(d));
		fill_rand(f.src, 256);
		CU_ASSERT_EQUAL(SYNC(&f, &d, dp_idxd_submit_copy_batch(f.ch, ops, 4, on_done, &d)),
				0);
		CU_ASSERT(memcmp(f.dst, f.src, 256) == 0);
	}
	fx_close(&f);
}

/* The device halts with operations outstanding: each is failed back with -EIO, none lost. */
static void test_halt_sim(void)
{
	struct fx f;
	struct cnt c = {0};
	struct member m[4];
	int rc = 0;

	fx_open(&f, "sim:dsa0");
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(sim_of(&f), true), 0);
	for (int i = 0; i < 4; i++) {
		m[i] = (struct member){&c, i};
		CU_ASSERT_EQUAL(dp_idxd_submit_noop(f.ch, 0, on_member, &m[i]), 0);
	}
	CU_ASSERT_EQUAL(dpi_sim_dsa_halt(sim_of(&f)), 0);
	ut_log_capture();
	for (int i = 0; i < 100000 && rc >= 0; i++)
		rc = dp_idxd_poll(f.ch, 0);
	ut_log_release();
	CU_ASSERT_EQUAL(rc, -EIO);
	CU_ASSERT_EQUAL(c.calls, 4);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(c.rc[i], -EIO);
	CU_ASSERT_EQUAL(dp_idxd_submit_noop(f.ch, 0, on_member, &m[0]), -EIO);
	CU_ASSERT_EQUAL(dpi_sim_dsa_hold(sim_of(&f), false), 0);
	fx_close(&f);
	/* a halted device is reset at the next open */
	fx_open(&f, "sim:dsa0");
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(dp_idxd_submit_noop(f.ch, 0, on_member, &m[0]), 0);
	poll_until(&f, &c, 1);
	CU_ASSERT_EQUAL(c.rc[0], 0);
	fx_close(&f);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_info_sw),       UT_TEST(test_ops_sw),      UT_TEST(test_ops_sim),
		UT_TEST(test_batch_sw),      UT_TEST(test_batch_many_sw),
		UT_TEST(test_arg_errors),    UT_TEST(test_chan_full_sw),
		UT_TEST(test_resubmit_from_callback_sw),
		UT_TEST(test_batch_sim),     UT_TEST(test_chan_full_sim),
		UT_TEST(test_config_sim),    UT_TEST(test_unregistered_sim),
		UT_TEST(test_fast_path_sim),
		UT_TEST(test_shared_queue_full_sim), UT_TEST(test_page_fault_sim),
		UT_TEST(test_timeout_sim),   UT_TEST(test_swerr_sim),
		UT_TEST(test_halt_sim),      UT_TEST(test_status_errno_sim),
		UT_TEST(test_kernel_wq_sim), UT_TEST(test_kernel_wq_timeout_sim),
		UT_TEST(test_pasid_sim),
		UT_TEST(test_fail_nth_sim),  UT_TEST(test_threads_shared_wq_sim),
		UT_TEST(test_copy_batch_sw), UT_TEST(test_copy_batch_sim),
		UT_TEST(test_copy_batch_fault_sim), UT_TEST(test_copy_batch_timeout_sim),
	};

	return ut_main("idxd", tests, DPI_ARRAY_SIZE(tests), ut_env_init, ut_env_fini);
}
