/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CPU reference of the DSA operations: validation, then one small function per opcode.
 * See dmaplane_internal/dsa_ref.h for the contract and the conventions.
 */
#include <pthread.h>
#include <string.h>

#include <dmaplane_internal/dsa_ref.h>

#define REF_DEFAULT_MAX_XFER (2u << 20)
#define REF_DEFAULT_MAX_BATCH 1024u

/* Common flags the device knows (bit 6 is reserved). */
#define COMMON_FLAGS_VALID (DSA_FLAGS_COMMON_MASK & ~0x40u)

/* ---- CRCs ------------------------------------------------------------------------------------ */

static uint32_t g_crc32c_table[256];
static uint16_t g_crc16_table[256];

static void crc_tables_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		uint16_t t = (uint16_t)(i << 8);

		for (int k = 0; k < 8; k++) {
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			t = (t & 0x8000) ? (uint16_t)((t << 1) ^ 0x8bb7) : (uint16_t)(t << 1);
		}
		g_crc32c_table[i] = c;
		g_crc16_table[i] = t;
	}
}

static void crc_tables(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, crc_tables_init);
}

uint32_t dpi_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc_tables();
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = g_crc32c_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint16_t dpi_crc16_t10dif(uint16_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc_tables();
	for (size_t i = 0; i < len; i++)
		crc = (uint16_t)((crc << 8) ^ g_crc16_table[((crc >> 8) ^ p[i]) & 0xff]);
	return crc;
}

/* ---- memory ---------------------------------------------------------------------------------- */

static void *identity_ptr(void *ctx, uint64_t addr, size_t len, bool write)
{
	(void)ctx;
	(void)len;
	(void)write;
	return (void *)(uintptr_t)addr;
}

const struct dpi_dsa_mem dpi_dsa_mem_identity = { .ptr = identity_ptr, .ctx = NULL };

/* Execution context of one descriptor. */
struct ref {
	const struct dsa_hw_desc *d;
	const struct dpi_dsa_mem *mem;
	struct dsa_completion_record *cr;
	uint8_t status; /* set by a failed access */
};

