/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * drivers/idxd unit tests: every DSA operation against the reference implementation (dsa_ref)
 * on random sizes (1 byte to 2 MiB) and alignments, batches (a failing member, fences, batches
 * of one and of many), automatic batching, argument errors, on the software engine ("sw") and
 * on the lib/sim DSA model ("sim:dsa0") where the model is built in.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane/env.h>
#include <dmaplane/idxd.h>
#include <dmaplane/iova.h>
#include <dmaplane_internal/common.h>
#include <dmaplane_internal/dsa_ref.h>

#include "ut.h"

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

static void test_batch_many_sw(void)
{
	batch_many("sw", 0);
	batch_many("sw", DP_IDXD_CHAN_F_AUTOBATCH);
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
	CU_ASSERT_EQUAL(dp_idxd_open("/dev/dsa/wq0.0", NULL, NULL, &dev), -ENOTSUP);
	CU_ASSERT(ut_log_has("kernel-owned WQs"));
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
	CU_ASSERT(info.opcap & (1ull << DSA_OPCODE_DIF_UPDT));
	info.size = 4;
	CU_ASSERT_EQUAL(dp_idxd_get_info(dev, &info), -EINVAL);
	CU_ASSERT_EQUAL(dp_idxd_close(dev), 0);
	CU_ASSERT_EQUAL(dp_idxd_close(NULL), -EINVAL);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_info_sw),       UT_TEST(test_ops_sw),      UT_TEST(test_ops_sim),
		UT_TEST(test_batch_sw),      UT_TEST(test_batch_many_sw),
		UT_TEST(test_arg_errors),    UT_TEST(test_chan_full_sw),
		UT_TEST(test_resubmit_from_callback_sw),
	};

	return ut_main("idxd", tests, DPI_ARRAY_SIZE(tests), ut_env_init, ut_env_fini);
}
