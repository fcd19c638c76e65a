/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The CPU reference of the DSA operations (lib/sim/dsa_ref.c): known answers for the CRCs,
 * every opcode on plain buffers against straightforward expectations, round trips (CR_DELTA
 * then AP_DELTA, DIF_INS then DIF_CHECK/STRP/UPDT), and the validation errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane_internal/common.h>
#include <dmaplane_internal/dsa_ref.h>

#include "ut.h"

#define P(x) ((uint64_t)(uintptr_t)(x))

static uint8_t run(struct dsa_hw_desc *d, struct dsa_completion_record *cr)
{
	return dpi_dsa_ref_exec(d, &dpi_dsa_mem_identity, NULL, cr);
}

static void desc_init(struct dsa_hw_desc *d, uint32_t op)
{
	memset(d, 0, sizeof(*d));
	d->opcode = op;
	d->flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
}

static void fill_random(uint8_t *p, size_t n, unsigned *seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rand_r(seed);
}

static void test_crc_known_answers(void)
{
	static const char s[] = "123456789";

	CU_ASSERT_EQUAL(dpi_crc32c(0, s, 9), 0xe3069283u);
	CU_ASSERT_EQUAL(dpi_crc16_t10dif(0, s, 9), 0xd0db);
	/* chaining: crc(A||B) = crc(B, seed = crc(A)) */
	CU_ASSERT_EQUAL(dpi_crc32c(dpi_crc32c(0, s, 4), s + 4, 5), 0xe3069283u);
	CU_ASSERT_EQUAL(dpi_crc16_t10dif(dpi_crc16_t10dif(0, s, 3), s + 3, 6), 0xd0db);
}

static void test_crcgen(void)
{
	static const char s[] = "123456789";
	struct dsa_hw_desc d;
	struct dsa_completion_record cr;
	uint32_t seed_mem = dpi_crc32c(0, s, 4);
	char dst[9] = { 0 };

	desc_init(&d, DSA_OPCODE_CRCGEN);
	d.src_addr = P(s);
	d.xfer_size = 9;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL((uint32_t)cr.crc_val, 0xe3069283u);
	/* seed from memory */
	d.src_addr = P(s + 4);
	d.xfer_size = 5;
	d.flags |= DSA_CRC_FLAG_READ_SEED;
	d.seed_addr = P(&seed_mem);
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL((uint32_t)cr.crc_val, 0xe3069283u);
	/* copy + crc */
	desc_init(&d, DSA_OPCODE_COPY_CRC);
	d.src_addr = P(s);
	d.dst_addr = P(dst);
	d.xfer_size = 9;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL((uint32_t)cr.crc_val, 0xe3069283u);
	CU_ASSERT(memcmp(dst, s, 9) == 0);
	/* overlapping copy is refused */
	d.dst_addr = P(s + 1);
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_OVERLAP_BUFFERS);
}

static void test_memmove_overlap(void)
{
	uint8_t buf[4096], want[4096];
	struct dsa_hw_desc d;
	struct dsa_completion_record cr;
	unsigned seed = 1;

	fill_random(buf, sizeof(buf), &seed);
	memcpy(want, buf, sizeof(buf));
	memmove(want + 100, want, 3000);
	desc_init(&d, DSA_OPCODE_MEMMOVE);
	d.src_addr = P(buf);
	d.dst_addr = P(buf + 100);
	d.xfer_size = 3000;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT(memcmp(buf, want, sizeof(buf)) == 0);
	memmove(want, want + 777, 2000);
	d.src_addr = P(buf + 777);
	d.dst_addr = P(buf);
	d.xfer_size = 2000;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT(memcmp(buf, want, sizeof(buf)) == 0);
}

static void test_fill(void)
{
	uint8_t buf[100];
	struct dsa_hw_desc d;
	struct dsa_completion_record cr;
	uint64_t lo = 0x0807060504030201ull, hi = 0x100f0e0d0c0b0a09ull;

	memset(buf, 0xee, sizeof(buf));
	desc_init(&d, DSA_OPCODE_MEMFILL);
	d.pattern = lo;
	d.dst_addr = P(buf + 1);
	d.xfer_size = 21;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(buf[0], 0xee);
	for (int i = 0; i < 21; i++)
		CU_ASSERT_EQUAL(buf[1 + i], (i % 8) + 1);
	CU_ASSERT_EQUAL(buf[22], 0xee);
	/* 16-byte pattern */
	d.flags |= DSA_FILL_FLAG_16B;
	memcpy(d.op_specific, &hi, 8);
	d.xfer_size = 37;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	for (int i = 0; i < 37; i++)
		CU_ASSERT_EQUAL(buf[1 + i], (i % 16) + 1);
	/* the upper pattern without the 16-byte flag is a non-zero reserved field */
	d.flags &= ~DSA_FILL_FLAG_16B;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_NOZERO_RESERVE);
}