static void *acc(struct ref *r, uint64_t addr, uint64_t len, bool write)
{
	void *p;

	if (len == 0)
		return (void *)(uintptr_t)1; /* never dereferenced */
	p = r->mem->ptr(r->mem->ctx, addr, (size_t)len, write);
	if (p == NULL) {
		r->status = (uint8_t)(DSA_COMP_PAGE_FAULT_NOBOF | (write ? DSA_COMP_STATUS_WRITE : 0));
		r->cr->fault_addr = addr;
		r->cr->bytes_completed = 0;
	}
	return p;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen != 0 && blen != 0 && a < b + blen && b < a + alen;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- operands ------------------------------------------------------------------------------ */

static uint32_t dif_src_unit(const struct dsa_hw_desc *d, uint32_t *dst_unit)
{
	uint32_t bs;

	switch (d->opcode) {
	case DSA_OPCODE_DIF_CHECK:
		bs = dsa_dif_block_size(d->dif_chk_flags);
		*dst_unit = 0;
		return bs + DSA_DIF_TUPLE_SIZE;
	case DSA_OPCODE_DIF_STRP:
		bs = dsa_dif_block_size(d->dif_chk_flags);
		*dst_unit = bs;
		return bs + DSA_DIF_TUPLE_SIZE;
	case DSA_OPCODE_DIF_INS:
		bs = dsa_dif_block_size(d->dif_ins_flags);
		*dst_unit = bs + DSA_DIF_TUPLE_SIZE;
		return bs;
	default: /* DIF_UPDT */
		bs = dsa_dif_block_size(d->dif_upd_flags);
		*dst_unit = bs + DSA_DIF_TUPLE_SIZE;
		return bs + DSA_DIF_TUPLE_SIZE;
	}
}

/* Bytes of delta record CR_DELTA may write: no more than one entry per granule. */
static uint32_t delta_room(const struct dsa_hw_desc *d)
{
	uint32_t most = d->xfer_size / DSA_DELTA_GRANULE * DSA_DELTA_ENTRY_SIZE;

	return d->max_delta_size < most ? d->max_delta_size : most;
}

static void opnd(struct dpi_dsa_operand *o, uint64_t addr, uint64_t len, bool write,
		 uint32_t src_unit, uint32_t op_unit)
{
	o->addr = addr;
	o->len = len;
	o->write = write;
	o->src_unit = src_unit;
	o->op_unit = op_unit;
}

uint32_t dpi_dsa_ref_operands(const struct dsa_hw_desc *d, struct dpi_dsa_operand ops[4])
{
	uint64_t x = d->xfer_size;
	uint32_t n = 0, su, du;

	switch (d->opcode) {
	case DSA_OPCODE_MEMMOVE:
		opnd(&ops[n++], d->src_addr, x, false, 1, 1);
		opnd(&ops[n++], d->dst_addr, x, true, 1, 1);
		break;
	case DSA_OPCODE_MEMFILL:
		opnd(&ops[n++], d->dst_addr, x, true, 1, 1);
		break;
	case DSA_OPCODE_COMPARE:
		opnd(&ops[n++], d->src_addr, x, false, 1, 1);
		opnd(&ops[n++], d->src2_addr, x, false, 1, 1);
		break;
	case DSA_OPCODE_COMPVAL:
	case DSA_OPCODE_CRCGEN:
		opnd(&ops[n++], d->src_addr, x, false, 1, 1);
		if (d->opcode == DSA_OPCODE_CRCGEN && (d->flags & DSA_CRC_FLAG_READ_SEED))
			opnd(&ops[n++], d->seed_addr, 4, false, 0, 0);
		break;
	case DSA_OPCODE_COPY_CRC:
		opnd(&ops[n++], d->src_addr, x, false, 1, 1);
		opnd(&ops[n++], d->dst_addr, x, true, 1, 1);
		if (d->flags & DSA_CRC_FLAG_READ_SEED)
			opnd(&ops[n++], d->seed_addr, 4, false, 0, 0);
		break;
	case DSA_OPCODE_CR_DELTA:
		opnd(&ops[n++], d->src_addr, x, false, DSA_DELTA_GRANULE, DSA_DELTA_GRANULE);
		opnd(&ops[n++], d->src2_addr, x, false, DSA_DELTA_GRANULE, DSA_DELTA_GRANULE);
		opnd(&ops[n++], d->delta_addr, delta_room(d), true, 0, 0);
		break;
	case DSA_OPCODE_AP_DELTA:
		opnd(&ops[n++], d->src_addr, d->delta_rec_size, false, 0, 0);
		opnd(&ops[n++], d->dst_addr, x, true, 0, 0);
		break;
	case DSA_OPCODE_DUALCAST:
		opnd(&ops[n++], d->src_addr, x, false, 1, 1);
		opnd(&ops[n++], d->dst_addr, x, true, 1, 1);
		opnd(&ops[n++], d->dest2, x, true, 1, 1);
		break;
	case DSA_OPCODE_DIF_CHECK:
	case DSA_OPCODE_DIF_INS:
	case DSA_OPCODE_DIF_STRP:
	case DSA_OPCODE_DIF_UPDT:
		su = dif_src_unit(d, &du);
		opnd(&ops[n++], d->src_addr, x, false, su, su);
		if (du != 0)
			opnd(&ops[n++], d->dst_addr, x / su * du, true, su, du);
		break;
	case DSA_OPCODE_CFLUSH:
		opnd(&ops[n++], d->dst_addr, x, false, 1, 1);
		break;
	default: /* NOOP, DRAIN (readback not modelled), BATCH (its list is read separately) */
		break;
	}
	return n;
}

uint32_t dpi_dsa_ref_granule(const struct dsa_hw_desc *d)
{
	uint32_t du;

	switch (d->opcode) {
	case DSA_OPCODE_MEMMOVE:
	case DSA_OPCODE_MEMFILL:
	case DSA_OPCODE_COMPARE:
	case DSA_OPCODE_COMPVAL:
	case DSA_OPCODE_CRCGEN:
	case DSA_OPCODE_COPY_CRC:
	case DSA_OPCODE_DUALCAST:
	case DSA_OPCODE_CFLUSH:
		return 1;
	case DSA_OPCODE_DIF_CHECK:
	case DSA_OPCODE_DIF_INS:
	case DSA_OPCODE_DIF_STRP:
	case DSA_OPCODE_DIF_UPDT:
		return dif_src_unit(d, &du);
	default: /* CR_DELTA: the record must be whole; AP_DELTA: random access */
		return 0;
	}
}

/* ---- validation ------------------------------------------------------------------------------ */

/* Bytes of op_specific (descriptor bytes 40..63) the opcode uses; the rest must be zero. */
static uint32_t opspec_used(const struct dsa_hw_desc *d)
{
	switch (d->opcode) {
	case DSA_OPCODE_MEMFILL:
		return (d->flags & DSA_FILL_FLAG_16B) ? 0xffu : 0;
	case DSA_OPCODE_CR_DELTA:
		return 0xfffu;
	case DSA_OPCODE_AP_DELTA:
		return 0xfu;
	case DSA_OPCODE_DUALCAST:
		return 0xffu;
	case DSA_OPCODE_CRCGEN:
	case DSA_OPCODE_COPY_CRC:
		return 0xff0fu;
	case DSA_OPCODE_DIF_CHECK:
	case DSA_OPCODE_DIF_STRP:
		return 0xff05u;
	case DSA_OPCODE_DIF_INS:
		return 0xff0006u;
	case DSA_OPCODE_DIF_UPDT:
		return 0xffff07u;
	default:
		return 0;
	}
}

static uint32_t opspec_flags_valid(uint32_t opcode)
{
	switch (opcode) {
	case DSA_OPCODE_CRCGEN:
	case DSA_OPCODE_COPY_CRC:
		return DSA_CRC_FLAG_READ_SEED;
	case DSA_OPCODE_MEMFILL:
		return DSA_FILL_FLAG_16B;
	default:
		return 0;
	}
}

static bool opcode_known(uint32_t op)
{
	return op < 64 && (DSA_OPCAP_ALL_W0 & DSA_OPCAP_BIT(op)) != 0;
}

static bool uses_xfer(uint32_t op)
{
	return op != DSA_OPCODE_NOOP && op != DSA_OPCODE_BATCH && op != DSA_OPCODE_DRAIN;
}

static uint8_t validate_sizes(const struct dsa_hw_desc *d)
{
	uint32_t du, su;

	switch (d->opcode) {
	case DSA_OPCODE_CR_DELTA:
		if (d->xfer_size % DSA_DELTA_GRANULE != 0 || d->xfer_size > DSA_DELTA_MAX_XFER)
			return DSA_COMP_XFER_ERANGE;
		if (d->max_delta_size == 0 || d->max_delta_size % DSA_DELTA_ENTRY_SIZE != 0 ||
		    d->max_delta_size > DSA_DELTA_MAX_RECORD)
			return DSA_COMP_DR_ERANGE;
		return 0;
	case DSA_OPCODE_AP_DELTA:
		if (d->xfer_size % DSA_DELTA_GRANULE != 0 || d->xfer_size > DSA_DELTA_MAX_XFER)
			return DSA_COMP_XFER_ERANGE;
		if (d->delta_rec_size % DSA_DELTA_ENTRY_SIZE != 0 ||
		    d->delta_rec_size / DSA_DELTA_ENTRY_SIZE > DSA_DELTA_MAX_XFER / DSA_DELTA_GRANULE)
			return DSA_COMP_DR_ERANGE;
		return 0;
	case DSA_OPCODE_DUALCAST:
		if (((d->dst_addr ^ d->dest2) & DSA_DUALCAST_ALIGN_MASK) != 0)
			return DSA_COMP_DCAST_ERR;
		return 0;
	case DSA_OPCODE_DIF_CHECK:
	case DSA_OPCODE_DIF_INS:
	case DSA_OPCODE_DIF_STRP:
	case DSA_OPCODE_DIF_UPDT:
		su = dif_src_unit(d, &du);
		if (d->xfer_size % su != 0)
			return DSA_COMP_XFER_ERANGE;
		return 0;
	default:
		return 0;
	}
}

/* Buffers that must not overlap, checked on the whole descriptor before anything moves. */
static uint8_t validate_overlap(const struct dsa_hw_desc *d)
{
	uint64_t x = d->xfer_size;
	uint32_t du, su;
	bool bad = false;

	switch (d->opcode) {
	case DSA_OPCODE_COPY_CRC:
		bad = overlap(d->src_addr, x, d->dst_addr, x);
		break;
	case DSA_OPCODE_DUALCAST:
		bad = overlap(d->src_addr, x, d->dst_addr, x) || overlap(d->src_addr, x, d->dest2, x) ||
		      overlap(d->dst_addr, x, d->dest2, x);
		break;
	case DSA_OPCODE_CR_DELTA:
		bad = overlap(d->delta_addr, delta_room(d), d->src_addr, x) ||
		      overlap(d->delta_addr, delta_room(d), d->src2_addr, x);
		break;
	case DSA_OPCODE_AP_DELTA:
		bad = overlap(d->src_addr, d->delta_rec_size, d->dst_addr, x);
		break;
	case DSA_OPCODE_DIF_INS:
	case DSA_OPCODE_DIF_STRP:
	case DSA_OPCODE_DIF_UPDT:
		su = dif_src_unit(d, &du);
		bad = overlap(d->src_addr, x, d->dst_addr, x / su * du);
		break;
	default:
		break;
	}
	return bad ? DSA_COMP_OVERLAP_BUFFERS : 0;
}

uint8_t dpi_dsa_ref_validate(const struct dsa_hw_desc *d, const struct dpi_dsa_limits *lim,
			     uint32_t *invalid_flags)
{
	uint32_t max_xfer = lim != NULL ? lim->max_xfer : REF_DEFAULT_MAX_XFER;
	uint32_t max_batch = lim != NULL ? lim->max_batch : REF_DEFAULT_MAX_BATCH;
	uint32_t used, bad;

	if (invalid_flags != NULL)
		*invalid_flags = 0;
	if (!opcode_known(d->opcode))
		return DSA_COMP_BAD_OPCODE;
	if (d->rsvd != 0 || d->rsvd1 != 0)
		return DSA_COMP_NOZERO_RESERVE;
	used = opspec_used(d);
	for (uint32_t i = 0; i < sizeof(d->op_specific); i++) {
		if (!(used & (1u << i)) && d->op_specific[i] != 0)
			return DSA_COMP_NOZERO_RESERVE;
	}
	bad = d->flags & ~(COMMON_FLAGS_VALID | opspec_flags_valid(d->opcode));
	if ((d->flags & IDXD_OP_FLAG_RCR) && !(d->flags & IDXD_OP_FLAG_CRAV))
		bad |= IDXD_OP_FLAG_RCR;
	if (bad != 0) {
		if (invalid_flags != NULL)
			*invalid_flags = bad;
		return DSA_COMP_INVALID_FLAGS;
	}
	if (d->opcode == DSA_OPCODE_BATCH) {
		if (d->desc_count < DSA_BATCH_MIN || d->desc_count > max_batch)
			return DSA_COMP_DESC_CNT_ERANGE;
		if (d->desc_list_addr % DSA_DESC_LIST_ALIGN != 0)
			return DSA_COMP_DESCLIST_ALIGN;
		return 0;
	}
	if (uses_xfer(d->opcode) && d->xfer_size > max_xfer)
		return DSA_COMP_XFER_ERANGE;
	bad = validate_sizes(d);
	return bad != 0 ? (uint8_t)bad : validate_overlap(d);
}

/* ---- operations ------------------------------------------------------------------------------ */

static void op_memmove(struct ref *r)
{
	const struct dsa_hw_desc *d = r->d;
	void *src = acc(r, d->src_addr, d->xfer_size, false);
	void *dst = src ? acc(r, d->dst_addr, d->xfer_size, true) : NULL;

	if (dst != NULL && d->xfer_size != 0)
		memmove(dst, src, d->xfer_size);
}

static void op_fill(struct ref *r)
{
	const struct dsa_hw_desc *d = r->d;
	uint8_t pat[16];
	uint32_t plen = (d->flags & DSA_FILL_FLAG_16B) ? 16 : 8;
	uint8_t *dst = acc(r, d->dst_addr, d->xfer_size, true);

	memcpy(pat, &d->pattern, 8);
	memcpy(pat + 8, d->op_specific, 8);
	if (dst == NULL)
		return;
	for (uint32_t i = 0; i < d->xfer_size; i++)
		dst[i] = pat[i % plen];
}

/* First index where a and b differ, or len. */
static uint32_t mismatch(const uint8_t *a, const uint8_t *b, uint32_t len)
{
	uint32_t i = 0;

	while (i + 8 <= len && memcmp(a + i, b + i, 8) == 0)
		i += 8;
	while (i < len && a[i] == b[i])
		i++;
	return i;
}

static void op_compare(struct ref *r)
{
	const struct dsa_hw_desc *d = r->d;
	const uint8_t *a = acc(r, d->src_addr, d->xfer_size, false);
	const uint8_t *b = a ? acc(r, d->src2_addr, d->xfer_size, false) : NULL;
	uint32_t at;

	if (b == NULL || d->xfer_size == 0)
		return;
	at = mismatch(a, b, d->xfer_size);
	if (at < d->xfer_size) {
		r->cr->result = DSA_COMPARE_DIFF;
		r->cr->bytes_completed = at;
	}
}

static void op_compval(struct ref *r)
{
	const struct dsa_hw_desc *d = r->d;
	const uint8_t *a = acc(r, d->src_addr, d->xfer_size, false);
	uint8_t pat[8];

	memcpy(pat, &d->comp_pattern, 8);
	if (a == NULL)
		return;
	for (uint32_t i = 0; i < d->xfer_size; i++) {
		if (a[i] != pat[i % 8]) {
			r->cr->result = DSA_COMPARE_DIFF;
			r->cr->bytes_completed = i;
			return;
		}
	}
}

static void op_cr_delta(struct ref *r)
{
	const struct dsa_hw_desc *d = r->d;
	const uint8_t *a;

	a = acc(r, d->src_addr, d->xfer_size, false);
	const uint8_t *b = a ? acc(r, d->src2_addr, d->xfer_size, false) : NULL;
	uint8_t *rec = b && delta_room(d) ? acc(r, d->delta_addr, delta_room(d), true) : NULL;
	uint32_t used = 0;

	if (b != NULL && delta_room(d) == 0) {
		r->cr->result = DSA_DELTA_RESULT_EQUAL; /* nothing to compare */
		return;
	}
	if (rec == NULL)
		return;
	for (uint32_t g = 0; g < d->xfer_size / DSA_DELTA_GRANULE; g++) {
		uint32_t off = g * DSA_DELTA_GRANULE;

		if (memcmp(a + off, b + off, DSA_DELTA_GRANULE) == 0)
			continue;
		if (used + DSA_DELTA_ENTRY_SIZE > d->max_delta_size) {
			r->cr->result = DSA_DELTA_RESULT_OVERFLOW;
			r->cr->bytes_completed = off;
			r->cr->delta_rec_size = used;
			return;
		}
		rec[used] = (uint8_t)g;
		rec[used + 1] = (uint8_t)(g >> 8);
		memcpy(rec + used + 2, b + off, DSA_DELTA_GRANULE);
		used += DSA_DELTA_ENTRY_SIZE;
	}
	r->cr->result = used != 0 ? DSA_DELTA_RESULT_DIFF : DSA_DELTA_RESULT_EQUAL;
	r->cr->delta_rec_size = used;
}

static void op_ap_delta(struct ref *r)
{
	const struct dsa_hw_desc *d = r->d;
	const uint8_t *rec;

	rec = acc(r, d->src_addr, d->delta_rec_size, false);
	uint8_t *dst = rec ? acc(r, d->dst_addr, d->xfer_size, true) : NULL;
	uint32_t n = d->delta_rec_size / DSA_DELTA_ENTRY_SIZE;
	int64_t prev = -1;

	if (dst == NULL)
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t g = rec[i * DSA_DELTA_ENTRY_SIZE] | (uint32_t)rec[i * DSA_DELTA_ENTRY_SIZE + 1] << 8;

		if ((int64_t)g <= prev) {
			r->status = DSA_COMP_DR_OFFSET_NOINC;
			return;
		}
		if ((uint64_t)(g + 1) * DSA_DELTA_GRANULE > d->xfer_size) {
			r->status = DSA_COMP_DR_OFFSET_ERANGE;
			return;
		}
		prev = g;
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = rec + i * DSA_DELTA_ENTRY_SIZE;
		uint32_t g = e[0] | (uint32_t)e[1] << 8;

		memcpy(dst + (size_t)g * DSA_DELTA_GRANULE, e + 2, DSA_DELTA_GRANULE);
	}
}