static void test_compare(void)
{
	uint8_t a[1000], b[1000];
	struct dsa_hw_desc d;
	struct dsa_completion_record cr;
	unsigned seed = 2;

	fill_random(a, sizeof(a), &seed);
	memcpy(b, a, sizeof(a));
	desc_init(&d, DSA_OPCODE_COMPARE);
	d.src_addr = P(a);
	d.src2_addr = P(b);
	d.xfer_size = sizeof(a);
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(cr.result, DSA_COMPARE_EQUAL);
	b[613] ^= 4;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(cr.result, DSA_COMPARE_DIFF);
	CU_ASSERT_EQUAL(cr.bytes_completed, 613);
	/* compare value */
	for (int i = 0; i < 1000; i++)
		a[i] = (uint8_t)(0xa0 + i % 8);
	desc_init(&d, DSA_OPCODE_COMPVAL);
	d.comp_pattern = 0xa7a6a5a4a3a2a1a0ull;
	d.src_addr = P(a);
	d.xfer_size = 999;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(cr.result, DSA_COMPARE_EQUAL);
	a[77] = 0;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(cr.result, DSA_COMPARE_DIFF);
	CU_ASSERT_EQUAL(cr.bytes_completed, 77);
}

static void test_delta_round_trip(void)
{
	enum { N = 64 * 1024 };
	uint8_t *a = malloc(N), *b = malloc(N), *rec = malloc(N / 8 * 10);
	struct dsa_hw_desc d;
	struct dsa_completion_record cr;
	unsigned seed = 3;
	uint32_t size;

	CU_ASSERT_FATAL(a != NULL && b != NULL && rec != NULL);
	fill_random(a, N, &seed);
	memcpy(b, a, N);
	for (int i = 0; i < 300; i++)
		b[rand_r(&seed) % N] ^= (uint8_t)(1 + rand_r(&seed) % 255);
	desc_init(&d, DSA_OPCODE_CR_DELTA);
	d.src_addr = P(a);
	d.src2_addr = P(b);
	d.xfer_size = N;
	d.delta_addr = P(rec);
	d.max_delta_size = N / 8 * 10;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(cr.result, DSA_DELTA_RESULT_DIFF);
	size = cr.delta_rec_size;
	CU_ASSERT(size > 0 && size % 10 == 0 && size <= 300 * 10);
	/* apply: a becomes b */
	desc_init(&d, DSA_OPCODE_AP_DELTA);
	d.src_addr = P(rec);
	d.delta_rec_size = size;
	d.dst_addr = P(a);
	d.xfer_size = N;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT(memcmp(a, b, N) == 0);
	/* equal buffers: result 0, empty record */
	desc_init(&d, DSA_OPCODE_CR_DELTA);
	d.src_addr = P(a);
	d.src2_addr = P(b);
	d.xfer_size = N;
	d.delta_addr = P(rec);
	d.max_delta_size = 10;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(cr.result, DSA_DELTA_RESULT_EQUAL);
	CU_ASSERT_EQUAL(cr.delta_rec_size, 0);
	/* record too small */
	b[8] ^= 1;
	b[800] ^= 1;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(cr.result, DSA_DELTA_RESULT_OVERFLOW);
	/* bad sizes: not whole entries, or more than any transfer can need (found by dsa_fuzz) */
	d.max_delta_size = 15;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DR_ERANGE);
	d.max_delta_size = DSA_DELTA_MAX_RECORD + 10;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DR_ERANGE);
	d.max_delta_size = 4000000000u;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DR_ERANGE);
	d.max_delta_size = 10;
	d.xfer_size = N - 4;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_XFER_ERANGE);
	/* apply with offsets not increasing, and beyond the buffer */
	memset(rec, 0, 20);
	rec[0] = 5;
	rec[10] = 5;
	desc_init(&d, DSA_OPCODE_AP_DELTA);
	d.src_addr = P(rec);
	d.delta_rec_size = 20;
	d.dst_addr = P(a);
	d.xfer_size = N;
	memcpy(b, a, N);
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DR_OFFSET_NOINC);
	CU_ASSERT(memcmp(a, b, N) == 0); /* nothing applied */
	rec[10] = 6;
	d.xfer_size = 48; /* granules 0..5: offset 6 is out of range */
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DR_OFFSET_ERANGE);
	d.delta_rec_size = 19;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DR_ERANGE);
	free(a);
	free(b);
	free(rec);
}