static void op_dualcast(struct ref *r)
{
	const struct dsa_hw_desc *d = r->d;
	const void *src;
	void *d1, *d2;

	src = acc(r, d->src_addr, d->xfer_size, false);
	d1 = src ? acc(r, d->dst_addr, d->xfer_size, true) : NULL;
	d2 = d1 ? acc(r, d->dest2, d->xfer_size, true) : NULL;
	if (d2 == NULL || d->xfer_size == 0)
		return;
	memcpy(d1, src, d->xfer_size);
	memcpy(d2, src, d->xfer_size);
}

static bool crc_seed(struct ref *r, uint32_t *seed)
{
	const struct dsa_hw_desc *d = r->d;
	const uint8_t *p;

	if (!(d->flags & DSA_CRC_FLAG_READ_SEED)) {
		*seed = d->crc_seed;
		return true;
	}
	p = acc(r, d->seed_addr, 4, false);
	if (p == NULL)
		return false;
	memcpy(seed, p, 4);
	return true;
}

static void op_crc(struct ref *r, bool copy)
{
	const struct dsa_hw_desc *d = r->d;
	const void *src;
	void *dst = NULL;
	uint32_t seed;

	src = acc(r, d->src_addr, d->xfer_size, false);
	if (src == NULL)
		return;
	if (copy && (dst = acc(r, d->dst_addr, d->xfer_size, true)) == NULL)
		return;
	if (!crc_seed(r, &seed))
		return;
	if (d->xfer_size == 0) {
		r->cr->crc_val = seed;
		return;
	}
	if (copy)
		memcpy(dst, src, d->xfer_size);
	r->cr->crc_val = dpi_crc32c(seed, src, d->xfer_size);
}

/* ---- DIF ----------------------------------------------------------------------------------- */

struct dif_chk {
	uint8_t src_flags;
	uint8_t flags;
	uint32_t ref_seed;
	uint16_t app_mask;
	uint16_t app_seed;
};

static uint16_t dif_guard(uint8_t flags, const uint8_t *data, uint32_t bs)
{
	uint16_t seed = (flags & DSA_DIF_FLAG_INVERT_CRC_SEED) ? 0xffff : 0;
	uint16_t g = dpi_crc16_t10dif(seed, data, bs);

	return (flags & DSA_DIF_FLAG_INVERT_CRC_RESULT) ? (uint16_t)~g : g;
}

static uint32_t chk_ref(const struct dif_chk *c, uint32_t i)
{
	return (c->src_flags & DSA_DIF_SRC_REF_TAG_FIXED) ? c->ref_seed : c->ref_seed + i;
}

static uint16_t chk_app(const struct dif_chk *c, uint32_t i)
{
	return (c->src_flags & DSA_DIF_SRC_APP_TAG_INC) ? (uint16_t)(c->app_seed + i) : c->app_seed;
}

/* Check block @i (data then tuple). Returns the DSA_DIF_ERR_* bits, 0 when it passes. */
static uint8_t dif_check_block(const struct dif_chk *c, uint32_t i, const uint8_t *data,
			       uint32_t bs)
{
	const uint8_t *t = data + bs;
	uint16_t app = be16(t + 2);
	uint32_t ref = be32(t + 4);
	bool all_f = be16(t) == 0xffff && app == 0xffff && ref == 0xffffffffu;
	uint8_t err = 0;

	if (all_f && (c->src_flags & DSA_DIF_SRC_ENABLE_ALL_F_ERR))
		return DSA_DIF_ERR_ALL_F;
	if ((all_f && (c->src_flags & DSA_DIF_SRC_ALL_F_DETECT)) ||
	    (app == 0xffff && (c->src_flags & DSA_DIF_SRC_APP_TAG_F_DETECT)) ||
	    (app == 0xffff && ref == 0xffffffffu && (c->src_flags & DSA_DIF_SRC_APP_REF_F_DETECT)))
		return 0;
	if (!(c->src_flags & DSA_DIF_SRC_GUARD_CHECK_DISABLE) &&
	    be16(t) != dif_guard(c->flags, data, bs))
		err |= DSA_DIF_ERR_GUARD;
	if (((app ^ chk_app(c, i)) & (uint16_t)~c->app_mask) != 0)
		err |= DSA_DIF_ERR_APP_TAG;
	if (!(c->src_flags & DSA_DIF_SRC_REF_CHECK_DISABLE) && ref != chk_ref(c, i))
		err |= DSA_DIF_ERR_REF_TAG;
	return err;
}