static void test_dualcast(void)
{
	uint8_t *m = aligned_alloc(4096, 3 * 4096);
	struct dsa_hw_desc d;
	struct dsa_completion_record cr;
	unsigned seed = 4;

	CU_ASSERT_FATAL(m != NULL);
	fill_random(m, 4096, &seed);
	memset(m + 4096, 0, 2 * 4096);
	desc_init(&d, DSA_OPCODE_DUALCAST);
	d.src_addr = P(m + 8);
	d.dst_addr = P(m + 4096 + 16);
	d.dest2 = P(m + 8192 + 16);
	d.xfer_size = 4000;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT(memcmp(m + 8, m + 4096 + 16, 4000) == 0);
	CU_ASSERT(memcmp(m + 8, m + 8192 + 16, 4000) == 0);
	d.dest2 = P(m + 8192 + 24); /* bits 11:0 differ */
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DCAST_ERR);
	free(m);
}

/* DIF descriptors: insert @nblk blocks of @bsz from src to dst. */
static void dif_ins_desc(struct dsa_hw_desc *d, uint8_t bsz, void *src, void *dst, uint32_t nblk)
{
	uint32_t bs = dsa_dif_block_size(bsz);

	desc_init(d, DSA_OPCODE_DIF_INS);
	d->src_addr = P(src);
	d->dst_addr = P(dst);
	d->xfer_size = nblk * bs;
	d->dif_ins_flags = bsz;
	d->ins_ref_tag_seed = 1000;
	d->ins_app_tag_seed = 0x1234;
}

static void dif_chk_desc(struct dsa_hw_desc *d, uint32_t op, uint8_t bsz, void *src, void *dst,
			 uint32_t nblk)
{
	uint32_t bs = dsa_dif_block_size(bsz);

	desc_init(d, op);
	d->src_addr = P(src);
	d->dst_addr = dst != NULL ? P(dst) : 0;
	d->xfer_size = nblk * (bs + 8);
	d->dif_chk_flags = bsz;
	d->chk_ref_tag_seed = 1000;
	d->chk_app_tag_seed = 0x1234;
}