/* Check every block of the source; on failure set the record and return false. */
static bool dif_check_all(struct ref *r, const struct dif_chk *c, const uint8_t *src,
			  uint32_t nblk, uint32_t bs)
{
	for (uint32_t i = 0; i < nblk; i++) {
		uint8_t err = dif_check_block(c, i, src + (size_t)i * (bs + DSA_DIF_TUPLE_SIZE), bs);

		if (err != 0) {
			r->status = DSA_COMP_DIF_ERR;
			r->cr->dif_status = err;
			r->cr->bytes_completed = i * (bs + DSA_DIF_TUPLE_SIZE);
			r->cr->dif_chk_ref_tag = chk_ref(c, i);
			r->cr->dif_chk_app_tag_mask = c->app_mask;
			r->cr->dif_chk_app_tag = chk_app(c, i);
			return false;
		}
	}
	return true;
}

/* Output tuple seeds and flags: DIF_INS from the insert fields, DIF_UPDT from the dest ones. */
struct dif_out {
	uint8_t flags; /* DSA_DIF_DST_* */
	uint32_t ref_seed;
	uint16_t app_seed;
};

static uint32_t out_ref(const struct dif_out *o, uint32_t i)
{
	return (o->flags & DSA_DIF_DST_REF_TAG_FIXED) ? o->ref_seed : o->ref_seed + i;
}

static uint16_t out_app(const struct dif_out *o, uint32_t i)
{
	return (o->flags & DSA_DIF_DST_APP_TAG_INC) ? (uint16_t)(o->app_seed + i) : o->app_seed;
}

/* Write block @i's data and tuple at @o; @s is the source tuple for pass-through (or NULL). */
static void dif_emit(const struct dif_out *out, uint8_t flags, uint32_t i, uint8_t *o,
		     const uint8_t *data, const uint8_t *s, uint32_t bs)
{
	memcpy(o, data, bs);
	if (s != NULL && (out->flags & DSA_DIF_DST_GUARD_PASS))
		memcpy(o + bs, s, 2);
	else
		put_be16(o + bs, dif_guard(flags, o, bs));
	if (s != NULL && (out->flags & DSA_DIF_DST_APP_TAG_PASS))
		memcpy(o + bs + 2, s + 2, 2);
	else
		put_be16(o + bs + 2, out_app(out, i));
	if (s != NULL && (out->flags & DSA_DIF_DST_REF_TAG_PASS))
		memcpy(o + bs + 4, s + 4, 4);
	else
		put_be32(o + bs + 4, out_ref(out, i));
}

static void dif_chk_result(struct ref *r, const struct dif_chk *c, uint32_t nblk)
{
	r->cr->dif_chk_ref_tag = chk_ref(c, nblk);
	r->cr->dif_chk_app_tag_mask = c->app_mask;
	r->cr->dif_chk_app_tag = chk_app(c, nblk);
}