static void test_dif_round_trip(void)
{
	enum { NBLK = 5 };
	unsigned seed = 5;

	for (uint8_t bsz = 0; bsz < 4; bsz++) {
		uint32_t bs = dsa_dif_block_size(bsz);
		uint8_t *data = malloc(NBLK * bs), *prot = malloc(NBLK * (bs + 8));
		uint8_t *back = malloc(NBLK * bs), *upd = malloc(NBLK * (bs + 8));
		struct dsa_hw_desc d;
		struct dsa_completion_record cr;

		CU_ASSERT_FATAL(data && prot && back && upd);
		fill_random(data, NBLK * bs, &seed);
		dif_ins_desc(&d, bsz, data, prot, NBLK);
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
		CU_ASSERT_EQUAL(cr.dif_ins_ref_tag, 1000 + NBLK);
		/* the tuple of block 2 as T10 defines it, big endian */
		const uint8_t *t = prot + 2 * (bs + 8) + bs;
		uint16_t g = dpi_crc16_t10dif(0, data + 2 * bs, bs);
		CU_ASSERT_EQUAL(t[0], g >> 8);
		CU_ASSERT_EQUAL(t[1], g & 0xff);
		CU_ASSERT(t[2] == 0x12 && t[3] == 0x34);
		CU_ASSERT(t[4] == 0 && t[5] == 0 && t[6] == (1002 >> 8) && t[7] == (1002 & 0xff));

		dif_chk_desc(&d, DSA_OPCODE_DIF_CHECK, bsz, prot, NULL, NBLK);
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
		CU_ASSERT_EQUAL(cr.dif_chk_ref_tag, 1000 + NBLK);

		dif_chk_desc(&d, DSA_OPCODE_DIF_STRP, bsz, prot, back, NBLK);
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
		CU_ASSERT(memcmp(back, data, NBLK * bs) == 0);

		/* update: new ref tags from 7, app tag 0xbeef; then check with those */
		desc_init(&d, DSA_OPCODE_DIF_UPDT);
		d.src_addr = P(prot);
		d.dst_addr = P(upd);
		d.xfer_size = NBLK * (bs + 8);
		d.dif_upd_flags = bsz;
		d.src_ref_tag_seed = 1000;
		d.src_app_tag_seed = 0x1234;
		d.dest_ref_tag_seed = 7;
		d.dest_app_tag_seed = 0xbeef;
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
		dif_chk_desc(&d, DSA_OPCODE_DIF_CHECK, bsz, upd, NULL, NBLK);
		d.chk_ref_tag_seed = 7;
		d.chk_app_tag_seed = 0xbeef;
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);

		/* a flipped data bit in block 3: guard error, 3 blocks completed */
		dif_chk_desc(&d, DSA_OPCODE_DIF_CHECK, bsz, prot, NULL, NBLK);
		prot[3 * (bs + 8) + 17] ^= 0x10;
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DIF_ERR);
		CU_ASSERT_EQUAL(cr.dif_status, DSA_DIF_ERR_GUARD);
		CU_ASSERT_EQUAL(cr.bytes_completed, 3 * (bs + 8));
		CU_ASSERT_EQUAL(cr.dif_chk_ref_tag, 1003);
		/* guard check disabled: passes */
		d.src_dif_flags = DSA_DIF_SRC_GUARD_CHECK_DISABLE;
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
		prot[3 * (bs + 8) + 17] ^= 0x10;
		/* wrong reference tag seed: ref error at block 0 */
		d.src_dif_flags = 0;
		d.chk_ref_tag_seed = 999;
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DIF_ERR);
		CU_ASSERT_EQUAL(cr.dif_status, DSA_DIF_ERR_REF_TAG);
		CU_ASSERT_EQUAL(cr.bytes_completed, 0);
		/* wrong app tag, masked and unmasked */
		d.chk_ref_tag_seed = 1000;
		d.chk_app_tag_seed = 0x1235;
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DIF_ERR);
		CU_ASSERT_EQUAL(cr.dif_status, DSA_DIF_ERR_APP_TAG);
		d.chk_app_tag_mask = 0x0001;
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
		/* xfer not a whole number of blocks */
		d.xfer_size -= 1;
		CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_XFER_ERANGE);
		free(data);
		free(prot);
		free(back);
		free(upd);
	}
}

static void test_validation(void)
{
	struct dsa_hw_desc d;
	struct dsa_completion_record cr;
	uint8_t buf[64];
	uint32_t inval;
	struct dpi_dsa_limits lim = { .max_xfer = 4096, .max_batch = 8 };

	desc_init(&d, 0x0a); /* unassigned opcode */
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_BAD_OPCODE);
	CU_ASSERT_EQUAL(cr.status, DSA_COMP_BAD_OPCODE);
	desc_init(&d, DSA_OPCODE_NOOP);
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	d.rsvd = 1;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_NOZERO_RESERVE);
	d.rsvd = 0;
	d.rsvd1 = 1;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_NOZERO_RESERVE);
	d.rsvd1 = 0;
	d.op_specific[23] = 1;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_NOZERO_RESERVE);
	d.op_specific[23] = 0;
	d.flags = IDXD_OP_FLAG_RCR; /* request a record without an address */
	CU_ASSERT_EQUAL(dpi_dsa_ref_validate(&d, NULL, &inval), DSA_COMP_INVALID_FLAGS);
	CU_ASSERT_EQUAL(inval, IDXD_OP_FLAG_RCR);
	d.flags = IDXD_OP_FLAG_CRAV | 0x40; /* reserved common flag */
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_INVALID_FLAGS);
	CU_ASSERT_EQUAL(cr.invalid_flags, 0x40);
	desc_init(&d, DSA_OPCODE_MEMMOVE);
	d.flags |= DSA_CRC_FLAG_READ_SEED; /* operation flag of another opcode */
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_INVALID_FLAGS);
	desc_init(&d, DSA_OPCODE_MEMMOVE);
	d.src_addr = P(buf);
	d.dst_addr = P(buf);
	d.xfer_size = 4097;
	CU_ASSERT_EQUAL(dpi_dsa_ref_exec(&d, &dpi_dsa_mem_identity, &lim, &cr), DSA_COMP_XFER_ERANGE);
	d.xfer_size = 64;
	CU_ASSERT_EQUAL(dpi_dsa_ref_exec(&d, &dpi_dsa_mem_identity, &lim, &cr), DSA_COMP_SUCCESS);
	desc_init(&d, DSA_OPCODE_BATCH);
	d.desc_list_addr = 64;
	d.desc_count = 9;
	CU_ASSERT_EQUAL(dpi_dsa_ref_exec(&d, &dpi_dsa_mem_identity, &lim, &cr), DSA_COMP_DESC_CNT_ERANGE);
	d.desc_count = 1;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DESC_CNT_ERANGE);
	d.desc_count = 2;
	d.desc_list_addr = 65;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_DESCLIST_ALIGN);
}