static void dif_ins(struct ref *r, const uint8_t *src, uint8_t *dst, uint32_t nblk, uint32_t bs)
{
	const struct dsa_hw_desc *d = r->d;
	struct dif_out out = { d->dest_dif_flag, d->ins_ref_tag_seed, d->ins_app_tag_seed };

	for (uint32_t i = 0; i < nblk; i++)
		dif_emit(&out, d->dif_ins_flags, i, dst + (size_t)i * (bs + 8), src + (size_t)i * bs,
			 NULL, bs);
	r->cr->dif_ins_ref_tag = out_ref(&out, nblk);
	r->cr->dif_ins_app_tag_mask = d->ins_app_tag_mask;
	r->cr->dif_ins_app_tag = out_app(&out, nblk);
}

static void dif_updt(struct ref *r, const struct dif_chk *c, const uint8_t *src, uint8_t *dst,
		     uint32_t nblk, uint32_t bs)
{
	const struct dsa_hw_desc *d = r->d;
	struct dif_out out = { d->upd_dest_flags, d->dest_ref_tag_seed, d->dest_app_tag_seed };

	for (uint32_t i = 0; i < nblk; i++) {
		const uint8_t *s = src + (size_t)i * (bs + 8);

		dif_emit(&out, d->dif_upd_flags, i, dst + (size_t)i * (bs + 8), s, s + bs, bs);
	}
	r->cr->dif_upd_src_ref_tag = chk_ref(c, nblk);
	r->cr->dif_upd_src_app_tag_mask = c->app_mask;
	r->cr->dif_upd_src_app_tag = chk_app(c, nblk);
	r->cr->dif_upd_dest_ref_tag = out_ref(&out, nblk);
	r->cr->dif_upd_dest_app_tag_mask = d->dest_app_tag_mask;
	r->cr->dif_upd_dest_app_tag = out_app(&out, nblk);
}

static void op_dif(struct ref *r)
{
	const struct dsa_hw_desc *d = r->d;
	uint32_t du, su = dif_src_unit(d, &du);
	uint32_t nblk = d->xfer_size / su;
	uint8_t flags = d->opcode == DSA_OPCODE_DIF_INS ? d->dif_ins_flags :
			d->opcode == DSA_OPCODE_DIF_UPDT ? d->dif_upd_flags : d->dif_chk_flags;
	uint32_t bs = dsa_dif_block_size(flags);
	struct dif_chk c = { 0 };
	const uint8_t *src;
	uint8_t *dst = NULL;

	src = acc(r, d->src_addr, d->xfer_size, false);
	if (src == NULL)
		return;
	if (du != 0 && (dst = acc(r, d->dst_addr, (uint64_t)nblk * du, true)) == NULL)
		return;
	if (d->opcode == DSA_OPCODE_DIF_INS) {
		dif_ins(r, src, dst, nblk, bs);
		return;
	}
	if (d->opcode == DSA_OPCODE_DIF_UPDT)
		c = (struct dif_chk){ d->src_upd_flags, flags, d->src_ref_tag_seed,
				      d->src_app_tag_mask, d->src_app_tag_seed };
	else
		c = (struct dif_chk){ d->src_dif_flags, flags, d->chk_ref_tag_seed,
				      d->chk_app_tag_mask, d->chk_app_tag_seed };
	if (!dif_check_all(r, &c, src, nblk, bs))
		return;
	if (d->opcode == DSA_OPCODE_DIF_UPDT) {
		dif_updt(r, &c, src, dst, nblk, bs);
		return;
	}
	for (uint32_t i = 0; dst != NULL && i < nblk; i++) /* DIF_STRP */
		memcpy(dst + (size_t)i * bs, src + (size_t)i * (bs + 8), bs);
	dif_chk_result(r, &c, nblk);
}

static void op_cflush(struct ref *r)
{
	(void)acc(r, r->d->dst_addr, r->d->xfer_size, false);
}

/* ---- batch ------------------------------------------------------------------------------------ */

static void op_batch(struct ref *r, const struct dpi_dsa_limits *lim)
{
	const struct dsa_hw_desc *d = r->d;
	const struct dsa_hw_desc *list = acc(r, d->desc_list_addr,
					     (uint64_t)d->desc_count * DSA_DESC_SIZE, false);
	uint32_t ok = 0;
	bool failed = false;

	if (list == NULL) {
		r->status = DSA_COMP_BATCH_PAGE_FAULT;
		return;
	}
	for (uint32_t i = 0; i < d->desc_count; i++) {
		struct dsa_hw_desc m;
		struct dsa_completion_record mcr;
		uint8_t st;

		memcpy(&m, &list[i], sizeof(m));
		if (failed && (m.flags & IDXD_OP_FLAG_FENCE))
			break; /* a fence after a failure abandons the rest of the batch */
		if (m.opcode == DSA_OPCODE_BATCH) {
			memset(&mcr, 0, sizeof(mcr));
			st = DSA_COMP_BAD_OPCODE;
			mcr.status = st;
		} else {
			st = dpi_dsa_ref_exec(&m, r->mem, lim, &mcr);
		}
		if (st == DSA_COMP_SUCCESS)
			ok++;
		else
			failed = true;
		if ((m.flags & IDXD_OP_FLAG_CRAV) &&
		    ((m.flags & IDXD_OP_FLAG_RCR) || st != DSA_COMP_SUCCESS)) {
			void *p = r->mem->ptr(r->mem->ctx, m.completion_addr, sizeof(mcr), true);

			if (p != NULL)
				memcpy(p, &mcr, sizeof(mcr));
		}
	}
	r->cr->bytes_completed = ok;
	if (failed)
		r->status = DSA_COMP_BATCH_FAIL;
}

/* ---- entry ------------------------------------------------------------------------------------ */

uint8_t dpi_dsa_ref_exec(const struct dsa_hw_desc *d, const struct dpi_dsa_mem *mem,
			 const struct dpi_dsa_limits *lim, struct dsa_completion_record *cr)
{
	struct ref r = { .d = d, .mem = mem, .cr = cr, .status = 0 };
	uint32_t invalid = 0;
	uint8_t st;

	memset(cr, 0, sizeof(*cr));
	st = dpi_dsa_ref_validate(d, lim, &invalid);
	if (st != 0) {
		cr->invalid_flags = invalid & 0xffffff;
		cr->status = st;
		return st;
	}
	switch (d->opcode) {
	case DSA_OPCODE_NOOP:
	case DSA_OPCODE_DRAIN:
		break;
	case DSA_OPCODE_BATCH: op_batch(&r, lim); break;
	case DSA_OPCODE_MEMMOVE: op_memmove(&r); break;
	case DSA_OPCODE_MEMFILL: op_fill(&r); break;
	case DSA_OPCODE_COMPARE: op_compare(&r); break;
	case DSA_OPCODE_COMPVAL: op_compval(&r); break;
	case DSA_OPCODE_CR_DELTA: op_cr_delta(&r); break;
	case DSA_OPCODE_AP_DELTA: op_ap_delta(&r); break;
	case DSA_OPCODE_DUALCAST: op_dualcast(&r); break;
	case DSA_OPCODE_CRCGEN: op_crc(&r, false); break;
	case DSA_OPCODE_COPY_CRC: op_crc(&r, true); break;
	case DSA_OPCODE_DIF_CHECK:
	case DSA_OPCODE_DIF_INS:
	case DSA_OPCODE_DIF_STRP:
	case DSA_OPCODE_DIF_UPDT: op_dif(&r); break;
	case DSA_OPCODE_CFLUSH: op_cflush(&r); break;
	default: r.status = DSA_COMP_BAD_OPCODE; break;
	}
	cr->status = r.status != 0 ? r.status : DSA_COMP_SUCCESS;
	return cr->status & DSA_COMP_STATUS_MASK;
}