static void *refuse_ptr(void *ctx, uint64_t addr, size_t len, bool write)
{
	uint64_t bad = *(uint64_t *)ctx;

	(void)len;
	(void)write;
	return addr == bad ? NULL : (void *)(uintptr_t)addr;
}

static void test_fault(void)
{
	uint8_t a[64], b[64];
	uint64_t bad = P(b);
	struct dpi_dsa_mem mem = { refuse_ptr, &bad };
	struct dsa_hw_desc d;
	struct dsa_completion_record cr;

	desc_init(&d, DSA_OPCODE_MEMMOVE);
	d.src_addr = P(a);
	d.dst_addr = P(b);
	d.xfer_size = 64;
	CU_ASSERT_EQUAL(dpi_dsa_ref_exec(&d, &mem, NULL, &cr), DSA_COMP_PAGE_FAULT_NOBOF);
	CU_ASSERT(cr.status & DSA_COMP_STATUS_WRITE);
	CU_ASSERT_EQUAL(cr.fault_addr, P(b));
}

static void test_batch(void)
{
	struct dsa_hw_desc list[4] __attribute__((aligned(64)));
	struct dsa_completion_record crs[4] __attribute__((aligned(32)));
	struct dsa_hw_desc d;
	struct dsa_completion_record cr;
	uint8_t src[256], dst[256];
	unsigned seed = 6;

	fill_random(src, sizeof(src), &seed);
	memset(dst, 0, sizeof(dst));
	memset(crs, 0, sizeof(crs));
	for (int i = 0; i < 4; i++) {
		desc_init(&list[i], DSA_OPCODE_MEMMOVE);
		list[i].src_addr = P(src + i * 64);
		list[i].dst_addr = P(dst + i * 64);
		list[i].xfer_size = 64;
		list[i].completion_addr = P(&crs[i]);
	}
	desc_init(&d, DSA_OPCODE_BATCH);
	d.desc_list_addr = P(list);
	d.desc_count = 4;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(cr.bytes_completed, 4);
	CU_ASSERT(memcmp(src, dst, 256) == 0);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(crs[i].status, DSA_COMP_SUCCESS);

	/* member 1 fails; member 2 runs (no fence); member 3 is fenced and abandoned */
	memset(dst, 0, sizeof(dst));
	memset(crs, 0, sizeof(crs));
	list[1].opcode = 0x0b;
	list[3].flags |= IDXD_OP_FLAG_FENCE;
	CU_ASSERT_EQUAL(run(&d, &cr), DSA_COMP_BATCH_FAIL);
	CU_ASSERT_EQUAL(cr.bytes_completed, 2);
	CU_ASSERT_EQUAL(crs[1].status, DSA_COMP_BAD_OPCODE);
	CU_ASSERT_EQUAL(crs[2].status, DSA_COMP_SUCCESS);
	CU_ASSERT_EQUAL(crs[3].status, 0);
	CU_ASSERT(memcmp(src + 128, dst + 128, 64) == 0);
	CU_ASSERT(dst[192] == 0 && dst[255] == 0);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_crc_known_answers),
		UT_TEST(test_crcgen),
		UT_TEST(test_memmove_overlap),
		UT_TEST(test_fill),
		UT_TEST(test_compare),
		UT_TEST(test_delta_round_trip),
		UT_TEST(test_dualcast),
		UT_TEST(test_dif_round_trip),
		UT_TEST(test_validation),
		UT_TEST(test_fault),
		UT_TEST(test_batch),
	};

	return ut_main("dsa_ref", tests, DPI_ARRAY_SIZE(tests), NULL, NULL);
}
